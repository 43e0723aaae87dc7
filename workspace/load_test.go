package workspace_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
	"runnel/workspace/yamlfile"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/load")

// loadTestEnv is the environment secrets see in tests.
func loadTestEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"SLACK_URL": "https://hooks.example.com/T000",
		"DB_PASS":   "hunter22",
	}[name]
	return v, ok
}

// formatLoadProblems renders problems one per line, as `runnel validate` does.
func formatLoadProblems(ps []workspace.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// loadProblemsOf loads dir and returns its problems (nil when it loads).
func loadProblemsOf(t *testing.T, dir string, opts workspace.LoadOptions) []workspace.Problem {
	t.Helper()
	if opts.Getenv == nil {
		opts.Getenv = loadTestEnv
	}
	s, err := workspace.Load(dir, opts)
	if err == nil {
		if s == nil {
			t.Fatal("Load returned neither a snapshot nor an error")
		}
		return nil
	}
	var le *workspace.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load error is %T, want *workspace.LoadError: %v", err, err)
	}
	if s != nil {
		t.Error("Load returned a snapshot with an error")
	}
	if len(le.Problems) == 0 {
		t.Error("LoadError without problems")
	}
	return le.Problems
}

// TestLoadGolden loads each workspace under testdata/load/<case>/ holding an
// expected.txt and compares every problem (position and message) with it.
func TestLoadGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "load", "*", "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("found only %d golden cases", len(cases))
	}
	for _, golden := range cases {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := formatLoadProblems(loadProblemsOf(t, dir, workspace.LoadOptions{}))
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got == "" {
				t.Fatal("the case loads without problems; every golden case must fail")
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems differ (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadLimits: files over the size or nesting limit are rejected with
// their position before the YAML parser sees them (40,000 nested "[" ran
// the server out of memory), and the problems of the other files still
// show.
func TestLoadLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"deep.yaml":       strings.Repeat("[", 40_000) + "\n",
		"deep-block.yaml": "tasks:\n  t:\n" + strings.Repeat("    - ", 1) + strings.Repeat("- ", 70) + "x\n",
		"big.yaml":        strings.Repeat("# padding\n", yamlfile.MaxSize/10+1),
		"ok.yaml":         "tasks:\n  t:\n    flow:\n      s:\n        type: shell\n        cmd: echo [[[[ ] ] ] ] \"[[[\" \n",
		"bad.yaml":        "tasks: [\n",
	}
	if err := os.Mkdir(filepath.Join(dir, ".workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, ".workflows", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := formatLoadProblems(loadProblemsOf(t, dir, workspace.LoadOptions{}))
	deep := "lists and mappings are nested more than 64 levels deep"
	want := ".workflows/bad.yaml:1:8: sequence end token ']' not found\n" +
		".workflows/big.yaml: the file is larger than 1048576 bytes (1 MiB); split it into several files\n" +
		".workflows/deep-block.yaml:3:" + fmt.Sprint(7+2*61) + ": " + deep + "\n" +
		".workflows/deep.yaml:1:65: " + deep + "\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	// The same from memory.
	mem := map[string][]byte{}
	for name, src := range files {
		mem[".workflows/"+name] = []byte(src)
	}
	_, err := workspace.LoadFiles(dir, mem, workspace.LoadOptions{Getenv: loadTestEnv})
	var le *workspace.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("LoadFiles = %v, want a *LoadError", err)
	}
	if diff := cmp.Diff(want, formatLoadProblems(le.Problems)); diff != "" {
		t.Errorf("LoadFiles problems (-want +got):\n%s", diff)
	}
}
