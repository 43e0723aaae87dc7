package workspace_test

import (
	"errors"
	"strings"
	"testing"

	"runnel/workspace"
)

// loadAll loads files and returns the problems that reject the revision and
// the warnings, each formatted as `runnel validate` prints them.
func loadAll(t *testing.T, files map[string]string) (problems, warnings []string) {
	t.Helper()
	dir := t.TempDir()
	writeLoadFiles(t, dir, files)
	var warned []string
	snap, err := workspace.Load(dir, workspace.LoadOptions{
		Getenv: loadTestEnv,
		Warn:   func(p workspace.Problem) { warned = append(warned, p.String()) },
	})
	var le *workspace.LoadError
	switch {
	case errors.As(err, &le):
		for _, p := range le.Problems {
			problems = append(problems, p.String())
		}
	case err != nil:
		t.Fatalf("Load: %v", err)
	default:
		var snapWarnings []string
		for _, p := range snap.Warnings {
			snapWarnings = append(snapWarnings, p.String())
		}
		if strings.Join(snapWarnings, "\n") != strings.Join(warned, "\n") {
			t.Errorf("Snapshot.Warnings %q differ from the warnings passed to Warn %q", snapWarnings, warned)
		}
	}
	return problems, warned
}

// matchAll checks that got and want have the same length and each got[i]
// starts with want[i]'s position and contains its message part: want items
// are "<line>:<col>: <message fragment>" for .workflows/ci.yaml.
func matchAll(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d, want %d:\n%s", what, len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i, w := range want {
		pos, frag, _ := strings.Cut(w, ": ")
		if !strings.HasPrefix(got[i], ".workflows/ci.yaml:"+pos+": ") || !strings.Contains(got[i], frag) {
			t.Errorf("%s[%d] = %s\nwant at %s: …%s…", what, i, got[i], pos, frag)
		}
	}
}

func TestLoadScopeErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		yaml     string
		errors   []string
		warnings []string
	}{{
		// A new user's first task: the cmd reads another step's output.
		name: "action cmd reads a step output",
		yaml: `
tasks:
  count:
    flow:
      count: { type: shell, cmd: "echo 'OUTPUT: {\"n\": 3}'" }
      show:
        depends_on: [count]
        type: shell
        cmd: echo {{ count.output.n }}
`,
		errors: []string{`9:22: task 'count' step 'show' cmd: 'count.output.n' is not visible in an action's cmd (only input and secret are); pass it through the step's input: input: {count: "{{ count.output.n }}"} and use {{ input.count }}`},
	}, {
		// The second: the cmd reads the task's input.
		name: "inline cmd reads the task input",
		yaml: `
tasks:
  wait:
    input: { secs: { type: integer, default: 1 } }
    flow:
      sleep: { type: shell, cmd: "sleep {{ input.secs }}" }
`,
		errors: []string{`6:44: task 'wait' step 'sleep' cmd: 'input.secs' is undefined: the step's input has no 'secs' (an inline cmd sees only the step's own input); the task's input is not visible in an action's cmd: pass it through the step's input: input: {secs: "{{ input.secs }}"}`},
	}, {
		name: "named action run by steps that do not pass a key",
		yaml: `
actions:
  greet:
    type: shell
    cmd: |
      echo hello
      echo "{{ input.naem }}"
    input: { name: { type: string } }
tasks:
  a:
    flow:
      one: { action: greet, input: { name: x } }
      two: { action: greet, input: { name: y } }
`,
		errors: []string{`7:16: action 'greet' cmd: 'input.naem' is undefined when run by step 'one' of task 'a', step 'two' of task 'a', whose input has no 'naem' (did you mean "name"?)`},
	}, {
		name: "optional action field without default that one step omits",
		yaml: `
actions:
  greet:
    type: script
    script: echo hi
    env: { WHO: "{{ input.who }}" }
    input: { who: { type: string } }
tasks:
  a:
    flow:
      one: { action: greet, input: { who: x } }
      two: { action: greet }
`,
		errors: []string{`6:21: action 'greet' env 'WHO': 'input.who' is undefined when run by step 'two' of task 'a', whose input has no 'who' (give input field 'who' a default, or pass it everywhere)`},
	}, {
		name: "unused action with declared inputs",
		yaml: `
actions:
  lone:
    type: shell
    cmd: echo {{ input.nmae }}
    input: { name: { type: string, default: x } }
tasks:
  a: { flow: { s: { type: shell, cmd: "true" } } }
`,
		errors: []string{`5:18: action 'lone' cmd: 'input.nmae' is undefined: action 'lone' has no input 'nmae' (did you mean "name"?)`},
	}, {
		name: "step reads a step it does not depend on",
		yaml: `
tasks:
  ci:
    flow:
      a: { type: shell, cmd: "true" }
      b:
        type: shell
        cmd: echo "$N"
        env: { N: "{{ input.n }}" }
        input: { n: "{{ a.output }}" }
`,
		errors: []string{`10:25: task 'ci' step 'b' input 'n': step 'b' reads 'a.output' but does not depend on 'a' (add it to depends_on)`},
	}, {
		name: "step reads its own output, an unknown step and a bad attribute",
		yaml: `
tasks:
  ci:
    flow:
      build: { type: shell, cmd: "true" }
      test:
        depends_on: [build]
        type: shell
        cmd: "true"
        input:
          own: "{{ test.status }}"
          typo: "{{ biuld.output }}"
          attr: "{{ build.outptu }}"
          deep: ["{{ build.output.files }}", { k: "x {{ nope }}" }]
`,
		errors: []string{
			`11:20: task 'ci' step 'test' input 'own': 'test.status' is the step's own result`,
			`12:21: task 'ci' step 'test' input 'typo': 'biuld.output' is undefined: a step input sees input, secret and the steps of its task (build, test) (did you mean "build"?)`,
			`13:21: task 'ci' step 'test' input 'attr': 'build.outptu' is undefined: a finished step has output, status and error_message (did you mean "output"?)`,
			`14:57: task 'ci' step 'test' input 'deep[1].k': 'nope' is undefined`,
		},
	}, {
		name: "secrets",
		yaml: `
secrets: { db: { pass: hunter2 }, token: t }
tasks:
  ci:
    flow:
      s:
        type: shell
        cmd: "echo {{ secret.tokn }} {{ secret.db.pas }} {{ secret.db.pass }} {{ secret.token }}"
`,
		errors: []string{
			`8:23: 'secret.tokn' is undefined: no secret 'tokn' (did you mean "token"?)`,
			`8:41: 'secret.db.pas' is undefined: no secret 'db.pas' (did you mean "pass"?)`,
		},
	}, {
		name: "no secrets at all",
		yaml: `
tasks:
  ci: { flow: { s: { type: shell, cmd: "echo {{ secret.x }}" } } }
`,
		errors: []string{`3:49: task 'ci' step 's' cmd: 'secret.x' is undefined: the workspace defines no secrets`},
	}, {
		name: "hook inputs",
		yaml: `
actions:
  notify: { type: shell, cmd: "echo \"$T\"", env: { T: "{{ input.text }}" } }
tasks:
  ci:
    flow: { s: { type: shell, cmd: "true" } }
    on_error:
      - action: notify
        input: { text: "{{ hook.task }} {{ input.x }} {{ hook.task_name }}" }
on_success:
  - action: notify
    input: { text: "{{ s.output }}" }
`,
		errors: []string{
			`9:28: task 'ci' on_error[0] input 'text': 'hook.task' is undefined: no hook field 'task' (did you mean "task_name"?)`,
			`9:44: task 'ci' on_error[0] input 'text': 'input.x' is undefined: a hook input sees only hook`,
			`12:24: workspace on_success[0] input 'text': 's.output' is undefined: a hook input sees only hook`,
		},
	}, {
		name: "hook and step names in an action",
		yaml: `
actions:
  a: { type: shell, cmd: "echo {{ hook.status }} {{ whatever }}" }
tasks:
  ci: { flow: { s: { action: a } } }
`,
		errors: []string{
			`3:35: action 'a' cmd: 'hook.status' is not visible in an action's cmd (only input and secret are); pass what you need through the hook's input`,
			`3:53: action 'a' cmd: 'whatever' is undefined: an action's cmd sees only input and secret`,
		},
	}, {
		name: "position inside a literal block and a folded one",
		yaml: `
tasks:
  ci:
    flow:
      s:
        type: shell
        cmd: |
          set -e
          echo {{ input.x }} \
            {{ other }}
      f:
        type: shell
        cmd: >
          echo
          {{ gone }}
`,
		errors: []string{
			`9:19: task 'ci' step 's' cmd: 'input.x' is undefined`,
			`10:16: task 'ci' step 's' cmd: 'other' is undefined`,
			`13:14: task 'ci' step 'f' cmd: 'gone' is undefined: an action's cmd sees only input and secret (template line 1, column 9)`,
		},
	}, {
		name: "undeclared task input is a warning",
		yaml: `
tasks:
  ci:
    input: { name: { type: string, default: x } }
    flow:
      s:
        type: shell
        cmd: echo "$N"
        env: { N: "{{ input.n }}" }
        input: { n: "{{ input.naem }}" }
`,
		warnings: []string{`10:25: task 'ci' step 's' input 'n': 'input.naem' is not a declared input of task 'ci' (did you mean "name"?); it is undefined unless every caller passes it`},
	}, {
		name: "webhook text printed into a command",
		yaml: `
actions:
  greet:
    type: shell
    cmd: echo hello {{ input.who }}
    input: { who: { type: string, required: true } }
tasks:
  hello:
    flow:
      raw: { action: greet, input: { who: "{{ input.body.who }}" } }
      quoted: { action: greet, input: { who: "{{ input.body.who | shell_quote }}" } }
      inline:
        type: script
        script: |
          echo {{ input.h }}
          echo {{ input.h | shell_quote }}
          echo "$Q"
        env: { Q: "{{ input.q }}" }
        input: { h: "{{ input.headers['x-user'] }}", q: "{{ input.query.q }}" }
triggers:
  hook: { type: webhook, name: hello, task: hello }
`,
		warnings: []string{
			`5:24: action 'greet' cmd: 'input.who' carries webhook text ('input.body.who' of step 'raw' of task 'hello') into the command unquoted; write {{ input.who | shell_quote }} or pass it through env:`,
			`15:19: task 'hello' step 'inline' script: 'input.h' carries webhook text ('input.headers.x-user' of step 'inline' of task 'hello') into the command unquoted`,
		},
	}, {
		name: "inline script naming a file",
		yaml: `
tasks:
  ci:
    flow:
      s: { type: script, script: s/x.sh }
      t: { type: script, script: s/missing.sh }
      u: { type: script, script: "s/x.sh --fast" }
      v: { type: script, source: s/x.sh }
      w: { type: script, script: "echo {{ nope }}" }
`,
		// Warnings reach LoadOptions.Warn even when the load fails.
		errors:   []string{`9:43: task 'ci' step 'w' script: 'nope' is undefined`},
		warnings: []string{`5:34: task 'ci' step 's': 'script: s/x.sh' runs that text as an inline shell command, and 's/x.sh' is a file in the workspace (did you mean 'source: s/x.sh'?)`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			problems, warnings := loadAll(t, map[string]string{".workflows/ci.yaml": tc.yaml, "s/x.sh": "echo x\n"})
			matchAll(t, "errors", problems, tc.errors)
			matchAll(t, "warnings", warnings, tc.warnings)
		})
	}
}

// TestLoadScopeAccepts lists templates that render fine at run time: none
// of them may be reported.
func TestLoadScopeAccepts(t *testing.T) {
	problems, warnings := loadAll(t, map[string]string{".workflows/ci.yaml": `
secrets: { token: t, db: { pass: p } }
actions:
  greet:
    type: shell
    cmd: |
      echo {{ input.name }} {{ input.greeting }} {{ secret.token }} {{ secret.db.pass }}
      {% for k, v in input.extra | default({}) | items %}{{ k }}={{ v }} {% endfor %}
      {% set n = input.name %}{{ n | upper }} {{ input.maybe | default(value="none") }}
      {% if input.opt is defined %}{{ input.opt.deep }}{% endif %}
      {{ input[input.name] | default("") }} {{ input.name.upper() }}
    input:
      name: { type: string, required: true }
      greeting: { type: string, default: Hello }
  child: { type: task, task: leaf }
  notify: { type: script, script: 'echo "$T"', env: { T: "{{ input.text }}" } }
tasks:
  leaf:
    input: { n: { type: integer, default: 1 } }
    flow:
      only: { type: shell, cmd: "echo {{ input.n }}", input: { n: "{{ input.n }}" } }
  ci:
    input: { target: { type: string, default: all } }
    flow:
      a: { action: greet, input: { name: "{{ input.target }}" } }
      b: { action: greet, depends_on: [a], input: { name: "{{ a.output.who | default('x') }}", extra: "{{ a.output }}" } }
      c:
        depends_on: [b]
        action: greet
        input:
          name: "{{ a.output.who }} {{ b.status }} {{ a.error_message }}"
          other: "{{ input.passed_by_trigger }} {{ input.body | length }}"
      d: { action: child, input: { n: 2, extra: "{{ secret.token }}" } }
      e:
        type: shell
        cmd: "echo {{ input.x }}"
        input: { x: "{% if c is defined %}{{ c.output }}{% endif %}" }
    on_error:
      - action: notify
        input: { text: "{{ hook.task_name }}: {{ hook.failed_steps[0].error_message | default('') }} {{ secret.token }}" }
triggers:
  nightly: { type: scheduler, cron: "@daily", task: ci, input: { passed_by_trigger: "1" } }
  push: { type: webhook, name: ci-push, task: ci }
`})
	if len(problems) > 0 || len(warnings) > 0 {
		t.Errorf("a workspace whose templates all render was reported:\n%s\nwarnings:\n%s", strings.Join(problems, "\n"), strings.Join(warnings, "\n"))
	}
}
