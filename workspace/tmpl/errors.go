package tmpl

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// maxMsg bounds error messages: they quote expressions and values, and end
// up in API responses and logs.
const maxMsg = 400

// clip shortens s to maxMsg bytes (on a rune boundary) and drops NUL bytes,
// which mark runnel's errors inside gonja's.
func clip(s string) string {
	if strings.Contains(s, markerByte) {
		s = strings.ReplaceAll(s, markerByte, "")
	}
	if len(s) <= maxMsg {
		return s
	}
	cut := maxMsg
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// gonja flattens every error a filter or function returns into a string
// ("invalid call to filter 'x': <err>"), so runnel's own errors travel
// through it as a marker: "\x00rnl:<line>:<col>:<msg>\x00". Line 0 means
// the position is not known yet. Template text cannot hold NUL bytes (Parse
// rejects them), so only runnel makes markers.
const (
	markerByte  = "\x00"
	markerStart = markerByte + "rnl:"
)

func marker(line, col int, msg string) string {
	msg = strings.ReplaceAll(msg, markerByte, "")
	return markerStart + strconv.Itoa(line) + ":" + strconv.Itoa(col) + ":" + msg + markerByte
}

// markerError is an exec.Value holding a marker error without position.
func markerError(msg string) *exec.Value {
	return exec.AsValue(errors.New(marker(0, 0, msg)))
}

// findMarker extracts the first marker in s.
func findMarker(s string) (*Error, bool) {
	i := strings.Index(s, markerStart)
	if i < 0 {
		return nil, false
	}
	rest := s[i+len(markerStart):]
	j := strings.Index(rest, markerByte)
	if j < 0 {
		return nil, false
	}
	parts := strings.SplitN(rest[:j], ":", 3)
	if len(parts) != 3 {
		return nil, false
	}
	line, err1 := strconv.Atoi(parts[0])
	col, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return nil, false
	}
	return &Error{Line: line, Column: col, Msg: parts[2]}, true
}

// outputError makes the *Error for a failed output tag, placed at the tag
// unless the error already carries a position.
func outputError(err error, n *nodes.Output) *Error {
	e := toError(err)
	if e.Line == 0 {
		e.Line, e.Column = n.Start.Line, n.Start.Col
	}
	return e
}

// toError turns any error met while rendering into an *Error with a clean
// message (position only if a marker carried one).
func toError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		c := *te
		return &c
	}
	if m, ok := findMarker(err.Error()); ok {
		return m
	}
	msg, _ := describe(err)
	return &Error{Msg: msg}
}

var (
	// gonja describes the control structure that failed as e.g.
	// "IfControlStructure(Line=1 Col=7)".
	structurePos = regexp.MustCompile(`\(Line=(\d+) Col=(\d+)\)`)
	// "Unable to render condition at line 3: …"
	linePos = regexp.MustCompile(`at line (\d+)`)
)

// treeError turns an error from gonja's renderer into an *Error. Output tags
// report through the formatting filter's marker; other failures (an 'if'
// condition, a 'for' iterable) are placed at the innermost structure named
// in gonja's message.
func treeError(err error) *Error {
	s := err.Error()
	if m, ok := findMarker(s); ok {
		return m
	}
	msg, _ := describe(err)
	e := &Error{Msg: msg}
	if all := structurePos.FindAllStringSubmatch(s, -1); len(all) > 0 {
		last := all[len(all)-1]
		e.Line, _ = strconv.Atoi(last[1])
		e.Column, _ = strconv.Atoi(last[2])
	} else if all := linePos.FindAllStringSubmatch(s, -1); len(all) > 0 {
		e.Line, _ = strconv.Atoi(all[len(all)-1][1])
	}
	return e
}

// chain lists err and the errors it wraps, looking through the exec.Value
// holders gonja puts between them.
func chain(err error) []error {
	var out []error
	for err != nil && len(out) < 200 {
		if v, ok := err.(*exec.Value); ok {
			inner, isErr := v.Interface().(error)
			if !isErr {
				break
			}
			err = inner
			continue
		}
		out = append(out, err)
		err = errors.Unwrap(err)
	}
	return out
}

// describe returns a clean message for a gonja evaluation error and whether
// it means "undefined" (a missing name, attribute or item, or one reached
// through null). gonja's undefined messages end the (possibly flattened)
// text of the innermost error:
//
//	Unable to evaluate name "x"
//	Unable to evaluate x.y: attribute 'y' not found
//	Unable to evaluate x.0: item 0 not found
//	unable to evaluate x['k']: item ''k'' not found
//	Unable to evaluate x.y: Can't use Getitem on None
func describe(err error) (string, bool) {
	errs := chain(err)
	if len(errs) == 0 {
		return clip(err.Error()), false
	}
	leaf := errs[len(errs)-1].Error()
	if m, ok := findMarker(leaf); ok {
		return m.Msg, false
	}
	const evalName = `Unable to evaluate name "`
	if i := strings.LastIndex(leaf, evalName); i >= 0 && strings.HasSuffix(leaf, `"`) {
		name := leaf[i+len(evalName) : len(leaf)-1]
		return clip(fmt.Sprintf("'%s' is undefined", name)), true
	}
	const evaluate = "nable to evaluate "
	if strings.HasSuffix(leaf, " not found") {
		if i := strings.LastIndex(leaf, evaluate); i >= 0 {
			rest := leaf[i+len(evaluate):]
			j := max(strings.LastIndex(rest, ": attribute '"), strings.LastIndex(rest, ": item "))
			if j > 0 {
				return clip(fmt.Sprintf("'%s' is undefined", rest[:j])), true
			}
		}
	}
	if strings.HasSuffix(leaf, " on None") {
		// The expression is in the leaf when it was flattened, else in the
		// error wrapping it.
		text := leaf
		if !strings.Contains(text, evaluate) && len(errs) >= 2 {
			text = errs[len(errs)-2].Error()
		}
		if i := strings.LastIndex(text, evaluate); i >= 0 {
			rest := text[i+len(evaluate):]
			if j := strings.Index(rest, ": Can't use "); j > 0 {
				expr := rest[:j]
				return clip(fmt.Sprintf("'%s' is undefined ('%s' is null)", expr, parentExpr(expr))), true
			}
		}
		return "attribute of null is undefined", true
	}
	if expr, ok := strings.CutSuffix(leaf, " is not callable"); ok && !strings.Contains(expr, ": ") {
		return clip(fmt.Sprintf("'%s' is not callable", expr)), false
	}
	msg := leaf
	if i := strings.LastIndex(msg, "invalid call to "); i > 0 {
		msg = msg[i:]
	}
	if i := strings.LastIndex(msg, "unknown method '"); i > 0 {
		msg = msg[i:]
	}
	if name, ok := strings.CutPrefix(msg, "filter '"); ok && strings.HasSuffix(name, "' not found") {
		msg = "unknown filter '" + strings.TrimSuffix(name, "' not found") + "'"
	}
	return clip(msg), false
}

// innermost returns the message of the innermost error err wraps.
func innermost(err error) string {
	errs := chain(err)
	if len(errs) == 0 {
		return err.Error()
	}
	return errs[len(errs)-1].Error()
}

// parentExpr returns "a.b" for "a.b.c" and "a" for "a[0]".
func parentExpr(expr string) string {
	if strings.HasSuffix(expr, "]") {
		if i := strings.LastIndex(expr, "["); i > 0 {
			return expr[:i]
		}
	}
	if i := strings.LastIndex(expr, "."); i > 0 {
		return expr[:i]
	}
	return expr
}

// isUndefined reports whether the error value v means "undefined".
func isUndefined(v *exec.Value) bool {
	err, ok := v.Interface().(error)
	if !ok {
		return false
	}
	_, undefined := describe(err)
	return undefined
}

// panicError turns a recovered gonja panic into an *Error.
func panicError(r any) *Error {
	if err, ok := r.(error); ok && strings.Contains(err.Error(), "integer divide by zero") {
		return &Error{Msg: "division by zero"}
	}
	return &Error{Msg: clip(fmt.Sprintf("template engine failure: %v", r))}
}
