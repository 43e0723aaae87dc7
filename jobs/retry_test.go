package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// retryYAML's steps count their runs in a file outside runnel (input
// f); hooks append the job status to HOOKFILE; the flaky action waits
// DELAY between attempts.
const retryYAML = `
actions:
  mark:
    type: shell
    input: { status: { type: string } }
    cmd: echo "{{ input.status }}" >> HOOKFILE
  # counts its runs in input.f and succeeds on run input.ok
  flaky:
    type: shell
    input:
      f: { type: string, required: true }
      ok: { type: integer, default: 3 }
      code: { type: integer, default: 1 }
    cmd: |
      n=$(cat {{ input.f }} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ input.f }}
      echo "run $n"
      if [ $n -lt {{ input.ok }} ]; then echo "not yet" >&2; exit {{ input.code }}; fi
      echo 'OUTPUT: {"runs": '$n'}'
    retry: { attempts: 3, delay: DELAY }
tasks:
  flaky:
    on_success: [{ action: mark, input: { status: "{{ hook.status }}" } }]
    on_error: [{ action: mark, input: { status: "{{ hook.status }}" } }]
    input:
      f: { type: string, required: true }
    flow:
      try:
        action: flaky
        input: { f: "{{ input.f }}" }
      after:
        depends_on: [try]
        type: shell
        cmd: echo "after {{ input.runs }}"
        input: { runs: "{{ try.output.runs }}" }
  codes:
    input:
      f: { type: string, required: true }
      code: { type: integer }
      ok: { type: integer, default: 3 }
    flow:
      try:
        action: flaky
        input: { f: "{{ input.f }}", code: "{{ input.code }}", ok: "{{ input.ok }}" }
        retry: { attempts: 3, delay: 10ms, on_exit_codes: [75, -1] }
  waits:
    input:
      f: { type: string, required: true }
    flow:
      try:
        action: flaky
        input: { f: "{{ input.f }}" }
        retry: { attempts: 3, delay: 1h }
  job-timeout:
    timeout: 1s
    input:
      f: { type: string, required: true }
    flow:
      try:
        action: flaky
        input: { f: "{{ input.f }}" }
        retry: { attempts: 3, delay: 1h }
  hooked:
    on_success: [{ action: flaky, input: { f: HOOKCOUNT } }]
    flow:
      ok: { type: shell, cmd: "true" }
  step-timeout:
    input:
      f: { type: string, required: true }
    flow:
      try:
        type: shell
        timeout: 1s
        input: { f: "{{ input.f }}" }
        cmd: |
          n=$(cat {{ input.f }} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ input.f }}
          if [ $n -eq 1 ]; then exec sleep 30; fi
          echo "run $n"
        retry: { attempts: 2, delay: 10ms }
`

// retryHarness starts an engine on retryYAML with the flaky action's
// delay; it returns the hook file. The hooked task's hook counts in
// <hook>.count.
func retryHarness(t *testing.T, delay string) (*jobstest.Harness, string) {
	hook := filepath.Join(t.TempDir(), "hook")
	y := strings.NewReplacer("HOOKFILE", hook, "HOOKCOUNT", hook+".count", "DELAY", delay).Replace(retryYAML)
	return jobstest.New(t, files(y)), hook
}

// runs reads a counter file written by the steps.
func runs(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestRetryUntilSuccess runs a step that fails twice and succeeds on its
// third run with a real engine and real processes: it completes on attempt
// 3 with every attempt recorded, its later attempts' lines are marked, a
// _server line announces each retry, and the dependant and the hook see
// only the final attempt.
func TestRetryUntilSuccess(t *testing.T) {
	h, hook := retryHarness(t, "10ms")
	f := filepath.Join(t.TempDir(), "count")
	id := h.Trigger("flaky", map[string]any{"f": f})
	j := h.Wait(id)
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	try := jobstest.Step(t, j, "try")
	if try.Status != jobs.StepCompleted || try.Attempt != 3 || try.ErrorMessage != "" || !try.RetryAt.IsZero() {
		t.Errorf("step try: %+v", try)
	}
	if diff := cmp.Diff(map[string]any{"runs": 3.0}, try.Output); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	type att struct {
		N, Code int
		Err     string
	}
	var got []att
	for i, a := range try.Attempts {
		got = append(got, att{a.Attempt, a.ExitCode, a.ErrorMessage})
		if a.WorkerID != h.Engine.BuiltinWorkerID() || a.StartedAt.IsZero() || a.CompletedAt.Before(a.StartedAt) {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
		if i > 0 && a.StartedAt.Before(try.Attempts[i-1].CompletedAt) {
			t.Errorf("attempt %d started before attempt %d ended", i+1, i)
		}
	}
	want := []att{{1, 1, "Exit code: 1\nStderr: not yet"}, {2, 1, "Exit code: 1\nStderr: not yet"}, {3, 0, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	if got := runs(t, f); got != "3" {
		t.Errorf("the step ran %s times", got)
	}
	if a := jobstest.Step(t, j, "after"); a.Status != jobs.StepCompleted || a.Attempt != 1 || a.Attempts != nil {
		t.Errorf("step after: %+v", a)
	}

	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(h.Log(id)), "\n") {
		var v struct {
			Step, Stream, Line string
			Attempt            int
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		// stdout of the step (stderr interleaves in any order) and the
		// retry lines.
		if v.Step == "try" && v.Stream == "stdout" || strings.Contains(v.Line, "retrying") {
			lines = append(lines, fmt.Sprintf("%d %s: %s", v.Attempt, v.Step, v.Line))
		}
	}
	wantLines := []string{
		"0 try: run 1",
		"0 _server: Step 'try' failed (attempt 1/3), retrying in 10ms",
		"2 try: run 2",
		"0 _server: Step 'try' failed (attempt 2/3), retrying in 10ms",
		"3 try: run 3", `3 try: OUTPUT: {"runs": 3}`,
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	// The hook fires for the job's final status only.
	jobstest.Eventually(t, "the hook", func() bool {
		b, _ := os.ReadFile(hook)
		return len(b) > 0
	})
	if got := runs(t, hook); got != "completed" {
		t.Errorf("hook saw %q", got)
	}
}

// TestRetryInHookJob: an action's retry applies wherever the action runs,
// in a hook job too.
func TestRetryInHookJob(t *testing.T) {
	h, hook := retryHarness(t, "10ms")
	if j := h.Wait(h.Trigger("hooked", nil)); j.Status != jobs.JobCompleted {
		t.Fatalf("job %s", j.Status)
	}
	var hj *jobs.Job
	jobstest.Eventually(t, "the hook job", func() bool {
		res, err := h.Query.List(jobs.ListFilter{SourceType: jobs.SourceHook, Limit: 1})
		if err != nil || len(res.Jobs) == 0 {
			return false
		}
		hj = res.Jobs[0]
		return true
	})
	hj = h.Wait(hj.ID)
	if s := hj.Steps[0]; hj.Status != jobs.JobCompleted || s.Attempt != 3 || len(s.Attempts) != 3 || runs(t, hook+".count") != "3" {
		t.Errorf("hook job %s, step %+v", hj.Status, s)
	}
}

// TestRetryExitCodes checks on_exit_codes and running out of attempts: a
// listed code is retried until the attempts are used up (the job fails
// with the last attempt's error), an unlisted code is not retried.
func TestRetryExitCodes(t *testing.T) {
	h, _ := retryHarness(t, "10ms")
	for _, c := range []struct {
		name       string
		code, ok   int
		status     string
		codes      []int
		wantServer bool
	}{
		{name: "unlisted code fails at once", code: 2, ok: 3, status: jobs.JobFailed, codes: []int{2}},
		{name: "listed code retried until it passes", code: 75, ok: 2, status: jobs.JobCompleted, codes: []int{75, 0}, wantServer: true},
		{name: "listed code runs out of attempts", code: 75, ok: 9, status: jobs.JobFailed, codes: []int{75, 75, 75}, wantServer: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "count")
			id := h.Trigger("codes", map[string]any{"f": f, "code": c.code, "ok": c.ok})
			j := h.Wait(id)
			try := jobstest.Step(t, j, "try")
			var codes []int
			for _, a := range try.Attempts {
				codes = append(codes, a.ExitCode)
			}
			if j.Status != c.status || try.Attempt != len(c.codes) || !cmp.Equal(codes, c.codes) {
				t.Errorf("job %s, attempt %d, codes %v; want %s, %v", j.Status, try.Attempt, codes, c.status, c.codes)
			}
			if got := runs(t, f); got != fmt.Sprint(len(c.codes)) {
				t.Errorf("ran %s times", got)
			}
			if c.status == jobs.JobFailed && try.ErrorMessage != fmt.Sprintf("Exit code: %d\nStderr: not yet", c.code) {
				t.Errorf("error %q", try.ErrorMessage)
			}
			if got := strings.Contains(h.Log(id), "retrying in"); got != c.wantServer {
				t.Errorf("retry line %v, want %v", got, c.wantServer)
			}
		})
	}
}

// waitRetry waits until the job's step try waits for its next attempt.
func waitRetry(h *jobstest.Harness, id string) *jobs.Step {
	j := h.WaitFor(id, "a retry to be scheduled", func(j *jobs.Job) bool {
		for _, s := range j.Steps {
			if s.Name == "try" && !s.RetryAt.IsZero() {
				return true
			}
		}
		return false
	})
	return jobstest.Step(h.T, j, "try")
}

// TestRetryStopped checks that a cancel and a job timeout stop retries:
// the step waiting for its next attempt becomes cancelled or skipped and
// never runs again.
func TestRetryStopped(t *testing.T) {
	h, _ := retryHarness(t, "10ms")
	t.Run("cancel", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "count")
		id := h.Trigger("waits", map[string]any{"f": f})
		s := waitRetry(h, id)
		if s.Status != jobs.StepPending || s.Attempt != 1 || len(s.Attempts) != 1 || s.ErrorMessage == "" {
			t.Errorf("waiting step: %+v", s)
		}
		if err := h.Engine.Cancel(context.Background(), id, "api"); err != nil {
			t.Fatal(err)
		}
		j := h.Wait(id)
		s = jobstest.Step(t, j, "try")
		if j.Status != jobs.JobCancelled || s.Status != jobs.StepCancelled || !s.RetryAt.IsZero() || s.Attempt != 1 {
			t.Errorf("after cancel: job %s, step %+v", j.Status, s)
		}
		if got := runs(t, f); got != "1" {
			t.Errorf("ran %s times", got)
		}
	})
	t.Run("job timeout", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "count")
		id := h.Trigger("job-timeout", map[string]any{"f": f})
		j := h.Wait(id)
		s := jobstest.Step(t, j, "try")
		if j.Status != jobs.JobFailed || s.Status != jobs.StepSkipped || s.SkipReason != "job timed out" || s.Attempt != 1 {
			t.Errorf("after the job timeout: job %s, step %+v", j.Status, s)
		}
		if got := runs(t, f); got != "1" {
			t.Errorf("ran %s times", got)
		}
	})
}

// TestRetryStepTimeout: a step timeout is a failed attempt (code -1) and
// the next attempt has its own timeout.
func TestRetryStepTimeout(t *testing.T) {
	h, _ := retryHarness(t, "10ms")
	f := filepath.Join(t.TempDir(), "count")
	j := h.Wait(h.Trigger("step-timeout", map[string]any{"f": f}))
	s := jobstest.Step(t, j, "try")
	if j.Status != jobs.JobCompleted || s.Attempt != 2 || len(s.Attempts) != 2 ||
		s.Attempts[0].ExitCode != -1 || s.Attempts[0].ErrorMessage != "Step timed out after 1s" {
		t.Errorf("job %s, step %+v", j.Status, s)
	}
}

// TestRetrySurvivesRestart restarts the engine while a step waits for its
// retry: the schedule and the count resume from the store, and the next
// attempt starts no earlier than the stored retry_at.
func TestRetrySurvivesRestart(t *testing.T) {
	h, _ := retryHarness(t, "1s")
	f := filepath.Join(t.TempDir(), "count")
	id := h.Trigger("flaky", map[string]any{"f": f})
	before := waitRetry(h, id)
	h.Restart()
	j := h.Wait(id)
	s := jobstest.Step(t, j, "try")
	if j.Status != jobs.JobCompleted || s.Attempt != 3 || len(s.Attempts) != 3 || runs(t, f) != "3" {
		t.Fatalf("job %s, step %+v", j.Status, s)
	}
	if s.Attempts[1].StartedAt.Before(before.RetryAt) {
		t.Errorf("attempt 2 started at %v, before its retry_at %v", s.Attempts[1].StartedAt, before.RetryAt)
	}
}
