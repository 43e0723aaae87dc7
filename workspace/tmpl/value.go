package tmpl

import (
	"errors"
	"slices"
	"strconv"
)

// Value is a compiled tree of YAML/JSON values whose strings (at any depth)
// are templates: a step input, a hook input. Non-string leaves pass through.
// It is immutable and safe for concurrent Render calls.
type Value struct {
	raw  any
	root vnode
}

// vnode is one compiled node of a Value.
type vnode struct {
	kind vkind
	leaf any       // vLeaf: the value as written (also static strings)
	tmpl *Template // vTemplate
	path string    // vTemplate: where the string is, for PathError
	keys []string  // vMap, sorted
	kids []vnode   // vMap (parallel to keys), vList
}

type vkind uint8

const (
	vLeaf vkind = iota
	vTemplate
	vMap
	vList
)

// PathError is a template error inside a Value, with the path of the string
// that failed: "msg", "a.b", "list[2]" ("" for a bare string).
type PathError struct {
	Path string
	Err  *Error
}

// Error formats as "<path>: <err>", or just "<err>" for an empty path.
func (e *PathError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the template error.
func (e *PathError) Unwrap() error { return e.Err }

// Compile parses every string in raw (maps, slices and scalars as decoded
// from YAML or JSON). Errors are *PathError; all of them are returned joined
// with errors.Join (in path order) so a validator can report each.
func Compile(raw any) (*Value, error) {
	return compileValue(raw, Parse)
}

func compileValue(raw any, parse func(string) (*Template, error)) (*Value, error) {
	var errs []error
	c := compiler{parse: parse, errs: &errs}
	root := c.compile(raw, "")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Value{raw: raw, root: root}, nil
}

// compiler walks a value tree, parsing its strings with parse.
type compiler struct {
	parse func(string) (*Template, error)
	errs  *[]error
}

func (c compiler) compile(raw any, path string) vnode {
	switch v := raw.(type) {
	case string:
		return c.compileString(raw, v, path)
	case map[string]any:
		n := vnode{kind: vMap, keys: sortedKeys(v)}
		n.kids = make([]vnode, len(n.keys))
		for i, k := range n.keys {
			n.kids[i] = c.compile(v[k], joinKey(path, k))
		}
		return n
	case map[string]string:
		n := vnode{kind: vMap, keys: sortedKeys(v)}
		n.kids = make([]vnode, len(n.keys))
		for i, k := range n.keys {
			n.kids[i] = c.compileString(v[k], v[k], joinKey(path, k))
		}
		return n
	case []any:
		n := vnode{kind: vList, kids: make([]vnode, len(v))}
		for i, e := range v {
			n.kids[i] = c.compile(e, joinIndex(path, i))
		}
		return n
	case []string:
		n := vnode{kind: vList, kids: make([]vnode, len(v))}
		for i, e := range v {
			n.kids[i] = c.compileString(e, e, joinIndex(path, i))
		}
		return n
	}
	return vnode{kind: vLeaf, leaf: raw}
}

// compileString compiles one string; boxed is s as an interface, kept so that
// rendering a static string does not allocate.
func (c compiler) compileString(boxed any, s, path string) vnode {
	if isStatic(s) {
		return vnode{kind: vLeaf, leaf: boxed}
	}
	t, err := c.parse(s)
	if err != nil {
		var te *Error
		if !errors.As(err, &te) {
			te = &Error{Msg: err.Error()}
		}
		*c.errs = append(*c.errs, &PathError{Path: path, Err: te})
		return vnode{kind: vLeaf, leaf: boxed}
	}
	return vnode{kind: vTemplate, tmpl: t, path: path}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Raw returns the value as written, templates unrendered (for the API).
func (v *Value) Raw() any { return v.raw }

// Render renders every string with ctx using Eval semantics (typed values
// for single-tag strings), returning a new tree; maps become map[string]any,
// slices []any. Other values are shared with the raw tree, which is never
// modified. The first error (in path order) is a *PathError.
func (v *Value) Render(ctx map[string]any) (any, error) {
	return v.RenderLimits(ctx, DefaultLimits())
}

// RenderLimits is Render with lim applied to each template string on its
// own (zero fields take the defaults).
func (v *Value) RenderLimits(ctx map[string]any, lim Limits) (any, error) {
	if v == nil {
		return nil, nil
	}
	return v.root.render(normalizeContext(ctx), lim)
}

func (n *vnode) render(ctx map[string]any, lim Limits) (any, error) {
	switch n.kind {
	case vTemplate:
		out, err := n.tmpl.evalLimits(ctx, lim)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				te = &Error{Msg: err.Error()}
			}
			return nil, &PathError{Path: n.path, Err: te}
		}
		return out, nil
	case vMap:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			r, err := n.kids[i].render(ctx, lim)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case vList:
		out := make([]any, len(n.kids))
		for i := range n.kids {
			r, err := n.kids[i].render(ctx, lim)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return n.leaf, nil
}
