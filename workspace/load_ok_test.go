package workspace_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// writeLoadFiles writes files (relative path → content) below dir; paths
// ending in .sh are made executable.
func writeLoadFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// mustLoad writes files into a temporary workspace and loads it, failing on
// any problem.
func mustLoad(t *testing.T, files map[string]string) *workspace.Snapshot {
	t.Helper()
	dir := t.TempDir()
	writeLoadFiles(t, dir, files)
	s, err := workspace.Load(dir, workspace.LoadOptions{Getenv: loadTestEnv})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Dir != dir {
		t.Errorf("Dir = %q, want %q", s.Dir, dir)
	}
	if s.LoadedAt.IsZero() {
		t.Error("LoadedAt is zero")
	}
	return s
}

// actionView is the comparable part of an Action.
type actionView struct {
	Type, Inline, File, Task, Runner, DisplayName, Description string
	Env                                                        map[string]string
	Input                                                      []workspace.Field
	Tags                                                       []string
}

func viewAction(a *workspace.Action) actionView {
	v := actionView{Type: a.Type, File: a.File, Task: a.Task, Runner: a.Runner,
		DisplayName: a.DisplayName, Description: a.Description, Input: a.Input, Tags: a.Tags}
	if a.Inline != nil {
		v.Inline = a.Inline.Source()
	}
	if len(a.Env) > 0 {
		v.Env = map[string]string{}
		for k, t := range a.Env {
			v.Env[k] = t.Source()
		}
	}
	return v
}

// stepView is the comparable part of a Step.
type stepView struct {
	Name, Action, DisplayName, Description string
	DependsOn                              []string
	Input                                  any
	ContinueOnFailure                      bool
	Timeout                                time.Duration
}

func viewSteps(steps []*workspace.Step) []stepView {
	var out []stepView
	for _, s := range steps {
		out = append(out, stepView{Name: s.Name, Action: s.Action, DisplayName: s.DisplayName,
			Description: s.Description, DependsOn: s.DependsOn, Input: s.Input.Raw(),
			ContinueOnFailure: s.ContinueOnFailure, Timeout: s.Timeout})
	}
	return out
}

// hookView is the comparable part of a Hook.
type hookView struct {
	Action string
	Input  any
}

func viewHooks(hs []workspace.Hook) []hookView {
	var out []hookView
	for _, h := range hs {
		out = append(out, hookView{h.Action, h.Input.Raw()})
	}
	return out
}

func TestLoadSpecExample(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/main.yaml": `
secrets:
  slack_url: "{{ get_env(name='SLACK_URL') }}"
actions:
  greet:
    type: shell
    cmd: |
      echo "Hello {{ input.name }}"
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}"}'
    input: { name: { type: string, required: true } }
  notify:
    type: script
    script: curl -fsS -d "$MSG" "$URL"
    env: { MSG: "{{ input.text }}", URL: "{{ secret.slack_url }}" }
tasks:
  hello-world:
    input: { name: { type: string, default: World } }
    timeout: 10m
    flow:
      say-hello: { action: greet, input: { name: "{{ input.name }}" } }
      shout:
        depends_on: [say-hello]
        type: script
        script: echo "{{ input.g | upper }}"
        input: { g: "{{ say_hello.output.greeting }}" }
    on_error: [ { action: notify, input: { text: "{{ hook.task_name }} failed" } } ]
triggers:
  nightly: { type: scheduler, cron: "0 0 2 * * *", timezone: Europe/Copenhagen, task: hello-world }
  greet-hook: { type: webhook, name: greet, task: hello-world, secret: "hook-secret-value" }
`})
	wantActions := map[string]actionView{
		"greet": {Type: "shell", Runner: "local",
			Inline: "echo \"Hello {{ input.name }}\"\necho 'OUTPUT: {\"greeting\": \"Hello {{ input.name }}\"}'\n",
			Input:  []workspace.Field{{Name: "name", Type: "string", Required: true}}},
		"notify": {Type: "script", Runner: "local", Inline: `curl -fsS -d "$MSG" "$URL"`,
			Env: map[string]string{"MSG": "{{ input.text }}", "URL": "{{ secret.slack_url }}"}},
		"_inline:hello-world:shout": {Type: "script", Runner: "local", Inline: `echo "{{ input.g | upper }}"`},
	}
	gotActions := map[string]actionView{}
	for name, a := range s.Actions {
		if a.Name != name {
			t.Errorf("action %q has Name %q", name, a.Name)
		}
		gotActions[name] = viewAction(a)
	}
	if diff := cmp.Diff(wantActions, gotActions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}

	task := s.Tasks["hello-world"]
	if task == nil {
		t.Fatal("task hello-world missing")
	}
	if task.Name != "hello-world" || task.Mode != "distributed" || task.Timeout != 10*time.Minute ||
		task.File != ".workflows/main.yaml" || task.Folder != "" {
		t.Errorf("task fields: %+v", task)
	}
	if diff := cmp.Diff([]workspace.Field{{Name: "name", Type: "string", Default: "World", HasDefault: true}}, task.Input); diff != "" {
		t.Errorf("task input (-want +got):\n%s", diff)
	}
	wantSteps := []stepView{
		{Name: "say-hello", Action: "greet", DependsOn: []string{}, Input: map[string]any{"name": "{{ input.name }}"}},
		{Name: "shout", Action: "_inline:hello-world:shout", DependsOn: []string{"say-hello"},
			Input: map[string]any{"g": "{{ say_hello.output.greeting }}"}},
	}
	if diff := cmp.Diff(wantSteps, viewSteps(task.Steps)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if task.Step("shout") != task.Steps[1] || task.Step("nope") != nil {
		t.Error("Task.Step lookup is wrong")
	}
	if diff := cmp.Diff([]hookView{{"notify", map[string]any{"text": "{{ hook.task_name }} failed"}}}, viewHooks(task.Hooks.OnError)); diff != "" {
		t.Errorf("task on_error (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"slack_url": "https://hooks.example.com/T000"}, s.Secrets); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}

	nightly, hook := s.Triggers["nightly"], s.Triggers["greet-hook"]
	if nightly == nil || hook == nil {
		t.Fatalf("triggers: %v", s.Triggers)
	}
	if nightly.Schedule == nil || nightly.Schedule.Location().String() != "Europe/Copenhagen" {
		t.Errorf("nightly schedule = %v", nightly.Schedule)
	}
	nightly.Schedule = nil
	wantNightly := &workspace.Trigger{Name: "nightly", Type: "scheduler", Task: "hello-world",
		Input: map[string]any{}, Enabled: true, Cron: "0 0 2 * * *", Timezone: "Europe/Copenhagen",
		Concurrency: "allow"}
	if diff := cmp.Diff(wantNightly, nightly, cmp.AllowUnexported()); diff != "" {
		t.Errorf("nightly (-want +got):\n%s", diff)
	}
	wantHook := &workspace.Trigger{Name: "greet-hook", Type: "webhook", Task: "hello-world",
		Input: map[string]any{}, Enabled: true, WebhookName: "greet", Secret: "hook-secret-value",
		Mode: "async", TimeoutSecs: 30}
	if diff := cmp.Diff(wantHook, hook); diff != "" {
		t.Errorf("greet-hook (-want +got):\n%s", diff)
	}
}

func TestLoadDialects(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"bin/build.sh":    "#!/bin/sh\necho build\n",
		"scripts/lint.sh": "echo lint\n",
		"link/current.sh": "echo via link\n",
		".workflows/a.yml": `
secrets: { s: value }
actions:
  shell-cmd: { type: shell, cmd: make all, tags: [gpu], runner: local, name: Build, description: Builds }
  shell-file: { type: shell, script: bin/build.sh }
  script-inline: { type: script, script: "echo {{ input.x }}", env: { N: 5, B: true, S: "{{ secret.s }}" } }
  script-file: { type: script, source: ./scripts/../scripts/lint.sh }
  call: { type: task, task: target, input: { who: { type: string, default: me } }, output: { anything: goes } }
  truthy: { type: shell, cmd: true }
  number: { type: shell, cmd: 42 }
tasks:
  target:
    flow:
      s: { action: shell-cmd }
  caller:
    flow:
      a: { action: call }
      b: { action: shell-file, depends_on: [a] }
      c: { action: script-inline, depends_on: [a], input: { x: 1 } }
      d: { action: script-file, depends_on: [b, c] }
      e: { action: truthy }
      f: { action: number }
`})
	want := map[string]actionView{
		"shell-cmd":     {Type: "shell", Runner: "local", Inline: "make all", Tags: []string{"gpu"}, DisplayName: "Build", Description: "Builds"},
		"shell-file":    {Type: "shell", Runner: "local", File: "bin/build.sh"},
		"script-inline": {Type: "script", Runner: "local", Inline: "echo {{ input.x }}", Env: map[string]string{"N": "5", "B": "true", "S": "{{ secret.s }}"}},
		"script-file":   {Type: "script", Runner: "local", File: "scripts/lint.sh"},
		"call": {Type: "task", Runner: "none", Task: "target",
			Input: []workspace.Field{{Name: "who", Type: "string", Default: "me", HasDefault: true}}},
		"truthy": {Type: "shell", Runner: "local", Inline: "true"},
		"number": {Type: "shell", Runner: "local", Inline: "42"},
	}
	got := map[string]actionView{}
	for name, a := range s.Actions {
		got[name] = viewAction(a)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestLoadInlineActions(t *testing.T) {
	s := mustLoad(t, map[string]string{"ops.sh": "echo ops\n", ".workflows/ci.yaml": `
tasks:
  leaf:
    input: { n: { type: integer, required: true } }
    flow:
      only: { type: shell, cmd: "echo {{ input.n }}", input: { n: "{{ input.n }}" } }
  ci:
    flow:
      build:
        name: Build it
        description: compiles
        type: shell
        cmd: make
        env: { GOOS: linux }
        tags: [big]
        timeout: 90
        continue_on_failure: true
        input: { target: all, list: [1, "{{ input.x }}"], deep: { k: v } }
      file: { type: script, source: ops.sh, depends_on: [build] }
      child: { type: task, task: leaf, input: { n: 3 }, output: {} }
`})
	got := map[string]actionView{}
	for name, a := range s.Actions {
		got[name] = viewAction(a)
	}
	want := map[string]actionView{
		"_inline:leaf:only": {Type: "shell", Runner: "local", Inline: "echo {{ input.n }}"},
		"_inline:ci:build":  {Type: "shell", Runner: "local", Inline: "make", Env: map[string]string{"GOOS": "linux"}, Tags: []string{"big"}},
		"_inline:ci:file":   {Type: "script", Runner: "local", File: "ops.sh"},
		"_inline:ci:child":  {Type: "task", Runner: "none", Task: "leaf"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inline actions (-want +got):\n%s", diff)
	}
	wantSteps := []stepView{
		{Name: "build", Action: "_inline:ci:build", DisplayName: "Build it", Description: "compiles",
			DependsOn: []string{}, ContinueOnFailure: true, Timeout: 90 * time.Second,
			Input: map[string]any{"target": "all", "list": []any{int64(1), "{{ input.x }}"}, "deep": map[string]any{"k": "v"}}},
		{Name: "file", Action: "_inline:ci:file", DependsOn: []string{"build"}, Input: map[string]any{}},
		{Name: "child", Action: "_inline:ci:child", DependsOn: []string{}, Input: map[string]any{"n": int64(3)}},
	}
	if diff := cmp.Diff(wantSteps, viewSteps(s.Tasks["ci"].Steps)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestLoadFoldersAndFiles(t *testing.T) {
	s := mustLoad(t, map[string]string{
		".workflows/top.yaml":                           "tasks:\n  top: { flow: { s: { type: shell, cmd: 'true' } } }\n",
		".workflows/ops/db/backup.yml":                  "tasks:\n  backup: { flow: { s: { type: shell, cmd: 'true' } } }\n",
		".workflows/ops/explicit.yaml":                  "tasks:\n  pinned: { folder: team/infra, mode: local, flow: { s: { type: shell, cmd: 'true' } } }\n",
		".workflows/.hidden.yaml":                       "tasks: [this would not load]\n",
		".workflows/.git/config.yaml":                   "not: [valid\n",
		".workflows/notes.txt":                          "not yaml at all: [\n",
		".workflows/ops/README.md":                      "# ops\n",
		"other/compose.yaml":                            "services: {}\n",
		".workflows/a/b/c/d/e/f/g/h/i/j/deep.yaml":      "tasks:\n  deep: { flow: { s: { type: shell, cmd: 'true' } } }\n",
		".workflows/a/b/c/d/e/f/g/h/i/j/k/tooDeep.yaml": "tasks: [ignored\n",
	})
	type view struct{ File, Folder, Mode string }
	got := map[string]view{}
	for name, task := range s.Tasks {
		got[name] = view{task.File, task.Folder, task.Mode}
	}
	want := map[string]view{
		"top":    {".workflows/top.yaml", "", "distributed"},
		"backup": {".workflows/ops/db/backup.yml", "ops/db", "distributed"},
		"pinned": {".workflows/ops/explicit.yaml", "team/infra", "local"},
		"deep":   {".workflows/a/b/c/d/e/f/g/h/i/j/deep.yaml", "a/b/c/d/e/f/g/h/i/j", "distributed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestLoadHooksConcatenateInPathOrder(t *testing.T) {
	s := mustLoad(t, map[string]string{
		".workflows/b/late.yaml": `
on_error: [ { action: n, input: { from: b1 } } ]
on_success: [ { action: n } ]
`,
		".workflows/a.yaml": `
actions:
  n: { type: shell, cmd: "echo {{ input.from | default(value='x') }}" }
on_error:
  - action: n
    input: { from: a1, who: "{{ hook.task_name }}" }
  - { action: n, input: { from: a2 } }
on_cancel: [ { action: n } ]
`,
		".workflows/c.yaml": "on_error: [ { action: n, input: { from: c1 } } ]\n",
	})
	if diff := cmp.Diff([]hookView{
		{"n", map[string]any{"from": "a1", "who": "{{ hook.task_name }}"}},
		{"n", map[string]any{"from": "a2"}},
		{"n", map[string]any{"from": "b1"}},
		{"n", map[string]any{"from": "c1"}},
	}, viewHooks(s.Hooks.OnError)); diff != "" {
		t.Errorf("on_error (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]hookView{{"n", map[string]any{}}}, viewHooks(s.Hooks.OnSuccess)); diff != "" {
		t.Errorf("on_success (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]hookView{{"n", map[string]any{}}}, viewHooks(s.Hooks.OnCancel)); diff != "" {
		t.Errorf("on_cancel (-want +got):\n%s", diff)
	}
}

func TestLoadTypedDefaults(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/t.yaml": `
tasks:
  typed:
    input:
      s: { type: string, default: hi, name: Greeting, description: what to say, secret: true }
      txt: { type: text, default: "5" }
      i: { type: integer, default: 3 }
      whole: { type: integer, default: 4.0 }
      f: { type: number, default: 2.5 }
      n: { type: number, default: 7 }
      b: { type: bool, default: false }
      a: { type: array, default: [1, two] }
      o: { type: object, default: { k: [v] } }
      req: { type: string, required: true }
      nodef: { type: string, default: null }
    flow:
      s: { type: shell, cmd: "true" }
`})
	want := []workspace.Field{
		{Name: "s", Type: "string", Default: "hi", HasDefault: true, DisplayName: "Greeting", Description: "what to say", Secret: true},
		{Name: "txt", Type: "string", Default: "5", HasDefault: true},
		{Name: "i", Type: "integer", Default: int64(3), HasDefault: true},
		{Name: "whole", Type: "integer", Default: int64(4), HasDefault: true},
		{Name: "f", Type: "number", Default: 2.5, HasDefault: true},
		{Name: "n", Type: "number", Default: int64(7), HasDefault: true},
		{Name: "b", Type: "boolean", Default: false, HasDefault: true},
		{Name: "a", Type: "array", Default: []any{int64(1), "two"}, HasDefault: true},
		{Name: "o", Type: "object", Default: map[string]any{"k": []any{"v"}}, HasDefault: true},
		{Name: "req", Type: "string", Required: true},
		{Name: "nodef", Type: "string"},
	}
	if diff := cmp.Diff(want, s.Tasks["typed"].Input); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestLoadTriggers(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/t.yaml": `
tasks:
  job:
    input: { env: { type: string, required: true }, n: { type: integer, default: 1 } }
    flow: { s: { type: shell, cmd: "true" } }
triggers:
  hourly: { type: scheduler, cron: "@hourly", task: job, input: { env: prod, extra: [1] }, concurrency: cancel_previous, enabled: false }
  skip: { type: scheduler, cron: "*/5 * * * *", task: job, input: { env: dev, n: 2 }, concurrency: skip, timezone: UTC }
  hook: { type: webhook, name: deploy-now, task: job, mode: sync, timeout_secs: 300, input: { env: x } }
`})
	h := s.Triggers["hourly"]
	if h.Enabled || h.Concurrency != "cancel_previous" || h.Schedule == nil || h.Timezone != "" ||
		h.Schedule.Location() != time.UTC {
		t.Errorf("hourly = %+v", h)
	}
	if diff := cmp.Diff(map[string]any{"env": "prod", "extra": []any{int64(1)}}, h.Input); diff != "" {
		t.Errorf("hourly input (-want +got):\n%s", diff)
	}
	if sk := s.Triggers["skip"]; !sk.Enabled || sk.Concurrency != "skip" || sk.Timezone != "UTC" || sk.Schedule == nil {
		t.Errorf("skip = %+v", sk)
	}
	if w := s.Triggers["hook"]; w.WebhookName != "deploy-now" || w.Mode != "sync" || w.TimeoutSecs != 300 || w.Secret != "" || w.Schedule != nil {
		t.Errorf("hook = %+v", w)
	}
}

func TestLoadSecrets(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/s.yaml": `
secrets:
  plain: literal-value
  port: 5432
  db:
    pass: "{{ get_env(name='DB_PASS') }}"
    user: "{{ get_env(name='NOPE_NOT_SET', default='admin') }}"
`, ".workflows/more.yaml": "secrets:\n  other: x1x1\n"})
	want := map[string]any{
		"plain": "literal-value", "port": "5432", "other": "x1x1",
		"db": map[string]any{"pass": "hunter22", "user": "admin"},
	}
	if diff := cmp.Diff(want, s.Secrets); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
	got := s.SecretValues()
	if len(got) != 5 {
		t.Errorf("SecretValues = %q, want 5 values", got)
	}
}

func TestLoadSecretWarnings(t *testing.T) {
	dir := t.TempDir()
	writeLoadFiles(t, dir, map[string]string{".workflows/s.yaml": `
secrets:
  slack_url: "{{ get_env(name='SLACK_URL') }}"
tasks:
  t: { flow: { s: { type: shell, cmd: "true" } } }
`})
	env := func(string) (string, bool) { return "", false }
	_, err := workspace.Load(dir, workspace.LoadOptions{Getenv: env})
	if err == nil || !strings.Contains(err.Error(), ".workflows/s.yaml:3:14: secret 'slack_url': environment variable 'SLACK_URL' is not set") {
		t.Fatalf("without Warn: err = %v", err)
	}
	var warned []workspace.Problem
	s, err := workspace.Load(dir, workspace.LoadOptions{Getenv: env, Warn: func(p workspace.Problem) { warned = append(warned, p) }})
	if err != nil {
		t.Fatalf("with Warn: %v", err)
	}
	want := []workspace.Problem{{File: ".workflows/s.yaml", Line: 3, Col: 14,
		Message: "secret 'slack_url': environment variable 'SLACK_URL' is not set"}}
	if diff := cmp.Diff(want, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(s.Tasks) != 1 {
		t.Errorf("tasks = %v", s.Tasks)
	}
}

func TestLoadMergeKeysAndAnchors(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/m.yaml": `
tasks:
  ci:
    flow:
      base: &step { type: shell, cmd: "echo base", timeout: 5m, input: &in { a: 1 } }
      more:
        <<: *step
        cmd: echo more
        depends_on: [base]
      list:
        <<: [*step]
        input: *in
`})
	steps := s.Tasks["ci"].Steps
	if len(steps) != 3 || steps[1].Timeout != 5*time.Minute || steps[2].Timeout != 5*time.Minute {
		t.Fatalf("steps = %+v", viewSteps(steps))
	}
	if got := s.Actions["_inline:ci:more"].Inline.Source(); got != "echo more" {
		t.Errorf("merged cmd = %q, want the explicit key to win", got)
	}
	if diff := cmp.Diff(map[string]any{"a": int64(1)}, steps[2].Input.Raw()); diff != "" {
		t.Errorf("aliased input (-want +got):\n%s", diff)
	}
}

func TestLoadProblemsSortedAndFormatted(t *testing.T) {
	dir := t.TempDir()
	writeLoadFiles(t, dir, map[string]string{
		".workflows/b.yaml": "tasks:\n  b: { flow: { s: { action: nope } } }\n",
		".workflows/a.yaml": "tasks:\n  a: { flow: { s: { action: nope } } }\n  z: { flow: { } }\n",
	})
	var le *workspace.LoadError
	_, err := workspace.Load(dir, workspace.LoadOptions{})
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	want := ".workflows/a.yaml:2:29: task 'a' step 's' references non-existent action 'nope'\n" +
		".workflows/a.yaml:3:14: task 'z' has an empty flow\n" +
		".workflows/b.yaml:2:29: task 'b' step 's' references non-existent action 'nope'"
	if diff := cmp.Diff(want, le.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if le.First() != ".workflows/a.yaml:2:29: task 'a' step 's' references non-existent action 'nope'" {
		t.Errorf("First = %q", le.First())
	}
}

func TestLoadWorkflowSymlinkOutside(t *testing.T) {
	outside := t.TempDir()
	writeLoadFiles(t, outside, map[string]string{"secret.yaml": "tasks: {}\n"})
	dir := t.TempDir()
	writeLoadFiles(t, dir, map[string]string{".workflows/ok.yaml": "tasks:\n  t: { flow: { s: { type: shell, cmd: 'true' } } }\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, ".workflows", "leak.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.yaml", filepath.Join(dir, ".workflows", "alias.yml")); err != nil {
		t.Fatal(err)
	}
	// The link inside the workspace is read (so its task is defined
	// twice); the one leaving it is refused.
	got := formatLoadProblems(loadProblemsOf(t, dir, workspace.LoadOptions{}))
	want := ".workflows/leak.yaml: symbolic link points outside the workspace\n" +
		".workflows/ok.yaml:2:3: task 't' is defined in both .workflows/alias.yml and .workflows/ok.yaml\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
