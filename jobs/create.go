package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"runnel/workspace"
)

// TriggerRequest asks for a new job of a task in a workspace's current
// revision.
type TriggerRequest struct {
	Workspace string
	Task      string
	// Input is the caller's input (nil = {}); defaults and checks apply.
	Input map[string]any
	// SourceType defaults to "api"; SourceID is "" for none.
	SourceType string
	SourceID   string
	// Lines are extra _server lifecycle lines (stream stdout) written
	// after "Job created" (e.g. the scheduler's catch-up note).
	Lines []string
	// Check, when set, runs inside the creating transaction and may refuse
	// the job (e.g. a concurrency policy); it sees the active job ids of the
	// same source.
	Check func(active []*Job) (skip bool, cancel []string)

	// Schedule, set by the scheduler (jobs/schedule), is stored in the
	// creating transaction, so a fire and its checked_through commit
	// together.
	Schedule *ScheduleWrite
	// snap, set by Rerun, replaces the workspace's current snapshot;
	// rerunOf and noHooks are copied to the job.
	snap    *workspace.Snapshot
	rerunOf string
	noHooks bool
}

// Trigger validates the input and creates the job in one transaction,
// dispatching its root steps. It returns the job as committed (a root step
// may already have failed). ctx bounds the wait to join a commit: ended
// before then, nothing is created and ctx's error is returned.
func (e *Engine) Trigger(ctx context.Context, req TriggerRequest) (*Job, error) {
	snap := req.snap
	if snap == nil {
		var err error
		if snap, err = e.defs.Current(req.Workspace); err != nil {
			return nil, err
		}
	}
	task, ok := snap.Tasks[req.Task]
	if !ok {
		return nil, ErrTaskNotFound
	}
	in, err := workspace.CheckInput(task.Input, req.Input)
	if err != nil {
		return nil, &InputError{Msg: err.Error()}
	}
	if req.SourceType == "" {
		req.SourceType = SourceAPI
	}
	// The id is chosen now so the log file can be created here, not on the
	// store's writer goroutine where file creation would delay every commit.
	id, created := newJobID()
	e.prepareLog(&Job{ID: id, Task: task.Name, Input: in, SourceType: req.SourceType, SourceID: req.SourceID}, snap)
	// Root steps are dispatched in the creating transaction: render their
	// inputs now, outside it, so that it commits in one attempt.
	renders := newRenderCache()
	jobInput := in
	if jobInput == nil {
		jobInput = map[string]any{} // as createJob stores it
	}
	rctx := map[string]any{"input": jobInput, "secret": secrets(snap)}
	for _, fs := range task.Steps {
		if a := snap.Actions[fs.Action]; a != nil && len(fs.DependsOn) == 0 {
			if when := fs.When; when != nil {
				renders.seed(renderKey("when", id, fs.Name), rctx, func() renderResult { return evalWhen(when, rctx) })
			}
			if list := fs.ForEach; list != nil {
				renders.seed(renderKey("loop", id, fs.Name), rctx, func() renderResult { return renderList(list, rctx) })
				continue
			}
			renders.seed(renderKey("step", id, fs.Name), rctx, func() renderResult {
				return renderStep(fs, a, false, nil, rctx, snap)
			})
		}
	}
	var job *Job
	err = e.store.updateRenderedCtx(ctx, renders, func(t *txn) error {
		spec := jobSpec{id: id, created: created, task: task, taskName: task.Name, input: in,
			sourceType: req.SourceType, sourceID: req.SourceID, lines: req.Lines,
			rerunOf: req.rerunOf, noHooks: req.noHooks}
		if req.Check != nil {
			active, err := t.activeBySource(req.SourceType, req.SourceID)
			if err != nil {
				return err
			}
			skip, cancel := req.Check(active)
			for _, id := range cancel {
				if err := e.cancelJob(t, id, "trigger "+triggerName(req.SourceID), time.Now()); err != nil && !errors.Is(err, ErrTerminal) {
					return err
				}
			}
			if skip && len(active) > 0 {
				spec.problems = append(spec.problems, fmt.Sprintf("[scheduler] Skipped: job %s is still active", active[0].ID))
			}
			spec.skip = skip
		}
		if req.Schedule != nil {
			if err := t.putSchedule(req.Schedule); err != nil {
				return err
			}
		}
		now := time.Now()
		st, err := e.createJob(t, snap, spec, now)
		if err != nil {
			return err
		}
		job = st.job
		return e.advance(t, st, snap, now)
	})
	if err != nil {
		e.forgetLog(id)
		return nil, err
	}
	return job, nil
}

// prepareLog records a job's masked values and opens its log before the job
// is committed. Failures only cost the early open: Append opens it later.
func (e *Engine) prepareLog(j *Job, snap *workspace.Snapshot) {
	e.masks.set(j.ID, maskValues(j, snap))
	if err := e.logs.Open(j.ID); err != nil {
		e.log.Warn("open job log", "job", j.ID, "err", err)
	}
}

// forgetLog undoes prepareLog for a job that was never created.
func (e *Engine) forgetLog(id string) {
	e.masks.forget(id)
	_ = e.logs.Remove(id)
}

func triggerName(sourceID string) string {
	for i := len(sourceID) - 1; i >= 0; i-- {
		if sourceID[i] == '/' {
			return sourceID[i+1:]
		}
	}
	return sourceID
}

// jobSpec describes a job to create inside a transaction.
type jobSpec struct {
	// id and created are chosen before the transaction ("" = now).
	id       string
	created  time.Time
	task     *workspace.Task // nil for a one-step hook job
	taskName string
	input    map[string]any // effective input
	// steps replaces the task's flow (one-step hook jobs).
	steps      []*Step
	sourceType string
	sourceID   string
	hookEvent  string
	parent     *jobState
	parentStep string
	noHooks    bool
	skip       bool
	// rerunOf, restartOf and restartFrom link a second chance to its
	// source job (restart.go).
	rerunOf, restartOf, restartFrom string
	// lines are extra lifecycle lines, problems extra problem lines, both
	// written after "Job created".
	lines    []string
	problems []string
}

// newJobID returns a UUIDv7 and its creation time (the UUID's milliseconds,
// so ordering by id equals ordering by created_at).
func newJobID() (string, time.Time) {
	u := uuid.Must(uuid.NewV7())
	sec, nsec := u.Time().UnixTime()
	return u.String(), time.Unix(sec, nsec).UTC().Truncate(time.Millisecond)
}

// createJob writes a job and its steps; the caller then links it (child
// jobs) and calls advance to dispatch the root steps.
func (e *Engine) createJob(t *txn, snap *workspace.Snapshot, spec jobSpec, now time.Time) (*jobState, error) {
	id, created := spec.id, spec.created
	if id == "" {
		id, created = newJobID()
	}
	j := &Job{
		ID: id, Workspace: snap.Name, Task: spec.taskName, Mode: "distributed",
		Input: spec.input, Status: JobPending, SourceType: spec.sourceType,
		SourceID: spec.sourceID, CreatedAt: created, Revision: snap.Revision,
		HookEvent: spec.hookEvent, NoHooks: spec.noHooks,
		RerunOf: spec.rerunOf, RestartOf: spec.restartOf, RestartFrom: spec.restartFrom,
	}
	if j.Input == nil {
		j.Input = map[string]any{}
	}
	if spec.parent != nil {
		j.ParentJobID = spec.parent.job.ID
		j.ParentStepName = spec.parentStep
		j.Depth = spec.parent.job.Depth + 1
		j.NoHooks = j.NoHooks || spec.parent.job.NoHooks
	}
	steps := spec.steps
	if spec.task != nil {
		if spec.task.Mode != "" {
			j.Mode = spec.task.Mode
		}
		j.Queue = spec.task.Queue
		if spec.task.Timeout > 0 {
			j.Timeout = spec.task.Timeout
			j.Deadline = created.Add(spec.task.Timeout)
		}
		if steps == nil {
			steps = flowSteps(snap, spec.task)
		}
	}
	if spec.skip {
		j.Status = JobSkipped
		j.CompletedAt = created
		j.Finalized = true
		steps = nil
	}
	st := t.newState(j, steps)
	source := j.SourceType
	if j.SourceID != "" {
		source += " " + j.SourceID
	}
	e.logLifecycle(t, id, now, "Job created: task '%s', revision %s, source %s", j.Task, j.Revision, source)
	for _, l := range spec.lines {
		e.logLifecycle(t, id, now, "%s", l)
	}
	for _, l := range spec.problems {
		e.logProblem(t, id, now, "%s", l)
	}
	if spec.skip {
		t.after(func() { e.finishLog(id) })
		return st, nil
	}
	t.after(func() { e.armDeadline(id, j.Deadline) })
	return st, nil
}

// flowSteps builds a task's step records in DAG order: Kahn's algorithm
// with the ready set sorted by name.
func flowSteps(snap *workspace.Snapshot, task *workspace.Task) []*Step {
	indeg := make(map[string]int, len(task.Steps))
	children := make(map[string][]string)
	for _, s := range task.Steps {
		indeg[s.Name] = len(s.DependsOn)
		for _, d := range s.DependsOn {
			children[d] = append(children[d], s.Name)
		}
	}
	var ready []string
	for _, s := range task.Steps {
		if indeg[s.Name] == 0 {
			ready = append(ready, s.Name)
		}
	}
	var order []string
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, c := range children[n] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	steps := make([]*Step, 0, len(order))
	for i, name := range order {
		fs := task.Step(name)
		a := snap.Actions[fs.Action]
		s := &Step{
			Name: name, Action: fs.Action, Status: StepPending,
			DependsOn: append([]string{}, fs.DependsOn...), Order: i,
			ContinueOnFailure: fs.ContinueOnFailure, Timeout: fs.Timeout,
			Input: map[string]any{},
		}
		if fs.When != nil {
			s.When = fs.When.Source()
		}
		if fs.ForEach != nil {
			s.ForEach, s.MaxParallel = forEachSource(fs.ForEach), fs.MaxParallel
		}
		if fs.Input != nil && fs.Input.Raw() != nil {
			s.Input = fs.Input.Raw()
		}
		setAction(s, a)
		if fs.Retry != nil {
			s.Retry = fs.Retry // the step's policy wins over its action's
		}
		steps = append(steps, s)
	}
	return steps
}

// setAction copies what a step record needs from its action.
func setAction(s *Step, a *workspace.Action) {
	if a == nil {
		return
	}
	s.ActionType = a.Type
	s.Runner = a.Runner
	s.Queue = a.Queue
	if a.Type == workspace.TypeTask || a.Type == workspace.TypeApproval {
		s.Runner = "none"
		return
	}
	if s.Runner == "" {
		s.Runner = "local"
	}
	s.Tags = requiredTags(a.Tags)
	s.Retry = a.Retry
}

// requiredTags is ["shell"] plus the action's tags, without duplicates.
func requiredTags(extra []string) []string {
	tags := []string{"shell"}
	for _, x := range extra {
		dup := false
		for _, y := range tags {
			dup = dup || x == y
		}
		if !dup {
			tags = append(tags, x)
		}
	}
	return tags
}

// activeBySource returns the pending and running jobs with this source.
func (t *txn) activeBySource(sourceType, sourceID string) ([]*Job, error) {
	var out []*Job
	for _, id := range t.openJobIDs() {
		j, err := t.getJob(id)
		if err != nil {
			return nil, err
		}
		if j.SourceType == sourceType && j.SourceID == sourceID && !JobTerminal(j.Status) {
			out = append(out, j)
		}
	}
	return out, nil
}
