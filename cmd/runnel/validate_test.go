package main

import (
	"strings"
	"testing"
)

// TestValidateScopeProblems runs `runnel validate` on a new user's first
// tasks: references that cannot exist at run time fail with their
// file:line:col, warnings are printed and do not fail.
func TestValidateScopeProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		code int
		want []string
	}{{
		name: "out of scope",
		yaml: `
tasks:
  dag:
    input: { secs: { type: integer, default: 1 } }
    flow:
      count: { type: shell, cmd: "echo 'OUTPUT: {\"n\": 3}'" }
      wait: { type: shell, cmd: "sleep {{ input.secs }}" }
      show: { type: shell, cmd: "echo {{ count.output.n }}", depends_on: [count] }
`,
		code: 1,
		want: []string{
			`.workflows/first.yaml:7:43: task 'dag' step 'wait' cmd: 'input.secs' is undefined: the step's input has no 'secs'`,
			`.workflows/first.yaml:8:42: task 'dag' step 'show' cmd: 'count.output.n' is not visible in an action's cmd (only input and secret are); pass it through the step's input`,
		},
	}, {
		name: "warnings only",
		yaml: `
tasks:
  hook:
    flow:
      greet: { type: shell, cmd: "echo hello {{ input.who }}", input: { who: "{{ input.body.who }}" } }
      safe: { type: shell, cmd: "echo hello {{ input.who | shell_quote }}", input: { who: "{{ input.body.who }}" } }
triggers:
  greet: { type: webhook, name: greet, task: hook }
`,
		code: 0,
		want: []string{
			`warning: .workflows/first.yaml:5:49: task 'hook' step 'greet' cmd: 'input.who' carries webhook text ('input.body.who' of step 'greet' of task 'hook') into the command unquoted; write {{ input.who | shell_quote }} or pass it through env:`,
			`ok: 1 tasks, 0 actions, 1 triggers`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cliWriteFiles(t, dir, map[string]string{".workflows/first.yaml": tc.yaml})
			r := cliRun(t, cliEnv(t, "http://127.0.0.1:1"), "", "validate", dir)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != tc.code || len(lines) != len(tc.want) {
				t.Fatalf("exit %d (want %d), stdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d:\n got %s\nwant %s…", i, lines[i], w)
				}
			}
		})
	}
}
