package workspace_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// TestRetryDelayAfter is the delay before each next attempt: constant,
// exponential doubling, capped by max_delay and by 365d without overflow.
func TestRetryDelayAfter(t *testing.T) {
	s := time.Second
	cases := []struct {
		name string
		r    workspace.Retry
		want []time.Duration // after attempt 1, 2, …
	}{
		{"constant", workspace.Retry{Delay: 5 * s, Backoff: workspace.BackoffConstant}, []time.Duration{5 * s, 5 * s, 5 * s}},
		{"constant capped", workspace.Retry{Delay: 5 * s, Backoff: workspace.BackoffConstant, MaxDelay: 5 * s}, []time.Duration{5 * s, 5 * s}},
		{"exponential", workspace.Retry{Delay: 5 * s, Backoff: workspace.BackoffExponential}, []time.Duration{5 * s, 10 * s, 20 * s, 40 * s, 80 * s}},
		{"exponential max_delay", workspace.Retry{Delay: 5 * s, Backoff: workspace.BackoffExponential, MaxDelay: 30 * s},
			[]time.Duration{5 * s, 10 * s, 20 * s, 30 * s, 30 * s}},
		{"max_delay equal to delay", workspace.Retry{Delay: time.Minute, Backoff: workspace.BackoffExponential, MaxDelay: time.Minute},
			[]time.Duration{time.Minute, time.Minute}},
		{"milliseconds", workspace.Retry{Delay: 10 * time.Millisecond, Backoff: workspace.BackoffExponential, MaxDelay: 35 * time.Millisecond},
			[]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 35 * time.Millisecond}},
	}
	for _, c := range cases {
		var got []time.Duration
		for n := 1; n <= len(c.want); n++ {
			got = append(got, c.r.DelayAfter(n))
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	// 99 doublings of a day would overflow; they stop at 365d.
	r := workspace.Retry{Delay: 24 * time.Hour, Backoff: workspace.BackoffExponential}
	if got := r.DelayAfter(workspace.MaxAttempts - 1); got != workspace.MaxDuration {
		t.Errorf("exponential without max_delay after 99 attempts: %v, want %v", got, workspace.MaxDuration)
	}
}

// TestRetryRetries checks on_exit_codes: absent retries any failure, a
// list only its codes (-1 included only when listed).
func TestRetryRetries(t *testing.T) {
	anyFailure := workspace.Retry{}
	listed := workspace.Retry{OnExitCodes: []int{2, 75}}
	for _, c := range []struct {
		r    workspace.Retry
		code int
		want bool
	}{
		{anyFailure, 1, true}, {anyFailure, -1, true},
		{listed, 75, true}, {listed, 1, false}, {listed, -1, false},
	} {
		if got := c.r.Retries(c.code); got != c.want {
			t.Errorf("%v.Retries(%d) = %v", c.r.OnExitCodes, c.code, got)
		}
	}
}

// TestLoadRetry checks retry: on actions and steps at load: the forms,
// their defaults, the step's policy kept apart from its action's, and
// clear errors for every bad value.
func TestLoadRetry(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name       string
		retry      string
		want       *workspace.Retry
		errContain string
	}{
		{name: "bare integer", retry: `3`,
			want: &workspace.Retry{Attempts: 3, Delay: workspace.DefaultRetryDelay, Backoff: "constant"}},
		{name: "full", retry: `{attempts: 5, delay: 250ms, backoff: exponential, max_delay: 5m, on_exit_codes: [-1, 75]}`,
			want: &workspace.Retry{Attempts: 5, Delay: 250 * ms, Backoff: "exponential", MaxDelay: 5 * time.Minute, OnExitCodes: []int{-1, 75}}},
		{name: "seconds", retry: `{attempts: 2, delay: 90}`,
			want: &workspace.Retry{Attempts: 2, Delay: 90 * time.Second, Backoff: "constant"}},
		{name: "one attempt", retry: `1`, want: &workspace.Retry{Attempts: 1, Delay: workspace.DefaultRetryDelay, Backoff: "constant"}},
		{name: "zero", retry: `0`, errContain: "task 'ci' step 'b': 'retry' must be a number of attempts (1-100) or a mapping with 'attempts'"},
		{name: "too many", retry: `{attempts: 101}`, errContain: "task 'ci' step 'b': retry attempts must be an integer from 1 to 100"},
		{name: "text attempts", retry: `{attempts: many}`, errContain: "retry attempts must be an integer from 1 to 100"},
		{name: "no attempts", retry: `{delay: 5s}`, errContain: "task 'ci' step 'b': retry has no 'attempts'"},
		{name: "bad delay", retry: `{attempts: 2, delay: 5x}`,
			errContain: "task 'ci' step 'b' has invalid retry delay '5x' (use e.g. 500ms, 5s, 1m, 1h30m or seconds, at most 365d)"},
		{name: "zero delay", retry: `{attempts: 2, delay: 0ms}`, errContain: "invalid retry delay '0ms'"},
		{name: "huge delay", retry: `{attempts: 2, max_delay: 400d}`, errContain: "invalid retry max_delay '400d'"},
		{name: "bad backoff", retry: `{attempts: 2, backoff: linear}`,
			errContain: "task 'ci' step 'b' has invalid retry backoff 'linear' (expected constant or exponential)"},
		{name: "max below delay", retry: `{attempts: 2, delay: 1m, max_delay: 10s}`,
			errContain: "task 'ci' step 'b': retry max_delay is shorter than its delay"},
		{name: "exit code zero", retry: `{attempts: 2, on_exit_codes: [0]}`,
			errContain: "task 'ci' step 'b': retry on_exit_codes must be a non-empty list of exit codes"},
		{name: "exit codes not a list", retry: `{attempts: 2, on_exit_codes: 1}`, errContain: "retry on_exit_codes must be a non-empty list"},
		{name: "unknown key", retry: `{attempts: 2, dealy: 1s}`,
			errContain: `unknown field "dealy" in retry of task 'ci' step 'b' (did you mean "delay"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLoadFiles(t, dir, map[string]string{".workflows/ci.yaml": `
actions:
  flaky:
    type: shell
    cmd: "true"
    retry: {attempts: 4, delay: 1s}
tasks:
  ci:
    flow:
      a: { action: flaky }
      b: { type: shell, cmd: "true", retry: ` + tc.retry + ` }
      c: { action: flaky, retry: 2 }
`})
			snap, err := workspace.Load(dir, workspace.LoadOptions{Getenv: loadTestEnv})
			if tc.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContain) {
					t.Fatalf("error %v, want one containing %q", err, tc.errContain)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			task := snap.Tasks["ci"]
			if diff := cmp.Diff(tc.want, task.Step("b").Retry); diff != "" {
				t.Errorf("step b retry (-want +got):\n%s", diff)
			}
			action := &workspace.Retry{Attempts: 4, Delay: time.Second, Backoff: "constant"}
			if diff := cmp.Diff(action, snap.Actions["flaky"].Retry); diff != "" {
				t.Errorf("action retry (-want +got):\n%s", diff)
			}
			if task.Step("a").Retry != nil {
				t.Errorf("step a has its own retry %+v; it only has its action's", task.Step("a").Retry)
			}
			if r := task.Step("c").Retry; r == nil || r.Attempts != 2 {
				t.Errorf("step c retry %+v, want its own 2 attempts", r)
			}
		})
	}
}

// TestLoadRetryOnTaskSteps refuses retry: where a child job would be
// retried: on type: task actions and steps.
func TestLoadRetryOnTaskSteps(t *testing.T) {
	problems, _ := loadAll(t, map[string]string{".workflows/ci.yaml": `
actions:
  call:
    type: task
    task: other
    retry: 2
tasks:
  other:
    flow:
      x: { type: shell, cmd: "true" }
  ci:
    flow:
      a: { action: call }
      b: { type: task, task: other, retry: 2 }
`})
	want := []string{
		".workflows/ci.yaml:6:5: action 'call' is type 'task' but has 'retry' field",
		".workflows/ci.yaml:14:37: task 'ci' step 'b': 'retry' is not supported on a type: task step (give the called task's steps a retry)",
	}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
