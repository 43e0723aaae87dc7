package tmpl

// This file bounds what a template can make gonja do (SPEC §4.4). gonja has
// no cancellation and evaluates string repetition, concatenation and
// padding by allocating whatever an argument asks for. So the parsed tree
// is rewritten once, at parse time: operators that build strings or lists
// go through a checking filter, every 'for' loop charges its length before
// it materialises its items and checks the budget on every pass, and the
// built-in filters and string methods that grow with an argument are
// wrapped with a size check that runs before they allocate.

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Private filters the rewritten tree calls.
const (
	// opFilter evaluates "left op right" for the operators that allocate:
	// left | __runnel_op(right, "op").
	opFilter = reservedPrefix + "_op"
	// loopFilter charges a loop's length before it runs: iterable | loop.
	loopFilter = reservedPrefix + "_loop"
	// tickFilter checks the budget once per loop pass and charges the
	// text the pass writes: '' | tick(bytes).
	tickFilter = reservedPrefix + "_tick"
)

// guardedOps are the binary operators rewritten through opFilter.
var guardedOps = map[tokens.Type]string{
	tokens.Multiply: "*",
	tokens.Addition: "+",
	tokens.Tilde:    "~",
}

var (
	nodesPkg    = reflect.TypeFor[nodes.Data]().PkgPath()
	controlsPkg = reflect.TypeFor[controlStructures.ForControlStructure]().PkgPath()
	selfPkg     = reflect.TypeFor[limitedMacro]().PkgPath()
)

// guardTree rewrites a parsed tree (or a node of it) in place. Control
// structures keep parts of their bodies in unexported fields, so the walk
// uses reflection and writes such fields through unsafe pointers; it only
// enters types of gonja's nodes and control_structures packages and of this
// package, and each pointer once.
// A recursive loop (loop(children)) recurses without passing a checked
// point, so it is refused; Tera has no such loops.
func guardTree(root any) *Error {
	w := guardWalker{seen: map[uintptr]bool{}}
	w.walk(reflect.ValueOf(root))
	return w.err
}

type guardWalker struct {
	seen map[uintptr]bool
	err  *Error
}

func (w *guardWalker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return
		}
		switch v.Type().Elem().PkgPath() {
		case nodesPkg, controlsPkg, selfPkg:
		default:
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.walk(v.Elem())
		if fcs, ok := v.Interface().(*controlStructures.ForControlStructure); ok {
			if fcs.Recursive && w.err == nil {
				w.err = posError(fcs.ObjectEvaluator.Position(), "recursive loops are not supported")
			}
			guardFor(fcs)
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		w.walk(v.Elem())
		if be, ok := v.Elem().Interface().(*nodes.BinaryExpression); ok {
			if fe := guardBinary(be); fe != nil && reflect.TypeOf(fe).AssignableTo(v.Type()) {
				v.Set(reflect.ValueOf(fe))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			w.walk(field(v, i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.walk(v.Index(i))
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(it.Value())
			w.walk(val)
			v.SetMapIndex(it.Key(), val)
		}
	}
}

// field returns field i of the addressable struct v, writable even when
// unexported.
func field(v reflect.Value, i int) reflect.Value {
	f := v.Field(i)
	if !f.CanSet() && f.CanAddr() {
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	}
	return f
}

// guardBinary returns "left | __runnel_op(right, op)" for an allocating
// operator, nil for the others.
func guardBinary(be *nodes.BinaryExpression) *nodes.FilteredExpression {
	if be.Operator == nil || be.Operator.Token == nil {
		return nil
	}
	op, ok := guardedOps[be.Operator.Token.Type]
	if !ok {
		return nil
	}
	at := be.Operator.Token
	return &nodes.FilteredExpression{
		Expression: be.Left,
		Filters: []*nodes.FilterCall{{
			Token: at, Name: opFilter,
			Args:   []nodes.Expression{be.Right, &nodes.String{Location: at, Val: op}},
			Kwargs: map[string]nodes.Expression{},
		}},
	}
}

// guardFor makes a loop charge its length before it materialises its items
// and check the budget at the start of every pass.
func guardFor(fcs *controlStructures.ForControlStructure) {
	at := fcs.ObjectEvaluator.Position()
	fcs.ObjectEvaluator = &nodes.FilteredExpression{
		Expression: fcs.ObjectEvaluator,
		Filters:    []*nodes.FilterCall{{Token: at, Name: loopFilter, Kwargs: map[string]nodes.Expression{}}},
	}
	for _, body := range []*nodes.Wrapper{fcs.BodyWrapper, fcs.EmptyWrapper} {
		if body == nil {
			continue
		}
		tick := &nodes.Output{
			Start: at, End: at,
			Expression: &nodes.FilteredExpression{
				Expression: &nodes.String{Location: at, Val: ""},
				Filters: []*nodes.FilterCall{{
					Token: at, Name: tickFilter,
					Args:   []nodes.Expression{&nodes.Integer{Location: at, Val: dataSize(body)}},
					Kwargs: map[string]nodes.Expression{},
				}},
			},
		}
		body.Nodes = append([]nodes.Node{tick}, body.Nodes...)
	}
}

// dataSize sums the literal text in a loop body (nested bodies included),
// what one pass can write without an output tag.
func dataSize(body *nodes.Wrapper) int {
	n := 0
	var walk func(v reflect.Value)
	seen := map[uintptr]bool{}
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] || v.Elem().Kind() != reflect.Struct {
				return
			}
			switch v.Type().Elem().PkgPath() {
			case nodesPkg, controlsPkg, selfPkg:
			default:
				return
			}
			seen[v.Pointer()] = true
			if d, ok := v.Interface().(*nodes.Data); ok && d.Data != nil {
				n += len(d.Data.Val)
				return
			}
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(field(v, i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Value())
			}
		}
	}
	walk(reflect.ValueOf(body))
	return n
}

// filterOp is "left op right" for *, + and ~ with gonja's semantics, the
// results checked against the budget before they are built.
func filterOp(e *exec.Evaluator, left *exec.Value, params *exec.VarArgs) *exec.Value {
	if left.IsError() {
		return left
	}
	if len(params.Args) != 2 {
		return markerError("internal error: bad operator call")
	}
	b := budgetOf(e)
	if err := b.tick(0); err != nil {
		return budgetValue(err)
	}
	right, op := params.Args[0], params.Args[1].String()
	switch op {
	case "*":
		if left.IsFloat() || right.IsFloat() {
			return exec.AsValue(left.Float() * right.Float())
		}
		if left.IsString() {
			s, n := left.String(), right.Integer()
			if n <= 0 || s == "" {
				return exec.AsValue("")
			}
			if err := b.grow("string repetition '*'", mulSize(len(s), n)); err != nil {
				return budgetValue(err)
			}
			return exec.AsValue(strings.Repeat(s, n))
		}
		return exec.AsValue(left.Integer() * right.Integer())
	case "+":
		if left.IsList() {
			if !right.IsList() {
				return markerError(fmt.Sprintf("unable to concatenate list to %s", clip(right.String())))
			}
			n := addSize(left.Len(), right.Len())
			if n < 0 || n > maxItems {
				return budgetValue(b.fail(fmt.Sprintf("list concatenation '+' would make %d items: more than %d", n, maxItems)))
			}
			out := make([]any, 0, n)
			for _, l := range []*exec.Value{left, right} {
				l.Iterate(func(_, _ int, item, _ *exec.Value) bool {
					out = append(out, item.Interface())
					return true
				}, func() {})
			}
			return exec.AsValue(out)
		}
		if left.IsFloat() || right.IsFloat() {
			return exec.AsValue(left.Float() + right.Float())
		}
		if left.IsString() || right.IsString() {
			return concat(b, "string concatenation '+'", left, right)
		}
		return exec.AsValue(left.Integer() + right.Integer())
	case "~":
		return concat(b, "concatenation '~'", left, right)
	}
	return markerError("internal error: unknown operator " + op)
}

func concat(b *budget, what string, left, right *exec.Value) *exec.Value {
	l, r := left.String(), right.String()
	if err := b.grow(what, addSize(len(l), len(r))); err != nil {
		return budgetValue(err)
	}
	return exec.AsValue(l + r)
}

// filterLoop charges the length of a loop's iterable before the loop
// materialises it.
func filterLoop(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	n := 0
	if in.IsString() {
		n = utf8.RuneCountInString(in.String())
	} else if in.IsList() || in.IsDict() {
		n = in.Len()
	}
	if err := budgetOf(e).tick(n); err != nil {
		return budgetValue(err)
	}
	return in
}

// filterTick checks the budget at the start of a loop pass and charges the
// literal text the pass writes (its argument).
func filterTick(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	b := budgetOf(e)
	n := 0
	if len(params.Args) == 1 {
		n = params.Args[0].Integer()
	}
	if err := b.tick(0); err != nil {
		return budgetValue(err)
	}
	if n > 0 {
		if err := b.grow("loop text", n); err != nil {
			return budgetValue(err)
		}
	}
	return in
}
