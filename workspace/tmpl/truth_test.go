package tmpl_test

import (
	"testing"

	"runnel/workspace/tmpl"
)

func TestTruth(t *testing.T) {
	ctx := map[string]any{
		"input": map[string]any{
			"yes": true, "no": false, "zero": float64(0), "one": float64(1), "empty": "", "word": "false",
			"list": []any{}, "full": []any{1.0}, "obj": map[string]any{}, "dict": map[string]any{"a": 1.0},
			"none": nil,
		},
	}
	cases := []struct {
		src  string
		want bool
	}{
		{"{{ input.yes }}", true},
		{"{{ input.no }}", false},
		{"{{ input.zero }}", false},
		{"{{ input.one }}", true},
		{"{{ input.empty }}", false},
		{"{{ input.word }}", true}, // a non-empty string is true (Jinja)
		{"{{ input.list }}", false},
		{"{{ input.full }}", true},
		{"{{ input.obj }}", false},
		{"{{ input.dict }}", true},
		{"{{ input.none }}", false},
		{"{{ {} }}", false},
		{"{{ [] }}", false},
		{" {{ input.one > 0 and not input.no }} ", true},
		{"{{ 'x' if input.no }}", false},
		{"{{ input.no }} ", false},
		{"{% if input.yes %}true{% endif %}", true},
		{"{% if input.no %}true{% endif %}", false},
		{"{{ input.zero }}{{ input.empty }}", false},
		{"{{ input.no }} and {{ input.no }}", true},
		{"false", false},
		{"true", true},
		{"0", false},
	}
	for _, c := range cases {
		got, err := tmpl.MustParse(c.src).Truth(ctx)
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("%q = %v, want %v", c.src, got, c.want)
		}
	}
	if _, err := tmpl.MustParse("{{ input.missing }}").Truth(ctx); err == nil {
		t.Error("an undefined name must be an error")
	}
}
