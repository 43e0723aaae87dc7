package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"time"

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

// Render renders the template with ctx within the default Limits. Context
// values are JSON-like: string, bool, nil, float64/int/int64 (integral
// float64 are treated as integers), json.Number, map[string]any, []any.
// Output expressions are formatted per SPEC §4.2 (numbers as JSON,
// true/false, null empty, objects and arrays compact JSON with sorted keys).
// Undefined names and exceeded budgets are errors (*Error). Render never
// modifies ctx.
func (t *Template) Render(ctx map[string]any) (string, error) {
	return t.RenderLimits(ctx, DefaultLimits())
}

// RenderLimits is Render within lim (zero fields take the defaults). A
// render that runs out of time returns at the deadline; its goroutine stops
// at its next budget check.
func (t *Template) RenderLimits(ctx map[string]any, lim Limits) (string, error) {
	if t.static {
		return t.src, nil
	}
	ctx = normalizeContext(ctx)
	v, err := t.guarded(lim, func(b *budget) (any, error) { return t.render(ctx, b) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// Eval renders like Render, except that a template consisting of exactly one
// output tag (outer whitespace ignored) whose result is an object or array
// returns that value (map[string]any / []any, newly built, with JSON-like
// leaves) instead of its JSON text ("typed values", SPEC §4.2). Every other
// result is a string.
func (t *Template) Eval(ctx map[string]any) (any, error) {
	return t.EvalLimits(ctx, DefaultLimits())
}

// EvalLimits is Eval within lim (zero fields take the defaults).
func (t *Template) EvalLimits(ctx map[string]any, lim Limits) (any, error) {
	if t.static {
		return t.src, nil
	}
	return t.evalLimits(normalizeContext(ctx), lim)
}

func (t *Template) evalLimits(ctx map[string]any, lim Limits) (any, error) {
	return t.guarded(lim, func(b *budget) (any, error) { return t.eval(ctx, b) })
}

// RenderEnv renders a secret value at load time: the context is empty and the
// only function is get_env(name=…, default=…), answered by lookup.
// An unset variable without default is an *Error whose Msg is
// "environment variable 'NAME' is not set".
func (t *Template) RenderEnv(lookup func(name string) (string, bool)) (string, error) {
	if t.static {
		return t.src, nil
	}
	ctx := map[string]any{"get_env": getEnvFunc(lookup)}
	v, err := t.guarded(DefaultLimits(), func(b *budget) (any, error) { return t.render(ctx, b) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// guarded runs one render under a new budget. A template with control
// structures renders on its own goroutine, watched by a timer: when time
// runs out the caller gets the error at once and the goroutine, whose every
// loop pass, filter and operator checks the budget, stops at its next
// check. Flat templates (text and output tags: no loops, no macros, every
// allocating construct size-checked) render inline, which is ten times
// cheaper than a goroutine hand-off on a busy machine.
func (t *Template) guarded(lim Limits, render func(b *budget) (any, error)) (any, error) {
	b := newBudget(lim)
	if t.root == nil {
		v, err := render(b)
		return b.finish(v, err)
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := render(b)
		v, err = b.finish(v, err)
		done <- result{v, err}
	}()
	timer := time.NewTimer(b.lim.Time)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		b.stop.Store(true)
		return nil, &Error{Msg: b.timeMsg()}
	}
}

// finish turns a render's result into the caller's: an exceeded budget wins
// over whatever error gonja made of it (keeping that error's position when
// it carries the same message), and a string result is held to the output
// budget.
func (b *budget) finish(v any, err error) (any, error) {
	if b.err != nil {
		var te *Error
		if errors.As(err, &te) && te.Msg == b.err.Msg {
			return nil, err
		}
		e := *b.err
		return nil, &e
	}
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		if err := b.output(len(s)); err != nil {
			e := *err
			return nil, &e
		}
	}
	return v, nil
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
func (t *Template) render(ctx map[string]any, bud *budget) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = "", panicError(r)
		}
	}()
	if t.pieces == nil {
		return t.renderTree(ctx, bud)
	}
	ev := t.evaluator(ctx, bud)
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
		if err := bud.output(b.Len()); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// eval is Eval with a normalised context.
func (t *Template) eval(ctx map[string]any, bud *budget) (res any, err error) {
	if t.single == 0 {
		return t.render(ctx, bud)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, panicError(r)
		}
	}()
	out := t.pieces[t.single-1].out
	v, err := evalOutput(t.evaluator(ctx, bud), out)
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

// evaluator returns a gonja evaluator over ctx for a flat template, with the
// render's budget in a child context. Names the template assigns land in
// that child context, never in ctx.
func (t *Template) evaluator(ctx map[string]any, bud *budget) *exec.Evaluator {
	c := exec.NewContext(ctx).Inherit()
	c.Set(budgetKey, bud)
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
func (t *Template) renderTree(ctx map[string]any, bud *budget) (string, error) {
	w := &limitedWriter{b: bud}
	w.out.Grow(len(t.src) + 16)
	c := exec.NewContext(ctx).Inherit()
	c.Set(budgetKey, bud)
	r := &exec.Renderer{
		Config:      eng.cfg,
		Environment: eng.environment(c),
		Loader:      eng.loader,
		Template:    eng.carrier,
		RootNode:    t.root,
		Output:      w,
	}
	if err := r.Execute(); err != nil {
		return "", treeError(err)
	}
	return w.out.String(), nil
}
