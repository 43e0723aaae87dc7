package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"runnel/jobs/shell"
	"runnel/logstore"
)

// Register records a new remote worker (a new id on every call, SPEC §9.2).
func (e *Engine) Register(name string, tags []string, version string) (*Worker, error) {
	if len(tags) == 0 {
		return nil, errors.New("tags must not be empty")
	}
	now := time.Now().UTC()
	w := &Worker{ID: uuid.NewString(), Name: name, Status: WorkerActive, Tags: tags,
		LastHeartbeat: now, RegisteredAt: now, Version: version}
	err := e.store.update(func(t *txn) error { return t.putWorker(w) })
	if err != nil {
		return nil, err
	}
	e.log.Info("worker registered", "worker", w.ID, "name", name, "tags", tags, "version", version)
	return w, nil
}

// HeartbeatInterval is how often remote workers should send heartbeats:
// a quarter of the heartbeat timeout, clamped to 1–30 s.
func (e *Engine) HeartbeatInterval() time.Duration {
	return min(max(e.opts.HeartbeatTimeout/4, time.Second), 30*time.Second)
}

// Heartbeat refreshes a worker and reactivates it: ErrNotFound for an
// unknown worker (it should register again).
func (e *Engine) Heartbeat(id string) (*Worker, error) {
	var w *Worker
	err := e.store.update(func(t *txn) error {
		var err error
		if w, err = t.getWorker(id); err != nil {
			return err
		}
		if w.Status != WorkerActive {
			e.log.Info("worker active again", "worker", id, "name", w.Name)
		}
		w.LastHeartbeat = time.Now().UTC()
		w.Status = WorkerActive
		return t.putWorker(w)
	})
	return w, err
}

// ClaimRemote waits until ctx ends for a ready step that tags cover (nil
// tags: the worker's registered tags) and marks it running for the worker;
// (nil, nil) when nothing came. It counts as a heartbeat; ErrNotFound for
// an unknown worker. A claim whose ctx ended is not committed.
func (e *Engine) ClaimRemote(ctx context.Context, workerID string, tags []string) (*Assignment, error) {
	return e.ClaimRemoteWait(ctx, ctx, workerID, tags)
}

// ClaimRemoteWait is ClaimRemote with the wait for a step bounded by wait
// and the claim itself by ctx: an ended wait still takes a step that is
// ready now (immediate pollers), and a step handed over as wait ends is
// still committed unless ctx (the request) has ended too.
func (e *Engine) ClaimRemoteWait(ctx, wait context.Context, workerID string, tags []string) (*Assignment, error) {
	w, err := e.Heartbeat(workerID)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		tags = w.Tags
	}
	a, err := e.claimWait(ctx, wait, workerRef{id: w.ID, name: w.Name}, tags)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		return nil, nil
	}
	return a, err
}

// checkHolder loads a running step held by workerID ("" = any holder).
func checkHolder(t *txn, jobID, step, workerID string) (*jobState, *Step, error) {
	st, err := t.load(jobID)
	if err != nil {
		return nil, nil, err
	}
	s := st.step(step)
	if s == nil {
		return nil, nil, ErrNotFound
	}
	if s.Status != StepRunning || s.ChildJobID != "" || s.ForEach != "" {
		return nil, nil, &ConflictError{Msg: "Step is not running"}
	}
	if workerID != "" && s.WorkerID != workerID {
		return nil, nil, &ConflictError{Msg: "Step is held by another worker"}
	}
	return st, s, nil
}

// StartStep confirms that a remote worker began a claimed step.
func (e *Engine) StartStep(jobID, step, workerID string) error {
	return e.store.update(func(t *txn) error {
		st, s, err := checkHolder(t, jobID, step, workerID)
		if err != nil {
			return err
		}
		if !s.Acked {
			s.Acked = true
			st.touchStep(s)
		}
		return nil
	})
}

// AppendLogs writes lines pushed by the worker holding a running step; they
// are in the file (masked) when it returns.
func (e *Engine) AppendLogs(jobID, step, workerID string, lines []logstore.Line) error {
	attempt := 0
	err := e.store.view(func(t *txn) error {
		_, s, err := checkHolder(t, jobID, step, workerID)
		if s != nil {
			attempt = s.Attempt
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := range lines {
		lines[i].Step, lines[i].Attempt = step, attempt
	}
	return e.logs.Append(jobID, lines...)
}

// Cancelled reports whether a job's running steps must stop (cancelled or
// timed out).
func (e *Engine) Cancelled(jobID string) (bool, error) {
	var stop bool
	err := e.store.view(func(t *txn) error {
		j, err := t.getJob(jobID)
		if err != nil {
			return err
		}
		stop = jobStopped(j)
		return nil
	})
	return stop, err
}

// sweeper runs the recovery sweep every SweepInterval (SPEC §9.6).
func (e *Engine) sweeper() {
	defer e.wg.Done()
	tick := time.NewTicker(e.opts.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.queue.closedCh():
			return
		case now := <-tick.C:
			if err := e.Sweep(now); err != nil && !errors.Is(err, errStoreClosed) {
				e.log.Error("recovery sweep", "err", err)
			}
		}
	}
}

// Sweep runs one recovery pass as of now: silent workers become inactive
// and their steps fail, unacknowledged claims are requeued, remote step
// deadlines and cancel graces are enforced, steps no active worker can
// take fail after the unmatched timeout, and queues admit waiters up to
// their current limits. Exported for tests.
func (e *Engine) Sweep(now time.Time) error {
	hb := e.opts.HeartbeatTimeout
	// Downtime never counts: times before this process started are read as
	// the start time.
	since := func(t time.Time) time.Duration {
		if t.Before(e.started) {
			t = e.started
		}
		return now.Sub(t)
	}
	var requeue []*queueItem
	err := e.store.update(func(t *txn) error {
		active := map[string]*Worker{}
		dead := map[string]bool{}
		workers, err := t.allWorkers()
		if err != nil {
			return err
		}
		for _, w := range workers {
			if w.Builtin {
				if w.ID == e.builtinID && e.opts.LocalWorkers > 0 {
					active[w.ID] = w
				}
				continue
			}
			if w.Status == WorkerActive && since(w.LastHeartbeat) > hb {
				w.Status = WorkerInactive
				if err := t.putWorker(w); err != nil {
					return err
				}
				e.log.Warn("worker unresponsive", "worker", w.ID, "name", w.Name)
			}
			if w.Status == WorkerActive {
				active[w.ID] = w
			} else {
				dead[w.ID] = true
			}
		}
		for _, id := range t.openJobIDs() {
			st, err := t.load(id)
			if err != nil {
				return err
			}
			changed := false
			for _, s := range st.steps {
				if s.Status != StepRunning || s.ChildJobID != "" || s.ForEach != "" || s.WorkerID == e.builtinID {
					continue
				}
				j := st.job
				stopEv, stopMsg, stopped := stoppedEnd(j)
				var err error
				switch {
				case dead[s.WorkerID]:
					e.logProblem(t, id, now, "[recovery] Worker %s unresponsive (heartbeat timeout), failing step '%s'", s.WorkerID, s.Name)
					err = e.endRun(t, st, s, stepFail, now, fmt.Sprintf("Worker heartbeat timeout (worker %s unresponsive)", s.WorkerID), -1)
				case !s.Acked && since(s.StartedAt) > hb:
					e.logProblem(t, id, now, "[recovery] Claim of step '%s' by worker %s was never started; requeued", s.Name, s.WorkerID)
					err = st.moveStep(s, stepRequeue, now, "")
					requeue = append(requeue, &queueItem{jobID: id, step: s.Name, readyAt: now, created: j.CreatedAt, tags: s.Tags})
				case stopped && since(j.CompletedAt) > cancelGrace:
					err = e.endRun(t, st, s, stopEv, now, stopMsg, -1)
				case s.Timeout > 0 && since(s.StartedAt) > s.Timeout+remoteTimeoutGrace:
					err = e.endRun(t, st, s, stepFail, now, fmt.Sprintf("Step timed out after %s (server-side enforcement)", shell.FormatDuration(s.Timeout)), -1)
				default:
					continue
				}
				if err != nil {
					return err
				}
				changed = true
			}
			if changed {
				snap, err := e.snapshot(st.job)
				if err != nil {
					if err := e.finishLater(t, st, now); err != nil {
						return err
					}
					continue
				}
				if err := e.advance(t, st, snap, now); err != nil {
					return err
				}
			}
		}
		return e.failUnmatched(t, now, since, active)
	})
	if err != nil {
		return err
	}
	for _, it := range requeue {
		e.queue.push(it)
	}
	// A queue limit raised by a reload takes effect here.
	return e.admitAll()
}

// Sweep timings.
const (
	cancelGrace        = 60 * time.Second
	remoteTimeoutGrace = 30 * time.Second
)

// noticeUnmatched writes a _server line when a step that just became
// ready needs tags no active worker has, naming the active workers and
// their tags, so a job that seems stuck says why. It runs once per step,
// at dispatch; the common case (the built-in worker covers the step) reads
// nothing.
func (e *Engine) noticeUnmatched(t *txn, jobID string, s *Step, now time.Time) error {
	if e.opts.LocalWorkers > 0 && covers(e.opts.LocalTags, s.Tags) {
		return nil
	}
	workers, err := t.allWorkers()
	if err != nil {
		return err
	}
	var active []string
	for _, w := range workers {
		tags := w.Tags
		switch {
		case w.ID == e.builtinID && e.opts.LocalWorkers > 0:
			tags = e.opts.LocalTags
		case w.Builtin || w.Status != WorkerActive:
			continue
		}
		if covers(tags, s.Tags) {
			return nil
		}
		active = append(active, fmt.Sprintf("%s [%s]", w.Name, strings.Join(tags, ", ")))
	}
	sort.Strings(active)
	list := "none"
	if len(active) > 0 {
		list = strings.Join(active, ", ")
	}
	e.logProblem(t, jobID, now, "Step '%s' is waiting for a worker with tags [%s]; active workers: %s", s.Name, strings.Join(s.Tags, ", "), list)
	return nil
}

// failUnmatched fails ready steps that waited longer than the unmatched
// timeout while no active worker's tags covered them.
func (e *Engine) failUnmatched(t *txn, now time.Time, since func(time.Time) time.Duration, active map[string]*Worker) error {
	limit := e.opts.UnmatchedTimeout
	if limit <= 0 {
		return nil
	}
	for _, it := range e.queue.snapshot() {
		if since(it.readyAt) <= limit {
			continue
		}
		matched := false
		for _, w := range active {
			tags := w.Tags
			if w.ID == e.builtinID {
				tags = e.opts.LocalTags
			}
			if covers(tags, it.tags) {
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		st, err := t.load(it.jobID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		s := st.step(it.step)
		if s == nil || s.Status != StepReady {
			e.queue.remove(it.jobID, it.step) // stale
			continue
		}
		e.queue.remove(it.jobID, it.step)
		e.logProblem(t, it.jobID, now, "[recovery] Step '%s' has been ready for %ds with no matching worker, failing", s.Name, int(limit.Seconds()))
		if err := e.rejectStep(t, st, s, now, fmt.Sprintf("No active worker with tags [%s] to run this step", strings.Join(s.Tags, ", "))); err != nil {
			return err
		}
		snap, err := e.snapshot(st.job)
		if err != nil {
			if err := e.finishLater(t, st, now); err != nil {
				return err
			}
			continue
		}
		if err := e.advance(t, st, snap, now); err != nil {
			return err
		}
	}
	return nil
}
