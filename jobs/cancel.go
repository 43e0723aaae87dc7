package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"runnel/jobs/shell"
)

// Cancel cancels a pending or running job on behalf of by ("api", a user's
// email): ErrNotFound, or ErrTerminal when it has already ended (SPEC §5.8).
// ctx bounds the wait to join a commit, as for Trigger.
func (e *Engine) Cancel(ctx context.Context, id, by string) error {
	return e.store.updateCtx(ctx, func(t *txn) error {
		return e.cancelJob(t, id, by, time.Now())
	})
}

// cancelJob cancels a job inside a transaction: the job moves to
// cancelled, its running steps are stopped (children of task steps
// cancelled recursively, processes signalled), and the plan (state.go)
// cancels its pending and ready steps; it finalizes once nothing runs.
func (e *Engine) cancelJob(t *txn, id, by string, now time.Time) error {
	st, err := t.load(id)
	if err != nil {
		return err
	}
	j := st.job
	if JobTerminal(j.Status) {
		return ErrTerminal
	}
	if err := st.moveJob(jobCancel, by); err != nil {
		return err
	}
	e.logProblem(t, id, now, "Job cancelled %s", cancelledBy(by))
	return e.stopJob(t, st, now, errCancelled)
}

func cancelledBy(by string) string {
	const parent = "parent job "
	if len(by) > len(parent) && by[:len(parent)] == parent {
		return "with " + by
	}
	return "by " + by
}

// stopJob carries out a cancel or job timeout the job's status already
// records: running task steps cancel their child and end as stoppedEnd
// says, running processes are signalled with cause (they end when their
// report arrives), then advance applies the plan for a stopped job
// (pending and ready steps cancelled or skipped) and finishes it.
func (e *Engine) stopJob(t *txn, st *jobState, now time.Time, cause error) error {
	ev, msg, _ := stoppedEnd(st.job)
	anyRunning := false
	for _, s := range st.steps {
		if s.Status != StepRunning {
			continue
		}
		if s.ChildJobID == "" {
			anyRunning = true
			continue
		}
		if err := e.cancelJob(t, s.ChildJobID, "parent job "+st.job.ID, now); err != nil && !errors.Is(err, ErrTerminal) && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := e.endStep(t, st, s, ev, now, msg); err != nil {
			return err
		}
	}
	if anyRunning {
		id := st.job.ID
		t.after(func() { e.killJob(id, cause) })
	}
	e.endJob(t, st, now)
	snap, err := e.snapshot(st.job)
	if err != nil {
		return err
	}
	return e.advance(t, st, snap, now)
}

// timeoutJob fails a job whose task timeout expired (SPEC §5.7).
func (e *Engine) timeoutJob(id string) {
	err := e.store.update(func(t *txn) error {
		st, err := t.load(id)
		if err != nil {
			return err
		}
		if JobTerminal(st.job.Status) {
			return nil
		}
		now := time.Now()
		if err := st.moveJob(jobTimeout, ""); err != nil {
			return err
		}
		e.logProblem(t, id, now, "[timeout] Job timed out after %s", shell.FormatDuration(st.job.Timeout))
		return e.stopJob(t, st, now, errTimeout)
	})
	if err != nil && !errors.Is(err, errStoreClosed) {
		e.log.Error("job timeout", "job", id, "err", err)
	}
}

// armDeadline schedules the job timeout (zero deadline: none).
func (e *Engine) armDeadline(id string, deadline time.Time) {
	if deadline.IsZero() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.deadlines[id]; old != nil {
		old.Stop()
	}
	e.deadlines[id] = time.AfterFunc(time.Until(deadline), func() { e.timerRun(func() { e.timeoutJob(id) }) })
}

// stopDeadline forgets a finalized job's timer and stop cause.
func (e *Engine) stopDeadline(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.deadlines[id]; t != nil {
		t.Stop()
		delete(e.deadlines, id)
	}
	e.stopApprovals(id)
	// Nothing of a finalized job runs any more.
	delete(e.killed, id)
	e.stopRetriesLocked(id)
}

// finishLog closes a finalized job's log so followers end.
// It runs on its own goroutine: the fsync must not hold up the store's
// writer, whose effects call it.
func (e *Engine) finishLog(id string) {
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		if err := e.logs.Finish(id); err != nil {
			e.log.Error("finish job log", "job", id, "err", err)
		}
	}()
}

// killJob stops the job's processes on built-in workers with cause; a
// process registered later (claimed just before) sees the cause at once.
func (e *Engine) killJob(id string, cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.killed[id] = cause
	for _, cancel := range e.running[id] {
		cancel(cause)
	}
}

// killAll stops every process on built-in workers (shutdown).
func (e *Engine) killAll(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, steps := range e.running {
		for _, cancel := range steps {
			cancel(cause)
		}
	}
}

// stepTimeoutMessage words a step timeout for the log.
func stepTimeoutMessage(step string, d time.Duration) string {
	return fmt.Sprintf("[timeout] Step '%s' timed out after %s", step, shell.FormatDuration(d))
}
