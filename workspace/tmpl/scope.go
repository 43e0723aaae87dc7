package tmpl

// This file holds the static analysis of a template's variable references
// (Refs), which the loader resolves against the context each template gets
// at run time (SPEC §4.3). It parses the text again with a control-structure
// set whose nodes expose their parts (gonja keeps those of set, with and
// filter private) and never renders anything.

import (
	"fmt"
	"slices"
	"sync"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Ref is one reference of a template to a name it does not bind itself
// (set, for, with, macro and call bind names; loop, caller, varargs,
// kwargs, self and super are bound by gonja).
type Ref struct {
	// Path is the name followed by the keys read from it with constant
	// attributes or subscripts (input.body["who"] → input, body, who), up
	// to the first index, dynamic subscript, slice or method call.
	Path []string
	// Line and Column locate the name in the template text (1-based).
	Line, Column int
	// Guarded is set when an undefined value need not fail the render: the
	// reference is (inside) the operand of default or of a test such as
	// "is defined", sits right of an and/or whose left side holds such a
	// guard, or shares its name and a path prefix with a guarded reference
	// anywhere in the template.
	Guarded bool
	// Printed is set when the value can reach the rendered text as text:
	// it is in an output tag or bound by set, for, with or a macro default,
	// not only used in a condition, comparison, test or subscript, and not
	// passed through shell_quote or a filter that yields a number.
	Printed bool
}

// String formats the path as written with dots ("input.body.who").
func (r Ref) String() string {
	s := ""
	for i, p := range r.Path {
		if i > 0 {
			s += "."
		}
		s += p
	}
	return s
}

// Refs returns the template's references to names it does not bind, in
// source order. complete is false when the template holds a construct the
// analysis cannot look into; then the list may miss references, and a
// caller must not conclude anything from a reference being absent. A static
// template has none.
func (t *Template) Refs() (refs []Ref, complete bool) {
	if t.static {
		return nil, true
	}
	defer func() {
		if r := recover(); r != nil {
			refs, complete = nil, false
		}
	}()
	toks, err := lex(t.src)
	if err != nil {
		return nil, false
	}
	root, err := parser.NewParser("/tpl", tokens.NewStream(toks), eng.cfg, eng.loader, scopeControls()).Parse()
	if err != nil {
		return nil, false
	}
	w := &scopeWalker{complete: true, locals: map[string]bool{}}
	for _, name := range []string{"loop", "caller", "varargs", "kwargs", "self", "super"} {
		w.locals[name] = true
	}
	w.nodes(root.Nodes)
	for _, b := range root.Blocks {
		w.nodes(b.Nodes)
	}
	return w.result(), w.complete
}

// Filters whose result cannot carry the text of their input into a command:
// shell_quote quotes it, the others yield numbers.
var sanitizingFilters = map[string]bool{
	ShellQuoteFilter: true, "int": true, "float": true, "length": true, "count": true,
	"abs": true, "round": true, "wordcount": true,
}

// Filters that turn an undefined input into a value.
var guardingFilters = map[string]bool{"default": true, "d": true}

// scopeWalker collects references while walking a parsed template.
type scopeWalker struct {
	refs []Ref
	// locals are the names the template binds anywhere; references to them
	// are dropped (wherever the binding is: conservative).
	locals   map[string]bool
	complete bool
}

// result drops references to local names, applies guards by path and sorts
// by position.
func (w *scopeWalker) result() []Ref {
	out := w.refs[:0]
	for _, r := range w.refs {
		if !w.locals[r.Path[0]] {
			out = append(out, r)
		}
	}
	var guards [][]string
	for _, r := range out {
		if r.Guarded {
			guards = append(guards, r.Path)
		}
	}
	for i := range out {
		if out[i].Guarded {
			continue
		}
		for _, g := range guards {
			if isPrefix(g, out[i].Path) || isPrefix(out[i].Path, g) {
				out[i].Guarded = true
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Ref) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return out
}

func isPrefix(p, of []string) bool {
	return len(p) <= len(of) && slices.Equal(p, of[:len(p)])
}

func (w *scopeWalker) nodes(ns []nodes.Node) {
	for _, n := range ns {
		w.node(n)
	}
}

func (w *scopeWalker) wrapper(wr *nodes.Wrapper) {
	if wr != nil {
		w.nodes(wr.Nodes)
	}
}

// node walks a template-level node.
func (w *scopeWalker) node(n nodes.Node) {
	switch n := n.(type) {
	case nil, *nodes.Data, *nodes.Comment:
	case *nodes.Output:
		w.expr(n.Expression, true, false)
		w.expr(n.Condition, false, false)
		w.expr(n.Alternative, true, false)
	case *nodes.Wrapper:
		w.wrapper(n)
	case *nodes.ControlStructureBlock:
		w.control(n.ControlStructure)
	default:
		w.complete = false
	}
}

// control walks a control structure.
func (w *scopeWalker) control(cs nodes.ControlStructure) {
	switch c := cs.(type) {
	case *controlStructures.IfControlStructure:
		for _, cond := range c.Conditions {
			w.expr(cond, false, false)
		}
		for _, wr := range c.Wrappers {
			w.wrapper(wr)
		}
	case *controlStructures.ForControlStructure:
		w.locals[c.Key] = true
		if c.Value != "" {
			w.locals[c.Value] = true
		}
		w.expr(c.ObjectEvaluator, true, false)
		w.expr(c.IfCondition, false, false)
		w.wrapper(c.BodyWrapper)
		w.wrapper(c.EmptyWrapper)
	case *scopeSet:
		w.locals[c.name] = true
		w.expr(c.value, true, false)
		w.expr(c.cond, false, false)
		w.expr(c.alt, true, false)
		w.wrapper(c.body)
	case *scopeWith:
		for _, p := range c.pairs {
			w.locals[p.name] = true
			w.expr(p.value, true, false)
		}
		w.wrapper(c.body)
	case *scopeFilter:
		for _, f := range c.chain {
			w.filterArgs(f, true, false)
		}
		w.wrapper(c.body)
	case *limitedMacro:
		w.macro(c.Macro)
	case *controlStructures.MacroControlStructure:
		w.macro(c.Macro)
	case *controlStructures.CallControlStructure:
		w.expr(c.Call, true, false)
		w.wrapper(c.Body)
	case *controlStructures.DoControlStructure:
		w.expr(c.Expression, false, false)
	case *controlStructures.AutoescapeControlStructure:
		w.wrapper(c.Wrapper)
	case *controlStructures.TransControlStructure:
		for name, v := range c.Variables {
			w.locals[name] = true
			w.expr(v, true, false)
		}
		if c.CountVar != "" {
			w.locals[c.CountVar] = true
		}
		w.wrapper(c.SingularBody)
		w.wrapper(c.PluralBody)
	case *controlStructures.BlockControlStructure, *controlStructures.BreakControlStructure,
		*controlStructures.ContinueControlStructure, *rawText:
		// Block bodies are walked from the template's block set.
	default:
		w.complete = false
	}
}

func (w *scopeWalker) macro(m *nodes.Macro) {
	w.locals[m.Name] = true
	for _, p := range m.Kwargs {
		if k, ok := p.Key.(*nodes.String); ok {
			w.locals[k.Val] = true
		}
		switch p.Value.(type) {
		case *nodes.Error, *nodes.None:
		default:
			w.expr(p.Value, true, false)
		}
	}
	if m.VarArgsName != "" {
		w.locals[m.VarArgsName] = true
	}
	if m.KwArgsName != "" {
		w.locals[m.KwArgsName] = true
	}
	w.wrapper(m.Wrapper)
}

// expr walks an expression; printed and guarded describe its position
// (see Ref).
func (w *scopeWalker) expr(e nodes.Node, printed, guarded bool) {
	switch e := e.(type) {
	case nil, *nodes.None, *nodes.String, *nodes.Integer, *nodes.Float, *nodes.Bool, *nodes.Error:
	case *nodes.Name, *nodes.GetAttribute, *nodes.GetItem, *nodes.GetSlice:
		w.ref(e, printed, guarded)
	case *nodes.List:
		for _, x := range e.Val {
			w.expr(x, printed, guarded)
		}
	case *nodes.Tuple:
		for _, x := range e.Val {
			w.expr(x, printed, guarded)
		}
	case *nodes.Dict:
		for _, p := range e.Pairs {
			w.expr(p, printed, guarded)
		}
	case *nodes.Pair:
		w.expr(e.Key, printed, guarded)
		w.expr(e.Value, printed, guarded)
	case *nodes.Call:
		switch f := e.Func.(type) {
		case *nodes.GetAttribute:
			// A method call: the method name is no key of the value.
			w.expr(f.Node, printed, guarded)
		case *nodes.Name:
			// A macro of the template (templates have no functions).
		default:
			w.expr(f, printed, guarded)
		}
		for _, a := range e.Args {
			w.expr(a, printed, guarded)
		}
		for _, a := range e.Kwargs {
			w.expr(a, printed, guarded)
		}
	case *nodes.Negation:
		w.expr(e.Term, false, guarded)
	case *nodes.UnaryExpression:
		w.expr(e.Term, false, guarded)
	case *nodes.BinaryExpression:
		carries := false
		right := guarded
		switch e.Operator.Token.Type {
		case tokens.Addition, tokens.Multiply, tokens.Tilde:
			carries = true
		case tokens.And, tokens.Or:
			carries = true
			right = guarded || hasGuard(e.Left)
		}
		w.expr(e.Left, printed && carries, guarded)
		w.expr(e.Right, printed && carries, right)
	case *nodes.FilteredExpression:
		guards, sanitized := false, false
		for _, f := range e.Filters {
			guards = guards || guardingFilters[f.Name]
			sanitized = sanitized || sanitizingFilters[f.Name]
		}
		w.expr(e.Expression, printed && !sanitized, guarded || guards)
		for i, f := range e.Filters {
			later := false
			for _, g := range e.Filters[i+1:] {
				later = later || guardingFilters[g.Name]
			}
			clean := false
			for _, g := range e.Filters[i:] {
				clean = clean || sanitizingFilters[g.Name]
			}
			w.filterArgs(f, printed && !clean, guarded || later)
		}
	case *nodes.TestExpression:
		w.expr(e.Expression, false, true)
		if e.Test != nil {
			for _, a := range e.Test.Args {
				w.expr(a, false, guarded)
			}
			for _, a := range e.Test.Kwargs {
				w.expr(a, false, guarded)
			}
		}
	default:
		w.complete = false
	}
}

func (w *scopeWalker) filterArgs(f *nodes.FilterCall, printed, guarded bool) {
	for _, a := range f.Args {
		w.expr(a, printed, guarded)
	}
	for _, a := range f.Kwargs {
		w.expr(a, printed, guarded)
	}
}

// ref records the reference chain ending at e: name, attributes and
// subscripts. Dynamic subscripts are walked as expressions of their own;
// the path ends before the first dynamic access from the name.
func (w *scopeWalker) ref(e nodes.Node, printed, guarded bool) {
	var rev []string // constant keys, outermost access first
	for {
		switch n := e.(type) {
		case *nodes.GetAttribute:
			if n.Attribute == "" {
				rev = nil // x.0: an index
			} else {
				rev = append(rev, n.Attribute)
			}
			e = n.Node
			continue
		case *nodes.GetItem:
			if s, ok := n.Arg.(*nodes.String); ok {
				rev = append(rev, s.Val)
			} else {
				w.expr(n.Arg, false, guarded)
				rev = nil
			}
			e = n.Node
			continue
		case *nodes.GetSlice:
			w.expr(n.Start, false, guarded)
			w.expr(n.End, false, guarded)
			w.expr(n.Step, false, guarded)
			rev = nil
			e = n.Node
			continue
		case *nodes.Name:
			path := make([]string, 0, len(rev)+1)
			path = append(path, n.Name.Val)
			for i := len(rev) - 1; i >= 0; i-- {
				path = append(path, rev[i])
			}
			w.refs = append(w.refs, Ref{Path: path, Line: n.Name.Line, Column: n.Name.Col, Guarded: guarded, Printed: printed})
		default:
			w.expr(e, printed, guarded)
		}
		return
	}
}

// hasGuard reports whether e holds a test or a default filter.
func hasGuard(e nodes.Node) bool {
	switch e := e.(type) {
	case *nodes.TestExpression:
		return true
	case *nodes.FilteredExpression:
		for _, f := range e.Filters {
			if guardingFilters[f.Name] {
				return true
			}
		}
		return hasGuard(e.Expression)
	case *nodes.BinaryExpression:
		return hasGuard(e.Left) || hasGuard(e.Right)
	case *nodes.Negation:
		return hasGuard(e.Term)
	case *nodes.UnaryExpression:
		return hasGuard(e.Term)
	}
	return false
}

// scopeControls is the control-structure set of the analysis parse.
var scopeControls = sync.OnceValue(func() *exec.ControlStructureSet {
	cs := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{}).Update(eng.controls)
	mustDo(cs.Replace("set", guardedSet(scopeSetParser)))
	mustDo(cs.Replace("with", scopeWithParser))
	mustDo(cs.Replace("filter", scopeFilterParser))
	return cs
})

// scopeSet is {% set name = value [if cond else alt] %} or the block form
// {% set name %}body{% endset %}, parsed for analysis only.
type scopeSet struct {
	at               *tokens.Token
	name             string
	value, cond, alt nodes.Expression
	body             *nodes.Wrapper
}

func (s *scopeSet) Position() *tokens.Token { return s.at }
func (s *scopeSet) String() string          { return fmt.Sprintf("set %s", s.name) }

// scopeSetParser parses what gonja's set accepts once guardedSet has
// allowed only plain names.
func scopeSetParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	cs := &scopeSet{at: p.Current()}
	name := args.Match(tokens.Name)
	if name == nil {
		return nil, args.Error("expected a name", args.Current())
	}
	cs.name = name.Val
	if args.Match(tokens.Assign) == nil {
		if !args.End() {
			return nil, args.Error("expected '=' or the end of the tag", args.Current())
		}
		body, _, err := p.WrapUntil("endset")
		if err != nil {
			return nil, err
		}
		cs.body = body
		return cs, nil
	}
	value, err := args.ParseExpression()
	if err != nil {
		return nil, err
	}
	cs.value = value
	if cs.cond, cs.alt, err = args.ParseCondition(); err != nil {
		return nil, err
	}
	if !args.End() {
		return nil, args.Error("malformed 'set' tag", args.Current())
	}
	return cs, nil
}

// scopeWith is {% with a = x, b = y %}body{% endwith %}.
type scopeWith struct {
	at    *tokens.Token
	pairs []withPair
	body  *nodes.Wrapper
}

type withPair struct {
	name  string
	value nodes.Expression
}

func (s *scopeWith) Position() *tokens.Token { return s.at }
func (s *scopeWith) String() string          { return "with" }

func scopeWithParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	cs := &scopeWith{at: p.Current()}
	body, _, err := p.WrapUntil("endwith")
	if err != nil {
		return nil, err
	}
	cs.body = body
	for !args.End() {
		key := args.Match(tokens.Name)
		if key == nil || args.Match(tokens.Assign) == nil {
			return nil, args.Error("expected name = value", args.Current())
		}
		value, err := args.ParseExpression()
		if err != nil {
			return nil, err
		}
		cs.pairs = append(cs.pairs, withPair{name: key.Val, value: value})
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if !args.End() {
		return nil, args.Error("malformed 'with' tag", args.Current())
	}
	return cs, nil
}

// scopeFilter is {% filter f(args) | g %}body{% endfilter %}.
type scopeFilter struct {
	at    *tokens.Token
	chain []*nodes.FilterCall
	body  *nodes.Wrapper
}

func (s *scopeFilter) Position() *tokens.Token { return s.at }
func (s *scopeFilter) String() string          { return "filter" }

func scopeFilterParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	cs := &scopeFilter{at: p.Current()}
	body, _, err := p.WrapUntil("endfilter")
	if err != nil {
		return nil, err
	}
	cs.body = body
	for !args.End() {
		f, err := args.ParseFilter()
		if err != nil {
			return nil, err
		}
		cs.chain = append(cs.chain, f)
		if args.Match(tokens.Pipe) == nil {
			break
		}
	}
	if !args.End() {
		return nil, args.Error("malformed 'filter' tag", args.Current())
	}
	return cs, nil
}
