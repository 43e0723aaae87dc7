package workspace_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/workspace"
	"runnel/workspace/tmpl"
)

// writeBigWorkspace writes 500 tasks with 4 steps each (2,000 steps) over
// 50 files, 100 actions and 100 triggers.
func writeBigWorkspace(tb testing.TB, dir string) {
	tb.Helper()
	for f := range 50 {
		var b strings.Builder
		b.WriteString("actions:\n")
		for a := range 2 {
			fmt.Fprintf(&b, `  act-%d-%d:
    type: shell
    cmd: |
      echo "building {{ input.target }} for {{ input.env | upper }}"
      echo 'OUTPUT: {"ok": true, "n": %d}'
    env: { TARGET: "{{ input.target }}", N: "%d" }
    input:
      target: { type: string, required: true }
      env: { type: string, default: dev }
`, f, a, a, a)
		}
		b.WriteString("tasks:\n")
		for t := range 10 {
			fmt.Fprintf(&b, `  task-%d-%d:
    description: generated task
    input:
      env: { type: string, default: prod }
      count: { type: integer, default: 3 }
    timeout: 1h
    flow:
      build:
        action: act-%d-0
        input: { target: "t-%d", env: "{{ input.env }}" }
      test:
        depends_on: [build]
        action: act-%d-1
        input: { target: "{{ build.output.n }}", env: "{{ input.env }}" }
      lint:
        depends_on: [build]
        type: shell
        cmd: echo "lint {{ input.path }}"
        input: { path: "src/{{ input.env }}", list: ["{{ input.count }}", 2] }
      deploy:
        depends_on: [test, lint]
        type: script
        script: echo deploying {{ input.env }}
        input: { env: "{{ input.env }}" }
    on_error: [ { action: act-%d-0, input: { target: "{{ hook.task_name }}" } } ]
`, f, t, f, t, f, f)
		}
		b.WriteString("triggers:\n")
		for t := range 2 {
			fmt.Fprintf(&b, `  trig-%d-%d: { type: scheduler, cron: "0 %d * * *", timezone: Europe/Copenhagen, task: task-%d-%d, input: { env: staging } }
`, f, t, t, f, t)
		}
		p := filepath.Join(dir, ".workflows", fmt.Sprintf("dir%d", f%5), fmt.Sprintf("f%02d.yaml", f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkLoad500Tasks(b *testing.B) {
	dir := b.TempDir()
	writeBigWorkspace(b, dir)
	s, err := workspace.Load(dir, workspace.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	steps := 0
	for _, t := range s.Tasks {
		steps += len(t.Steps)
	}
	if len(s.Tasks) != 500 || steps != 2000 {
		b.Fatalf("got %d tasks, %d steps", len(s.Tasks), steps)
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := workspace.Load(dir, workspace.LoadOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A reload, as the manager does it: templates shared across loads.
	b.Run("reload", func(b *testing.B) {
		opts := workspace.LoadOptions{Templates: tmpl.NewCache(0)}
		if _, err := workspace.Load(dir, opts); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := workspace.Load(dir, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLoadLargeWorkspace loads the benchmark workspace (templates are
// parsed on several goroutines) and checks that every step got its
// compiled input and every hook its input.
func TestLoadLargeWorkspace(t *testing.T) {
	dir := t.TempDir()
	writeBigWorkspace(t, dir)
	s, err := workspace.Load(dir, workspace.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for name, task := range s.Tasks {
		steps += len(task.Steps)
		for _, st := range task.Steps {
			if st.Input == nil || len(st.Input.Raw().(map[string]any)) == 0 {
				t.Fatalf("task %s step %s has no input", name, st.Name)
			}
		}
		if len(task.Hooks.OnError) != 1 || task.Hooks.OnError[0].Input == nil ||
			task.Hooks.OnError[0].Input.Raw().(map[string]any)["target"] != "{{ hook.task_name }}" {
			t.Fatalf("task %s hooks: %+v", name, task.Hooks)
		}
	}
	for name, a := range s.Actions {
		if a.Inline == nil {
			t.Fatalf("action %s has no inline text", name)
		}
	}
	if len(s.Tasks) != 500 || steps != 2000 || len(s.Triggers) != 100 || len(s.Actions) != 100+1000 {
		t.Errorf("got %d tasks, %d steps, %d triggers, %d actions", len(s.Tasks), steps, len(s.Triggers), len(s.Actions))
	}
}
