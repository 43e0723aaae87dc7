package tmpl

import (
	"fmt"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Error is a template parse or render error. Line and Column are 1-based
// positions inside the template text (0 when the engine gave none).
type Error struct {
	Line, Column int
	// Msg is the engine message without position, e.g.
	// "unknown filter 'shout'" or "'input.nosuch' is undefined".
	Msg string
}

// Error formats as "<msg> (line L, column C)", "<msg> (line L)" when only the
// line is known, or just "<msg>" without position.
func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s (line %d, column %d)", e.Msg, e.Line, e.Column)
	case e.Line > 0:
		return fmt.Sprintf("%s (line %d)", e.Msg, e.Line)
	}
	return e.Msg
}

// Template is one parsed template string. It is immutable and safe for
// concurrent Render calls.
type Template struct {
	src    string
	static bool

	// A flat template holds only text, comments and output tags; runnel
	// evaluates its outputs itself. pieces is nil for other templates.
	pieces []piece
	// single is set when the template is exactly one output tag between
	// whitespace (the "typed value" shape, SPEC §4.2); it is pieces[single-1].
	single int
	// methods is set when a flat template calls a method (name.upper()):
	// gonja then writes the name back into the context, so the render needs
	// a child context to keep the caller's map untouched.
	methods bool

	// root is the tree gonja renders for templates with control structures;
	// its output expressions are rewritten through fmtFilter.
	root *nodes.Template
}

// piece is one part of a flat template: text, or an output tag.
type piece struct {
	text string
	out  *nodes.Output
}

// Parse parses src and checks every filter and test name against the private
// sets, so syntax errors and unknown filters surface at load time. The error
// is an *Error. Text without "{{", "{%" and "{#" is static and costs nothing
// to render.
func Parse(src string) (t *Template, err error) {
	if isStatic(src) {
		return &Template{src: src, static: true}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, panicError(r)
		}
	}()
	return parse(src)
}

// MustParse is Parse for constants in tests and code; it panics on error.
func MustParse(src string) *Template {
	t, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return t
}

// Source returns the template text as written.
func (t *Template) Source() string { return t.src }

// Static reports whether the text holds no template tags at all, so Render
// returns it unchanged.
func (t *Template) Static() bool { return t.static }

// Render renders the template with ctx. Context values are JSON-like:
// string, bool, nil, float64/int/int64 (integral float64 are treated as
// integers), json.Number, map[string]any, []any. Output expressions are
// formatted per SPEC §4.2 (numbers as JSON, true/false, null empty, objects
// and arrays compact JSON with sorted keys). Undefined names are errors
// (*Error) naming the variable. Render never modifies ctx.
func (t *Template) Render(ctx map[string]any) (string, error) {
	if t.static {
		return t.src, nil
	}
	return t.render(normalizeContext(ctx))
}

// Eval renders like Render, except that a template consisting of exactly one
// output tag (outer whitespace ignored) whose result is an object or array
// returns that value (map[string]any / []any, newly built, with JSON-like
// leaves) instead of its JSON text ("typed values", SPEC §4.2). Every other
// result is a string.
func (t *Template) Eval(ctx map[string]any) (any, error) {
	if t.static {
		return t.src, nil
	}
	return t.eval(normalizeContext(ctx))
}

// RenderEnv renders a secret value at load time: the context is empty and the
// only function is get_env(name=…, default=…), answered by lookup.
// An unset variable without default is an *Error whose Msg is
// "environment variable 'NAME' is not set".
func (t *Template) RenderEnv(lookup func(name string) (string, bool)) (string, error) {
	if t.static {
		return t.src, nil
	}
	return t.render(map[string]any{"get_env": getEnvFunc(lookup)})
}

// isStatic reports whether src has no tag openers at all.
func isStatic(src string) bool {
	for i := 0; i < len(src)-1; i++ {
		if src[i] == '{' {
			switch src[i+1] {
			case '{', '%', '#':
				return false
			}
		}
	}
	return true
}

// render renders with a normalised context.
func (t *Template) render(ctx map[string]any) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = "", panicError(r)
		}
	}()
	if t.pieces == nil {
		return t.renderTree(ctx)
	}
	ev := t.evaluator(ctx)
	var b strings.Builder
	b.Grow(len(t.src) + 16)
	for _, p := range t.pieces {
		if p.out == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := evalOutput(ev, p.out)
		if err != nil {
			return "", err
		}
		if err := appendFormatted(&b, v); err != nil {
			return "", outputError(err, p.out)
		}
	}
	return b.String(), nil
}

// eval is Eval with a normalised context.
func (t *Template) eval(ctx map[string]any) (res any, err error) {
	if t.single == 0 {
		return t.render(ctx)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, panicError(r)
		}
	}()
	out := t.pieces[t.single-1].out
	v, err := evalOutput(t.evaluator(ctx), out)
	if err != nil {
		return nil, err
	}
	if v != nil && (v.IsDict() || v.IsList()) {
		typed, err := toPlain(v, 0)
		if err != nil {
			return nil, outputError(err, out)
		}
		return typed, nil
	}
	var b strings.Builder
	for i, p := range t.pieces {
		if i == t.single-1 {
			if err := appendFormatted(&b, v); err != nil {
				return nil, outputError(err, out)
			}
			continue
		}
		b.WriteString(p.text)
	}
	return b.String(), nil
}

// evalFrame holds an evaluator and its environment in one allocation.
type evalFrame struct {
	ev  exec.Evaluator
	env exec.Environment
}

// evaluator returns a gonja evaluator over ctx for a flat template. Names the
// template assigns land in a child context, never in ctx.
func (t *Template) evaluator(ctx map[string]any) *exec.Evaluator {
	c := exec.NewContext(ctx)
	if t.methods {
		c = c.Inherit()
	}
	f := &evalFrame{}
	f.env = exec.Environment{
		Context:           c,
		Filters:           eng.filters,
		Tests:             eng.tests,
		ControlStructures: eng.controls,
		Methods:           eng.methods,
	}
	f.ev = exec.Evaluator{Config: eng.cfg, Environment: &f.env, Loader: eng.loader}
	return &f.ev
}

// evalOutput evaluates an output tag like gonja's renderer does. A nil value
// means the tag prints nothing (an "x if c" whose condition is false).
func evalOutput(ev *exec.Evaluator, n *nodes.Output) (*exec.Value, error) {
	var v *exec.Value
	switch {
	case n.Condition == nil:
		v = ev.Eval(n.Expression)
	default:
		c := ev.Eval(n.Condition)
		if c.IsError() {
			return nil, outputError(c, n)
		}
		switch {
		case c.IsTrue():
			v = ev.Eval(n.Expression)
		case n.Alternative != nil:
			v = ev.Eval(n.Alternative)
		default:
			return nil, nil
		}
	}
	if v.IsError() {
		return nil, outputError(v, n)
	}
	return v, nil
}

// renderTree renders a template with control structures through gonja's
// renderer. The renderer is built by hand (not exec.NewRenderer) so that no
// "self" name is injected and the caller's map is only read.
func (t *Template) renderTree(ctx map[string]any) (string, error) {
	var b strings.Builder
	b.Grow(len(t.src) + 16)
	r := &exec.Renderer{
		Config:      eng.cfg,
		Environment: eng.environment(exec.NewContext(ctx).Inherit()),
		Loader:      eng.loader,
		Template:    eng.carrier,
		RootNode:    t.root,
		Output:      &b,
	}
	if err := r.Execute(); err != nil {
		return "", treeError(err)
	}
	return b.String(), nil
}
