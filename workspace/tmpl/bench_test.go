package tmpl_test

import (
	"testing"

	"runnel/workspace/tmpl"
)

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, src string }{
		{"static", `echo "Hello world"`},
		{"flat", `echo "Hello {{ input.name }}"`},
		{"block", `{% if input.verbose %}-v {% endif %}{{ input.target | default(value="all") }}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.Parse(bc.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The render benchmarks use a normalised context (see tmpl.Normalize);
// BenchmarkRenderJSONContext shows the cost of normalising on every call.
func BenchmarkRender(b *testing.B) {
	ctx := tmpl.Normalize(decode(b, ctxJSON)).(map[string]any)
	for _, bc := range []struct{ name, src string }{
		{"static", `echo "Hello world"`},
		{"flat", `echo "Hello {{ input.name }}"`},
		{"typed", `{{ build.output.files }}`},
		{"block", `{% if input.run_checks %}-v {% endif %}{{ input.target | default(value="all") }}`},
	} {
		tp := tmpl.MustParse(bc.src)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tp.Render(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRenderJSONContext(b *testing.B) {
	ctx := decode(b, ctxJSON)
	tp := tmpl.MustParse(`echo "Hello {{ input.name }}"`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tp.Render(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValueRender(b *testing.B) {
	ctx := tmpl.Normalize(decode(b, ctxJSON)).(map[string]any)
	v, err := tmpl.Compile(map[string]any{
		"greeting": "Hello {{ input.name }}",
		"count":    "{{ input.count }}",
		"files":    "{{ build.output.files }}",
		"mode":     "fast",
		"retries":  3.0,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Render(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
