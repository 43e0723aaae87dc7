package jobs

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// TestStepTransitions checks every step status × event: exactly SPEC
// §5.1's rows are legal, everything else is refused.
func TestStepTransitions(t *testing.T) {
	legal := map[string]string{ // "event from" → to
		"create ":                StepPending,
		"dispatch pending":       StepReady,
		"skip-upstream pending":  StepSkipped,
		"skip-condition pending": StepSkipped,
		"skip-stopped pending":   StepSkipped,
		"skip-stopped ready":     StepSkipped,
		"cancel pending":         StepCancelled,
		"cancel ready":           StepCancelled,
		"reject pending":         StepFailed,
		"reject ready":           StepFailed,
		"claim ready":            StepRunning,
		"start-child ready":      StepRunning,
		"requeue running":        StepReady,
		"complete running":       StepCompleted,
		"fail running":           StepFailed,
		"stop running":           StepCancelled,
		"carry pending":          StepCompleted,
		"wait ready":             StepWaiting,
		"approve waiting":        StepCompleted,
		"deny waiting":           StepFailed,
		"cancel waiting":         StepCancelled,
		"skip-stopped waiting":   StepSkipped,
		"retry-wait running":     StepPending,
		"retry pending":          StepReady,
		"expand pending":         StepRunning,
		"instance ":              StepPending,
		"enqueue pending":        StepPending,
		"admit pending":          StepPending,
	}
	froms := []string{newStatus, StepPending, StepReady, StepRunning, StepWaiting, StepCompleted, StepFailed, StepSkipped, StepCancelled}
	checkTransitions(t, legal, froms, numStepEvents, stepNext, StepTerminal)
}

// checkTransitions tries every event up to n (one past the last, which
// must be refused too) from every status in froms: the moves in legal
// ("<event> <from>" → to) are allowed, every other is refused, and none
// leaves a terminal status.
func checkTransitions[E interface {
	~uint8
	fmt.Stringer
}](t *testing.T, legal map[string]string, froms []string, n E, next func(string, E) (string, error), terminal func(string) bool) {
	t.Helper()
	seen := 0
	for ev := E(0); ev <= n; ev++ {
		for _, from := range froms {
			key := fmt.Sprintf("%s %s", ev, from)
			to, err := next(from, ev)
			want, ok := legal[key]
			switch {
			case ok && (err != nil || to != want):
				t.Errorf("%s: got %q, %v; want %q", key, to, err, want)
			case !ok && !errors.Is(err, errIllegalTransition):
				t.Errorf("%s: got %q, %v; want refused", key, to, err)
			case ok:
				seen++
			}
			if ok && terminal(from) {
				t.Errorf("%s leaves a terminal status", key)
			}
		}
	}
	if seen != len(legal) {
		t.Errorf("%d legal moves found, %d listed", seen, len(legal))
	}
}

// TestJobTransitions checks every job status × event.
func TestJobTransitions(t *testing.T) {
	legal := map[string]string{
		"create ":          JobPending,
		"refuse ":          JobSkipped,
		"start pending":    JobRunning,
		"complete pending": JobCompleted,
		"complete running": JobCompleted,
		"fail pending":     JobFailed,
		"fail running":     JobFailed,
		"timeout pending":  JobFailed,
		"timeout running":  JobFailed,
		"cancel pending":   JobCancelled,
		"cancel running":   JobCancelled,
		"admit pending":    JobPending,
	}
	froms := append([]string{newStatus}, JobStatuses...)
	checkTransitions(t, legal, froms, numJobEvents, jobNext, JobTerminal)
}

// TestMoveStamps checks what applying a move records on a step and a job,
// and that a refused move changes nothing.
func TestMoveStamps(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := now.Add(-time.Minute)
	cases := []struct {
		name string
		from Step
		ev   stepEvent
		msg  string
		want Step
	}{
		{"dispatch", Step{Status: StepPending}, stepDispatch, "", Step{Status: StepReady, ReadyAt: now}},
		{"claim", Step{Status: StepReady, ReadyAt: earlier}, stepClaim, "", Step{Status: StepRunning, ReadyAt: earlier, StartedAt: now, Attempt: 1}},
		{"claim of a retry", Step{Status: StepReady, Attempt: 1, ErrorMessage: "Exit code: 1"}, stepClaim, "",
			Step{Status: StepRunning, StartedAt: now, Attempt: 2}},
		{"requeue", Step{Status: StepRunning, WorkerID: "w", StartedAt: earlier, Attempt: 2}, stepRequeue, "", Step{Status: StepReady, ReadyAt: now, Attempt: 1}},
		{"retry-wait", Step{Status: StepRunning, WorkerID: "w", StartedAt: earlier, Acked: true, Attempt: 1}, stepRetryWait, "Exit code: 1",
			Step{Status: StepPending, ErrorMessage: "Exit code: 1", Attempt: 1}},
		{"retry", Step{Status: StepPending, RetryAt: earlier, Attempt: 1}, stepRetry, "", Step{Status: StepReady, ReadyAt: now, Attempt: 1}},
		{"cancel while waiting for a retry", Step{Status: StepPending, RetryAt: now, Attempt: 1}, stepCancel, "",
			Step{Status: StepCancelled, CompletedAt: now, Attempt: 1}},
		{"complete", Step{Status: StepRunning, StartedAt: earlier}, stepComplete, "", Step{Status: StepCompleted, StartedAt: earlier, CompletedAt: now}},
		{"fail", Step{Status: StepRunning}, stepFail, "Exit code: 1", Step{Status: StepFailed, ErrorMessage: "Exit code: 1", CompletedAt: now}},
		{"stop", Step{Status: StepRunning}, stepStop, "Job cancelled", Step{Status: StepCancelled, ErrorMessage: "Job cancelled", CompletedAt: now}},
		{"failure skip", Step{Status: StepPending}, stepSkipUpstream, "upstream step 'a' failed",
			Step{Status: StepSkipped, SkipReason: "upstream step 'a' failed", FailureSkip: true, CompletedAt: now}},
		{"condition skip", Step{Status: StepPending}, stepSkipCondition, "when: x was false",
			Step{Status: StepSkipped, SkipReason: "when: x was false", CompletedAt: now}},
		{"wait", Step{Status: StepReady, ReadyAt: earlier}, stepWait, "", Step{Status: StepWaiting, ReadyAt: earlier, StartedAt: now, Attempt: 1}},
		{"approve", Step{Status: StepWaiting, StartedAt: earlier}, stepApprove, "", Step{Status: StepCompleted, StartedAt: earlier, CompletedAt: now}},
		{"deny", Step{Status: StepWaiting}, stepDeny, "Rejected by a@x: no", Step{Status: StepFailed, ErrorMessage: "Rejected by a@x: no", CompletedAt: now}},
		{"enqueue", Step{Status: StepPending, Queue: "q"}, stepEnqueue, "", Step{Status: StepPending, Queue: "q", QueuedAt: now}},
		{"admit", Step{Status: StepPending, Queue: "q", QueuedAt: earlier}, stepAdmit, "", Step{Status: StepPending, Queue: "q", QueuedAt: earlier, Admitted: true}},
		{"refused", Step{Status: StepCompleted, CompletedAt: earlier}, stepFail, "x", Step{Status: StepCompleted, CompletedAt: earlier}},
	}
	for _, c := range cases {
		s := c.from
		s.Name = "s"
		st := &jobState{job: &Job{ID: "j"}, steps: []*Step{&s}, byName: map[string]*Step{"s": &s}, dirtySteps: map[string]bool{}}
		err := st.moveStep(&s, c.ev, now, c.msg)
		if (err != nil) != (c.name == "refused") {
			t.Errorf("%s: err %v", c.name, err)
		}
		c.want.Name = "s"
		if diff := cmp.Diff(c.want, s); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
		if st.dirtySteps["s"] != (err == nil) {
			t.Errorf("%s: dirty %v", c.name, st.dirtySteps["s"])
		}
	}
	st := &jobState{job: &Job{ID: "j", Status: JobRunning, Output: "x"}, dirtySteps: map[string]bool{}}
	if err := st.moveJob(jobTimeout, ""); err != nil || st.job.Status != JobFailed || st.job.EndReason != endTimeout || st.job.Output != nil || !st.dirtyJob {
		t.Errorf("timeout: %v %+v", err, st.job)
	}
	if !jobStopped(st.job) {
		t.Error("a timed-out job is stopped")
	}
	queued := &jobState{job: &Job{ID: "j", Status: JobPending, Queue: "q"}, dirtySteps: map[string]bool{}}
	if !jobWaiting(queued.job) {
		t.Error("a job in a queue waits until admitted")
	}
	if err := queued.moveJob(jobAdmit, ""); err != nil || !queued.job.Admitted || queued.job.Status != JobPending || jobWaiting(queued.job) {
		t.Errorf("admit: %v %+v", err, queued.job)
	}
	if err := st.moveJob(jobCancel, "api"); !errors.Is(err, errIllegalTransition) || st.job.Status != JobFailed {
		t.Errorf("cancel after timeout: %v %+v", err, st.job)
	}
}

// step builds a step for plan tests: "name:status" with dependencies.
func step(name, status string, deps ...string) *Step {
	return &Step{Name: name, Status: status, DependsOn: deps}
}

// TestPlan is SPEC §5.3/§5.4 over small DAGs: what becomes ready, skipped
// (and why), evaluated, or final, and the job's resulting status.
func TestPlan(t *testing.T) {
	type want struct {
		moves    []string // "step event reason", plus the output of a loop's end
		evaluate []string
		ready    []string
		expand   []string
		final    bool
		status   string
		output   any
		wake     time.Time
	}
	failSkip := func(s *Step, reason string) *Step { s.FailureSkip, s.SkipReason = true, reason; return s }
	condSkip := func(s *Step) *Step { s.SkipReason = "when: x was false"; return s }
	cof := func(s *Step) *Step { s.ContinueOnFailure = true; return s }
	when := func(s *Step, w string) *Step { s.When = w; return s }
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	retryAt := func(s *Step, at time.Time) *Step { s.RetryAt = at; return s }
	out := func(s *Step, v any) *Step { s.Output = v; return s }
	loop := func(s *Step, max int) *Step { s.ForEach, s.MaxParallel = "{{ input.l }}", max; return s }
	inst := func(l string, i int, status string) *Step {
		return &Step{Name: fmt.Sprintf("%s[%d]", l, i), Status: status, Loop: l, Index: i}
	}
	queued := func(s *Step, arrived, admitted bool) *Step {
		s.Queue, s.Admitted = "q", admitted
		if arrived {
			s.QueuedAt = time.Unix(1, 0)
		}
		return s
	}
	running := &Job{Status: JobRunning}
	cases := []struct {
		name  string
		job   *Job
		steps []*Step
		conds map[string]bool
		lost  bool
		now   time.Time
		want  want
	}{
		{name: "a retry waits for its time and wakes the job then", job: running, now: now,
			steps: []*Step{retryAt(step("a", StepPending), now.Add(time.Second)), retryAt(step("b", StepPending), now.Add(time.Minute)),
				step("c", StepPending, "a")},
			want: want{wake: now.Add(time.Second)}},
		{name: "a due retry is ready (its when: is not evaluated again)", job: running, now: now,
			steps: []*Step{when(retryAt(step("a", StepPending), now), "{{ x }}"), step("c", StepPending, "a")},
			want:  want{ready: []string{"a"}}},
		{name: "without a time no retry is due", job: running,
			steps: []*Step{retryAt(step("a", StepPending), now)},
			want:  want{wake: now}},
		{name: "a cancel cancels a step waiting for its retry", job: &Job{Status: JobCancelled}, now: now,
			steps: []*Step{retryAt(step("a", StepPending), now.Add(time.Second))},
			want:  want{moves: []string{"a cancel "}, final: true, status: JobCancelled}},
		{name: "a job timeout skips a step waiting for its retry", job: &Job{Status: JobFailed, EndReason: endTimeout}, now: now,
			steps: []*Step{retryAt(step("a", StepPending), now.Add(time.Second))},
			want:  want{moves: []string{"a skip-stopped job timed out"}, final: true, status: JobFailed}},
		{name: "roots ready", job: &Job{Status: JobPending},
			steps: []*Step{step("a", StepPending), step("b", StepPending), step("c", StepPending, "a")},
			want:  want{ready: []string{"a", "b"}}},
		{name: "waits for a running dependency", job: running,
			steps: []*Step{step("a", StepRunning), step("b", StepPending, "a")},
			want:  want{}},
		{name: "completed dependency makes ready", job: running,
			steps: []*Step{step("a", StepCompleted), step("b", StepPending, "a")},
			want:  want{ready: []string{"b"}}},
		{name: "failure skips propagate with the root cause", job: running,
			steps: []*Step{step("a", StepFailed), step("b", StepPending, "a"), step("c", StepPending, "b"), step("d", StepPending)},
			want: want{moves: []string{"b skip-upstream upstream step 'a' failed", "c skip-upstream upstream step 'a' failed"},
				ready: []string{"d"}}},
		{name: "cancelled dependency", job: running,
			steps: []*Step{step("a", StepCancelled), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-upstream upstream step 'a' was cancelled"}, final: true, status: JobCompleted}},
		{name: "failed job when an unflagged step failed", job: running,
			steps: []*Step{step("a", StepFailed), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-upstream upstream step 'a' failed"}, final: true, status: JobFailed}},
		{name: "inherited failure skip", job: running,
			steps: []*Step{failSkip(step("a", StepSkipped), "upstream step 'x' failed"), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-upstream upstream step 'x' failed"}, final: true, status: JobCompleted}},
		{name: "continue_on_failure runs and does not fail the job", job: running,
			steps: []*Step{cof(step("a", StepFailed)), cof(step("b", StepPending, "a"))},
			want:  want{ready: []string{"b"}}},
		{name: "flagged failure completes", job: running,
			steps: []*Step{cof(step("a", StepFailed)), out(step("b", StepCompleted), 1.0)},
			want:  want{final: true, status: JobCompleted, output: map[string]any{"b": 1.0}}},
		{name: "condition skip counts as satisfied", job: running,
			steps: []*Step{condSkip(step("a", StepSkipped)), step("b", StepPending, "a")},
			want:  want{ready: []string{"b"}}},
		{name: "when unknown is evaluated", job: running,
			steps: []*Step{step("a", StepCompleted), when(step("b", StepPending, "a"), "{{ x }}"), step("c", StepPending, "b")},
			want:  want{evaluate: []string{"b"}}},
		{name: "when true is ready", job: running, conds: map[string]bool{"b": true},
			steps: []*Step{step("a", StepCompleted), when(step("b", StepPending, "a"), "{{ x }}")},
			want:  want{ready: []string{"b"}}},
		{name: "when false skips and its dependants run", job: running, conds: map[string]bool{"b": false},
			steps: []*Step{step("a", StepCompleted), when(step("b", StepPending, "a"), "{{ x }}"), step("c", StepPending, "b")},
			want:  want{moves: []string{"b skip-condition when: {{ x }} was false"}, ready: []string{"c"}}},
		{name: "failure skip wins over when", job: running,
			steps: []*Step{step("a", StepFailed), when(step("b", StepPending, "a"), "{{ x }}")},
			want:  want{moves: []string{"b skip-upstream upstream step 'a' failed"}, final: true, status: JobFailed}},
		{name: "all condition-skipped completes without output", job: running, conds: map[string]bool{"a": false},
			steps: []*Step{when(step("a", StepPending), "false")},
			want:  want{moves: []string{"a skip-condition when: false was false"}, final: true, status: JobCompleted}},
		{name: "completed sinks make the output", job: running,
			steps: []*Step{out(step("a", StepCompleted), 1.0), out(step("b", StepCompleted, "a"), "x"), step("c", StepCompleted, "a")},
			want:  want{final: true, status: JobCompleted, output: map[string]any{"b": "x"}}},
		{name: "cancelled job cancels pending and ready", job: &Job{Status: JobCancelled},
			steps: []*Step{step("a", StepRunning), step("b", StepReady), step("c", StepPending, "a")},
			want:  want{moves: []string{"b cancel ", "c cancel "}}},
		{name: "cancelled job is final once nothing runs", job: &Job{Status: JobCancelled},
			steps: []*Step{step("a", StepCancelled), step("b", StepPending, "a")},
			want:  want{moves: []string{"b cancel "}, final: true, status: JobCancelled}},
		{name: "timed-out job skips", job: &Job{Status: JobFailed, EndReason: endTimeout},
			steps: []*Step{step("a", StepFailed), step("b", StepReady), step("c", StepPending, "a")},
			want:  want{moves: []string{"b skip-stopped job timed out", "c skip-stopped job timed out"}, final: true, status: JobFailed}},
		{name: "a waiting step is not final and holds its dependants", job: running,
			steps: []*Step{step("a", StepWaiting), step("b", StepPending, "a"), step("c", StepCompleted)},
			want:  want{}},
		{name: "an approved step makes its dependants ready", job: running,
			steps: []*Step{out(step("a", StepCompleted), map[string]any{"ticket": "T-1"}), step("b", StepPending, "a")},
			want:  want{ready: []string{"b"}}},
		{name: "cancelled job cancels a waiting step", job: &Job{Status: JobCancelled},
			steps: []*Step{step("a", StepWaiting), step("b", StepPending, "a")},
			want:  want{moves: []string{"a cancel ", "b cancel "}, final: true, status: JobCancelled}},
		{name: "timed-out job skips a waiting step", job: &Job{Status: JobFailed, EndReason: endTimeout},
			steps: []*Step{step("a", StepWaiting)},
			want:  want{moves: []string{"a skip-stopped job timed out"}, final: true, status: JobFailed}},
		{name: "lost revision keeps a waiting step", job: running, lost: true,
			steps: []*Step{step("a", StepWaiting), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-stopped workspace revision not available"}}},
		{name: "lost revision skips pending and fails", job: running, lost: true,
			steps: []*Step{step("a", StepCompleted), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-stopped workspace revision not available"}, final: true, status: JobFailed}},
		{name: "lost revision waits for running steps", job: running, lost: true,
			steps: []*Step{step("a", StepRunning), step("b", StepPending, "a")},
			want:  want{moves: []string{"b skip-stopped workspace revision not available"}}},
		{name: "ready loop is expanded", job: running,
			steps: []*Step{step("a", StepCompleted), loop(step("l", StepPending, "a"), 0), step("b", StepPending, "l")},
			want:  want{expand: []string{"l"}}},
		{name: "loop with a when is evaluated first", job: running,
			steps: []*Step{when(loop(step("l", StepPending), 0), "{{ x }}")},
			want:  want{evaluate: []string{"l"}}},
		{name: "instances start without a bound", job: running,
			steps: []*Step{loop(step("l", StepRunning), 0), inst("l", 0, StepPending), inst("l", 1, StepPending), step("b", StepPending, "l")},
			want:  want{ready: []string{"l[0]", "l[1]"}}},
		{name: "max_parallel counts ready and running instances", job: running,
			steps: []*Step{loop(step("l", StepRunning), 2), inst("l", 0, StepCompleted), inst("l", 1, StepRunning),
				inst("l", 2, StepPending), inst("l", 3, StepPending)},
			want: want{ready: []string{"l[2]"}}},
		{name: "sequential waits for the running instance", job: running,
			steps: []*Step{loop(step("l", StepRunning), 1), inst("l", 0, StepReady), inst("l", 1, StepPending)},
			want:  want{}},
		{name: "loop completes with its outputs in order and dependants run", job: running,
			steps: []*Step{loop(step("l", StepRunning), 0), out(inst("l", 0, StepCompleted), "x"), inst("l", 1, StepCompleted),
				out(inst("l", 2, StepCompleted), 2.0), step("b", StepPending, "l")},
			want: want{moves: []string{"l complete  [x <nil> 2]"}, ready: []string{"b"}}},
		{name: "empty loop completes with an empty list", job: running,
			steps: []*Step{loop(step("l", StepRunning), 0)},
			want:  want{moves: []string{"l complete  []"}, final: true, status: JobCompleted, output: map[string]any{"l": []any{}}}},
		{name: "a failed instance fails the loop and the job", job: running,
			steps: []*Step{loop(step("l", StepRunning), 0), inst("l", 0, StepCompleted), inst("l", 1, StepFailed), step("b", StepPending, "l")},
			want: want{moves: []string{"l fail 1 of 2 instances failed: l[1]", "b skip-upstream upstream step 'l' failed"},
				final: true, status: JobFailed}},
		{name: "continue_on_failure completes the loop with null for the failed instance", job: running,
			steps: []*Step{cof(loop(step("l", StepRunning), 0)), out(inst("l", 0, StepCompleted), "x"), cof(inst("l", 1, StepFailed))},
			want:  want{moves: []string{"l complete  [x <nil>]"}, final: true, status: JobCompleted, output: map[string]any{"l": []any{"x", nil}}}},
		{name: "a loop waits for its running instances", job: running,
			steps: []*Step{loop(step("l", StepRunning), 0), inst("l", 0, StepFailed), inst("l", 1, StepRunning)},
			want:  want{}},
		{name: "cancelled job cancels instances and ends the loop once none runs", job: &Job{Status: JobCancelled},
			steps: []*Step{loop(step("l", StepRunning), 1), inst("l", 0, StepCancelled), inst("l", 1, StepPending)},
			want:  want{moves: []string{"l[1] cancel ", "l stop Job cancelled"}, final: true, status: JobCancelled}},
		{name: "a step in a queue arrives instead of being ready", job: running,
			steps: []*Step{step("a", StepCompleted), queued(step("b", StepPending, "a"), false, false), step("c", StepPending, "b"), step("d", StepPending)},
			want:  want{moves: []string{"b enqueue "}, ready: []string{"d"}}},
		{name: "a waiting step waits", job: running,
			steps: []*Step{step("a", StepCompleted), queued(step("b", StepPending, "a"), true, false)},
			want:  want{}},
		{name: "an admitted step is ready", job: running,
			steps: []*Step{step("a", StepCompleted), queued(step("b", StepPending, "a"), true, true)},
			want:  want{ready: []string{"b"}}},
		{name: "a queued step's when comes first", job: running,
			steps: []*Step{when(queued(step("a", StepPending), false, false), "{{ x }}")},
			want:  want{evaluate: []string{"a"}}},
		{name: "a failure upstream skips a queued step", job: running,
			steps: []*Step{step("a", StepFailed), queued(step("b", StepPending, "a"), false, false)},
			want:  want{moves: []string{"b skip-upstream upstream step 'a' failed"}, final: true, status: JobFailed}},
		{name: "a waiting job starts nothing", job: &Job{Status: JobPending, Queue: "q"},
			steps: []*Step{step("a", StepPending), step("b", StepPending, "a")},
			want:  want{}},
		{name: "an admitted job starts", job: &Job{Status: JobPending, Queue: "q", Admitted: true},
			steps: []*Step{step("a", StepPending), step("b", StepPending, "a")},
			want:  want{ready: []string{"a"}}},
		{name: "a cancelled waiting job cancels its steps", job: &Job{Status: JobCancelled, Queue: "q"},
			steps: []*Step{step("a", StepPending), queued(step("b", StepPending), true, false)},
			want:  want{moves: []string{"a cancel ", "b cancel "}, final: true, status: JobCancelled}},
		{name: "finished job plans nothing", job: &Job{Status: JobCompleted},
			steps: []*Step{step("a", StepCompleted)},
			want:  want{final: true, status: JobCompleted}},
	}
	for _, c := range cases {
		// plan must not change what it reads.
		before := fmt.Sprintf("%+v", c.steps)
		d := plan(c.job, c.steps, facts{conds: c.conds, lost: c.lost, now: c.now})
		if after := fmt.Sprintf("%+v", c.steps); after != before {
			t.Errorf("%s: plan changed its input", c.name)
		}
		got := want{final: d.final, status: d.status, output: d.output, wake: d.wake}
		if !d.final {
			got.status = ""
		}
		for _, m := range d.moves {
			mv := fmt.Sprintf("%s %s %s", m.step.Name, m.ev, m.reason)
			if m.ev == stepComplete {
				mv += fmt.Sprintf(" %v", m.output)
			}
			got.moves = append(got.moves, mv)
		}
		for _, s := range d.expand {
			got.expand = append(got.expand, s.Name)
		}
		for _, s := range d.evaluate {
			got.evaluate = append(got.evaluate, s.Name)
		}
		for _, s := range d.ready {
			got.ready = append(got.ready, s.Name)
		}
		if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
		// Every planned move is a legal row from the step's status.
		for _, m := range d.moves {
			if _, err := stepNext(m.step.Status, m.ev); err != nil {
				t.Errorf("%s: planned %v", c.name, err)
			}
		}
	}
}

// TestRetryWaits checks when a failed attempt waits for a retry rather
// than failing.
func TestRetryWaits(t *testing.T) {
	policy := &workspace.Retry{Attempts: 3, OnExitCodes: []int{75, -1}}
	running := &Job{Status: JobRunning}
	cases := []struct {
		name string
		job  *Job
		step Step
		code int
		want bool
	}{
		{"no policy", running, Step{Attempt: 1}, 75, false},
		{"listed code with attempts left", running, Step{Attempt: 2, Retry: policy}, 75, true},
		{"infrastructure code listed", running, Step{Attempt: 1, Retry: policy}, -1, true},
		{"unlisted code", running, Step{Attempt: 1, Retry: policy}, 1, false},
		{"attempts used up", running, Step{Attempt: 3, Retry: policy}, 75, false},
		{"any code without on_exit_codes", running, Step{Attempt: 1, Retry: &workspace.Retry{Attempts: 2}}, 9, true},
		{"cancelled job", &Job{Status: JobCancelled}, Step{Attempt: 1, Retry: policy}, 75, false},
		{"timed-out job", &Job{Status: JobFailed, EndReason: endTimeout}, Step{Attempt: 1, Retry: policy}, 75, false},
	}
	for _, c := range cases {
		if got := retryWaits(c.job, &c.step, c.code); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStoppedEnd checks how a running step ends in each kind of job.
func TestStoppedEnd(t *testing.T) {
	cases := []struct {
		job *Job
		ev  stepEvent
		msg string
		ok  bool
	}{
		{&Job{Status: JobCancelled}, stepStop, "Job cancelled", true},
		{&Job{Status: JobFailed, EndReason: endTimeout, Timeout: time.Hour}, stepFail, "Job timed out after 1h", true},
		{&Job{Status: JobRunning}, 0, "", false},
		{&Job{Status: JobFailed}, 0, "", false},
	}
	for _, c := range cases {
		ev, msg, ok := stoppedEnd(c.job)
		if ev != c.ev || msg != c.msg || ok != c.ok {
			t.Errorf("%+v: got %s %q %v", c.job, ev, msg, ok)
		}
	}
}
