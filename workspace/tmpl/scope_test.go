package tmpl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace/tmpl"
)

// refString formats refs as "path" plus "!" when guarded and "$" when
// printed, space-separated.
func refString(refs []tmpl.Ref) string {
	var parts []string
	for _, r := range refs {
		s := r.String()
		if r.Guarded {
			s += "!"
		}
		if r.Printed {
			s += "$"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestRefs(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`plain text`, ``},
		{`{{ input.name }}`, `input.name$`},
		{`echo {{ count.output }} {{ secret.db.pass }}`, `count.output$ secret.db.pass$`},
		{`{{ input["body"]["who"] }}`, `input.body.who$`},
		{`{{ input['a'].b }}`, `input.a.b$`},
		// Dynamic subscripts, indexes and slices end the path.
		{`{{ input.items[input.k].name }}`, `input.items$ input.k`},
		{`{{ input.list.0.name }}`, `input.list$`},
		{`{{ input.list[1:2] }}`, `input.list$`},
		{`{{ a.output[0] }}`, `a.output$`},
		// Method calls are no keys.
		{`{{ input.name.upper() }}`, `input.name$`},
		{`{% for k, v in input.env.items() %}{{ k }}={{ v }}{% endfor %}`, `input.env$`},
		// Names the template binds are not references.
		{`{% set x = input.a %}{{ x.y }}`, `input.a$`},
		{`{{ x }}{% set x = 1 %}`, ``},
		{`{% set x %}{{ input.a }}{% endset %}{{ x }}`, `input.a$`},
		{`{% set x = input.a if input.b else input.c %}`, `input.a$ input.b input.c$`},
		{`{% for f in input.files %}{{ f.name }}{{ loop.index }}{% else %}{{ none.here }}{% endfor %}`, `input.files$ none.here$`},
		{`{% for f in input.files if f.ok %}{{ f }}{% endfor %}`, `input.files$`},
		{`{% with a = input.x, b = 2 %}{{ a }}{{ b }}{{ c }}{% endwith %}`, `input.x$ c$`},
		{`{% macro m(p, q=input.d) %}{{ p }}{{ q }}{{ caller() }}{{ r }}{% endmacro %}{{ m(input.e) }}`, `input.d$ r$ input.e$`},
		{`{% macro m(*args, **kw) %}{{ args }}{{ kw }}{% endmacro %}`, ``},
		{`{% call m(input.f) %}{{ input.g }}{% endcall %}`, `input.f$ input.g$`},
		{`{% filter upper %}{{ input.h }}{% endfilter %}`, `input.h$`},
		{`{% filter replace("a", input.i) %}x{% endfilter %}`, `input.i$`},
		{`{% do input.j %}`, `input.j`},
		{`{% raw %}{{ not.a.ref }}{% endraw %}`, ``},
		{`{% block b %}{{ input.blk }}{{ self }}{% endblock %}`, `input.blk$`},
		{`{% autoescape true %}{{ input.k }}{% endautoescape %}`, `input.k$`},
		// Conditions, comparisons and tests are not printed.
		{`{% if input.a == "x" and b.status %}{{ c.output }}{% elif d %}{% else %}{% endif %}`, `input.a b.status c.output$ d`},
		{`{{ "y" if input.flag else input.other }}`, `input.flag input.other$`},
		{`{{ input.a in input.b }}`, `input.a! input.b`}, // "in" is a test
		{`{{ not input.a }}{{ -input.n }}`, `input.a input.n`},
		{`{{ input.a ~ "-" ~ input.b }}{{ input.c + input.d }}`, `input.a$ input.b$ input.c$ input.d$`},
		{`{{ input.a or input.b }}`, `input.a$ input.b$`},
		{`{{ [input.a, {"k": input.b}] }}`, `input.a$ input.b$`},
		// Guards: default, tests, and/or after a guard, and the same path
		// elsewhere.
		{`{{ input.a | default("x") }}`, `input.a!$`},
		{`{{ input.a | upper | d("x") }}`, `input.a!$`},
		{`{{ input.a | replace(input.b, "c") | default("x") }}`, `input.a!$ input.b!$`},
		{`{{ input.a | default(input.b) }}`, `input.a!$ input.b$`},
		{`{% if count is defined %}{{ count.output }}{% endif %}`, `count! count.output!$`},
		{`{% if count.output is not none %}{{ count.output.n }}{% endif %}{{ count }}`, `count.output! count.output.n!$ count!$`},
		{`{% if a is defined and a.output %}{% endif %}`, `a! a.output!`},
		{`{{ x.y is defined and z.w }}`, `x.y! z.w!$`},
		{`{{ input.n is divisibleby(input.m) }}`, `input.n! input.m`},
		// Printing: shell_quote and number filters sanitise.
		{`{{ input.body.who | shell_quote }}`, `input.body.who`},
		{`{{ input.body | length }}{{ input.n | int }}`, `input.body input.n`},
		{`{{ input.a | shell_quote | upper }}`, `input.a`},
		{`{{ input.a | default(input.b) | shell_quote }}`, `input.a! input.b`},
		{`{{ input.a | upper }}`, `input.a$`},
		// Whole names.
		{`{{ input }}{{ secret }}{{ hook }}`, `input$ secret$ hook$`},
		{`{{ say_hello.output.greeting }}`, `say_hello.output.greeting$`},
		// Functions do not exist; calls of unknown names are not listed.
		{`{{ range(3) }}`, ``},
		{`{{ (input.a ~ "x").y }}`, `input.a$`},
	} {
		refs, complete := tmpl.MustParse(tc.src).Refs()
		if !complete {
			t.Errorf("%s: incomplete", tc.src)
		}
		if got := refString(refs); got != tc.want {
			t.Errorf("%s\n got: %s\nwant: %s", tc.src, got, tc.want)
		}
	}
}

func TestRefsPositions(t *testing.T) {
	src := "echo {{ input.a }}\n{% if b.output %}\n  {{- c.status }}{% endif %}"
	refs, _ := tmpl.MustParse(src).Refs()
	var got []string
	for _, r := range refs {
		got = append(got, fmt.Sprintf("%s@%d:%d", r, r.Line, r.Column))
	}
	want := []string{"input.a@1:9", "b.output@2:7", "c.status@3:7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

// TestRefsRenderAgreement checks the analysis against the renderer: every
// template here renders with the context given, so none of its unguarded
// references may point at something the context lacks.
func TestRefsRenderAgreement(t *testing.T) {
	ctx := decode(t, `{"input": {"a": "x", "n": 2, "l": [1, 2], "m": {"k": "v"}}, "s": {"output": null}}`)
	for _, src := range []string{
		`{{ input.a }}{{ input.m.k }}{{ input.l[0] }}`,
		`{{ missing | default("d") }}`,
		`{{ missing.deep | default("d") }}`,
		`{% if missing is defined %}{{ missing.x }}{% endif %}`,
		`{% if missing is undefined %}none{% else %}{{ missing }}{% endif %}`,
		`{{ missing is defined and missing.x }}`,
		`{% set v = input.a %}{{ v }}`,
		`{% for x in input.l %}{{ x }}{{ loop.index }}{% endfor %}`,
		`{{ input.m[input.a] | default("") }}`,
		`{{ s.output.x | default("none") }}`,
		`{{ missing in input.l }}`,
		`{{ (missing ~ "x") | default("") }}`,
		`{% macro m(p) %}{{ p }}{% endmacro %}{{ m(input.a) }}`,
	} {
		tp := tmpl.MustParse(src)
		if _, err := tp.Render(ctx); err != nil {
			t.Fatalf("%s does not render: %v", src, err)
		}
		refs, complete := tp.Refs()
		if !complete {
			t.Errorf("%s: incomplete", src)
		}
		for _, r := range refs {
			if !r.Guarded && !resolves(ctx, r.Path) {
				t.Errorf("%s: unguarded reference %s does not resolve, yet the template renders", src, r)
			}
		}
	}
}

// resolves reports whether path names a value in ctx (stopping at values
// that are not maps).
func resolves(ctx map[string]any, path []string) bool {
	var v any = ctx
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return true
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}
