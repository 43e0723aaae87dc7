package tmpl

import (
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Truth evaluates the template as a condition (a step's when:) within the
// default Limits. A template that is exactly one output tag (outer
// whitespace ignored) is tested by Jinja truthiness: false, none, 0, "",
// [] and {} are false, every other value true. Any other template is
// rendered and its trimmed text is false when it is what a false value
// prints as: "", "false", "0", "[]" or "{}" (static text included).
func (t *Template) Truth(ctx map[string]any) (bool, error) {
	if t.static || t.single == 0 {
		s, err := t.RenderLimits(ctx, DefaultLimits())
		if err != nil {
			return false, err
		}
		return textTruth(s), nil
	}
	v, err := t.guarded(DefaultLimits(), func(b *budget) (res any, err error) {
		defer func() {
			if r := recover(); r != nil {
				res, err = nil, panicError(r)
			}
		}()
		out := t.pieces[t.single-1].out
		v, err := evalOutput(t.evaluator(normalizeContext(ctx), b), out)
		if err != nil {
			return nil, err
		}
		return valueTruth(v), nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// valueTruth is Jinja truthiness; a nil value (an "x if c" that printed
// nothing) is false.
func valueTruth(v *exec.Value) bool {
	switch {
	case v == nil:
		return false
	case v.IsDict():
		return v.Len() > 0
	}
	return v.IsTrue()
}

// textTruth reads rendered text as a condition.
func textTruth(s string) bool {
	switch strings.TrimSpace(s) {
	case "", "false", "0", "[]", "{}":
		return false
	}
	return true
}
