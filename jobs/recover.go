package jobs

import (
	"time"
)

// recover repairs what a previous process left (SPEC §5.9): steps running
// on the built-in worker fail (or end cancelled in a cancelled job), ready
// steps are queued again, job and approval deadlines are re-armed, and
// every open job is re-evaluated.
func (e *Engine) recover() error {
	var ids []string
	if err := e.store.view(func(t *txn) error {
		ids = t.openJobIDs()
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		err := e.store.update(func(t *txn) error {
			st, err := t.load(id)
			if err != nil {
				return err
			}
			return e.recoverJob(t, st, time.Now())
		})
		if err != nil {
			e.log.Error("recover job", "job", id, "err", err)
		}
	}
	if len(ids) > 0 {
		e.log.Info("recovered open jobs", "count", len(ids))
	}
	return nil
}

func (e *Engine) recoverJob(t *txn, st *jobState, now time.Time) error {
	j := st.job
	for _, s := range st.steps {
		if s.Status != StepRunning || s.ChildJobID != "" || s.WorkerID != e.builtinID {
			continue
		}
		ev, msg, stopped := stoppedEnd(j)
		if !stopped {
			e.logProblem(t, j.ID, now, "[recovery] server restarted while step '%s' was running", s.Name)
			ev, msg = stepFail, "server restarted while step was running"
		}
		if err := e.endRun(t, st, s, ev, now, msg, -1); err != nil {
			return err
		}
	}
	snap, err := e.snapshot(j)
	if err != nil {
		e.logProblem(t, j.ID, now, "[recovery] %s", err)
		for _, s := range st.steps {
			if s.Status != StepReady {
				continue
			}
			if err := e.rejectStep(t, st, s, now, "Failed to render action: "+err.Error()); err != nil {
				return err
			}
		}
		return e.finishLater(t, st, now)
	}
	for _, s := range st.steps {
		if s.Status == StepReady {
			item := &queueItem{jobID: j.ID, step: s.Name, readyAt: s.ReadyAt, created: j.CreatedAt, tags: s.Tags}
			t.after(func() { e.queue.push(item) })
		}
		if s.Status == StepWaiting && s.Approval != nil && !s.Approval.Deadline.IsZero() {
			name, deadline := s.Name, s.Approval.Deadline
			t.after(func() { e.armApproval(j.ID, name, deadline) })
		}
	}
	if !JobTerminal(j.Status) && !j.Deadline.IsZero() {
		id, deadline := j.ID, j.Deadline
		t.after(func() { e.armDeadline(id, deadline) })
	}
	return e.advance(t, st, snap, now)
}
