package tmpl

// This file fixes the package API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the tmpl implementation.

import (
	"errors"
	"fmt"
)

// ErrNotImplemented is returned by API stubs that are not written yet.
var ErrNotImplemented = errors.New("tmpl: not implemented")

// Error is a template parse or render error. Line and Column are 1-based
// positions inside the template text (0 when the engine gave none).
type Error struct {
	Line, Column int
	// Msg is the engine message without position, e.g.
	// "unknown filter 'shout'" or "'input.nosuch' is undefined".
	Msg string
}

// Error formats as "<msg> (line L, column C)" or just "<msg>" without position.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", e.Msg, e.Line, e.Column)
	}
	return e.Msg
}

// Template is one parsed template string. It is immutable and safe for
// concurrent Render calls.
type Template struct {
	src string
}

// Parse parses src and checks every filter name against the private filter
// set, so syntax errors and unknown filters surface at load time. The error
// is an *Error.
func Parse(src string) (*Template, error) {
	return nil, ErrNotImplemented
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
func (t *Template) Static() bool { return false }

// Render renders the template with ctx. Context values are JSON-like:
// string, bool, nil, float64/int/int64 (integral float64 are treated as
// integers), json.Number, map[string]any, []any. Output expressions are
// formatted per SPEC §4.2 (numbers as JSON, true/false, null empty, objects
// and arrays compact JSON with sorted keys). Undefined names are errors
// (*Error) naming the variable.
func (t *Template) Render(ctx map[string]any) (string, error) {
	return "", ErrNotImplemented
}

// Eval renders like Render, except that a template consisting of exactly one
// output tag (outer whitespace ignored) whose result is an object or array
// returns that value (map[string]any / []any) instead of its JSON text
// ("typed values", SPEC §4.2). Every other result is a string.
func (t *Template) Eval(ctx map[string]any) (any, error) {
	return nil, ErrNotImplemented
}

// RenderEnv renders a secret value at load time: the context is empty and the
// only function is get_env(name=…, default=…), answered by lookup.
// An unset variable without default is an *Error whose Msg is
// "environment variable 'NAME' is not set".
func (t *Template) RenderEnv(lookup func(name string) (string, bool)) (string, error) {
	return "", ErrNotImplemented
}

// Value is a compiled tree of YAML/JSON values whose strings (at any depth)
// are templates: a step input, a hook input. Non-string leaves pass through.
type Value struct {
	raw any
}

// PathError is a template error inside a Value, with the path of the string
// that failed: "msg", "a.b", "list[2]".
type PathError struct {
	Path string
	Err  *Error
}

// Error formats as "<path>: <err>".
func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the template error.
func (e *PathError) Unwrap() error { return e.Err }

// Compile parses every string in raw (maps, slices and scalars as decoded
// from YAML or JSON). Errors are *PathError; all of them are returned joined
// with errors.Join so a validator can report each.
func Compile(raw any) (*Value, error) {
	return nil, ErrNotImplemented
}

// Raw returns the value as written, templates unrendered (for the API).
func (v *Value) Raw() any { return v.raw }

// Render renders every string with ctx using Eval semantics (typed values
// for single-tag strings), returning a new tree; maps become map[string]any,
// slices []any. The first error is a *PathError.
func (v *Value) Render(ctx map[string]any) (any, error) {
	return nil, ErrNotImplemented
}
