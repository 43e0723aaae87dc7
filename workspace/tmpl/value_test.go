package tmpl_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace/tmpl"
)

func TestValueRender(t *testing.T) {
	ctx := decode(t, ctxJSON)
	for _, tc := range []struct {
		name string
		raw  any
		want any
	}{
		{"string", "Hello {{ input.name }}", "Hello Ada"},
		{"static string", "plain", "plain"},
		{"non-strings pass through", map[string]any{"n": 3.0, "b": true, "z": nil}, map[string]any{"n": 3.0, "b": true, "z": nil}},
		{"nil", nil, nil},
		{
			"nested",
			map[string]any{
				"msg": "{{ input.name }} has {{ input.count }} items",
				"a":   map[string]any{"b": "{{ input.count }}", "c": "{{ flag }}"},
				"list": []any{
					"x", 2.0, "{{ build.output.status }}", []any{"{{ nothing }}"},
				},
			},
			map[string]any{
				"msg":  "Ada has 5 items",
				"a":    map[string]any{"b": "5", "c": "true"},
				"list": []any{"x", 2.0, "ok", []any{""}},
			},
		},
		{
			"typed values",
			map[string]any{"files": "{{ build.output.files }}", "obj": "  {{ obj.c }}  ", "text": "x {{ obj.c }}"},
			map[string]any{"files": []any{"a.txt", "b.txt"}, "obj": map[string]any{"y": "s", "z": 1.5}, "text": `x {"y":"s","z":1.5}`},
		},
		{"string map", map[string]string{"URL": "https://x/{{ input.name }}"}, map[string]any{"URL": "https://x/Ada"}},
		{"string list", []string{"{{ name }}", "b"}, []any{"ada", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tmpl.Compile(tc.raw)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if diff := cmp.Diff(tc.raw, v.Raw()); diff != "" {
				t.Errorf("Raw() mismatch (-want +got):\n%s", diff)
			}
			got, err := v.Render(ctx)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Render mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueRenderReturnsNewTree(t *testing.T) {
	raw := map[string]any{"a": map[string]any{"b": "{{ name }}", "c": "static"}, "l": []any{"x", "{{ name }}"}}
	v, err := tmpl.Compile(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := decode(t, ctxJSON)
	out, err := v.Render(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	m["a"].(map[string]any)["c"] = "changed"
	m["l"].([]any)[0] = "changed"
	m["new"] = 1
	want := map[string]any{"a": map[string]any{"b": "{{ name }}", "c": "static"}, "l": []any{"x", "{{ name }}"}}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("changing the result changed the raw value (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(decode(t, ctxJSON), ctx); diff != "" {
		t.Errorf("Render changed the context (-want +got):\n%s", diff)
	}
}

func TestValueRenderError(t *testing.T) {
	ctx := decode(t, ctxJSON)
	for _, tc := range []struct {
		name string
		raw  any
		want tmpl.PathError
	}{
		{"top key", map[string]any{"msg": "{{ input.nosuch }}"}, tmpl.PathError{Path: "msg", Err: &tmpl.Error{Line: 1, Column: 1, Msg: "'input.nosuch' is undefined"}}},
		{"nested key", map[string]any{"a": map[string]any{"b": "x {{ nope }}"}}, tmpl.PathError{Path: "a.b", Err: &tmpl.Error{Line: 1, Column: 3, Msg: "'nope' is undefined"}}},
		{"list item", map[string]any{"list": []any{"a", "b", "{{ missing.deep }}"}}, tmpl.PathError{Path: "list[2]", Err: &tmpl.Error{Line: 1, Column: 1, Msg: "'missing' is undefined"}}},
		{"bare string", "{{ nope }}", tmpl.PathError{Path: "", Err: &tmpl.Error{Line: 1, Column: 1, Msg: "'nope' is undefined"}}},
		{"first in key order", map[string]any{"b": "{{ nb }}", "a": "{{ na }}"}, tmpl.PathError{Path: "a", Err: &tmpl.Error{Line: 1, Column: 1, Msg: "'na' is undefined"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tmpl.Compile(tc.raw)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = v.Render(ctx)
			var pe *tmpl.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("Render error %T (%v), want *tmpl.PathError", err, err)
			}
			if diff := cmp.Diff(tc.want, *pe); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			var te *tmpl.Error
			if !errors.As(err, &te) || te != pe.Err {
				t.Errorf("errors.As(*tmpl.Error) does not reach the template error")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	raw := map[string]any{
		"ok":   "{{ input.name }}",
		"bad":  "{{ x | shout }}",
		"deep": map[string]any{"list": []any{"fine", "{{ a b }}"}},
		"num":  1.0,
	}
	_, err := tmpl.Compile(raw)
	if err == nil {
		t.Fatal("Compile succeeded, want errors")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *tmpl.PathError
		if !errors.As(e, &pe) {
			t.Fatalf("error %T (%v), want *tmpl.PathError", e, e)
		}
		got = append(got, pe.Error())
	}
	want := []string{
		"bad: unknown filter 'shout' (line 1, column 8)",
		`deep.list[1]: '}}' expected here near "b" (line 1, column 6)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compile errors mismatch (-want +got):\n%s", diff)
	}
	if pe := (&tmpl.PathError{Err: &tmpl.Error{Msg: "m"}}); pe.Error() != "m" {
		t.Errorf("PathError without path = %q, want %q", pe.Error(), "m")
	}
}
