package workspace

// This file holds the YAML layer of the loader: parsing one file into an
// AST (through yamlfile, which holds the limits), resolving anchors, aliases, tags and merge keys,
// reading mappings in key order, and converting nodes to plain values, all
// while keeping the position of every key and value for problems.

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/yamlfile"
)

// at is a position in a workspace file.
type at struct {
	file      string
	line, col int
}

// yamlDoc is one parsed file.
type yamlDoc struct {
	// file is relative to the workspace root (".workflows/ci.yaml").
	file string
	body ast.Node
	// aliases maps each alias to the node of the anchor it names (the
	// newest anchor of that name defined before the alias); missing =
	// undefined alias.
	aliases map[*ast.AliasNode]ast.Node
	// nodes counts node visits against yamlfile.MaxNodes.
	nodes yamlfile.Budget
	// report receives the problems found while reading the document.
	report func(Problem)
}

// parseYAML parses src into a document, reporting the problems of the YAML
// layer (size and nesting limits, syntax, duplicate keys, several
// documents, undefined aliases) through report; it returns nil when the
// file cannot be used at all.
func parseYAML(file string, src []byte, report func(Problem)) *yamlDoc {
	f, err := yamlfile.Parse(src)
	if err != nil {
		report(fileProblem(file, err))
		return nil
	}
	d := &yamlDoc{file: file, aliases: map[*ast.AliasNode]ast.Node{}, report: report}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if d.body != nil {
			d.errorf(doc.Body, "a file must hold a single YAML document")
			break
		}
		d.body = doc.Body
	}
	if d.body != nil {
		d.indexAliases(d.body, map[string]ast.Node{}, 0)
	}
	return d
}

// fileProblem is a file that cannot be read or parsed: a *yamlfile.Error
// (a limit, a syntax error) keeps its position.
func fileProblem(file string, err error) Problem {
	var ye *yamlfile.Error
	if errors.As(err, &ye) {
		return Problem{File: file, Line: ye.Line, Col: ye.Col, Message: ye.Message}
	}
	return Problem{File: file, Message: err.Error()}
}

// indexAliases walks n in document order, recording anchors after their
// content (so an alias can never point into its own anchor) and resolving
// every alias to the anchor defined last before it.
func (d *yamlDoc) indexAliases(n ast.Node, anchors map[string]ast.Node, depth int) {
	if n == nil || depth > 10_000 {
		return
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.indexAliases(mv, anchors, depth+1)
		}
	case *ast.MappingValueNode:
		d.indexAliases(v.Key, anchors, depth+1)
		d.indexAliases(v.Value, anchors, depth+1)
	case *ast.MappingKeyNode:
		d.indexAliases(v.Value, anchors, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			d.indexAliases(x, anchors, depth+1)
		}
	case *ast.TagNode:
		d.indexAliases(v.Value, anchors, depth+1)
	case *ast.AnchorNode:
		d.indexAliases(v.Value, anchors, depth+1)
		if v.Name != nil && v.Name.GetToken() != nil {
			anchors[v.Name.GetToken().Value] = v.Value
		}
	case *ast.AliasNode:
		name := ""
		if v.Value != nil && v.Value.GetToken() != nil {
			name = v.Value.GetToken().Value
		}
		if t, ok := anchors[name]; ok {
			d.aliases[v] = t
		} else {
			d.errorf(v, "alias '*%s' refers to no anchor defined before it", name)
		}
	}
}

// at returns the position of n in this file.
func (d *yamlDoc) at(n ast.Node) at {
	l, c := yamlfile.Pos(n)
	return at{file: d.file, line: l, col: c}
}

// resolve strips anchors, aliases, tags and explicit-key markers; it returns
// nil for null nodes and undefined aliases.
func (d *yamlDoc) resolve(n ast.Node) ast.Node {
	for range 64 {
		switch v := n.(type) {
		case nil:
			return nil
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			n = d.aliases[v]
		case *ast.TagNode:
			n = v.Value
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.NullNode:
			return nil
		default:
			return n
		}
	}
	return nil
}

// isStrTag reports whether n (unresolved) carries the !!str tag.
func isStrTag(n ast.Node) bool {
	for range 64 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			if v.Start != nil && (v.Start.Value == "!!str" || v.Start.Value == "tag:yaml.org,2002:str") {
				return true
			}
			n = v.Value
		default:
			return false
		}
	}
	return false
}

// entry is one key of a mapping with the positions of its key and value.
type entry struct {
	key   string
	keyAt at
	// val is the value node as written (unresolved, may be nil for null).
	val ast.Node
}

// kind names the YAML kind of a resolved node for type errors.
func kind(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	default:
		return "a scalar"
	}
}

// mappingEntries returns the entries of the resolved mapping n in key order,
// with merge keys ("<<") applied: explicit keys win over merged ones, and
// earlier merge sources over later ones. Null is an empty mapping; ok is
// false for anything else that is not a mapping.
func (d *yamlDoc) mappingEntries(n ast.Node) (es []entry, ok bool) {
	var values []*ast.MappingValueNode
	switch v := d.resolve(n).(type) {
	case nil:
		return nil, true
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		return nil, false
	}
	var merged []entry
	for _, mv := range values {
		if d.visit() {
			return es, true
		}
		if _, isMerge := mv.Key.(*ast.MergeKeyNode); isMerge {
			srcs := []ast.Node{mv.Value}
			if seq, isSeq := d.resolve(mv.Value).(*ast.SequenceNode); isSeq {
				srcs = seq.Values
			}
			for _, src := range srcs {
				sub, subOK := d.mappingEntries(src)
				if !subOK {
					d.errorf(src, "the value of a merge key '<<' must be a mapping or a list of mappings")
					continue
				}
				merged = append(merged, sub...)
			}
			continue
		}
		key, keyOK := d.scalarText(mv.Key)
		if !keyOK {
			d.errorf(mv.Key, "mapping keys must be scalars")
			continue
		}
		if es == nil {
			es = make([]entry, 0, len(values))
		}
		es = append(es, entry{key: key, keyAt: d.at(mv.Key), val: mv.Value})
	}
	if len(merged) > 0 {
		seen := make(map[string]bool, len(es)+len(merged))
		for _, e := range es {
			seen[e.key] = true
		}
		for _, e := range merged {
			if !seen[e.key] {
				seen[e.key] = true
				es = append(es, e)
			}
		}
	}
	return es, true
}

// sequence returns the items of the resolved sequence n; ok is false when n
// is not a list or null (null is an empty list).
func (d *yamlDoc) sequence(n ast.Node) ([]ast.Node, bool) {
	switch v := d.resolve(n).(type) {
	case nil:
		return nil, true
	case *ast.SequenceNode:
		return v.Values, true
	default:
		return nil, false
	}
}

// scalarText returns the text of a scalar as written ("cmd: true" → "true",
// "N: 5" → "5"); null is "". ok is false for mappings and lists.
func (d *yamlDoc) scalarText(n ast.Node) (string, bool) {
	switch v := d.resolve(n).(type) {
	case nil:
		return "", true
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.MergeKeyNode:
		return "<<", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := v.GetToken(); tk != nil {
			return tk.Value, true
		}
		return "", true
	default:
		return "", false
	}
}

// visit counts one node visit and reports whether the budget is exhausted
// (reporting that once).
func (d *yamlDoc) visit() bool {
	over, first := d.nodes.Spend(1)
	if first {
		d.report(Problem{File: d.file, Message: yamlfile.TooManyNodes()})
	}
	return over
}

// errorf reports a problem at the position of n.
func (d *yamlDoc) errorf(n ast.Node, format string, args ...any) {
	a := d.at(n)
	d.report(Problem{File: a.file, Line: a.line, Col: a.col, Message: fmt.Sprintf(format, args...)})
}

// value converts n to a JSON-like value: string, int64, float64, bool, nil,
// []any, map[string]any. Integers beyond int64 become float64. Infinity and
// NaN (not JSON numbers) are reported and become nil.
func (d *yamlDoc) value(n ast.Node) any {
	if d.visit() {
		return nil
	}
	if isStrTag(n) {
		if s, ok := d.scalarText(n); ok {
			return s
		}
	}
	switch v := d.resolve(n).(type) {
	case nil:
		return nil
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		s, _ := d.scalarText(v)
		return s
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return x
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x)
			}
			return float64(x)
		}
		if i, err := strconv.ParseInt(v.GetToken().Value, 0, 64); err == nil {
			return i
		}
		return v.GetToken().Value
	case *ast.FloatNode:
		return v.Value
	case *ast.BoolNode:
		return v.Value
	case *ast.InfinityNode, *ast.NanNode:
		d.errorf(n, "'%s' is not a valid number here (quote it for a string)", v.GetToken().Value)
		return nil
	case *ast.MergeKeyNode:
		return "<<"
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for _, item := range v.Values {
			out = append(out, d.value(item))
		}
		return out
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.mappingEntries(v)
		out := make(map[string]any, len(es))
		for _, e := range es {
			out[e.key] = d.value(e.val)
		}
		return out
	default:
		d.errorf(n, "unsupported YAML node %s", v.Type())
		return nil
	}
}
