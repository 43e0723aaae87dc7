package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/examples"
	"runnel/workspace"
)

// writeExamples writes the embedded examples into a temporary directory.
func writeExamples(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := examples.WriteWorkspace(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestExamplesLoad(t *testing.T) {
	dir := writeExamples(t)
	s, err := workspace.Load(dir, workspace.LoadOptions{})
	if err != nil {
		t.Fatalf("the examples do not load:\n%v", err)
	}
	for _, w := range s.Warnings {
		t.Errorf("the examples load with a warning: %s", w)
	}
	var tasks, triggers []string
	for name := range s.Tasks {
		tasks = append(tasks, name)
	}
	for name := range s.Triggers {
		triggers = append(triggers, name)
	}
	slices.Sort(tasks)
	slices.Sort(triggers)
	if diff := cmp.Diff([]string{"always-fails", "deploy-pipeline", "greet-twice", "hello-world", "rollout"}, tasks); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"hello", "hello-hourly"}, triggers); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}

	// The seed's hello-world (SPEC §2.1).
	hw := s.Tasks["hello-world"]
	if diff := cmp.Diff([]workspace.Field{{Name: "name", Type: "string", Default: "World", HasDefault: true}}, hw.Input); diff != "" {
		t.Errorf("hello-world input (-want +got):\n%s", diff)
	}
	if len(hw.Steps) != 2 || hw.Steps[0].Name != "say-hello" || hw.Steps[0].Action != "greet" ||
		hw.Steps[1].Name != "shout" || !slices.Equal(hw.Steps[1].DependsOn, []string{"say-hello"}) {
		t.Errorf("hello-world steps: %+v, %+v", hw.Steps[0], hw.Steps[1])
	}
	if greet := s.Actions["greet"]; greet == nil || greet.Type != "shell" || greet.Inline == nil ||
		!strings.Contains(greet.Inline.Source(), `printf 'OUTPUT: {"greeting": "Hello %s"}\n' "$NAME"`) ||
		greet.Env["NAME"] == nil || greet.Env["NAME"].Source() != "{{ input.name }}" {
		t.Errorf("greet action: %+v", greet)
	}
	if h := s.Triggers["hello"]; h.Type != "webhook" || h.WebhookName != "hello" || !h.Enabled {
		t.Errorf("hello webhook: %+v", h)
	}
	if c := s.Triggers["hello-hourly"]; c.Type != "scheduler" || !c.Enabled || c.Schedule == nil {
		t.Errorf("hourly trigger: %+v", c)
	}

	// The pipeline fans out after build and joins before deploy.
	p := s.Tasks["deploy-pipeline"]
	deps := map[string][]string{}
	for _, st := range p.Steps {
		deps[st.Name] = st.DependsOn
	}
	if diff := cmp.Diff(map[string][]string{
		"build": {}, "test-unit": {"build"}, "test-lint": {"build"}, "deploy": {"test-unit", "test-lint"},
	}, deps); diff != "" {
		t.Errorf("pipeline graph (-want +got):\n%s", diff)
	}
	if p.Folder != "ci" {
		t.Errorf("pipeline folder = %q, want ci", p.Folder)
	}
	if n := len(s.Tasks["always-fails"].Hooks.OnError); n != 1 {
		t.Errorf("always-fails has %d on_error hooks, want 1", n)
	}
	if a := s.Actions["run-hello"]; a.Type != "task" || a.Task != "hello-world" {
		t.Errorf("run-hello: %+v", a)
	}
}

func TestWriteWorkspaceKeepsExecutableScripts(t *testing.T) {
	dir := writeExamples(t)
	scripts, err := filepath.Glob(filepath.Join(dir, "actions", "*.sh"))
	if err != nil || len(scripts) < 3 {
		t.Fatalf("scripts = %v, %v", scripts, err)
	}
	for _, p := range scripts {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", p, fi.Mode().Perm())
		}
	}
	fi, err := os.Stat(filepath.Join(dir, ".workflows", "hello.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("hello.yaml has mode %v, want 0644", fi.Mode().Perm())
	}
	// Writing again over an existing tree works and restores modes.
	if err := os.Chmod(scripts[0], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := examples.WriteWorkspace(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(scripts[0]); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("after rewrite: %v, %v", fi.Mode(), err)
	}
}

// TestExampleScriptsRun runs each pipeline script as a step would (directly,
// from the workspace root) and checks its OUTPUT line.
func TestExampleScriptsRun(t *testing.T) {
	dir := writeExamples(t)
	tests := []struct {
		script string
		env    []string
		want   string
	}{
		{"actions/build.sh", []string{"VERSION=2.0.0"}, `{"artifact":{"name":"app-2.0.0.tar.gz","version":"2.0.0"}}`},
		{"actions/test.sh", []string{"SUITE=unit", "ARTIFACT=app-2.0.0.tar.gz"}, `{"passed":true,"suite":"unit"}`},
		{"actions/deploy.sh", []string{"ENVIRONMENT=staging", "ARTIFACT=app-2.0.0.tar.gz", "VERSION=2.0.0"},
			`{"environment":"staging","url":"https://staging.example.com"}`},
	}
	for _, tt := range tests {
		cmd := exec.Command(filepath.Join(dir, tt.script))
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v", tt.script, err)
			continue
		}
		var output string
		for line := range bytes.Lines(out) {
			if rest, ok := bytes.CutPrefix(line, []byte("OUTPUT:")); ok {
				var v any
				if err := json.Unmarshal(rest, &v); err != nil {
					t.Errorf("%s: invalid OUTPUT %q: %v", tt.script, rest, err)
					continue
				}
				b, _ := json.Marshal(v)
				output = string(b)
			}
		}
		if output != tt.want {
			t.Errorf("%s: output %s, want %s", tt.script, output, tt.want)
		}
	}
}
