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

// advance applies plan's decisions (state.go) until nothing changes:
// skips are recorded, when: conditions evaluated, ready steps dispatched;
// then it finishes the job when the plan says it is final (SPEC §5.3, §5.4).
func (e *Engine) advance(t *txn, st *jobState, snap *workspace.Snapshot, now time.Time) error {
	var conds map[string]bool
	for {
		d := plan(st.job, st.steps, facts{conds: conds, now: now})
		moved := len(d.moves) > 0
		if err := e.applyMoves(t, st, d.moves, now); err != nil {
			return err
		}
		for _, s := range d.evaluate {
			r, ok := e.condition(t, st, s, snap)
			if !ok {
				// Waits for its render outside the transaction.
				continue
			}
			moved = true
			if r.msg != "" {
				e.logProblem(t, st.job.ID, now, "[template] Step '%s': %s", s.Name, r.msg)
				if err := e.rejectStep(t, st, s, now, r.msg); err != nil {
					return err
				}
				continue
			}
			if conds == nil {
				conds = map[string]bool{}
			}
			conds[s.Name], _ = r.val.(bool)
		}
		for _, s := range d.ready {
			if err := e.dispatch(t, st, s, snap, now); err != nil {
				return err
			}
			// A step still pending waits for its render outside the
			// transaction.
			moved = moved || s.Status != StepPending
		}
		for _, s := range d.expand {
			if err := e.expand(t, st, s, snap, now); err != nil {
				return err
			}
			moved = moved || s.Status != StepPending
		}
		if !moved {
			e.armRetry(t, st.job.ID, d.wake)
			return e.finish(t, st, snap, d, now)
		}
	}
}

// applyMoves records plan's skips and cancels, with their log lines;
// cancelled ready steps leave the queue.
func (e *Engine) applyMoves(t *txn, st *jobState, moves []stepMove, now time.Time) error {
	for _, m := range moves {
		s := m.step
		if s.Status == StepReady {
			id, name := st.job.ID, s.Name
			t.after(func() { e.queue.remove(id, name) })
		}
		if err := st.moveStep(s, m.ev, now, m.reason); err != nil {
			return err
		}
		if m.ev == stepComplete {
			s.Output = m.output
		}
		switch m.ev {
		case stepFail:
			e.logProblem(t, st.job.ID, now, "Step '%s' failed: %s", s.Name, firstLine(m.reason))
		case stepSkipUpstream:
			e.logProblem(t, st.job.ID, now, "Step '%s' skipped: %s", s.Name, m.reason)
		case stepSkipCondition:
			e.logLifecycle(t, st.job.ID, now, "Step '%s' skipped: %s", s.Name, m.reason)
		}
	}
	return nil
}

// condition evaluates a step's when: with the step input's context,
// outside the transaction (render.go): ok is false until the result is
// there. The result is a bool, or msg when the template failed.
func (e *Engine) condition(t *txn, st *jobState, s *Step, snap *workspace.Snapshot) (renderResult, bool) {
	var when *tmpl.Template
	if task := snap.Tasks[st.job.Task]; task != nil {
		if fs := task.Step(s.Name); fs != nil {
			when = fs.When
		}
	}
	ctx := stepContext(st, snap)
	return t.rendered(renderKey("when", st.job.ID, s.Name), ctx, func() renderResult {
		return evalWhen(when, ctx)
	})
}

// evalWhen evaluates a when: template (outside any transaction).
func evalWhen(when *tmpl.Template, ctx map[string]any) renderResult {
	if when == nil {
		return renderResult{msg: "Template error in when: the condition is not defined in the job's revision"}
	}
	v, err := when.Truth(ctx)
	if err != nil {
		return renderResult{msg: templateError("when", err)}
	}
	return renderResult{val: v}
}

// stepContext is the template context of a step input (SPEC §4.3).
func stepContext(st *jobState, snap *workspace.Snapshot) map[string]any {
	ctx := map[string]any{"input": st.job.Input, "secret": secrets(snap)}
	for _, s := range st.steps {
		if !StepTerminal(s.Status) || s.Loop != "" {
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
		return e.rejectStep(t, st, s, now, fmt.Sprintf("Action '%s' is not defined in revision %s", s.Action, snap.Revision))
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
			fs = task.Step(flowName(s))
		}
		ctx = withLoopVars(stepContext(st, snap), s)
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
		return e.rejectStep(t, st, s, now, r.msg)
	}
	if !s.Rendered {
		in, _ := r.val.(map[string]any)
		s.Input = copyMap(in)
		s.Rendered = true
	}
	switch a.Type {
	case workspace.TypeTask:
		return e.startChild(t, st, s, a, snap, now)
	case workspace.TypeApproval:
		return e.startApproval(t, st, s, a, now)
	}
	ev := stepDispatch
	if !s.RetryAt.IsZero() {
		ev = stepRetry
	}
	if err := st.moveStep(s, ev, now, ""); err != nil {
		return err
	}
	if taken, err := e.handOff(t, st, s, snap, now); taken || err != nil {
		return err
	}
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

// rejectStep fails a pending or ready step that never ran (stepReject).
func (e *Engine) rejectStep(t *txn, st *jobState, s *Step, now time.Time, msg string) error {
	return e.endStep(t, st, s, stepReject, now, msg)
}

// endStep moves a step by ev with msg, logging failures.
func (e *Engine) endStep(t *txn, st *jobState, s *Step, ev stepEvent, now time.Time, msg string) error {
	if err := st.moveStep(s, ev, now, msg); err != nil {
		return err
	}
	if s.Status == StepFailed {
		e.logProblem(t, st.job.ID, now, "Step '%s' failed: %s", s.Name, firstLine(msg))
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// markRunning records that a job has begun (the time is the same in every
// attempt of the update: hook contexts read it).
func markRunning(t *txn, st *jobState, now time.Time) error {
	if st.job.Status != JobPending {
		return nil
	}
	if err := st.moveJob(jobStart, ""); err != nil {
		return err
	}
	st.job.StartedAt = t.stableTime(renderKey("started", st.job.ID), now)
	return nil
}

// maxDepth is the deepest allowed child job (a top-level job has depth 0).
const maxDepth = 10

// startChild creates the child job of a type: task step (SPEC §8.3).
func (e *Engine) startChild(t *txn, st *jobState, s *Step, a *workspace.Action, snap *workspace.Snapshot, now time.Time) error {
	if st.job.Depth+1 >= maxDepth {
		return e.rejectStep(t, st, s, now, fmt.Sprintf("Maximum task nesting depth (%d) exceeded for task '%s'", maxDepth, a.Task))
	}
	task := snap.Tasks[a.Task]
	if task == nil {
		return e.rejectStep(t, st, s, now, fmt.Sprintf("Task '%s' is not defined in revision %s", a.Task, snap.Revision))
	}
	in, err := workspace.CheckInput(task.Input, stepInput(s))
	if err != nil {
		return e.rejectStep(t, st, s, now, "Child job input validation failed: "+err.Error())
	}
	id, created := t.newJobID(renderKey("child", st.job.ID, s.Name))
	child, err := e.createJob(t, snap, jobSpec{
		id: id, created: created, task: task, taskName: task.Name, input: in, sourceType: SourceTask,
		sourceID: st.job.ID + "/" + s.Name, parent: st, parentStep: s.Name,
	}, now)
	if err != nil {
		return err
	}
	if err := st.moveStep(s, stepDispatch, now, ""); err != nil {
		return err
	}
	if err := st.moveStep(s, stepStartChild, now, ""); err != nil {
		return err
	}
	s.ChildJobID = child.job.ID
	if err := markRunning(t, st, now); err != nil {
		return err
	}
	e.logLifecycle(t, st.job.ID, now, "Step '%s' started child job %s", s.Name, child.job.ID)
	return e.advance(t, child, snap, now)
}

// maybeFinish plans the job (state.go) and finishes it when final.
func (e *Engine) maybeFinish(t *txn, st *jobState, snap *workspace.Snapshot, now time.Time) error {
	return e.finish(t, st, snap, plan(st.job, st.steps, facts{}), now)
}

// finish ends the job when d says it is final (its status and output), then
// finalizes it: parent propagation, hooks, secret scrubbing (SPEC §5.4).
func (e *Engine) finish(t *txn, st *jobState, snap *workspace.Snapshot, d decision, now time.Time) error {
	j := st.job
	if j.Finalized || !d.final {
		return nil
	}
	if !JobTerminal(j.Status) {
		ev := jobComplete
		if d.status == JobFailed {
			ev = jobFail
		}
		if err := st.moveJob(ev, ""); err != nil {
			return err
		}
		if d.output != nil {
			j.Output = d.output
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
	ev, msg, stopped := stoppedEnd(parent.job)
	switch {
	case stopped:
	case c.status == JobCompleted:
		ev = stepComplete
		ps.Output = c.output
	case c.status == JobCancelled:
		ev, msg = stepFail, fmt.Sprintf("Child job %s was cancelled", c.id)
	default:
		ev, msg = stepFail, fmt.Sprintf("Child job %s failed", c.id)
	}
	if err := e.endStep(t, parent, ps, ev, now, msg); err != nil {
		return err
	}
	snap, err := e.snapshot(parent.job)
	if err != nil {
		return err
	}
	return e.advance(t, parent, snap, now)
}
