package jobs

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
		// The claim itself changes only this step and the job record;
		// the paths that fail the step plan over the whole job (full).
		st, s, err := t.loadStep(it.jobID, it.step, false)
		if errors.Is(err, ErrNotFound) {
			return errStale
		}
		if err != nil {
			return err
		}
		if s == nil || s.Status != StepReady || JobTerminal(st.job.Status) {
			return errStale
		}
		full := func() (*jobState, *Step, error) {
			st, err := t.load(it.jobID)
			if err != nil {
				return nil, nil, err
			}
			return st, st.step(it.step), nil
		}
		now := time.Now()
		snap, err := e.snapshot(st.job)
		if err != nil {
			st, s, err := full()
			if err != nil {
				return err
			}
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
			st, s, err := full()
			if err != nil {
				return err
			}
			if err := e.rejectStep(t, st, s, now, res.msg); err != nil {
				return err
			}
			return e.advance(t, st, snap, now)
		}
		t.keep(st)
		r, _ := res.val.(renderedAction)
		a, err = e.startOn(t, st, s, w, r, snap, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errStale
	}
	return a, nil
}

// startOn records a ready step running on worker w with its rendered
// action (the claim, SPEC §9.3) and returns the assignment.
func (e *Engine) startOn(t *txn, st *jobState, s *Step, w workerRef, r renderedAction, snap *workspace.Snapshot, now time.Time) (*Assignment, error) {
	if err := st.moveStep(s, stepClaim, now, ""); err != nil {
		return nil, err
	}
	s.WorkerID = w.id
	s.Acked = w.builtin
	if err := markRunning(t, st, now); err != nil {
		return nil, err
	}
	if st.job.WorkerID == "" {
		st.job.WorkerID = w.id
		st.touch()
	}
	if err := t.noteWorkerJob(w.id, st.job.ID); err != nil {
		return nil, err
	}
	e.logLifecycle(t, st.job.ID, now, "Step '%s' started on worker '%s' (%s)", s.Name, w.name, w.id)
	return &Assignment{
		JobID: st.job.ID, Workspace: st.job.Workspace, Task: st.job.Task, Step: s.Name,
		Action: s.Action, ActionType: s.ActionType, Revision: st.job.Revision,
		Command: r.Command, File: r.File, Env: r.Env, Tags: s.Tags,
		Input: stepInput(s), Timeout: s.Timeout, Dir: snap.Dir, Attempt: s.Attempt,
	}, nil
}

// handoff is a built-in slot reporting its step (issue 16): when that
// report makes a step ready that the slot can run and no older ready step
// waits for it, the same commit records "A completed" and "B running" on
// the slot, instead of queueing B and committing its claim apart. B is
// started only after that commit (a step not recorded as running cannot
// have started), and one recorded as running when the server dies fails
// with the recovery message, as any running step.
type handoff struct {
	w    workerRef
	tags []string
	// took is the step taken in this attempt of the update (nil: none).
	took *Assignment
}

// handOff lets the reporting slot of t take s, a step t just made ready,
// when the claim's action render was done outside the transaction
// (completeRenders) and the queue holds nothing older for the slot; taken
// reports whether it did (s is then running and must not be queued).
func (e *Engine) handOff(t *txn, st *jobState, s *Step, snap *workspace.Snapshot, now time.Time) (taken bool, err error) {
	h := t.handoff
	if h == nil || h.took != nil || !covers(h.tags, s.Tags) || !e.queue.idle(h.tags) {
		return false, nil
	}
	res, ok := t.renderedBefore(renderKey("claim", st.job.ID, s.Name), stepInput(s))
	if !ok || res.msg != "" {
		// Not rendered, or failing: the queue's claim deals with it.
		return false, nil
	}
	r, _ := res.val.(renderedAction)
	if t.observe {
		// Observers see it ready, then running, as if queued.
		if st.passed == nil {
			st.passed = make(map[string]*Step, 1)
		}
		c := *s
		st.passed[s.Name] = &c
	}
	if h.took, err = e.startOn(t, st, s, h.w, r, snap, now); err != nil {
		return false, err
	}
	return true, nil
}

// renderedBefore is rendered without asking: the result of a render done
// outside the transaction from an equal ctx, or false (nothing recorded).
func (t *txn) renderedBefore(key string, ctx any) (renderResult, bool) {
	if t.renders == nil {
		return renderResult{}, false
	}
	r := t.renders.m[key]
	if r == nil || !r.done || !reflect.DeepEqual(r.ctx, ctx) {
		return renderResult{}, false
	}
	return r.val, true
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
		st, x, err := t.loadStep(it.jobID, it.step, true)
		if err == nil {
			j, s = st.job, x
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
func (e *Engine) completeRenders(jobID, step string, res StepResult, h *handoff) *renderCache {
	c := newRenderCache()
	if res.Error != "" {
		return c
	}
	var st *jobState
	if err := e.store.view(func(t *txn) error {
		// An instance's end rarely makes a step ready (the next instance
		// under a bound, or the loop's dependants once); reading the
		// whole job for each would cost every instance its loop's size.
		if _, s, err := t.loadStep(jobID, step, true); err != nil || s == nil || s.Loop != "" {
			return errStale
		}
		var err error
		st, err = t.load(jobID)
		return err
	}); err != nil {
		return c
	}
	s := st.step(step)
	if s == nil || s.Status != StepRunning || s.ChildJobID != "" || s.ForEach != "" || JobTerminal(st.job.Status) {
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
	for _, p := range d.expand {
		if fs := task.Step(p.Name); fs != nil && fs.ForEach != nil {
			list, ctx := fs.ForEach, stepContext(st, snap)
			c.seed(renderKey("loop", jobID, p.Name), ctx, func() renderResult { return renderList(list, ctx) })
		}
	}
	for _, p := range append(d.evaluate, d.ready...) {
		a := snap.Actions[p.Action]
		fs := task.Step(flowName(p))
		if p.Rendered || a == nil || fs == nil {
			continue
		}
		ctx := withLoopVars(stepContext(st, snap), p)
		if p.When != "" {
			when := fs.When
			c.seed(renderKey("when", jobID, p.Name), ctx, func() renderResult { return evalWhen(when, ctx) })
		}
		c.seed(renderKey("step", jobID, p.Name), ctx, func() renderResult {
			return renderStep(fs, a, false, nil, ctx, snap)
		})
	}
	if h != nil {
		seedHandoff(c, h, jobID, d.ready, snap)
	}
	return c
}

// seedHandoff renders the action of the first step of ready the reporting
// slot can take, with the input rendered for it, so that the report can
// hand it to the slot in its commit (handOff).
func seedHandoff(c *renderCache, h *handoff, jobID string, ready []*Step, snap *workspace.Snapshot) {
	for _, p := range ready {
		a := snap.Actions[p.Action]
		if a == nil || a.Type == workspace.TypeTask || !covers(h.tags, p.Tags) {
			continue
		}
		input := stepInput(p)
		if !p.Rendered {
			r := c.m[renderKey("step", jobID, p.Name)]
			if r == nil || r.val.msg != "" {
				return
			}
			input, _ = r.val.val.(map[string]any)
		}
		c.seed(renderKey("claim", jobID, p.Name), input, func() renderResult {
			return claimRender(a, input, snap)
		})
		return
	}
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
	// ExitCode is the process exit code of a failure (-1: a signal, a
	// timeout or an infrastructure error; 0 with an Error counts as -1);
	// retry: on_exit_codes reads it.
	ExitCode int
}

// Complete records a step's end reported by the worker holding it:
// ConflictError when the step is not running or held by another worker
// (workerID "" skips that check). A step of a cancelled job ends cancelled;
// of a timed-out job, failed with the job timeout message. ctx bounds the
// wait to join a commit, as for Trigger (the report can be sent again).
func (e *Engine) Complete(ctx context.Context, jobID, step, workerID string, res StepResult) error {
	_, err := e.complete(ctx, jobID, step, workerID, res, nil)
	return err
}

// complete is Complete; with h (a built-in slot reporting), the commit may
// also hand the slot a step the report makes ready, returned (handOff).
func (e *Engine) complete(ctx context.Context, jobID, step, workerID string, res StepResult, h *handoff) (*Assignment, error) {
	if err := e.logs.Sync(jobID); err != nil {
		e.log.Warn("sync job log", "job", jobID, "err", err)
	}
	err := e.store.updateRenderedCtx(ctx, e.completeRenders(jobID, step, res, h), func(t *txn) error {
		if h != nil {
			h.took = nil // each attempt decides anew
			t.handoff = h
		}
		if done, err := e.completeInstance(t, jobID, step, workerID, res); done || err != nil {
			return err
		}
		st, err := t.load(jobID)
		if err != nil {
			return err
		}
		s := st.step(step)
		if s == nil {
			return ErrNotFound
		}
		if s.Status != StepRunning || s.ChildJobID != "" || s.ForEach != "" {
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
		if err := e.endRun(t, st, s, ev, now, msg, failureCode(res)); err != nil {
			return err
		}
		snap, err := e.snapshot(j)
		if err != nil {
			return e.finishLater(t, st, now)
		}
		return e.advance(t, st, snap, now)
	})
	if err != nil || h == nil {
		return nil, err
	}
	return h.took, nil
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
