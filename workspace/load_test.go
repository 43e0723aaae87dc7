package workspace_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
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
