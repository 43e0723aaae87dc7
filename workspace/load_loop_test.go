package workspace_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// TestLoadForEach checks a step's loop keys at load: for_each is a list or
// a template checked like the step's input; item and index exist in the
// input of a for_each step only; sequential and max_parallel need a loop.
func TestLoadForEach(t *testing.T) {
	for _, tc := range []struct {
		name   string
		step   string // the keys of step c (depends on b)
		extra  string // more steps
		errors []string
	}{
		{name: "template over input", step: `for_each: "{{ input.hosts }}", input: { h: "{{ item }}", i: "{{ index }}" }`},
		{name: "template over an upstream output", step: `for_each: "{{ b.output.list }}", input: { h: "{{ item.name }}" }`},
		{name: "literal list with templates", step: `for_each: [a, "{{ input.x }}", 3], sequential: true`},
		{name: "max_parallel", step: `for_each: [1, 2], max_parallel: 2`},
		{name: "plain text", step: `for_each: hosts`,
			errors: []string{`ci.yaml:8:65: task 'ci' step 'c': 'for_each' must be a list or a template such as "{{ input.hosts }}" (plain text is not a list)`}},
		{name: "a mapping", step: `for_each: { a: 1 }`,
			errors: []string{`task 'ci' step 'c': 'for_each' must be a list or a template`}},
		{name: "syntax", step: `for_each: "{{ input.hosts "`,
			errors: []string{`task 'ci' step 'c' input 'for_each': template error:`}},
		{name: "not upstream", step: `for_each: "{{ d.output }}"`,
			errors: []string{`task 'ci' step 'c' for_each: step 'c' reads 'd.output' but does not depend on 'd'`}},
		{name: "item in for_each", step: `for_each: ["{{ item }}"]`,
			errors: []string{`task 'ci' step 'c' for_each[0]: 'item' is undefined: for_each makes the list`}},
		{name: "index in when", step: `for_each: [1], when: "{{ index }}"`,
			errors: []string{`task 'ci' step 'c' when: 'index' is undefined: when: is evaluated once, before the loop`}},
		{name: "item without a loop", step: `input: { h: "{{ item }}" }`,
			errors: []string{`task 'ci' step 'c' input 'h': 'item' is undefined: item and index exist only in the input of a for_each step`}},
		{name: "sequential without a loop", step: `sequential: true`,
			errors: []string{`task 'ci' step 'c' has 'sequential' but no 'for_each'`}},
		{name: "both bounds", step: `for_each: [1], sequential: true, max_parallel: 2`,
			errors: []string{`task 'ci' step 'c' has both 'sequential' and 'max_parallel'`}},
		{name: "max_parallel zero", step: `for_each: [1], max_parallel: 0`,
			errors: []string{`task 'ci' step 'c': 'max_parallel' must be an integer from 1 to 1000`}},
		{name: "step named item beside a loop", step: `for_each: [1]`, extra: "      item: { type: shell, cmd: \"true\" }\n",
			errors: []string{`step name 'item' is reserved in task 'ci': it is a loop variable of for_each step 'c'`}},
		{name: "step named index without a loop", step: `input: { i: "{{ index.output }}" }`, extra: "      index: { type: shell, cmd: \"true\" }\n",
			errors: []string{`step 'c' reads 'index.output' but does not depend on 'index'`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := loadAll(t, map[string]string{".workflows/ci.yaml": `
tasks:
  ci:
    input: { hosts: { type: array, default: [] }, x: { type: string, default: "" } }
    flow:
      a: { type: shell, cmd: "true" }
      b: { type: shell, cmd: "true", depends_on: [a] }
      c: { type: shell, cmd: "true", depends_on: [b], ` + tc.step + ` }
      d: { type: shell, cmd: "true" }
` + tc.extra})
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

// TestLoadForEachModel checks what a loaded loop step holds: its list
// renders to {"for_each": list} and its bound.
func TestLoadForEachModel(t *testing.T) {
	dir := t.TempDir()
	writeLoadFiles(t, dir, map[string]string{".workflows/ci.yaml": `
tasks:
  ci:
    flow:
      one: { type: shell, cmd: "true", for_each: "{{ input.hosts }}", sequential: true }
      two: { type: shell, cmd: "true", for_each: [a, "{{ input.x }}"], max_parallel: 3 }
      three: { type: shell, cmd: "true" }
`})
	snap, err := workspace.Load(filepath.Clean(dir), workspace.LoadOptions{Getenv: loadTestEnv})
	if err != nil {
		t.Fatal(err)
	}
	task := snap.Tasks["ci"]
	ctx := map[string]any{"input": map[string]any{"hosts": []any{"h1", "h2"}, "x": "b"}}
	for _, c := range []struct {
		step string
		max  int
		want []any
	}{
		{"one", 1, []any{"h1", "h2"}},
		{"two", 3, []any{"a", "b"}},
	} {
		s := task.Step(c.step)
		v, err := s.ForEach.Render(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.step, err)
		}
		got := v.(map[string]any)[workspace.ForEachKey]
		if diff := cmp.Diff(c.want, got); diff != "" || s.MaxParallel != c.max {
			t.Errorf("%s: max_parallel %d, want %d; list (-want +got):\n%s", c.step, s.MaxParallel, c.max, diff)
		}
	}
	if s := task.Step("three"); s.ForEach != nil || s.MaxParallel != 0 {
		t.Errorf("three is not a loop: %+v", s)
	}
}
