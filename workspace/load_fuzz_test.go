package workspace_test

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"runnel/workspace"
)

// FuzzLoad loads arbitrary bytes as the only workflow file: Load must never
// panic, and must either return a snapshot or a *LoadError whose problems
// are sorted and all name that file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("tasks:\n  t:\n    flow:\n      s: { type: shell, cmd: \"echo {{ input.x }}\" }\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, ".workflows"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".workflows", "f.yaml"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		env := func(name string) (string, bool) { return "value-of-" + name, name != "UNSET" }
		s, err := workspace.Load(dir, workspace.LoadOptions{Getenv: env})
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
