package config

// This file holds the position-carrying tree the file is parsed into, and
// the RUNNEL__ overrides applied to it.

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/yamlfile"
)

// ---- the position-carrying tree ----

type cfgKind int

const (
	cfgNull cfgKind = iota
	cfgScalar
	cfgMap
	cfgSeq
)

type cfgTag int

const (
	cfgStr cfgTag = iota
	cfgInt
	cfgFloat
	cfgBool
)

// cfgSource is where a value came from: a file position or a variable.
type cfgSource struct {
	file      string
	line, col int
	env       string
}

func (s cfgSource) problem(key, format string, args ...any) Problem {
	return Problem{File: s.file, Line: s.line, Col: s.col, Env: s.env, Key: key, Message: fmt.Sprintf(format, args...)}
}

// cfgNode is a parsed YAML value with the position of each part. Anchors,
// aliases, merge keys and tags are resolved while building it.
type cfgNode struct {
	kind    cfgKind
	tag     cfgTag // scalars only
	text    string // scalars only: the unquoted value
	entries []cfgEntry
	items   []*cfgNode
	src     cfgSource
}

type cfgEntry struct {
	key    string
	keySrc cfgSource
	val    *cfgNode
}

func (n *cfgNode) lookup(key string) int {
	for i, e := range n.entries {
		if e.key == key {
			return i
		}
	}
	return -1
}

// size is the number of nodes in n.
func (n *cfgNode) size() int {
	total := 1
	for _, e := range n.entries {
		total += e.val.size()
	}
	for _, it := range n.items {
		total += it.size()
	}
	return total
}

func (n *cfgNode) clone() *cfgNode {
	c := *n
	c.entries = make([]cfgEntry, len(n.entries))
	for i, e := range n.entries {
		e.val = e.val.clone()
		c.entries[i] = e
	}
	c.items = make([]*cfgNode, len(n.items))
	for i, it := range n.items {
		c.items[i] = it.clone()
	}
	return &c
}

// cfgParse parses a config file; nil means an empty document.
func cfgParse(src []byte, file string) (*cfgNode, []Problem) {
	// The same limits as workflow files (yamlfile checks them before the
	// parser sees the bytes).
	f, err := yamlfile.Parse(src)
	if err != nil {
		return nil, []Problem{parseProblem(file, err)}
	}
	var body ast.Node
	for i, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, ok := d.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		if body != nil {
			p := cfgPos(file, d.Body)
			return nil, []Problem{p.problem("", "the config file must hold one YAML document (document %d found)", i+1)}
		}
		body = d.Body
	}
	if body == nil {
		return nil, nil
	}
	c := &cfgConverter{anchors: map[string]*cfgNode{}, file: file}
	n := c.convert(body, cfgSource{file: file, line: 1, col: 1}, false)
	return n, c.problems
}

// parseProblem is a file that yamlfile could not parse, at the position it
// gives.
func parseProblem(file string, err error) Problem {
	var ye *yamlfile.Error
	if errors.As(err, &ye) {
		return Problem{File: file, Line: ye.Line, Col: ye.Col, Message: ye.Message}
	}
	return Problem{File: file, Message: err.Error()}
}

// cfgPos is the position of n's own token in file.
func cfgPos(file string, n ast.Node) cfgSource {
	line, col := yamlfile.TokenPos(n)
	return cfgSource{file: file, line: line, col: col}
}

type cfgConverter struct {
	file     string
	env      string // set when converting an override value
	anchors  map[string]*cfgNode
	copied   yamlfile.Budget // nodes copied for aliases so far
	problems []Problem
}

func (c *cfgConverter) pos(n ast.Node) cfgSource {
	if c.env != "" {
		return cfgSource{env: c.env}
	}
	return cfgPos(c.file, n)
}

// convert turns an AST node into a cfgNode; at is the position of the key
// holding it (used for nulls and collections).
func (c *cfgConverter) convert(n ast.Node, at cfgSource, forceString bool) *cfgNode {
	scalar := func(tag cfgTag, text string) *cfgNode {
		if forceString {
			tag = cfgStr
		}
		return &cfgNode{kind: cfgScalar, tag: tag, text: text, src: c.pos(n)}
	}
	switch v := n.(type) {
	case nil, *ast.NullNode, *ast.CommentGroupNode:
		if forceString && v != nil {
			return scalar(cfgStr, n.GetToken().Value)
		}
		return &cfgNode{kind: cfgNull, src: at}
	case *ast.StringNode:
		return scalar(cfgStr, v.Value)
	case *ast.LiteralNode:
		return scalar(cfgStr, v.Value.Value)
	case *ast.IntegerNode:
		return scalar(cfgInt, v.GetToken().Value)
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return scalar(cfgFloat, n.GetToken().Value)
	case *ast.BoolNode:
		return scalar(cfgBool, v.GetToken().Value)
	case *ast.TagNode:
		return c.convert(v.Value, at, forceString || v.Start.Value == "!!str")
	case *ast.AnchorNode:
		out := c.convert(v.Value, at, forceString)
		c.anchors[v.Name.GetToken().Value] = out
		return out
	case *ast.AliasNode:
		name := v.Value.GetToken().Value
		a, ok := c.anchors[name]
		if !ok {
			c.problems = append(c.problems, c.pos(n).problem("", "unknown alias *%s", name))
			return &cfgNode{kind: cfgNull, src: at}
		}
		// Each alias copies its anchor; cap the copies so a file of nested
		// aliases cannot expand exponentially.
		if over, first := c.copied.Spend(a.size()); over {
			if first {
				c.problems = append(c.problems, c.pos(n).problem("", "%s", yamlfile.TooManyNodes()))
			}
			return &cfgNode{kind: cfgNull, src: at}
		}
		return a.clone()
	case *ast.MappingNode:
		return c.mapping(n, v.Values, at)
	case *ast.MappingValueNode:
		return c.mapping(n, []*ast.MappingValueNode{v}, at)
	case *ast.SequenceNode:
		// A list points at its "[" or first "-", so type errors and
		// "must not be empty" point at the value, not the key.
		out := &cfgNode{kind: cfgSeq, src: c.pos(n)}
		for i, it := range v.Values {
			itAt := c.pos(it)
			switch it.(type) {
			case *ast.MappingNode:
				if c.env == "" {
					itAt = cfgSource{} // the mapping takes its first key's position
				}
			case nil, *ast.NullNode:
				// An empty "-" entry: point at the hyphen.
				if i < len(v.Entries) && v.Entries[i] != nil && v.Entries[i].Start != nil {
					itAt = c.pos(v.Entries[i])
					itAt.line, itAt.col = v.Entries[i].Start.Position.Line, v.Entries[i].Start.Position.Column
				}
			}
			out.items = append(out.items, c.convert(it, itAt, false))
		}
		return out
	default:
		c.problems = append(c.problems, c.pos(n).problem("", "unsupported YAML value %s", n.Type()))
		return &cfgNode{kind: cfgNull, src: at}
	}
}

func (c *cfgConverter) mapping(n ast.Node, values []*ast.MappingValueNode, at cfgSource) *cfgNode {
	out := &cfgNode{kind: cfgMap, src: at}
	if at.line == 0 && at.env == "" {
		if len(values) > 0 {
			out.src = c.pos(values[0].Key)
		} else {
			out.src = c.pos(n)
		}
	}
	var merges []*cfgNode
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			m := c.convert(mv.Value, c.pos(mv.Key), false)
			switch m.kind {
			case cfgMap:
				merges = append(merges, m)
			case cfgSeq:
				for _, it := range m.items {
					if it.kind == cfgMap {
						merges = append(merges, it)
					}
				}
			}
			continue
		}
		keyNode := ast.Node(mv.Key)
		if k, ok := mv.Key.(*ast.MappingKeyNode); ok {
			keyNode = k.Value
		}
		key := keyNode.GetToken().Value
		if s, ok := keyNode.(*ast.StringNode); ok {
			key = s.Value
		}
		ks := c.pos(keyNode)
		out.entries = append(out.entries, cfgEntry{key: key, keySrc: ks, val: c.convert(mv.Value, ks, false)})
	}
	for _, m := range merges {
		for _, e := range m.entries {
			if out.lookup(e.key) < 0 {
				out.entries = append(out.entries, e)
			}
		}
	}
	return out
}

// cfgNormalizeAliases renames top-level alias keys of the file to their
// canonical names; setting both is a problem.
func cfgNormalizeAliases(root *cfgNode, aliases map[string]string) []Problem {
	var ps []Problem
	for _, alias := range cfgSortedKeys(aliases) {
		canon := aliases[alias]
		i := root.lookup(alias)
		if i < 0 {
			continue
		}
		if root.lookup(canon) >= 0 {
			e := root.entries[i]
			ps = append(ps, e.keySrc.problem(alias, "%s and %s are both set; %s is an alias of %s, keep one", alias, canon, alias, canon))
			root.entries = append(root.entries[:i], root.entries[i+1:]...)
			continue
		}
		root.entries[i].key = canon
	}
	return ps
}

// cfgApplyOverrides sets the keys named by RUNNEL__A__B variables. Shorter
// paths go first so RUNNEL__AUTH and RUNNEL__AUTH__JWT_SECRET combine.
func cfgApplyOverrides(root *cfgNode, environ []string, aliases map[string]string) []Problem {
	type override struct {
		name, value string
		path        []string
	}
	var ps []Problem
	var ovs []override
	seen := map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(name, "RUNNEL__")
		if !ok {
			continue
		}
		segs := strings.Split(strings.ToLower(rest), "__")
		if canon, ok := aliases[segs[0]]; ok {
			segs[0] = canon
		}
		bad := false
		for _, s := range segs {
			bad = bad || s == ""
		}
		if bad {
			ps = append(ps, Problem{Env: name, Message: "invalid override name: use RUNNEL__ then key segments joined by double underscores, e.g. RUNNEL__RECOVERY__SWEEP_INTERVAL_SECS"})
			continue
		}
		dotted := strings.Join(segs, ".")
		if prev, dup := seen[dotted]; dup {
			if prev == name {
				continue // a repeated variable: the first one wins, as with os.Getenv
			}
			ps = append(ps, Problem{Env: name, Key: dotted, Message: fmt.Sprintf("%s and %s both set %s; keep one", prev, name, dotted)})
			continue
		}
		seen[dotted] = name
		ovs = append(ovs, override{name: name, value: value, path: segs})
	}
	sort.SliceStable(ovs, func(i, j int) bool {
		if len(ovs[i].path) != len(ovs[j].path) {
			return len(ovs[i].path) < len(ovs[j].path)
		}
		return ovs[i].name < ovs[j].name
	})
	for _, o := range ovs {
		src := cfgSource{env: o.name}
		val, p := cfgParseOverride(o.name, o.value)
		if p != nil {
			ps = append(ps, *p)
			continue
		}
		cur := root
		ok := true
		for i, seg := range o.path[:len(o.path)-1] {
			j := cur.lookup(seg)
			if j < 0 {
				cur.entries = append(cur.entries, cfgEntry{key: seg, keySrc: src, val: &cfgNode{kind: cfgMap, src: src}})
				j = len(cur.entries) - 1
			}
			next := cur.entries[j].val
			if next.kind == cfgNull {
				next.kind, next.src = cfgMap, src
			}
			if next.kind != cfgMap {
				parent := strings.Join(o.path[:i+1], ".")
				ps = append(ps, Problem{Env: o.name, Key: parent, Message: fmt.Sprintf("cannot set %s: %s is not a mapping", strings.Join(o.path, "."), parent)})
				ok = false
				break
			}
			cur = next
		}
		if !ok {
			continue
		}
		last := o.path[len(o.path)-1]
		if j := cur.lookup(last); j >= 0 {
			cur.entries[j].val, cur.entries[j].keySrc = val, src
		} else {
			cur.entries = append(cur.entries, cfgEntry{key: last, keySrc: src, val: val})
		}
	}
	return ps
}

// cfgParseOverride parses an override value as a YAML scalar or flow
// collection. Unquoted scalars keep their exact text (so secrets holding
// ": " or " #" survive); only values starting with [ or { become lists or
// mappings, and a quoted value is unquoted.
func cfgParseOverride(name, value string) (*cfgNode, *Problem) {
	src := cfgSource{env: name}
	raw := &cfgNode{kind: cfgScalar, tag: cfgStr, text: value, src: src}
	trimmed := strings.TrimSpace(value)
	if trimmed == "" {
		return raw, nil
	}
	if err := yamlfile.Check([]byte(value)); err != nil {
		// Over the YAML limits: the parser never sees it.
		if trimmed[0] == '[' || trimmed[0] == '{' {
			return nil, &Problem{Env: name, Message: fmt.Sprintf("value is not a valid YAML flow list or mapping: %v", err)}
		}
		return raw, nil
	}
	f, err := yamlfile.Parse([]byte(value))
	var body ast.Node
	if err == nil && len(f.Docs) == 1 && f.Docs[0] != nil {
		body = f.Docs[0].Body
	}
	if trimmed[0] == '[' || trimmed[0] == '{' {
		if body == nil {
			msg := "not valid YAML"
			var ye *yamlfile.Error
			if errors.As(err, &ye) {
				msg = ye.Message
			}
			return nil, &Problem{Env: name, Message: fmt.Sprintf("value is not a valid YAML flow list or mapping: %s", msg)}
		}
		c := &cfgConverter{env: name, anchors: map[string]*cfgNode{}}
		n := c.convert(body, src, false)
		if len(c.problems) > 0 {
			return nil, &c.problems[0]
		}
		return n, nil
	}
	c := &cfgConverter{env: name, anchors: map[string]*cfgNode{}}
	n := c.convert(body, src, false)
	if len(c.problems) > 0 || n.kind != cfgScalar {
		if n.kind == cfgNull && body != nil {
			return &cfgNode{kind: cfgNull, src: src}, nil
		}
		return raw, nil
	}
	if (trimmed[0] == '"' || trimmed[0] == '\'') && n.tag == cfgStr {
		return n, nil
	}
	raw.tag = n.tag
	return raw, nil
}
