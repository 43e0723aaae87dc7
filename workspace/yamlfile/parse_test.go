package yamlfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/yamlfile"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		line, col int    // of the *Error; ignored when msg is ""
		msg       string // the *Error's message, "" for a good file
	}{
		{"mapping", "a: [1, 2]\nb: {c: d}\n", 0, 0, ""},
		{"empty", "", 0, 0, ""},
		{"syntax", "a: [\n", 1, 4, "sequence end token ']' not found"},
		{"duplicate key", "a: 1\na: 2\n", 2, 1, `mapping key "a" already defined at [1:1]`},
		{"too deep", strings.Repeat("[", yamlfile.MaxDepth+1), 1, yamlfile.MaxDepth + 1, "lists and mappings are nested more than 64 levels deep"},
		{"too large", strings.Repeat("#", yamlfile.MaxSize+1), 0, 0, "the file is larger than 1048576 bytes (1 MiB); split it into several files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := yamlfile.Parse([]byte(tt.src))
			if tt.msg == "" {
				if err != nil || f == nil {
					t.Fatalf("Parse = %v, %v; want a file", f, err)
				}
				return
			}
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || f != nil {
				t.Fatalf("Parse = %v, %v; want a *yamlfile.Error", f, err)
			}
			if ye.Line != tt.line || ye.Col != tt.col || ye.Message != tt.msg {
				t.Errorf("error %d:%d %q, want %d:%d %q", ye.Line, ye.Col, ye.Message, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestPos(t *testing.T) {
	t.Parallel()
	f, err := yamlfile.Parse([]byte("top:\n  key: value\nlist: [x]\nempty: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	body := f.Docs[0].Body.(*ast.MappingNode)
	top := body.Values[0].Value.(*ast.MappingNode)
	type pos struct{ line, col int }
	tests := []struct {
		name       string
		n          ast.Node
		pos, token pos
	}{
		{"nil", nil, pos{0, 0}, pos{0, 0}},
		{"document: its first key", f.Docs[0], pos{1, 1}, pos{1, 4}},
		{"mapping: its first key, token its colon", top, pos{2, 3}, pos{2, 6}},
		{"key", body.Values[0].Key, pos{1, 1}, pos{1, 1}},
		{"mapping value: its key", body.Values[1], pos{3, 1}, pos{3, 5}},
		{"list", body.Values[1].Value, pos{3, 7}, pos{3, 7}},
		{"empty mapping: its brace", body.Values[2].Value, pos{4, 8}, pos{4, 8}},
	}
	for _, tt := range tests {
		if l, c := yamlfile.Pos(tt.n); (pos{l, c}) != tt.pos {
			t.Errorf("%s: Pos = %d:%d, want %v", tt.name, l, c, tt.pos)
		}
		if l, c := yamlfile.TokenPos(tt.n); (pos{l, c}) != tt.token {
			t.Errorf("%s: TokenPos = %d:%d, want %v", tt.name, l, c, tt.token)
		}
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	var b yamlfile.Budget
	if over, first := b.Spend(yamlfile.MaxNodes); over || first {
		t.Fatalf("Spend(MaxNodes) = %v, %v; want within the budget", over, first)
	}
	if over, first := b.Spend(1); !over || !first {
		t.Fatalf("one more = %v, %v; want over, first", over, first)
	}
	for range 3 {
		if over, first := b.Spend(yamlfile.MaxNodes); !over || first {
			t.Fatalf("after the first = %v, %v; want over, not first", over, first)
		}
	}
	if msg := yamlfile.TooManyNodes(); msg != "the file expands to more than 250000 YAML nodes (aliases)" {
		t.Errorf("TooManyNodes = %q", msg)
	}
}
