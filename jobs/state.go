package jobs

// This file is the one home of the job and step state machine (SPEC §5.1,
// §5.3, §5.4, §5.8, STYLE "One home per state machine"):
//
//   - stepRows and jobRows are SPEC §5.1's table as data: each named event
//     lists the statuses it may leave and the status it enters. stepNext and
//     jobNext look a move up and refuse every move that is not a row;
//     moveStep and moveJob apply one, stamping what every such move stamps.
//   - plan is the one decision, pure (no I/O, no store): given a job and the
//     current states of its steps, it says which pending steps become ready,
//     which are skipped (and why), which need their when: evaluated, when
//     a step waiting for its retry makes the job worth planning again, and
//     whether the job is final and with what status and output.
//   - stoppedEnd says how a running step ends in a cancelled or timed-out
//     job, whoever notices it (a report, recovery, the sweep, a child).
//
// Callers (dispatch, claims and reports, recovery, the sweep, cancel and
// timeouts) ask these; they never assign a status. A new status or event is
// one row: add the event constant and its row (and, for a new status, its
// stamps in moveStep and its place in plan).

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"runnel/jobs/shell"
)

// stepEvent names one transition of a step (a row of stepRows).
type stepEvent uint8

// Step events, one per row of SPEC §5.1's table.
const (
	stepCreate        stepEvent = iota // new → pending: job created
	stepDispatch                       // pending → ready: dependencies satisfied, input rendered (§5.3)
	stepSkipUpstream                   // pending → skipped: a dependency failed, was cancelled or failure-skipped
	stepSkipCondition                  // pending → skipped: its when: was false (counts as satisfied)
	stepSkipStopped                    // pending/ready → skipped: job timed out, or its revision is gone
	stepCancel                         // pending/ready → cancelled: job cancelled
	stepReject                         // pending/ready → failed: render error, nesting depth, invalid child input, no matching worker
	stepClaim                          // ready → running: claimed by a worker
	stepStartChild                     // ready → running: child job created
	stepRequeue                        // running → ready: a remote claim never acknowledged (§9.6)
	stepComplete                       // running → completed: exit 0, child completed
	stepFail                           // running → failed: exit ≠ 0, timeouts, worker lost, restart, child failed
	stepStop                           // running → cancelled: job cancelled and the process stopped
	stepCarry                          // pending → completed: a restart carries the step's result over (§ restart)
	stepWait                           // ready → waiting: an approval step waits for a decision
	stepApprove                        // waiting → completed: approved (by a person, or on timeout)
	stepDeny                           // waiting → failed: rejected, or its approval timed out
	stepRetryWait                      // running → pending: a failed attempt with attempts left waits for its retry_at (retry:)
	stepRetry                          // pending → ready: its retry_at has come
	stepExpand                         // pending → running: a loop's list rendered, its instances created (loop.go)
	stepInstance                       // new → pending: an instance created by its loop's expansion
	stepEnqueue                        // pending → pending: would be ready, waits for a slot of its queue (admit.go)
	stepAdmit                          // pending → pending: its queue gave it a slot; it is ready at the next plan
	numStepEvents
)

// stepRow is one legal step transition.
type stepRow struct {
	name string
	from []string
	to   string
	// failureSkip marks skips that propagate to dependants (§5.3).
	failureSkip bool
}

// newStatus is the "from" of creation rows.
const newStatus = ""

// stepRows is SPEC §5.1's step table, indexed by event.
var stepRows = [numStepEvents]stepRow{
	stepCreate:        {name: "create", from: []string{newStatus}, to: StepPending},
	stepDispatch:      {name: "dispatch", from: []string{StepPending}, to: StepReady},
	stepSkipUpstream:  {name: "skip-upstream", from: []string{StepPending}, to: StepSkipped, failureSkip: true},
	stepSkipCondition: {name: "skip-condition", from: []string{StepPending}, to: StepSkipped},
	stepSkipStopped:   {name: "skip-stopped", from: []string{StepPending, StepReady, StepWaiting}, to: StepSkipped, failureSkip: true},
	stepCancel:        {name: "cancel", from: []string{StepPending, StepReady, StepWaiting}, to: StepCancelled},
	stepReject:        {name: "reject", from: []string{StepPending, StepReady}, to: StepFailed},
	stepClaim:         {name: "claim", from: []string{StepReady}, to: StepRunning},
	stepStartChild:    {name: "start-child", from: []string{StepReady}, to: StepRunning},
	stepRequeue:       {name: "requeue", from: []string{StepRunning}, to: StepReady},
	stepComplete:      {name: "complete", from: []string{StepRunning}, to: StepCompleted},
	stepFail:          {name: "fail", from: []string{StepRunning}, to: StepFailed},
	stepStop:          {name: "stop", from: []string{StepRunning}, to: StepCancelled},
	stepCarry:         {name: "carry", from: []string{StepPending}, to: StepCompleted},
	stepWait:          {name: "wait", from: []string{StepReady}, to: StepWaiting},
	stepApprove:       {name: "approve", from: []string{StepWaiting}, to: StepCompleted},
	stepDeny:          {name: "deny", from: []string{StepWaiting}, to: StepFailed},
	stepRetryWait:     {name: "retry-wait", from: []string{StepRunning}, to: StepPending},
	stepRetry:         {name: "retry", from: []string{StepPending}, to: StepReady},
	stepExpand:        {name: "expand", from: []string{StepPending}, to: StepRunning},
	stepInstance:      {name: "instance", from: []string{newStatus}, to: StepPending},
	stepEnqueue:       {name: "enqueue", from: []string{StepPending}, to: StepPending},
	stepAdmit:         {name: "admit", from: []string{StepPending}, to: StepPending},
}

func (ev stepEvent) String() string {
	if ev < numStepEvents {
		return stepRows[ev].name
	}
	return fmt.Sprintf("step event %d", ev)
}

// jobEvent names one transition of a job (a row of jobRows).
type jobEvent uint8

// Job events, one per row of SPEC §5.1's table.
const (
	jobCreate   jobEvent = iota // new → pending
	jobRefuse                   // new → skipped: fire refused by concurrency: skip
	jobStart                    // pending → running: first step claimed or child dispatched
	jobComplete                 // pending/running → completed: no step left, none failed (§5.4)
	jobFail                     // pending/running → failed: an unflagged step failed (§5.4), or the revision is gone
	jobTimeout                  // pending/running → failed: job timeout (§5.7)
	jobCancel                   // pending/running → cancelled (§5.8)
	jobAdmit                    // pending → pending: its queue gave it a slot; its steps may start (admit.go)
	numJobEvents
)

// jobRow is one legal job transition.
type jobRow struct {
	name string
	from []string
	to   string
}

// jobRows is SPEC §5.1's job table, indexed by event.
var jobRows = [numJobEvents]jobRow{
	jobCreate:   {name: "create", from: []string{newStatus}, to: JobPending},
	jobRefuse:   {name: "refuse", from: []string{newStatus}, to: JobSkipped},
	jobStart:    {name: "start", from: []string{JobPending}, to: JobRunning},
	jobComplete: {name: "complete", from: []string{JobPending, JobRunning}, to: JobCompleted},
	jobFail:     {name: "fail", from: []string{JobPending, JobRunning}, to: JobFailed},
	jobTimeout:  {name: "timeout", from: []string{JobPending, JobRunning}, to: JobFailed},
	jobCancel:   {name: "cancel", from: []string{JobPending, JobRunning}, to: JobCancelled},
	jobAdmit:    {name: "admit", from: []string{JobPending}, to: JobPending},
}

func (ev jobEvent) String() string {
	if ev < numJobEvents {
		return jobRows[ev].name
	}
	return fmt.Sprintf("job event %d", ev)
}

// errIllegalTransition is wrapped by every refused move: a bug, never user
// input; the update that asked for it rolls back.
var errIllegalTransition = errors.New("illegal state transition")

// stepNext returns the status a step in from enters by ev, or an error
// when no row allows it.
func stepNext(from string, ev stepEvent) (string, error) {
	if ev >= numStepEvents || !slices.Contains(stepRows[ev].from, from) {
		return "", fmt.Errorf("step %s from %q: %w", ev, from, errIllegalTransition)
	}
	return stepRows[ev].to, nil
}

// jobNext returns the status a job in from enters by ev, or an error when no
// row allows it.
func jobNext(from string, ev jobEvent) (string, error) {
	if ev >= numJobEvents || !slices.Contains(jobRows[ev].from, from) {
		return "", fmt.Errorf("job %s from %q: %w", ev, from, errIllegalTransition)
	}
	return jobRows[ev].to, nil
}

// moveStep applies ev to a step of st at now. msg is the skip reason of a
// skip and the error message of a failure, a cancel or a retry-wait.
// Stamps: ReadyAt on ready, StartedAt (and the next Attempt, on running)
// on running and waiting, CompletedAt on terminal statuses; a requeue
// forgets its worker and the attempt it never started; a retry-wait forgets
// its worker (the caller sets RetryAt) and a retry clears RetryAt.
func (st *jobState) moveStep(s *Step, ev stepEvent, now time.Time, msg string) error {
	to, err := stepNext(s.Status, ev)
	if err != nil {
		return fmt.Errorf("job %s step '%s': %w", st.job.ID, s.Name, err)
	}
	if s.Loop != "" {
		st.countInstance(s, to)
	}
	s.Status = to
	switch to {
	case StepReady:
		s.ReadyAt = now
		switch ev {
		case stepRequeue:
			s.WorkerID, s.StartedAt = "", time.Time{}
			s.Attempt--
		case stepRetry:
			s.RetryAt = time.Time{}
		}
	case StepPending:
		switch ev {
		case stepRetryWait:
			s.WorkerID, s.StartedAt, s.Acked, s.ErrorMessage = "", time.Time{}, false, msg
		case stepEnqueue:
			s.QueuedAt = now
		case stepAdmit:
			s.Admitted = true
		}
	case StepRunning, StepWaiting:
		s.StartedAt = now
		s.Attempt++
		s.ErrorMessage = ""
	case StepSkipped:
		s.SkipReason = msg
		s.FailureSkip = stepRows[ev].failureSkip
	case StepFailed, StepCancelled:
		s.ErrorMessage = msg
	}
	if StepTerminal(to) {
		s.CompletedAt = now
		s.RetryAt = time.Time{}
	}
	st.touchStep(s)
	return nil
}

// moveJob applies ev to st's job. reason is recorded as EndReason on a
// cancel (the canceller) and a timeout ("timeout"); a failure has no output.
// Times and log lines are the caller's (markRunning, endJob).
func (st *jobState) moveJob(ev jobEvent, reason string) error {
	j := st.job
	to, err := jobNext(j.Status, ev)
	if err != nil {
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	j.Status = to
	switch ev {
	case jobCancel:
		j.EndReason = reason
	case jobTimeout:
		j.EndReason = endTimeout
		j.Output = nil
	case jobFail:
		j.Output = nil
	case jobAdmit:
		j.Admitted = true
	}
	st.touch()
	return nil
}

// endTimeout is the EndReason of a timed-out job.
const endTimeout = "timeout"

// jobStopped reports whether a job was ended before its steps (cancelled or
// timed out): its running steps must stop.
func jobStopped(j *Job) bool {
	return j.Status == JobCancelled || (j.Status == JobFailed && j.EndReason == endTimeout)
}

// stoppedEnd returns how a running step of a stopped job ends, whatever
// ended it (its report, recovery, the sweep, its child): cancelled "Job
// cancelled" in a cancelled job, failed "Job timed out after …" in a
// timed-out one. ok is false when the job is not stopped.
func stoppedEnd(j *Job) (ev stepEvent, msg string, ok bool) {
	switch {
	case j.Status == JobCancelled:
		return stepStop, "Job cancelled", true
	case j.Status == JobFailed && j.EndReason == endTimeout:
		return stepFail, "Job timed out after " + shell.FormatDuration(j.Timeout), true
	}
	return 0, "", false
}

// retryWaits reports whether a failed attempt of a running step, with exit
// code code, waits for its next attempt (stepRetryWait) instead of failing
// (stepFail): its job is not stopped, and its retry policy has attempts
// left and retries code.
func retryWaits(j *Job, s *Step, code int) bool {
	r := s.Retry
	return r != nil && !jobStopped(j) && s.Attempt < r.Attempts && r.Retries(code)
}

// facts are what plan knows besides the stored states.
type facts struct {
	// conds holds the when: results evaluated in this update.
	conds map[string]bool
	// lost: the job's revision is not available; nothing more can start.
	lost bool
	// now decides which retries are due (zero: none is).
	now time.Time
}

// stepMove is one move plan decided for a pending or ready step, or for a
// running loop step whose instances have all ended.
type stepMove struct {
	step   *Step
	ev     stepEvent
	reason string
	// output is a completed loop's output: its instances' outputs in order.
	output any
}

// decision is plan's answer.
type decision struct {
	// moves are skips, cancels and queue arrivals to apply now, in DAG
	// order.
	moves []stepMove
	// evaluate are pending steps whose dependencies are satisfied and whose
	// when: has no result yet; ready are pending steps to dispatch; expand
	// are pending loop steps to expand into their instances (loop.go).
	evaluate, ready, expand []*Step
	// final: no step is left pending, ready or running once moves are
	// applied; status and output are then the job's (§5.4). A stopped job
	// keeps its status.
	final  bool
	status string
	output any
	// wake is the earliest retry_at of a step waiting for its next
	// attempt (zero = none waits): the job must be planned again then.
	wake time.Time
}

// Planned step states besides the stored statuses.
const (
	planEvaluating = "evaluating"
	planDispatched = "dispatching"
	planQueued     = "queued"
)

// jobWaiting reports whether a job waits for a slot of its queue: none of
// its steps may start.
func jobWaiting(j *Job) bool { return j.Queue != "" && !j.Admitted }

// stepWaits reports whether a step that could be ready needs a slot of its
// queue first.
func stepWaits(s *Step) bool { return s.Queue != "" && !s.Admitted }

// plan decides a job's next moves from its steps' states (SPEC §5.3, §5.4,
// §5.7, §5.8). It reads its arguments and changes nothing.
//
//   - a stopped job: pending, ready and waiting steps are cancelled (job
//     cancelled) or skipped "job timed out";
//   - a lost revision: pending steps are skipped;
//   - otherwise a pending step waiting for its retry is ready once its
//     retry_at has come (f.now), else it waits and sets d.wake; each
//     other pending step, until nothing changes: waits while a
//     dependency is not terminal; is ready with continue_on_failure; is
//     skipped with the root cause when a dependency failed, was cancelled
//     or was failure-skipped; else is ready. A ready step with a when: is
//     first evaluated; false skips it as a condition-skip, which counts as
//     satisfied for its dependants. A ready loop step is expanded instead of
//     dispatched; its pending instances become ready in index order while
//     fewer than its max_parallel are ready or running.
//   - a running loop step whose instances have all ended ends too (loopEnd):
//     as stoppedEnd says in a stopped job, failed when an instance did not
//     complete (unless continue_on_failure), else completed with the list of
//     its instances' outputs.
//   - a step (or instance) that would be ready but names a queue waits
//     pending until the queue admits it (admit.go): the
//     first time it is enqueued (its arrival), then it just waits;
//   - a job that waits for its queue starts nothing (its steps stay
//     pending) until the queue admits it; a stop still cancels them.
//
// The job is final when every step is terminal: a stopped job keeps its
// status; else any failed step without continue_on_failure fails it (an
// instance counts through its loop), and otherwise it completes with the
// non-null outputs of its completed sinks (instances are never sinks).
func plan(j *Job, steps []*Step, f facts) decision {
	var d decision
	cur := make(map[string]string, len(steps))
	failSkip := make(map[string]string, 4) // failure-skipped step → root cause
	for _, s := range steps {
		cur[s.Name] = s.Status
		if s.Status == StepSkipped && s.FailureSkip {
			failSkip[s.Name] = s.SkipReason
		}
	}
	move := func(s *Step, ev stepEvent, reason string) {
		d.moves = append(d.moves, stepMove{step: s, ev: ev, reason: reason})
		cur[s.Name] = stepRows[ev].to
		if stepRows[ev].failureSkip {
			failSkip[s.Name] = reason
		}
	}
	loops := newLoopPlan(steps)
	ready := func(s *Step) {
		if s.ForEach != "" {
			d.expand = append(d.expand, s)
		} else {
			d.ready = append(d.ready, s)
		}
		cur[s.Name] = planDispatched
		if s.Loop != "" {
			loops.active[s.Loop]++
		}
	}
	endLoops := func() bool {
		ended := false
		for _, l := range loops.steps {
			if cur[l.Name] != StepRunning {
				continue
			}
			if m, ok := loopEnd(j, l, loops.instances[l.Name], cur); ok {
				d.moves = append(d.moves, m)
				cur[l.Name] = stepRows[m.ev].to
				if loops.output == nil {
					loops.output = map[string]any{}
				}
				loops.output[l.Name] = m.output
				ended = true
			}
		}
		return ended
	}
	switch {
	case jobStopped(j):
		ev, reason := stepCancel, ""
		if j.Status != JobCancelled {
			ev, reason = stepSkipStopped, "job timed out"
		}
		for _, s := range steps {
			if s.Status == StepPending || s.Status == StepReady || s.Status == StepWaiting {
				move(s, ev, reason)
			}
		}
		endLoops()
	case f.lost:
		for _, s := range steps {
			if s.Status == StepPending {
				move(s, stepSkipStopped, "workspace revision not available")
			}
		}
		endLoops()
	case jobWaiting(j):
	case !JobTerminal(j.Status):
		start := func(s *Step) {
			switch {
			case !stepWaits(s):
				ready(s)
			case s.QueuedAt.IsZero():
				d.moves = append(d.moves, stepMove{step: s, ev: stepEnqueue})
				cur[s.Name] = planQueued
			default:
				cur[s.Name] = planQueued
			}
		}
		for changed := true; changed; {
			changed = endLoops()
			for _, s := range steps {
				if cur[s.Name] != StepPending {
					continue
				}
				if !s.RetryAt.IsZero() {
					if f.now.Before(s.RetryAt) {
						if d.wake.IsZero() || s.RetryAt.Before(d.wake) {
							d.wake = s.RetryAt
						}
						continue
					}
					if s.Loop != "" && !loops.mayStart(s, cur) {
						continue
					}
					ready(s)
					changed = true
					continue
				}
				if s.Loop != "" {
					if loops.mayStart(s, cur) {
						start(s)
						changed = true
					}
					continue
				}
				isReady, reason, wait := readiness(s, cur, failSkip)
				switch {
				case wait:
					continue
				case !isReady:
					move(s, stepSkipUpstream, reason)
				case s.When != "":
					v, known := f.conds[s.Name]
					switch {
					case !known:
						d.evaluate = append(d.evaluate, s)
						cur[s.Name] = planEvaluating
						continue
					case !v:
						move(s, stepSkipCondition, conditionReason(s.When))
					default:
						start(s)
					}
				default:
					start(s)
				}
				changed = true
			}
		}
	}
	for _, s := range steps {
		if !StepTerminal(cur[s.Name]) {
			return d
		}
	}
	d.final, d.status = true, j.Status
	if JobTerminal(j.Status) {
		return d
	}
	if f.lost {
		d.status = JobFailed
		return d
	}
	d.status = JobCompleted
	output := map[string]any{}
	sinks := sinkSteps(steps)
	for _, s := range steps {
		if cur[s.Name] == StepFailed && !s.ContinueOnFailure && s.Loop == "" {
			d.status = JobFailed
		}
		if out := loops.outputOf(s); sinks[s.Name] && cur[s.Name] == StepCompleted && out != nil {
			output[s.Name] = out
		}
	}
	if d.status == JobCompleted && len(output) > 0 {
		d.output = output
	}
	return d
}

// readiness applies SPEC §5.3 rules 1–4 to one pending step over the
// planned statuses cur.
func readiness(s *Step, cur, failSkip map[string]string) (ready bool, skipReason string, wait bool) {
	for _, d := range s.DependsOn {
		if status, ok := cur[d]; !ok || !StepTerminal(status) {
			return false, "", true
		}
	}
	if s.ContinueOnFailure {
		return true, "", false
	}
	for _, d := range s.DependsOn {
		switch cur[d] {
		case StepFailed:
			return false, fmt.Sprintf("upstream step '%s' failed", d), false
		case StepCancelled:
			return false, fmt.Sprintf("upstream step '%s' was cancelled", d), false
		case StepSkipped:
			if reason, failed := failSkip[d]; failed {
				return false, reason, false
			}
		}
	}
	return true, "", false
}

// conditionReason is the skip_reason of a step whose when: was false.
func conditionReason(when string) string {
	return fmt.Sprintf("when: %s was false", when)
}

// sinkSteps returns the steps nothing depends on.
func sinkSteps(steps []*Step) map[string]bool {
	sinks := make(map[string]bool, len(steps))
	for _, s := range steps {
		sinks[s.Name] = s.Loop == ""
	}
	for _, s := range steps {
		for _, d := range s.DependsOn {
			delete(sinks, d)
		}
	}
	return sinks
}
