package workspace_test

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"runnel/workspace"
	"runnel/workspace/yamlfile"
)

// FuzzLoad loads arbitrary bytes as the only workflow file: Load must never
// panic, and must either return a snapshot or a *LoadError whose problems
// are sorted and all name that file. A file the size and depth limits let
// through must not parse into a tree deeper than twice the depth limit (the
// parser's cost grows faster than linearly with depth, so a way past the
// check is a way to stall the server). The file is given in memory
// (LoadFiles): writing a workspace per input made the target crawl.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("tasks:\n  t:\n    flow:\n      s: { type: shell, cmd: \"echo {{ input.x }}\" }\n"))
	f.Add([]byte(strings.Repeat("[", 40_000)))
	f.Add([]byte("tasks:\n  t:\n    flow:\n      s: {type: shell, cmd: " + strings.Repeat("[a: ", 40) + strings.Repeat("]", 40) + "}\n"))
	f.Add([]byte("a: \"[[[\"\nb: |\n  {{{{\n" + strings.Repeat("- ", 70) + "x\n"))
	dir := f.TempDir()
	env := func(name string) (string, bool) { return "value-of-" + name, name != "UNSET" }
	f.Fuzz(func(t *testing.T, src []byte) {
		if yamlfile.Check(src) == nil {
			if d := parsedDepth(src); d > 2*yamlfile.MaxDepth {
				t.Fatalf("the limits let through a file that parses %d levels deep", d)
			}
		}
		files := map[string][]byte{".workflows/f.yaml": src}
		s, err := workspace.LoadFiles(dir, files, workspace.LoadOptions{Getenv: env})
		if err == nil {
			if s == nil {
				t.Fatal("no snapshot and no error")
			}
			return
		}
		var le *workspace.LoadError
		if !errors.As(err, &le) || len(le.Problems) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
		if !slices.IsSortedFunc(le.Problems, func(a, b workspace.Problem) int {
			return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
		}) {
			t.Errorf("problems not sorted: %v", le.Problems)
		}
		for _, p := range le.Problems {
			if p.File != ".workflows/f.yaml" || p.Message == "" {
				t.Errorf("problem %+v does not name the file or has no message", p)
			}
		}
	})
}

// parsedDepth is the deepest nesting of mappings and sequences in the tree
// goccy/go-yaml parses src into (0 when it does not parse).
func parsedDepth(src []byte) int {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return 0
	}
	best := 0
	var walk func(n ast.Node, d int)
	walk = func(n ast.Node, d int) {
		switch v := n.(type) {
		case *ast.DocumentNode:
			walk(v.Body, d)
		case *ast.MappingNode:
			best = max(best, d+1)
			for _, x := range v.Values {
				walk(x, d+1)
			}
		case *ast.SequenceNode:
			best = max(best, d+1)
			for _, x := range v.Values {
				walk(x, d+1)
			}
		case *ast.MappingValueNode:
			walk(v.Key, d)
			walk(v.Value, d)
		case *ast.MappingKeyNode:
			walk(v.Value, d)
		case *ast.TagNode:
			walk(v.Value, d)
		case *ast.AnchorNode:
			walk(v.Value, d)
		}
	}
	for _, doc := range f.Docs {
		walk(doc, 0)
	}
	return best
}
