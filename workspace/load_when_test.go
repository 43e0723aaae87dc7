package workspace_test

import (
	"strings"
	"testing"
)

// TestLoadWhen checks a step's when: at load: a template checked like the
// step's input, or true/false; plain text and bad templates are refused.
func TestLoadWhen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		when   string
		errors []string
	}{
		{name: "input and an upstream output", when: `"{{ input.deploy and a.output.ok }}"`},
		{name: "guarded", when: `"{{ b.output | default(false) }}"`},
		{name: "if tag", when: `"{% if input.deploy %}yes{% endif %}"`},
		{name: "literal false", when: `false`},
		{name: "literal true", when: `true`},
		{name: "quoted true", when: `"true"`},
		{name: "plain text", when: `input.deploy`,
			errors: []string{`ci.yaml:7:61: task 'ci' step 'c': 'when' must be a template such as "{{ input.deploy }}", or true or false (plain text is always true)`}},
		{name: "not a scalar", when: `[1]`,
			errors: []string{`ci.yaml:7:61: task 'ci' step 'c': 'when' must be a template`}},
		{name: "syntax", when: `"{{ input.deploy "`,
			errors: []string{`ci.yaml:7:61: task 'ci' step 'c' 'when': template error:`}},
		{name: "not upstream", when: `"{{ d.output }}"`,
			errors: []string{`task 'ci' step 'c' when: step 'c' reads 'd.output' but does not depend on 'd' (add it to depends_on)`}},
		{name: "undefined", when: `"{{ nope }}"`,
			errors: []string{`task 'ci' step 'c' when: 'nope' is undefined: a step input sees input, secret and the steps of its task`}},
		{name: "own result", when: `"{{ c.status }}"`,
			errors: []string{`task 'ci' step 'c' when: 'c.status' is the step's own result`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := loadAll(t, map[string]string{".workflows/ci.yaml": `
tasks:
  ci:
    flow:
      a: { type: shell, cmd: "true" }
      b: { type: shell, cmd: "true", depends_on: [a] }
      c: { type: shell, cmd: "true", depends_on: [b], when: ` + tc.when + ` }
      d: { type: shell, cmd: "true" }
`})
			if len(tc.errors) == 0 {
				if len(problems) > 0 {
					t.Fatalf("problems: %q", problems)
				}
				return
			}
			if len(problems) != len(tc.errors) {
				t.Fatalf("problems %q, want %q", problems, tc.errors)
			}
			for i, w := range tc.errors {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %q does not contain %q", problems[i], w)
				}
			}
		})
	}
}
