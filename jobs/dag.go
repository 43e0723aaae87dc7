package jobs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"runnel/jobs/shell"
	"runnel/workspace"
	"runnel/workspace/tmpl"
)

// advance evaluates pending steps until nothing changes (SPEC §5.3),
// dispatching the ones that become ready, then finishes the job when no
// step is left pending, ready or running (SPEC §5.4).
func (e *Engine) advance(t *txn, st *jobState, snap *workspace.Snapshot, now time.Time) error {
	for changed := true; changed && !JobTerminal(st.job.Status); {
		changed = false
		for _, s := range st.steps {
			if s.Status != StepPending {
				continue
			}
			ready, reason, wait := evaluate(st, s)
			switch {
			case wait:
				continue
			case ready:
				if err := e.dispatch(t, st, s, snap, now); err != nil {
					return err
				}
				if s.Status == StepPending {
					// Waits for its render outside the transaction.
					continue
				}
			default:
				s.Status = StepSkipped
				s.SkipReason = reason
				s.FailureSkip = true
				s.CompletedAt = now
				st.touchStep(s)
				e.logProblem(t, st.job.ID, now, "Step '%s' skipped: %s", s.Name, reason)
			}
			changed = true
		}
	}
	return e.maybeFinish(t, st, snap, now)
}

// evaluate applies the readiness rules to one pending step.
func evaluate(st *jobState, s *Step) (ready bool, skipReason string, wait bool) {
	for _, d := range s.DependsOn {
		if dep := st.step(d); dep == nil || !StepTerminal(dep.Status) {
			return false, "", true
		}
	}
	if s.ContinueOnFailure {
		return true, "", false
	}
	for _, d := range s.DependsOn {
		dep := st.step(d)
		switch {
		case dep.Status == StepFailed:
			return false, fmt.Sprintf("upstream step '%s' failed", d), false
		case dep.Status == StepCancelled:
			return false, fmt.Sprintf("upstream step '%s' was cancelled", d), false
		case dep.Status == StepSkipped && dep.FailureSkip:
			return false, dep.SkipReason, false
		}
	}
	return true, "", false
}

// stepContext is the template context of a step input (SPEC §4.3).
func stepContext(st *jobState, snap *workspace.Snapshot) map[string]any {
	ctx := map[string]any{"input": st.job.Input, "secret": secrets(snap)}
	for _, s := range st.steps {
		if !StepTerminal(s.Status) {
			continue
		}
		var msg any
		if s.ErrorMessage != "" {
			msg = s.ErrorMessage
		}
		ctx[workspace.TemplateName(s.Name)] = map[string]any{
			"output": s.Output, "status": s.Status, "error_message": msg,
		}
	}
	return ctx
}

func secrets(snap *workspace.Snapshot) map[string]any {
	if snap.Secrets == nil {
		return map[string]any{}
	}
	return snap.Secrets
}

// templateError words a template failure of a step input.
func templateError(where string, err error) string {
	var pe *tmpl.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("Template error in %s '%s': %s", where, pe.Path, pe.Err.Error())
	}
	return fmt.Sprintf("Template error in %s: %s", where, err)
}

// dispatch makes a step ready: it renders the input, checks the action
// renders, and queues the step (or starts a child job for task actions).
// Render problems fail the step at once (SPEC §4.4). The renders happen
// outside the transaction (render.go): until their result is there, the
// step stays pending and the update is run again.
func (e *Engine) dispatch(t *txn, st *jobState, s *Step, snap *workspace.Snapshot, now time.Time) error {
	a := snap.Actions[s.Action]
	if a == nil {
		e.failStep(t, st, s, now, fmt.Sprintf("Action '%s' is not defined in revision %s", s.Action, snap.Revision))
		return nil
	}
	var (
		fs     *workspace.Step
		ctx    map[string]any
		stored     = stepInput(s)
		depend any = stored
	)
	rendered := s.Rendered
	if !rendered {
		if task := snap.Tasks[st.job.Task]; task != nil {
			fs = task.Step(s.Name)
		}
		ctx = stepContext(st, snap)
		depend = ctx
	}
	r, ok := t.rendered(renderKey("step", st.job.ID, s.Name), depend, func() renderResult {
		return renderStep(fs, a, rendered, stored, ctx, snap)
	})
	if !ok {
		return nil
	}
	if r.msg != "" {
		e.logProblem(t, st.job.ID, now, "[template] Step '%s': %s", s.Name, r.msg)
		e.failStep(t, st, s, now, r.msg)
		return nil
	}
	if !s.Rendered {
		in, _ := r.val.(map[string]any)
		s.Input = copyMap(in)
		s.Rendered = true
	}
	if a.Type == workspace.TypeTask {
		return e.startChild(t, st, s, a, snap, now)
	}
	s.Status = StepReady
	s.ReadyAt = now
	st.touchStep(s)
	item := &queueItem{jobID: st.job.ID, step: s.Name, readyAt: now, created: st.job.CreatedAt, tags: s.Tags}
	t.after(func() { e.queue.push(item) })
	return e.noticeUnmatched(t, st.job.ID, s, now)
}

// renderStep renders a step's input (unless it is rendered already) with
// ctx, fills action defaults, and checks that the action's cmd and env
// render with it. It runs outside any transaction; the result's msg is the
// step's error message.
func renderStep(fs *workspace.Step, a *workspace.Action, rendered bool, stored, ctx map[string]any, snap *workspace.Snapshot) renderResult {
	in := stored
	if !rendered {
		in = map[string]any{}
		if fs != nil && fs.Input != nil {
			v, err := fs.Input.Render(ctx)
			if err != nil {
				return renderResult{msg: templateError("step input", err)}
			}
			if m, ok := v.(map[string]any); ok {
				in = m
			}
		}
		in = withDefaults(in, a.Input)
	}
	if a.Type != workspace.TypeTask {
		if _, err := renderAction(a, in, snap); err != nil {
			return renderResult{msg: err.Error()}
		}
	}
	return renderResult{val: in}
}

// withDefaults fills missing keys of a step input from action defaults.
func withDefaults(in map[string]any, fields []workspace.Field) map[string]any {
	for _, f := range fields {
		if _, ok := in[f.Name]; !ok && f.HasDefault {
			in[f.Name] = f.Default
		}
	}
	return in
}

func stepInput(s *Step) map[string]any {
	if m, ok := s.Input.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// renderedAction is an action's command and environment rendered for one
// step input; never stored.
type renderedAction struct {
	Command string
	File    string
	Env     map[string]string
}

// renderAction renders an action's inline text and env with the step input.
func renderAction(a *workspace.Action, input map[string]any, snap *workspace.Snapshot) (renderedAction, error) {
	ctx := map[string]any{"input": input, "secret": secrets(snap)}
	r := renderedAction{File: a.File, Env: make(map[string]string, len(a.Env))}
	if a.Inline != nil {
		text, err := a.Inline.Render(ctx)
		if err != nil {
			return r, fmt.Errorf("Template error in action cmd: %s", err)
		}
		r.Command = text
	}
	for k, v := range a.Env {
		text, err := v.Render(ctx)
		if err != nil {
			return r, fmt.Errorf("Template error in action env '%s': %s", k, err)
		}
		r.Env[k] = text
	}
	return r, nil
}

// failStep ends a step that never ran or whose report failed it.
func (e *Engine) failStep(t *txn, st *jobState, s *Step, now time.Time, msg string) {
	s.Status = StepFailed
	s.ErrorMessage = msg
	s.CompletedAt = now
	st.touchStep(s)
	e.logProblem(t, st.job.ID, now, "Step '%s' failed: %s", s.Name, firstLine(msg))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// markRunning records that a job has begun (the time is the same in every
// attempt of the update: hook contexts read it).
func markRunning(t *txn, st *jobState, now time.Time) {
	if st.job.Status == JobPending {
		st.job.Status = JobRunning
		st.job.StartedAt = t.stableTime(renderKey("started", st.job.ID), now)
		st.touch()
	}
}

// maxDepth is the deepest allowed child job (a top-level job has depth 0).
const maxDepth = 10

// startChild creates the child job of a type: task step (SPEC §8.3).
func (e *Engine) startChild(t *txn, st *jobState, s *Step, a *workspace.Action, snap *workspace.Snapshot, now time.Time) error {
	if st.job.Depth+1 >= maxDepth {
		e.failStep(t, st, s, now, fmt.Sprintf("Maximum task nesting depth (%d) exceeded for task '%s'", maxDepth, a.Task))
		return nil
	}
	task := snap.Tasks[a.Task]
	if task == nil {
		e.failStep(t, st, s, now, fmt.Sprintf("Task '%s' is not defined in revision %s", a.Task, snap.Revision))
		return nil
	}
	in, err := workspace.CheckInput(task.Input, stepInput(s))
	if err != nil {
		e.failStep(t, st, s, now, "Child job input validation failed: "+err.Error())
		return nil
	}
	id, created := t.newJobID(renderKey("child", st.job.ID, s.Name))
	child, err := e.createJob(t, snap, jobSpec{
		id: id, created: created, task: task, taskName: task.Name, input: in, sourceType: SourceTask,
		sourceID: st.job.ID + "/" + s.Name, parent: st, parentStep: s.Name,
	}, now)
	if err != nil {
		return err
	}
	s.Status = StepRunning
	s.StartedAt = now
	s.ReadyAt = now
	s.ChildJobID = child.job.ID
	st.touchStep(s)
	markRunning(t, st, now)
	e.logLifecycle(t, st.job.ID, now, "Step '%s' started child job %s", s.Name, child.job.ID)
	return e.advance(t, child, snap, now)
}

// maybeFinish ends the job when no step is pending, ready or running, then
// finalizes it: parent propagation, hooks, secret scrubbing (SPEC §5.4).
func (e *Engine) maybeFinish(t *txn, st *jobState, snap *workspace.Snapshot, now time.Time) error {
	j := st.job
	if j.Finalized {
		return nil
	}
	for _, s := range st.steps {
		if !StepTerminal(s.Status) {
			return nil
		}
	}
	if !JobTerminal(j.Status) {
		failed := false
		output := map[string]any{}
		sinks := sinkSteps(st)
		for _, s := range st.steps {
			if s.Status == StepFailed && !s.ContinueOnFailure {
				failed = true
			}
			if sinks[s.Name] && s.Status == StepCompleted && s.Output != nil {
				output[s.Name] = s.Output
			}
		}
		if failed {
			j.Status = JobFailed
			j.Output = nil
		} else {
			j.Status = JobCompleted
			if len(output) > 0 {
				j.Output = output
			}
		}
		e.endJob(t, st, now)
	}
	j.Finalized = true
	st.touch()
	id := j.ID
	t.after(func() {
		e.stopDeadline(id)
		e.finishLog(id)
	})
	if j.ParentJobID != "" {
		c := childResult{id: j.ID, parent: j.ParentJobID, step: j.ParentStepName, status: j.Status, output: j.Output}
		t.later(func() error { return e.propagate(t, c, now) })
	}
	if j.SourceType == SourceHook && j.Status == JobFailed {
		e.reportHookFailure(t, st, now)
	}
	if !j.NoHooks {
		if err := e.fireHooks(t, st, snap, now); err != nil {
			return err
		}
	}
	e.scrub(st, snap)
	return nil
}

// endJob records a job's terminal status: completion time, the final line
// and waking waiters. The caller has set Status.
func (e *Engine) endJob(t *txn, st *jobState, now time.Time) {
	j := st.job
	if j.CompletedAt.IsZero() {
		// The same in every attempt of the update: hook contexts read it.
		j.CompletedAt = t.stableTime(renderKey("completed", j.ID), now)
	}
	st.touch()
	e.logLifecycle(t, j.ID, now, "Job %s in %s", j.Status, shell.FormatDuration(now.Sub(j.CreatedAt)))
	id := j.ID
	t.after(func() { e.notifyTerminal(id) })
}

// sinkSteps returns the steps nothing depends on.
func sinkSteps(st *jobState) map[string]bool {
	sinks := make(map[string]bool, len(st.steps))
	for _, s := range st.steps {
		sinks[s.Name] = true
	}
	for _, s := range st.steps {
		for _, d := range s.DependsOn {
			delete(sinks, d)
		}
	}
	return sinks
}

// childResult is what a finished child job hands its parent step, captured
// before the child's record is scrubbed.
type childResult struct {
	id, parent, step, status string
	output                   any
}

// propagate ends the parent step of a finished child job (SPEC §8.3).
func (e *Engine) propagate(t *txn, c childResult, now time.Time) error {
	parent, err := t.load(c.parent)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ps := parent.step(c.step)
	if ps == nil || ps.Status != StepRunning || ps.ChildJobID != c.id {
		return nil
	}
	switch {
	case c.status == JobCompleted:
		ps.Status = StepCompleted
		ps.Output = c.output
		ps.CompletedAt = now
		parent.touchStep(ps)
	case c.status == JobCancelled && JobTerminal(parent.job.Status):
		ps.Status = StepCancelled
		ps.ErrorMessage = "Job cancelled"
		ps.CompletedAt = now
		parent.touchStep(ps)
	case c.status == JobCancelled:
		e.failStep(t, parent, ps, now, fmt.Sprintf("Child job %s was cancelled", c.id))
	default:
		e.failStep(t, parent, ps, now, fmt.Sprintf("Child job %s failed", c.id))
	}
	snap, err := e.snapshot(parent.job)
	if err != nil {
		return err
	}
	return e.advance(t, parent, snap, now)
}
