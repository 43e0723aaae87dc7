package jobs

// This file carries out retry: (issue 13 item 3): a failed attempt of a
// step with attempts left waits, pending with a stored retry_at, until a
// timer plans its job again (state.go: rows retry-wait and retry, plan's
// wake). The timers are memory only; recovery re-arms them from the store.

import (
	"errors"
	"fmt"
	"time"

	"runnel/jobs/shell"
)

// endRun ends the current attempt of a running step by ev (complete,
// fail or stop) with msg and the attempt's exit code. A step with a retry
// policy records the attempt; a failure the policy retries, in a job that
// is not stopped and with attempts left, waits for its next attempt
// (retry-wait) instead of failing.
func (e *Engine) endRun(t *txn, st *jobState, s *Step, ev stepEvent, now time.Time, msg string, code int) error {
	r := s.Retry
	if r != nil {
		s.Attempts = append(s.Attempts, Attempt{Attempt: s.Attempt, ExitCode: code, ErrorMessage: msg,
			StartedAt: s.StartedAt, CompletedAt: now, WorkerID: s.WorkerID})
	}
	if ev != stepFail || !retryWaits(st.job, s, code) {
		return e.endStep(t, st, s, ev, now, msg)
	}
	attempt, delay := s.Attempt, r.DelayAfter(s.Attempt)
	if err := st.moveStep(s, stepRetryWait, now, msg); err != nil {
		return err
	}
	s.RetryAt = now.Add(delay)
	e.logProblem(t, st.job.ID, now, "Step '%s' failed (attempt %d/%d), retrying in %s", s.Name, attempt, r.Attempts, formatDelay(delay))
	return nil
}

// formatDelay words a retry delay: milliseconds below a second, else as
// other durations (5s, 1m30s).
func formatDelay(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return shell.FormatDuration(d)
}

// failureCode is the exit code of a reported result: 0 on success, else
// the reported code, -1 when a failure came without one.
func failureCode(res StepResult) int {
	if res.Error == "" {
		return 0
	}
	if res.ExitCode == 0 {
		return -1
	}
	return res.ExitCode
}

// armRetry (re)schedules the planning of a job at wake, the earliest
// retry_at of its waiting steps, after the commit (zero: nothing waits).
func (e *Engine) armRetry(t *txn, id string, wake time.Time) {
	if wake.IsZero() {
		return
	}
	t.after(func() { e.scheduleRetry(id, wake) })
}

// retryTimer is the pending wake-up of one job's retries.
type retryTimer struct {
	at    time.Time
	timer *time.Timer
}

// scheduleRetry sets the job's retry timer to fire at wake, replacing a
// different one; nothing is armed once the engine is closing.
func (e *Engine) scheduleRetry(id string, wake time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	if old := e.retries[id]; old != nil {
		if old.at.Equal(wake) {
			return
		}
		old.timer.Stop()
	}
	rt := &retryTimer{at: wake}
	rt.timer = time.AfterFunc(time.Until(wake), func() { e.timerRun(func() { e.wakeRetries(id, rt) }) })
	e.retries[id] = rt
}

// wakeRetries plans a job whose retry time came: due steps become ready
// (advance), later ones re-arm the timer.
func (e *Engine) wakeRetries(id string, rt *retryTimer) {
	e.mu.Lock()
	if e.retries[id] == rt {
		delete(e.retries, id)
	}
	e.mu.Unlock()
	err := e.store.update(func(t *txn) error {
		st, err := t.load(id)
		if err != nil {
			return err
		}
		if st.job.Finalized {
			return nil
		}
		now := time.Now()
		snap, err := e.snapshot(st.job)
		if err != nil {
			return e.finishLater(t, st, now)
		}
		return e.advance(t, st, snap, now)
	})
	if err != nil && !errors.Is(err, errStoreClosed) && !errors.Is(err, ErrNotFound) {
		e.log.Error("retry step", "job", id, "err", err)
	}
}

// stopRetriesLocked forgets a job's retry timer (finalized, or closing).
func (e *Engine) stopRetriesLocked(id string) {
	if rt := e.retries[id]; rt != nil {
		rt.timer.Stop()
		delete(e.retries, id)
	}
}
