package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"runnel/jobs/api"
	"runnel/workspace"
)

// Assignment is a claimed step with everything a worker needs to run it;
// it is the worker protocol's (jobs/api).
type Assignment = api.Assignment

// workerRef identifies a claiming worker.
type workerRef struct {
	id, name string
	builtin  bool
}

// errStale means a queue item no longer names a ready step.
var errStale = errors.New("stale queue item")

// claim waits for a ready step the tags cover and marks it running for the
// worker. A claim whose ctx ends before the commit is not committed.
func (e *Engine) claim(ctx context.Context, w workerRef, tags []string) (*Assignment, error) {
	return e.claimWait(ctx, ctx, w, tags)
}

// claimWait is claim where wait bounds only the wait for a ready step (an
// ended wait still takes a step that is ready now) and ctx the commit.
func (e *Engine) claimWait(ctx, wait context.Context, w workerRef, tags []string) (*Assignment, error) {
	for {
		it, err := e.queue.take(wait, tags)
		if err != nil {
			return nil, err
		}
		a, err := e.claimItem(ctx, it, w)
		switch {
		case errors.Is(err, errStale):
			continue
		case err != nil && ctx.Err() != nil:
			e.queue.push(it)
			return nil, ctx.Err()
		case err != nil:
			e.queue.push(it)
			return nil, err
		}
		return a, nil
	}
}

// claimItem commits ready → running for one queue item (SPEC §9.3).
func (e *Engine) claimItem(ctx context.Context, it *queueItem, w workerRef) (*Assignment, error) {
	var a *Assignment
	err := e.store.updateRendered(e.claimRenders(it), func(t *txn) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := t.load(it.jobID)
		if errors.Is(err, ErrNotFound) {
			return errStale
		}
		if err != nil {
			return err
		}
		s := st.step(it.step)
		if s == nil || s.Status != StepReady || JobTerminal(st.job.Status) {
			return errStale
		}
		now := time.Now()
		snap, err := e.snapshot(st.job)
		if err != nil {
			if err := e.rejectStep(t, st, s, now, "Failed to render action: "+err.Error()); err != nil {
				return err
			}
			return e.finishLater(t, st, now)
		}
		act := snap.Actions[s.Action]
		input := stepInput(s)
		// Rendered outside the transaction (render.go): the first run
		// only asks, the update is rolled back and run again.
		res, ok := t.rendered(renderKey("claim", st.job.ID, s.Name), input, func() renderResult {
			return claimRender(act, input, snap)
		})
		if !ok {
			return nil
		}
		if res.msg != "" {
			if err := e.rejectStep(t, st, s, now, res.msg); err != nil {
				return err
			}
			return e.advance(t, st, snap, now)
		}
		r, _ := res.val.(renderedAction)
		if err := st.moveStep(s, stepClaim, now, ""); err != nil {
			return err
		}
		s.WorkerID = w.id
		s.Acked = w.builtin
		if err := markRunning(t, st, now); err != nil {
			return err
		}
		if st.job.WorkerID == "" {
			st.job.WorkerID = w.id
			st.touch()
		}
		if err := t.noteWorkerJob(w.id, st.job.ID); err != nil {
			return err
		}
		e.logLifecycle(t, st.job.ID, now, "Step '%s' started on worker '%s' (%s)", s.Name, w.name, w.id)
		a = &Assignment{
			JobID: st.job.ID, Workspace: st.job.Workspace, Task: st.job.Task, Step: s.Name,
			Action: s.Action, ActionType: s.ActionType, Revision: st.job.Revision,
			Command: r.Command, File: r.File, Env: r.Env, Tags: s.Tags,
			Input: stepInput(s), Timeout: s.Timeout, Dir: snap.Dir,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errStale
	}
	return a, nil
}

// claimRenders renders a queued step's action from a read of the store,
// outside the write transaction, so that the claim commits in one attempt
// (render.go); the claim checks that the step input is still the same.
func (e *Engine) claimRenders(it *queueItem) *renderCache {
	c := newRenderCache()
	var (
		j *Job
		s *Step
	)
	err := e.store.view(func(t *txn) error {
		var err error
		if j, err = t.getJob(it.jobID); err != nil {
			return err
		}
		steps, err := t.getSteps(it.jobID)
		for _, x := range steps {
			if x.Name == it.step {
				s = x
			}
		}
		return err
	})
	if err != nil || s == nil || s.Status != StepReady {
		return c
	}
	snap, err := e.snapshot(j)
	if err != nil || snap.Actions[s.Action] == nil {
		return c
	}
	act, input := snap.Actions[s.Action], stepInput(s)
	c.seed(renderKey("claim", it.jobID, it.step), input, func() renderResult {
		return claimRender(act, input, snap)
	})
	return c
}

// completeRenders renders, from a read of the store and outside the write
// transaction, the inputs of the steps a successful report makes ready, so
// that Complete commits in one attempt (render.go).
func (e *Engine) completeRenders(jobID, step string, res StepResult) *renderCache {
	c := newRenderCache()
	if res.Error != "" {
		return c
	}
	var st *jobState
	if err := e.store.view(func(t *txn) error {
		var err error
		st, err = t.load(jobID)
		return err
	}); err != nil {
		return c
	}
	s := st.step(step)
	if s == nil || s.Status != StepRunning || s.ChildJobID != "" || JobTerminal(st.job.Status) {
		return c
	}
	snap, err := e.snapshot(st.job)
	if err != nil {
		return c
	}
	task := snap.Tasks[st.job.Task]
	if task == nil {
		return c
	}
	// As Complete will record it (on this read's copy).
	if st.moveStep(s, stepComplete, time.Now(), "") != nil {
		return c
	}
	s.Output = res.Output
	d := plan(st.job, st.steps, facts{})
	// A step with a when: is seeded its condition and its input: a false
	// condition costs only the input render.
	for _, p := range append(d.evaluate, d.ready...) {
		a := snap.Actions[p.Action]
		fs := task.Step(p.Name)
		if p.Rendered || a == nil || fs == nil {
			continue
		}
		ctx := stepContext(st, snap)
		if p.When != "" {
			when := fs.When
			c.seed(renderKey("when", jobID, p.Name), ctx, func() renderResult { return evalWhen(when, ctx) })
		}
		c.seed(renderKey("step", jobID, p.Name), ctx, func() renderResult {
			return renderStep(fs, a, false, nil, ctx, snap)
		})
	}
	return c
}

// claimRender renders an action for a claim (outside any transaction).
func claimRender(act *workspace.Action, input map[string]any, snap *workspace.Snapshot) renderResult {
	r, err := renderAction(act, input, snap)
	if err != nil {
		return renderResult{msg: err.Error()}
	}
	return renderResult{val: r}
}

// finishLater evaluates the job after a failure that had no snapshot: the
// plan for a lost revision (state.go) skips what has not started and fails
// the job once nothing runs; hooks cannot fire without the revision.
func (e *Engine) finishLater(t *txn, st *jobState, now time.Time) error {
	d := plan(st.job, st.steps, facts{lost: true})
	if err := e.applyMoves(t, st, d.moves, now); err != nil {
		return err
	}
	if !JobTerminal(st.job.Status) {
		if !d.final {
			return nil
		}
		if err := st.moveJob(jobFail, ""); err != nil {
			return err
		}
		e.endJob(t, st, now)
	}
	st.job.Finalized = true
	st.touch()
	id := st.job.ID
	t.after(func() { e.finishLog(id) })
	return nil
}

// StepResult is a worker's report of a finished step.
type StepResult struct {
	// Output is the step output (kept only on success).
	Output any
	// Error is "" on success, else the error_message.
	Error string
	// TimedOut marks a step timeout (for the _server line).
	TimedOut bool
}

// Complete records a step's end reported by the worker holding it:
// ConflictError when the step is not running or held by another worker
// (workerID "" skips that check). A step of a cancelled job ends cancelled;
// of a timed-out job, failed with the job timeout message. ctx bounds the
// wait to join a commit, as for Trigger (the report can be sent again).
func (e *Engine) Complete(ctx context.Context, jobID, step, workerID string, res StepResult) error {
	if err := e.logs.Sync(jobID); err != nil {
		e.log.Warn("sync job log", "job", jobID, "err", err)
	}
	return e.store.updateRenderedCtx(ctx, e.completeRenders(jobID, step, res), func(t *txn) error {
		st, err := t.load(jobID)
		if err != nil {
			return err
		}
		s := st.step(step)
		if s == nil {
			return ErrNotFound
		}
		if s.Status != StepRunning || s.ChildJobID != "" {
			return &ConflictError{Msg: "Step is not running"}
		}
		if workerID != "" && s.WorkerID != workerID {
			return &ConflictError{Msg: "Step is held by another worker"}
		}
		now := time.Now()
		j := st.job
		ev, msg, stopped := stoppedEnd(j)
		switch {
		case stopped:
		case res.Error == "":
			ev = stepComplete
			s.Output = res.Output
		default:
			if res.TimedOut {
				e.logProblem(t, jobID, now, "%s", stepTimeoutMessage(s.Name, s.Timeout))
			}
			ev, msg = stepFail, res.Error
		}
		if err := e.endStep(t, st, s, ev, now, msg); err != nil {
			return err
		}
		snap, err := e.snapshot(j)
		if err != nil {
			return e.finishLater(t, st, now)
		}
		return e.advance(t, st, snap, now)
	})
}

// noteWorkerJob indexes that a worker ran a step of a job.
func (t *txn) noteWorkerJob(workerID, jobID string) error {
	k, err := idKey(jobID)
	if err != nil {
		return err
	}
	w, err := idKey(workerID)
	if err != nil {
		return fmt.Errorf("worker id: %w", err)
	}
	return t.Bucket(bucketWorkerJob).Put(append(append([]byte{}, w...), k...), nil)
}
