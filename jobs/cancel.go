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
func (e *Engine) Cancel(ctx context.Context, id, by string) error {
	return e.store.update(func(t *txn) error {
		return e.cancelJob(t, id, by, time.Now())
	})
}

// cancelJob cancels a job inside a transaction: pending and ready steps are
// cancelled, children of running task steps are cancelled recursively,
// running processes are told to stop; the job finalizes once nothing runs.
func (e *Engine) cancelJob(t *txn, id, by string, now time.Time) error {
	st, err := t.load(id)
	if err != nil {
		return err
	}
	j := st.job
	if JobTerminal(j.Status) {
		return ErrTerminal
	}
	j.Status = JobCancelled
	j.EndReason = by
	st.touch()
	e.logProblem(t, id, now, "Job cancelled %s", cancelledBy(by))
	if err := e.stopSteps(t, st, now, StepCancelled, "Job cancelled", "parent job "+id, errCancelled); err != nil {
		return err
	}
	e.endJob(t, st, now)
	snap, err := e.snapshot(j)
	if err != nil {
		return err
	}
	return e.maybeFinish(t, st, snap, now)
}

func cancelledBy(by string) string {
	const parent = "parent job "
	if len(by) > len(parent) && by[:len(parent)] == parent {
		return "with " + by
	}
	return "by " + by
}

// stopSteps ends a job's unfinished steps after a cancel or job timeout:
// pending/ready steps get waiting (cancelled or skipped), running task
// steps cancel their child and end with status/msg, running processes are
// signalled with cause and end when their report arrives.
func (e *Engine) stopSteps(t *txn, st *jobState, now time.Time, waiting, msg, childBy string, cause error) error {
	anyRunning := false
	for _, s := range st.steps {
		switch s.Status {
		case StepPending, StepReady:
			if s.Status == StepReady {
				id, name := st.job.ID, s.Name
				t.after(func() { e.queue.remove(id, name) })
			}
			s.Status = waiting
			s.CompletedAt = now
			if waiting == StepSkipped {
				s.SkipReason = "job timed out"
			}
			st.touchStep(s)
		case StepRunning:
			if s.ChildJobID != "" {
				if err := e.cancelJob(t, s.ChildJobID, childBy, now); err != nil && !errors.Is(err, ErrTerminal) && !errors.Is(err, ErrNotFound) {
					return err
				}
				s.Status = StepCancelled
				if waiting == StepSkipped {
					s.Status = StepFailed
				}
				s.ErrorMessage = msg
				s.CompletedAt = now
				st.touchStep(s)
				continue
			}
			anyRunning = true
		}
	}
	if anyRunning {
		id := st.job.ID
		t.after(func() { e.killJob(id, cause) })
	}
	return nil
}

// timeoutJob fails a job whose task timeout expired (SPEC §5.7).
func (e *Engine) timeoutJob(id string) {
	err := e.store.update(func(t *txn) error {
		st, err := t.load(id)
		if err != nil {
			return err
		}
		j := st.job
		if JobTerminal(j.Status) {
			return nil
		}
		now := time.Now()
		d := shell.FormatDuration(j.Timeout)
		j.Status = JobFailed
		j.Output = nil
		j.EndReason = "timeout"
		st.touch()
		e.logProblem(t, id, now, "[timeout] Job timed out after %s", d)
		if err := e.stopSteps(t, st, now, StepSkipped, "Job timed out after "+d, "parent job "+id, errTimeout); err != nil {
			return err
		}
		e.endJob(t, st, now)
		snap, err := e.snapshot(j)
		if err != nil {
			return err
		}
		return e.maybeFinish(t, st, snap, now)
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
	e.deadlines[id] = time.AfterFunc(time.Until(deadline), func() { e.timeoutJob(id) })
}

// stopDeadline forgets a finalized job's timer and stop cause.
func (e *Engine) stopDeadline(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.deadlines[id]; t != nil {
		t.Stop()
		delete(e.deadlines, id)
	}
	// Nothing of a finalized job runs any more.
	delete(e.killed, id)
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
