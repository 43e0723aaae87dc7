package jobs

// This file runs `type: approval` steps (README "Approvals"): when one is
// dispatched, its message is rendered (outside the transaction, render.go)
// and it moves ready → waiting on the server; no worker ever claims it. A
// person's Decide moves it waiting → completed (approved, output = the
// fields they filled in) or waiting → failed (rejected). A timeout is a
// stored deadline, armed after the commit and re-armed by recovery; when it
// passes the step fails, or is approved or rejected as on_timeout says.
// Cancel and job timeouts end a waiting step through plan (state.go).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"runnel/jobs/shell"
	"runnel/workspace"
)

// StepApproval is the wait of an approval step and its outcome.
type StepApproval struct {
	// Message is the rendered message shown to approvers.
	Message string `json:"message"`
	// Fields is what an approver fills in (the step output on approval).
	Fields []workspace.Field `json:"fields,omitempty"`
	// Approvers may decide when auth is on (emails and groups); empty =
	// anyone.
	Approvers []string `json:"approvers,omitempty"`
	// Timeout and Deadline bound the wait (zero = none); OnTimeout says
	// what then happens (workspace.OnTimeout*).
	Timeout   time.Duration `json:"timeout,omitempty"`
	Deadline  time.Time     `json:"deadline,omitzero"`
	OnTimeout string        `json:"on_timeout,omitempty"`
	// Decision is "" while waiting, then DecisionApproved,
	// DecisionRejected or DecisionTimedOut; By, At and Comment record it.
	Decision string    `json:"decision,omitempty"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Comment  string    `json:"comment,omitempty"`
}

// Approval decisions.
const (
	DecisionApproved = "approved"
	DecisionRejected = "rejected"
	DecisionTimedOut = "timed_out"
)

// ByTimeout is who decided an approval its timeout ended.
const ByTimeout = "timeout"

// Decision is a person's answer to a waiting approval step.
type Decision struct {
	// Approve: true approves, false rejects.
	Approve bool
	// Fields are the approver's values (checked against the step's fields
	// on approval; ignored on rejection).
	Fields  map[string]any
	Comment string
	// By names the decider: an email, an API key, "anonymous".
	By string
	// May reports whether the decider is one of approvers (never called
	// with none); nil lets anyone decide.
	May func(approvers []string) bool
}

// Approval errors for API callers.
var (
	// ErrStepNotFound: the job has no such step (HTTP 404).
	ErrStepNotFound = fmt.Errorf("Step not found: %w", ErrNotFound)
	// ErrNotWaiting: the step is not waiting for a decision (HTTP 409).
	ErrNotWaiting = &ConflictError{Msg: "Step is not waiting for approval"}
	// ErrNotApprover: the caller is not among the step's approvers (HTTP
	// 403).
	ErrNotApprover = errors.New("You are not an approver of this step")
)

// Decide approves or rejects a waiting approval step of a job:
// ErrNotFound (job), ErrStepNotFound, ErrNotWaiting (also for a second
// decision), ErrNotApprover, or an *InputError for invalid fields.
func (e *Engine) Decide(ctx context.Context, jobID, step string, d Decision) error {
	return e.store.update(func(t *txn) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := t.load(jobID)
		if err != nil {
			return err
		}
		s := st.step(step)
		switch {
		case s == nil:
			return ErrStepNotFound
		case s.Status != StepWaiting || s.Approval == nil:
			return ErrNotWaiting
		case d.May != nil && len(s.Approval.Approvers) > 0 && !d.May(s.Approval.Approvers):
			return ErrNotApprover
		}
		var out map[string]any
		if d.Approve {
			if out, err = approvalOutput(s.Approval.Fields, d.Fields); err != nil {
				return &InputError{Msg: err.Error()}
			}
		}
		return e.decide(t, st, s, d.Approve, d.By, d.Comment, out, time.Now())
	})
}

// approvalOutput checks an approver's values against the fields: the
// step's output, nil when there are neither fields nor values.
func approvalOutput(fields []workspace.Field, values map[string]any) (map[string]any, error) {
	if len(fields) == 0 && len(values) == 0 {
		return nil, nil
	}
	return workspace.CheckInput(fields, values)
}

// decide records a decision on a waiting step and moves the job on.
func (e *Engine) decide(t *txn, st *jobState, s *Step, approve bool, by, comment string, out map[string]any, now time.Time) error {
	ap := *s.Approval
	ap.By, ap.At, ap.Comment = by, now, comment
	s.Approval = &ap
	id, name := st.job.ID, s.Name
	t.after(func() { e.stopApproval(id, name) })
	if approve {
		ap.Decision = DecisionApproved
		s.Output = out
		if err := e.endStep(t, st, s, stepApprove, now, ""); err != nil {
			return err
		}
		e.logLifecycle(t, id, now, "Step '%s' approved by %s%s", name, by, commentSuffix(comment))
	} else {
		ap.Decision = DecisionRejected
		msg := "Rejected by " + by + commentSuffix(comment)
		if err := e.endStep(t, st, s, stepDeny, now, msg); err != nil {
			return err
		}
	}
	return e.moveOn(t, st, now)
}

// moveOn advances a job after one of its steps ended outside a report.
func (e *Engine) moveOn(t *txn, st *jobState, now time.Time) error {
	snap, err := e.snapshot(st.job)
	if err != nil {
		return e.finishLater(t, st, now)
	}
	return e.advance(t, st, snap, now)
}

func commentSuffix(comment string) string {
	if comment == "" {
		return ""
	}
	return ": " + comment
}

// startApproval puts a dispatched approval step (its input rendered) in
// waiting: its message is rendered outside the transaction (until then the
// step stays pending), its deadline stored and armed after the commit.
func (e *Engine) startApproval(t *txn, st *jobState, s *Step, a *workspace.Action, now time.Time) error {
	ap := a.Approval
	if ap == nil || ap.Message == nil {
		return e.rejectStep(t, st, s, now, fmt.Sprintf("Action '%s' is not an approval in the job's revision", s.Action))
	}
	input := stepInput(s)
	r, ok := t.rendered(renderKey("message", st.job.ID, s.Name), input, func() renderResult {
		text, err := ap.Message.Render(map[string]any{"input": input})
		if err != nil {
			return renderResult{msg: templateError("approval message", err)}
		}
		return renderResult{val: text}
	})
	if !ok {
		return nil
	}
	if r.msg != "" {
		e.logProblem(t, st.job.ID, now, "[template] Step '%s': %s", s.Name, r.msg)
		return e.rejectStep(t, st, s, now, r.msg)
	}
	msg, _ := r.val.(string)
	if err := st.moveStep(s, stepDispatch, now, ""); err != nil {
		return err
	}
	if err := st.moveStep(s, stepWait, now, ""); err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = ap.Timeout
	}
	s.Approval = &StepApproval{Message: msg, Fields: ap.Fields, Approvers: ap.Approvers,
		Timeout: timeout, OnTimeout: ap.OnTimeout}
	if timeout > 0 {
		s.Approval.Deadline = now.Add(timeout)
		id, name, deadline := st.job.ID, s.Name, s.Approval.Deadline
		t.after(func() { e.armApproval(id, name, deadline) })
	}
	if err := markRunning(t, st, now); err != nil {
		return err
	}
	e.logLifecycle(t, st.job.ID, now, "Step '%s' is waiting for approval: %s", s.Name, msg)
	return nil
}

// approvalKey names an approval timer.
func approvalKey(jobID, step string) string { return renderKey(jobID, step) }

// armApproval schedules an approval step's timeout.
func (e *Engine) armApproval(jobID, step string, deadline time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := approvalKey(jobID, step)
	if old := e.approvals[key]; old != nil {
		old.Stop()
	}
	e.approvals[key] = time.AfterFunc(time.Until(deadline), func() {
		e.timerRun(func() { e.approvalTimeout(jobID, step) })
	})
}

// stopApproval forgets an approval step's timer.
func (e *Engine) stopApproval(jobID, step string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := approvalKey(jobID, step)
	if t := e.approvals[key]; t != nil {
		t.Stop()
		delete(e.approvals, key)
	}
}

// stopApprovals forgets the approval timers of a finalized job; the caller
// holds e.mu.
func (e *Engine) stopApprovals(jobID string) {
	prefix := approvalKey(jobID, "")
	for key, t := range e.approvals {
		if strings.HasPrefix(key, prefix) {
			t.Stop()
			delete(e.approvals, key)
		}
	}
}

// approvalTimeout ends a waiting step whose deadline has passed: it fails
// "Approval timed out after <d>", or is approved (output = the fields'
// defaults) or rejected, as its on_timeout says.
func (e *Engine) approvalTimeout(jobID, step string) {
	var rearm time.Time
	err := e.store.update(func(t *txn) error {
		rearm = time.Time{}
		st, err := t.load(jobID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		s := st.step(step)
		if s == nil || s.Status != StepWaiting || s.Approval == nil || s.Approval.Deadline.IsZero() {
			return nil
		}
		now := time.Now()
		if now.Before(s.Approval.Deadline) {
			rearm = s.Approval.Deadline
			return nil
		}
		why := "Approval timed out after " + shell.FormatDuration(s.Approval.Timeout)
		e.logProblem(t, jobID, now, "[timeout] Step '%s': %s", step, why)
		switch s.Approval.OnTimeout {
		case workspace.OnTimeoutApprove:
			out, err := approvalOutput(s.Approval.Fields, nil)
			if err == nil {
				return e.decide(t, st, s, true, ByTimeout, why, out, now)
			}
		case workspace.OnTimeoutReject:
			return e.decide(t, st, s, false, ByTimeout, why, nil, now)
		}
		ap := *s.Approval
		ap.Decision, ap.By, ap.At = DecisionTimedOut, ByTimeout, now
		s.Approval = &ap
		if err := e.endStep(t, st, s, stepDeny, now, why); err != nil {
			return err
		}
		return e.moveOn(t, st, now)
	})
	switch {
	case err != nil && !errors.Is(err, errStoreClosed):
		e.log.Error("approval timeout", "job", jobID, "step", step, "err", err)
	case !rearm.IsZero():
		e.armApproval(jobID, step, rearm)
	default:
		e.stopApproval(jobID, step)
	}
}
