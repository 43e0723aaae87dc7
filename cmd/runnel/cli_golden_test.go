package main

import (
	"path/filepath"
	"strings"
	"testing"

	"runnel/cmd/runnel/config"
)

// cliWorkflow is the workspace of the golden tests: folders, inputs with
// defaults, a failing task, triggers of both kinds (none fires during a
// test run).
const cliWorkflow = `
actions:
  greet:
    type: shell
    description: Greets someone and returns the greeting.
    cmd: |
      echo "Hello {{ input.name }}"
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}"}'
    input:
      name: { type: string, required: true }

tasks:
  hello-world:
    description: Greets someone, then shouts the greeting.
    input:
      name: { type: string, default: World }
      times: { type: integer, default: 1, description: How often to shout }
    flow:
      say-hello:
        action: greet
        input: { name: "{{ input.name }}" }
      shout:
        depends_on: [say-hello]
        type: shell
        env: { GREETING: "{{ input.greeting | upper }}" }
        cmd: echo "$GREETING!"
        input: { greeting: "{{ say_hello.output.greeting }}" }
  fails:
    description: Fails in its second step.
    flow:
      prepare:
        type: shell
        cmd: echo preparing
      boom:
        depends_on: [prepare]
        type: shell
        cmd: |
          echo "about to fail" >&2
          exit 3
      cleanup:
        depends_on: [boom]
        continue_on_failure: true
        type: shell
        cmd: echo cleaning up
  backup:
    name: Nightly backup
    folder: ops/db
    description: Dumps the database.
    timeout: 10m
    input:
      target: { type: string, required: true }
    flow:
      dump:
        type: shell
        cmd: echo dumping
        timeout: 1m
  rotate:
    folder: ops
    flow:
      rotate-logs:
        type: shell
        cmd: echo rotating

triggers:
  nightly-backup:
    type: scheduler
    cron: "0 2 1 1 *"
    timezone: Europe/Copenhagen
    task: backup
    input: { target: prod }
  greet:
    type: webhook
    name: greet
    task: hello-world
  rotate-daily:
    type: scheduler
    cron: "0 3 * * *"
    task: rotate
    enabled: false
`

// TestCLIGolden runs every client command against one server, in order
// (later commands look at the jobs earlier ones started), and compares
// each transcript with its golden file. {name} in arguments is the job id
// a previous step saved under that name.
func TestCLIGolden(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-repo")
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliWorkflow}, func(c *config.Server) {
		c.Workspaces["broken"] = config.Workspace{Type: "git", URL: "file://" + missing, Ref: "main", PollIntervalSecs: 3600}
	})
	closed := cliClosedURL(t)
	environ := cliEnv(t, s.url)
	norm := cliNormFor(t, s)
	norm.add(missing, "<missing-repo>")
	norm.add(closed, "<closed-server>")
	norm.add(strings.TrimPrefix(closed, "http://"), "<closed-addr>")

	steps := []struct {
		name  string
		args  []string
		stdin string
		code  int
		// save names the job id printed on the first line of stdout.
		save string
	}{
		{name: "workspaces", args: []string{"workspaces"}},
		{name: "workspaces-json", args: []string{"workspaces", "--json"}},
		{name: "tasks", args: []string{"tasks"}},
		{name: "tasks-json", args: []string{"tasks", "--workspace", "default", "--json"}},
		{name: "task", args: []string{"task", "hello-world"}},
		{name: "task-folder", args: []string{"task", "backup"}},
		{name: "task-json", args: []string{"task", "backup", "--json"}},
		{name: "task-missing", args: []string{"task", "nope"}, code: 2},
		{name: "tasks-missing-workspace", args: []string{"tasks", "--workspace", "nope"}, code: 2},
		{name: "triggers", args: []string{"triggers"}},
		{name: "trigger-wait", args: []string{"trigger", "hello-world", "-i", "name=Ada", "--wait"}, save: "hello"},
		{name: "trigger-follow", args: []string{"trigger", "--input", `{"name": "Bob"}`, "hello-world", "-f", "-i", "times=2"}, save: "bob"},
		{name: "trigger-fails", args: []string{"trigger", "fails", "--follow"}, code: 1, save: "fails"},
		{name: "trigger-fails-wait", args: []string{"trigger", "fails", "--wait"}, code: 1},
		{name: "trigger-missing", args: []string{"trigger", "nope"}, code: 2},
		{name: "trigger-bad-input", args: []string{"trigger", "hello-world", "-i", "times=lots"}, code: 2},
		{name: "trigger-no-task", args: []string{"trigger"}, code: 2},
		{name: "trigger-input-not-object", args: []string{"trigger", "hello-world", "--input", "[1]"}, code: 2},
		{name: "trigger-bad-pair", args: []string{"trigger", "hello-world", "-i", "name"}, code: 2},
		{name: "logs", args: []string{"logs", "{hello}"}},
		{name: "logs-server-events", args: []string{"logs", "{fails}", "--server-events"}},
		{name: "logs-step", args: []string{"logs", "{fails}", "--step", "boom"}},
		{name: "logs-step-server", args: []string{"logs", "{hello}", "--step", "_server"}},
		{name: "logs-json", args: []string{"logs", "{hello}", "--json"}},
		{name: "logs-follow-finished", args: []string{"logs", "-f", "{fails}"}, code: 1},
		{name: "logs-follow-step", args: []string{"logs", "-f", "{fails}", "--step", "cleanup"}, code: 1},
		{name: "logs-step-missing", args: []string{"logs", "{hello}", "--step", "nope"}, code: 2},
		{name: "logs-follow-step-missing", args: []string{"logs", "-f", "{hello}", "--step", "nope"}, code: 2},
		{name: "logs-missing-job", args: []string{"logs", "01900000-0000-7000-8000-000000000000"}, code: 2},
		{name: "status", args: []string{"status", "{fails}"}, code: 1},
		{name: "status-completed", args: []string{"status", "{bob}"}},
		{name: "status-bad-id", args: []string{"status", "x"}, code: 2},
		{name: "jobs", args: []string{"jobs"}},
		{name: "jobs-filtered", args: []string{"jobs", "--task", "hello-world", "--status", "completed", "--limit", "1"}},
		{name: "jobs-none", args: []string{"jobs", "--workspace", "default", "--task", "backup"}},
		{name: "jobs-bad-status", args: []string{"jobs", "--status", "weird"}, code: 2},
		{name: "cancel-finished", args: []string{"cancel", "{hello}"}, code: 2},
		{name: "workers", args: []string{"workers"}},
		{name: "refresh", args: []string{"refresh", "default"}},
		{name: "refresh-broken", args: []string{"refresh", "broken"}, code: 4},
		{name: "refresh-missing", args: []string{"refresh", "nope"}, code: 2},
		{name: "unreachable", args: []string{"workspaces", "--server", "{closed}"}, code: 4},
		{name: "bad-server-url", args: []string{"jobs", "--server", "ftp://x"}, code: 2},
		{name: "login-auth-off", args: []string{"login", "--email", "ada@example.com"}, stdin: "secret\n", code: 2},
		{name: "api-key-auth-off", args: []string{"api-key", "list"}, code: 2},
		{name: "api-key-no-subcommand", args: []string{"api-key"}, code: 2},
		{name: "logout-not-logged-in", args: []string{"logout"}},
		{name: "jobs-typo-status", args: []string{"jobs", "--status", "runing"}, code: 2},
		{name: "trigger-undeclared-input", args: []string{"trigger", "hello-world", "-i", "nmae=Ada", "-i", "bogus=1", "--wait"}},
		{name: "trigger-arrow", args: []string{"trigger", "hello-world", "-i", "name=4 -> 12", "--wait"}, save: "arrow"},
		{name: "status-arrow", args: []string{"status", "{arrow}"}},
		{name: "status-arrow-json", args: []string{"status", "{arrow}", "--json"}},
	}
	saved := map[string]string{"closed": closed}
	for _, st := range steps {
		args := make([]string, len(st.args))
		for i, a := range st.args {
			for k, v := range saved {
				a = strings.ReplaceAll(a, "{"+k+"}", v)
			}
			args[i] = a
		}
		r := cliRun(t, environ, st.stdin, args...)
		if r.code != st.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", st.name, r.code, st.code, r.stdout, r.stderr)
		}
		if st.save != "" {
			id, _, _ := strings.Cut(r.stdout, "\n")
			if !cliUUID.MatchString(id) {
				t.Fatalf("%s: first line %q is not a job id", st.name, id)
			}
			saved[st.save] = id
			norm.add(id, "<job:"+st.save+">")
		}
		cliGolden(t, st.name, norm.apply(transcript(st.args, r)))
	}
}

// TestCLIHelp checks that every client command explains itself with an
// example on stdout and exits 0.
func TestCLIHelp(t *testing.T) {
	for _, c := range clientCommands() {
		t.Run(c.name, func(t *testing.T) {
			r := cliRun(t, nil, "", c.name, "-h")
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: runnel "+c.name) || !strings.Contains(r.stdout, "\nExample:\n  runnel "+c.name) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
