package yamlfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"runnel/workspace/yamlfile"
)

// nestedKeys is depth mappings nested by indentation, two spaces a level.
func nestedKeys(depth int) string {
	var b strings.Builder
	for i := range depth {
		b.WriteString(strings.Repeat("  ", i) + "k:\n")
	}
	return b.String()
}

// nestedSeqs is depth "- key:" levels, each a sequence holding a mapping
// whose key holds the next sequence at the key's column.
func nestedSeqs(levels int) string {
	var b strings.Builder
	b.WriteString("k:\n")
	for i := range levels {
		b.WriteString(strings.Repeat("  ", i) + "- k:\n")
	}
	return b.String()
}

func TestCheckAccepts(t *testing.T) {
	t.Parallel()
	deepText := strings.Repeat("[", 200) + strings.Repeat("{", 200)
	tests := []struct{ name, src string }{
		{"empty", ""},
		{"flow at the limit", strings.Repeat("[", yamlfile.MaxDepth) + strings.Repeat("]", yamlfile.MaxDepth)},
		{"block at the limit", nestedKeys(yamlfile.MaxDepth)},
		{"block after flow closed", "a: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\nb: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n"},
		{"sequences in mappings at the limit", nestedSeqs(yamlfile.MaxDepth/2 - 1)},
		{"literal block scalar", "a:\n  cmd: |\n    " + deepText + "\n" + strings.Repeat("    - x\n", 3) + strings.Repeat(" ", 300) + "- deep\n  next: 1\n"},
		{"folded block scalar with indicators", "a: >-2 # comment [\n    " + deepText + "\n\n    " + deepText + "\nb: 1\n"},
		{"block scalar in a sequence", "- |\n  " + deepText + "\n- x\n"},
		{"double-quoted", `a: "` + deepText + `\" [[[" ` + "\n"},
		{"double-quoted over lines", "a: \"x\n  " + deepText + "\n  - y\"\nb: 1\n"},
		{"single-quoted with quotes", "a: 'it''s " + deepText + "'\n"},
		{"single-quoted over lines", "a: 'x\n" + deepText + "\n'\n"},
		{"comment", "a: 1 # " + deepText + "\n# " + deepText + "\n"},
		{"plain scalar with brackets", "a: echo " + deepText + "\nb: x[" + deepText + "\n"},
		{"plain scalar with quote inside", "a: it's " + deepText + "\nb: x\n"},
		{"templates", "cmd: echo {{ input.x }} {% if a %}[{% endif %}\nwhen: \"{{ a }}\"\nrun: {{ x }}\n"},
		{"JSON-like flow", `env: {"A":"` + deepText + `","B":"]]]"}` + "\n"},
		{"flow over lines", "a: [\n  1,\n  \"" + deepText + "\",\n  {b: c}\n]\nb: 1\n"},
		{"documents", strings.Repeat(nestedKeys(40)+"---\n", 3)},
		{"hash inside a word", "a: x#" + deepText + "\n"},
		{"anchors tags aliases", "a: &x !!map {b: *x}\nc: !t [d]\n"},
		{"byte order mark", "\xEF\xBB\xBFa: [b]\n"},
		{"crlf", "a:\r\n  b: [c]\r\n"},
		{"many siblings", strings.Repeat("- [a, {b: c}]\n", 10_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := yamlfile.Check([]byte(tt.src)); err != nil {
				t.Errorf("Check = %v, want nil", err)
			}
		})
	}
}

func TestCheckRejects(t *testing.T) {
	t.Parallel()
	over := yamlfile.MaxDepth + 1
	tests := []struct {
		name      string
		src       string
		line, col int
	}{
		{"flow sequences", strings.Repeat("[", over), 1, over},
		{"flow from the issue", strings.Repeat("[", 40_000), 1, over},
		{"flow mappings", "a: " + strings.Repeat("{b: ", over), 1, 4 + 4*(over-2)},
		{"flow over lines", "a:\n" + strings.Repeat("  [\n", over), over, 3},
		{"compact sequences", strings.Repeat("- ", over) + "x", 1, 2*over - 1},
		{"complex keys", strings.Repeat("? ", over) + "x", 1, 2*over - 1},
		{"indented keys", nestedKeys(over), over, 2*over - 1},
		{"sequences in mappings", nestedSeqs(over), over/2 + 1, over},
		{"block then flow", nestedKeys(40) + strings.Repeat(" ", 80) + "x: " + strings.Repeat("[", 30), 41, 83 + 24},
		{"after a block scalar", "a: |\n  " + strings.Repeat("[", 100) + "\nb: " + strings.Repeat("[", over), 3, 3 + over - 1},
		{"after a closed quote", "a: \"[[[\"\nb: " + strings.Repeat("[", over), 2, 3 + over - 1},
		{"flow inside a quoted key's value", `{"a":` + strings.Repeat("[", over), 1, 5 + over - 1},
		{"after a top-level block scalar", "--- |\n  x\n\n" + strings.Repeat("[", over), 4, over},
		{"after a block scalar's less indented line", "a: |\n    x\n  " + strings.Repeat("[", over), 3, 2 + over - 1},
		{"after a block scalar ended by a lone CR", "a: |\r" + strings.Repeat("[", over), 2, over - 1},
		{"indented keys over CR line breaks", strings.ReplaceAll(nestedKeys(over), "\n", "\r"), over, 2*over - 1},
		{"column in characters", "é: " + strings.Repeat("[", over), 1, 3 + over - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := yamlfile.Check([]byte(tt.src))
			var le *yamlfile.Error
			if !errors.As(err, &le) {
				t.Fatalf("Check = %v, want a *yamlfile.Error", err)
			}
			if le.Line != tt.line || le.Col != tt.col {
				t.Errorf("error at %d:%d, want %d:%d (%v)", le.Line, le.Col, tt.line, tt.col, err)
			}
			if !strings.Contains(le.Message, "nested more than 64 levels") {
				t.Errorf("message %q does not name the limit", le.Message)
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("#", n)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atLimit := write("at.yaml", yamlfile.MaxSize)
	overLimit := write("over.yaml", yamlfile.MaxSize+1)

	src, err := yamlfile.ReadFile(atLimit)
	if err != nil || len(src) != yamlfile.MaxSize {
		t.Errorf("ReadFile(at limit) = %d bytes, %v; want all of it", len(src), err)
	}
	if err := yamlfile.Check(src); err != nil {
		t.Errorf("Check(at limit) = %v", err)
	}
	for name, err := range map[string]error{
		"ReadFile": func() error { _, err := yamlfile.ReadFile(overLimit); return err }(),
		"Check":    yamlfile.Check(make([]byte, yamlfile.MaxSize+1)),
	} {
		var le *yamlfile.Error
		if !errors.As(err, &le) || !strings.Contains(le.Error(), "larger than 1048576 bytes") || le.Line != 0 {
			t.Errorf("%s over the limit = %v, want a size *Error without position", name, err)
		}
	}
	if _, err := yamlfile.ReadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
}

// TestCheckAcceptsRepositoryYAML: every YAML file of the repository (the
// examples, the loader's golden inputs) passes.
func TestCheckAcceptsRepositoryYAML(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(p); d.IsDir() || (ext != ".yaml" && ext != ".yml") {
			return nil
		}
		src, err := yamlfile.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if err := yamlfile.Check(src); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d YAML files", n)
	}
}

// TestCheckBoundsParsedDepth: for inputs Check accepts, the parser's tree
// is at most 2×MaxDepth collections deep (Check may count a flow pair
// "[a: b]" as one level where the parser makes two).
func TestCheckBoundsParsedDepth(t *testing.T) {
	t.Parallel()
	half := yamlfile.MaxDepth
	for _, src := range []string{
		strings.Repeat("[a: ", half) + "x" + strings.Repeat("]", half),
		nestedSeqs(half/2 - 1),
		strings.Repeat("- ", half) + "x",
		"a: " + strings.Repeat("{b: ", half-1) + "c" + strings.Repeat("}", half-1),
	} {
		if err := yamlfile.Check([]byte(src)); err != nil {
			t.Fatalf("Check(%.40q…) = %v", src, err)
		}
		if d := ParsedDepth(t, src); d > 2*yamlfile.MaxDepth {
			t.Errorf("%.40q…: parsed depth %d", src, d)
		}
	}
}

// ParsedDepth is the deepest nesting of collections goccy/go-yaml builds
// for src (-1 when it does not parse).
func ParsedDepth(t *testing.T, src string) int {
	t.Helper()
	f, err := parser.ParseBytes([]byte(src), 0)
	if err != nil {
		return -1
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
