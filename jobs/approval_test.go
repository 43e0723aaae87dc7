package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// approvalYAML: build runs, ask waits for a person (the message names the
// version build produced), deploy reads what the approver filled in; the
// task's on_error hook writes a line to a file per firing.
const approvalYAML = `
actions:
  sign-off:
    type: approval
    message: "Deploy {{ input.version }} to prod?"
    input: { version: { type: string, required: true } }
    fields:
      ticket: { type: string, required: true }
      force: { type: boolean, default: false }
    approvers: [ops@example.com, admins]
  record:
    type: shell
    input: { who: { type: string } }
    cmd: echo "hook fired for {{ input.who }}"
tasks:
  release:
    on_error:
      - action: record
        input: { who: "{{ hook.failed_steps }}" }
    flow:
      build:
        type: shell
        cmd: |
          echo 'OUTPUT: {"version": "1.2"}'
      ask:
        depends_on: [build]
        action: sign-off
        input: { version: "{{ build.output.version }}" }
      deploy:
        depends_on: [ask]
        type: shell
        cmd: echo "deploying ticket={{ input.t }} force={{ input.f }}"
        input: { t: "{{ ask.output.ticket }}", f: "{{ ask.output.force }}" }
  gate:
    timeout: 1h
    flow:
      wait: { type: approval, message: "go?" }
      after: { type: shell, cmd: echo after, depends_on: [wait] }
  quick:
    flow:
      q: { type: shell, cmd: echo quick }
`

// waiting waits until the step is waiting for approval.
func waiting(h *jobstest.Harness, id, step string) *jobs.Job {
	h.T.Helper()
	return h.WaitFor(id, step+" waiting", func(j *jobs.Job) bool {
		for _, s := range j.Steps {
			if s.Name == step {
				return s.Status == jobs.StepWaiting
			}
		}
		return false
	})
}

func decide(h *jobstest.Harness, id, step string, d jobs.Decision) error {
	return h.Engine.Decide(context.Background(), id, step, d)
}

// TestApprovalApproveWithFields runs a real engine and processes: the
// approval step waits with its rendered message and holds no worker, the
// approver's fields become its output, which the dependant step reads, and
// the decision is recorded and logged.
func TestApprovalApproveWithFields(t *testing.T) {
	h := jobstest.New(t, files(approvalYAML), func(o *jobs.Options) { o.LocalWorkers = 1 })
	id := h.Trigger("release", nil)
	j := waiting(h, id, "ask")
	ask := jobstest.Step(t, j, "ask")
	if j.Status != jobs.JobRunning || ask.Approval == nil || ask.Approval.Message != "Deploy 1.2 to prod?" || ask.Runner != "none" || ask.WorkerID != "" {
		t.Fatalf("job %s, ask %+v approval %+v", j.Status, ask, ask.Approval)
	}
	if ask.StartedAt.IsZero() || jobstest.Step(t, j, "deploy").Status != jobs.StepPending {
		t.Errorf("waiting step %+v; deploy must wait for it", ask)
	}
	// The one worker slot is free while the approval waits: another job runs.
	if q := h.Wait(h.Trigger("quick", nil)); q.Status != jobs.JobCompleted {
		t.Fatalf("quick: %s", q.Status)
	}
	if err := decide(h, id, "ask", jobs.Decision{Approve: true, By: "ops@example.com", Comment: "ship it",
		Fields: map[string]any{"ticket": "T-42"}}); err != nil {
		t.Fatal(err)
	}
	j = h.Wait(id)
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	ask = jobstest.Step(t, j, "ask")
	if diff := cmp.Diff(map[string]any{"ticket": "T-42", "force": false}, ask.Output); diff != "" {
		t.Errorf("ask output (-want +got):\n%s", diff)
	}
	ap := ask.Approval
	if ap.Decision != jobs.DecisionApproved || ap.By != "ops@example.com" || ap.Comment != "ship it" || ap.At.IsZero() {
		t.Errorf("approval record %+v", ap)
	}
	log := h.Log(id)
	for _, want := range []string{
		`"step":"deploy","line":"deploying ticket=T-42 force=false"`,
		`"step":"_server","line":"Step 'ask' is waiting for approval: Deploy 1.2 to prod?"`,
		`"step":"_server","line":"Step 'ask' approved by ops@example.com: ship it"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

// TestApprovalReject: a rejection fails the step with who and why, skips
// its dependants, fails the job, and the on_error hook fires once.
func TestApprovalReject(t *testing.T) {
	h := jobstest.New(t, files(approvalYAML))
	id := h.Trigger("release", nil)
	waiting(h, id, "ask")
	if err := decide(h, id, "ask", jobs.Decision{By: "ops@example.com", Comment: "not today"}); err != nil {
		t.Fatal(err)
	}
	j := finished(t, h, id)
	ask, deploy := jobstest.Step(t, j, "ask"), jobstest.Step(t, j, "deploy")
	if j.Status != jobs.JobFailed || ask.Status != jobs.StepFailed || ask.ErrorMessage != "Rejected by ops@example.com: not today" ||
		deploy.Status != jobs.StepSkipped || ask.Output != nil {
		t.Fatalf("job %s, ask %+v, deploy %+v", j.Status, ask, deploy)
	}
	if ap := ask.Approval; ap.Decision != jobs.DecisionRejected || ap.By != "ops@example.com" || ap.Comment != "not today" {
		t.Errorf("approval record %+v", ap)
	}
	hooks := hookJobs(t, h, id)
	if len(hooks) != 1 || hooks[0].Status != jobs.JobCompleted {
		t.Fatalf("hook jobs %+v, want one completed", hooks)
	}
	if log := h.Log(hooks[0].ID); !strings.Contains(log, "hook fired for [") || !strings.Contains(log, "ask") {
		t.Errorf("hook log:\n%s", log)
	}
	if log := h.Log(id); !strings.Contains(log, `"line":"Step 'ask' failed: Rejected by ops@example.com: not today"`) {
		t.Errorf("job log:\n%s", log)
	}
}

// TestApprovalRefusals: decisions on steps that are not waiting (a second
// decision, a step that never waits, one not started yet), unknown steps
// and jobs, callers not among the approvers and invalid fields are refused
// and change nothing.
func TestApprovalRefusals(t *testing.T) {
	h := jobstest.New(t, files(approvalYAML))
	done := h.Trigger("release", nil)
	waiting(h, done, "ask")
	if err := decide(h, done, "ask", jobs.Decision{Approve: true, By: "a", Fields: map[string]any{"ticket": "T-1"}}); err != nil {
		t.Fatal(err)
	}
	h.Wait(done)
	open := h.Trigger("release", nil)
	waiting(h, open, "ask")
	onlyOps := func(approvers []string) bool { return false }
	var input *jobs.InputError
	cases := []struct {
		name, job, step string
		d               jobs.Decision
		want            error
		input           string // the InputError message, when want is nil
	}{
		{"second approve", done, "ask", jobs.Decision{Approve: true}, jobs.ErrNotWaiting, ""},
		{"second reject", done, "ask", jobs.Decision{}, jobs.ErrNotWaiting, ""},
		{"a shell step", done, "build", jobs.Decision{Approve: true}, jobs.ErrNotWaiting, ""},
		{"not started yet", open, "deploy", jobs.Decision{Approve: true}, jobs.ErrNotWaiting, ""},
		{"unknown step", open, "nope", jobs.Decision{Approve: true}, jobs.ErrStepNotFound, ""},
		{"unknown job", "00000000-0000-4000-8000-000000000000", "ask", jobs.Decision{Approve: true}, jobs.ErrNotFound, ""},
		{"not an approver", open, "ask", jobs.Decision{Approve: true, May: onlyOps}, jobs.ErrNotApprover, ""},
		{"missing required field", open, "ask", jobs.Decision{Approve: true}, nil, "Input validation failed: missing required field 'ticket'"},
		{"wrong field type", open, "ask", jobs.Decision{Approve: true, Fields: map[string]any{"ticket": "T", "force": "yes"}},
			nil, "Input validation failed: field 'force' must be a boolean"},
	}
	for _, c := range cases {
		err := decide(h, c.job, c.step, c.d)
		switch {
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		case c.want == nil && (!errors.As(err, &input) || err.Error() != c.input):
			t.Errorf("%s: %v, want %q", c.name, err, c.input)
		}
	}
	if !errors.Is(jobs.ErrNotWaiting, jobs.ErrConflict) || !errors.Is(jobs.ErrStepNotFound, jobs.ErrNotFound) {
		t.Error("approval errors must map to 409 and 404")
	}
	j, err := h.Query.Get(open)
	if err != nil {
		t.Fatal(err)
	}
	if s := jobstest.Step(t, j, "ask"); s.Status != jobs.StepWaiting || s.Approval.Decision != "" {
		t.Errorf("a refused decision changed the step: %+v %+v", s, s.Approval)
	}
	// Rejecting ignores fields; the approver check applies to both.
	if err := decide(h, open, "ask", jobs.Decision{By: "b", May: func(a []string) bool {
		return cmp.Equal(a, []string{"ops@example.com", "admins"})
	}, Fields: map[string]any{"force": "x"}}); err != nil {
		t.Fatal(err)
	}
	if j := h.Wait(open); j.Status != jobs.JobFailed {
		t.Errorf("rejected job %s", j.Status)
	}
}

// TestApprovalTimeouts: with no decision, the step's timeout (here the
// step's own 1s) fails it, approves it with the fields' defaults, or
// rejects it, as on_timeout says; the job then ends accordingly.
func TestApprovalTimeouts(t *testing.T) {
	const yaml = `
tasks:
  t:
    flow:
      ask:
        type: approval
        message: ok?
        fields: { level: { type: integer, default: 3 } }
        timeout: 1s
        on_timeout: %s
      after: { type: shell, cmd: 'echo level={{ input.l }}', input: { l: "{{ ask.output.level }}" }, depends_on: [ask] }
`
	cases := []struct {
		on, job, step, msg, decision string
	}{
		{"fail", jobs.JobFailed, jobs.StepFailed, "Approval timed out after 1s", jobs.DecisionTimedOut},
		{"reject", jobs.JobFailed, jobs.StepFailed, "Rejected by timeout: Approval timed out after 1s", jobs.DecisionRejected},
		{"approve", jobs.JobCompleted, jobs.StepCompleted, "", jobs.DecisionApproved},
	}
	for _, c := range cases {
		t.Run(c.on, func(t *testing.T) {
			t.Parallel()
			h := jobstest.New(t, files(strings.Replace(yaml, "%s", c.on, 1)))
			id := h.Trigger("t", nil)
			j := h.Wait(id)
			ask := jobstest.Step(t, j, "ask")
			if j.Status != c.job || ask.Status != c.step || ask.ErrorMessage != c.msg ||
				ask.Approval.Decision != c.decision || ask.Approval.By != jobs.ByTimeout {
				t.Fatalf("job %s, ask %+v %+v", j.Status, ask, ask.Approval)
			}
			if got := ask.CompletedAt.Sub(ask.StartedAt); got < time.Second {
				t.Errorf("ended after %v, before its 1s timeout", got)
			}
			log := h.Log(id)
			if !strings.Contains(log, "[timeout] Step 'ask': Approval timed out after 1s") {
				t.Errorf("log:\n%s", log)
			}
			if c.on == "approve" && !strings.Contains(log, `"line":"level=3"`) {
				t.Errorf("the default did not reach the dependant:\n%s", log)
			}
		})
	}
}

// TestApprovalCancelAndJobTimeout: cancelling a job cancels its waiting
// step; a job timeout skips it; nothing can be decided afterwards.
func TestApprovalCancelAndJobTimeout(t *testing.T) {
	h := jobstest.New(t, files(approvalYAML+`
  short:
    timeout: 1s
    flow:
      wait: { type: approval, message: "go?" }
`))
	id := h.Trigger("gate", nil)
	waiting(h, id, "wait")
	if err := h.Engine.Cancel(context.Background(), id, "api"); err != nil {
		t.Fatal(err)
	}
	j := finished(t, h, id)
	if w := jobstest.Step(t, j, "wait"); j.Status != jobs.JobCancelled || w.Status != jobs.StepCancelled ||
		jobstest.Step(t, j, "after").Status != jobs.StepCancelled {
		t.Fatalf("job %s, wait %+v", j.Status, w)
	}
	if err := decide(h, id, "wait", jobs.Decision{Approve: true}); !errors.Is(err, jobs.ErrNotWaiting) {
		t.Errorf("approve after cancel: %v", err)
	}
	id = h.Trigger("short", nil)
	j = h.Wait(id)
	if w := jobstest.Step(t, j, "wait"); j.Status != jobs.JobFailed || w.Status != jobs.StepSkipped || w.SkipReason != "job timed out" {
		t.Fatalf("job %s, wait %+v", j.Status, w)
	}
}

// TestApprovalSurvivesRestart: the engine restarts while a step waits; it
// is still waiting afterwards (no worker, no recovery failure), its
// timeout is re-armed from the stored deadline, and an approval after the
// restart completes the job.
func TestApprovalSurvivesRestart(t *testing.T) {
	h := jobstest.New(t, files(approvalYAML+`
  timed:
    flow:
      wait: { type: approval, message: "go?", timeout: 2s, on_timeout: approve }
`))
	id := h.Trigger("release", nil)
	waiting(h, id, "ask")
	timed := h.Trigger("timed", nil)
	waiting(h, timed, "wait")
	h.Restart()
	j, err := h.Query.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if s := jobstest.Step(t, j, "ask"); s.Status != jobs.StepWaiting || j.Status != jobs.JobRunning {
		t.Fatalf("after restart: job %s, ask %+v", j.Status, s)
	}
	if err := decide(h, id, "ask", jobs.Decision{Approve: true, By: "x", Fields: map[string]any{"ticket": "T-9"}}); err != nil {
		t.Fatal(err)
	}
	if j := h.Wait(id); j.Status != jobs.JobCompleted {
		t.Fatalf("status %s", j.Status)
	}
	// The timer of the other approval was lost with the process and is
	// re-armed from the stored deadline.
	if j := h.Wait(timed); j.Status != jobs.JobCompleted || jobstest.Step(t, j, "wait").Approval.By != jobs.ByTimeout {
		t.Fatalf("timed: %s %+v", j.Status, jobstest.Step(t, j, "wait").Approval)
	}
}
