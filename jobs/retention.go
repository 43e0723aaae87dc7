package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"runnel/jobs/audit"
	"runnel/logstore"
	"runnel/workspace"
)

// Retention is the policy the Pruner enforces (server config
// `retention:`); a zero field disables its rule.
type Retention struct {
	// JobsDays deletes finished jobs created more than this many days ago.
	JobsDays int
	// MaxJobsPerTask keeps at most this many finished jobs per task, newest
	// first.
	MaxJobsPerTask int
	// WorkersDays deletes remote workers inactive for longer.
	WorkersDays int
	// AuditDays deletes audit log entries older than this many days.
	AuditDays int
}

// RetentionStats says what one retention pass deleted.
type RetentionStats struct {
	Jobs, Steps, Logs, Workers, Schedules int
	// Audit counts the audit log entries deleted.
	Audit int
	// LogBytes is the size of the log files removed.
	LogBytes int64
}

// report hands what a pass deleted to the metrics, kind by kind.
func (st RetentionStats) report(m Metrics) {
	for _, k := range []struct {
		kind string
		n    int64
	}{
		{"jobs", int64(st.Jobs)}, {"steps", int64(st.Steps)}, {"logs", int64(st.Logs)}, {"log_bytes", st.LogBytes},
		{"workers", int64(st.Workers)}, {"schedule_records", int64(st.Schedules)}, {"audit_entries", int64(st.Audit)},
	} {
		if k.n > 0 {
			m.RetentionDeleted(k.kind, k.n)
		}
	}
}

// PrunerOptions configure a Pruner.
type PrunerOptions struct {
	Store *Store
	Logs  *logstore.Store
	// Defs tells which workspaces are still configured (schedule records
	// of the others are dropped).
	Defs Definitions
	// Audit is the audit log whose old entries AuditDays deletes (nil:
	// none).
	Audit *audit.Log
	// Policy is enforced every Interval once started (zero: keep all).
	Policy Retention
	// Interval is the period of the passes (default 60 s, the engine's
	// recovery sweep period).
	Interval time.Duration
	// Logger receives what each pass freed.
	Logger *slog.Logger
}

// Pruner deletes what the retention policy no longer keeps: finished jobs
// with their steps, indexes and logs, inactive workers, schedule records of
// removed workspaces and old audit entries. It shares the store with the
// engine, not the engine's state: a job it deletes is finalized, which the
// engine never touches again.
type Pruner struct {
	opts PrunerOptions
	log  *slog.Logger

	cancel context.CancelFunc
	done   sync.WaitGroup
	closed sync.Once
}

// NewPruner returns a pruner; it does no I/O.
func NewPruner(o PrunerOptions) *Pruner {
	if o.Interval <= 0 {
		o.Interval = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Pruner{opts: o, log: o.Logger}
}

// Start starts a pass every Interval when the policy is not zero. ctx
// bounds the start only (as for the engine): a cancelled ctx fails it; once
// started, the pruner runs until Close.
func (r *Pruner) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start retention: %w", err)
	}
	if r.opts.Policy == (Retention{}) {
		return nil
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		tick := time.NewTicker(r.opts.Interval)
		defer tick.Stop()
		for {
			select {
			case <-run.Done():
				return
			case now := <-tick.C:
				r.pass(now)
			}
		}
	}()
	return nil
}

// Close stops the passes and waits for one under way. Idempotent.
func (r *Pruner) Close() error {
	r.closed.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		r.done.Wait()
	})
	return nil
}

// retentionBatch bounds the jobs deleted per write transaction, so a pass
// over a large store never holds the writer for long.
const retentionBatch = 200

// Enforce applies the retention policy as of now. Only finalized jobs (ended,
// terminal actions done) are deleted, and the newest job of every task is
// always kept. A job goes with its steps, index entries, counters and log
// file; workers inactive past WorkersDays go with their job links; schedule
// records of workspaces no longer configured are dropped; audit entries
// older than AuditDays go last, oldest first. It works in small
// transactions and can be interrupted between them.
func (r *Pruner) Enforce(now time.Time, p Retention) (st RetentionStats, err error) {
	defer func() { st.report(r.opts.Store.metrics) }()
	victims, err := r.victims(now, p)
	if err != nil {
		return st, err
	}
	for len(victims) > 0 {
		n := min(retentionBatch, len(victims))
		if err := r.deleteJobs(victims[:n], &st); err != nil {
			return st, err
		}
		victims = victims[n:]
	}
	if p.WorkersDays > 0 {
		if err := r.deleteWorkers(now.Add(-time.Duration(p.WorkersDays)*24*time.Hour), &st); err != nil {
			return st, err
		}
	}
	if err := r.deleteOrphanSchedules(&st); err != nil {
		return st, err
	}
	if p.AuditDays > 0 && r.opts.Audit != nil {
		n, err := r.opts.Audit.Prune(now.Add(-time.Duration(p.AuditDays) * 24 * time.Hour))
		st.Audit += n
		if err != nil {
			return st, fmt.Errorf("retention: %w", err)
		}
	}
	return st, nil
}

// pass is one periodic retention pass: it logs what it freed.
func (r *Pruner) pass(now time.Time) {
	start := time.Now()
	st, err := r.Enforce(now, r.opts.Policy)
	if err != nil && !errors.Is(err, errStoreClosed) {
		r.log.Error("retention", "err", err)
	}
	if st != (RetentionStats{}) {
		r.log.Info("retention freed space", "jobs", st.Jobs, "steps", st.Steps, "logs", st.Logs,
			"log_bytes", st.LogBytes, "workers", st.Workers, "schedule_records", st.Schedules, "audit_entries", st.Audit,
			"took", time.Since(start).Round(time.Millisecond))
	}
}

// victims lists the finalized jobs the policy deletes, oldest
// first, never the newest job of a task.
func (r *Pruner) victims(now time.Time, p Retention) ([]string, error) {
	if p.JobsDays <= 0 && p.MaxJobsPerTask <= 0 {
		return nil, nil
	}
	cutoff := now.Add(-time.Duration(p.JobsDays) * 24 * time.Hour)
	var out []string
	err := r.opts.Store.view(func(t *txn) error {
		// Walk each task's index from newest to oldest: the position says
		// whether the count rule applies, the creation time whether the age
		// rule does. UUIDv7 keys sort by creation time.
		c := t.Bucket(bucketByTask).Cursor()
		var task []byte
		pos := 0
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if len(k) < 17 {
				continue
			}
			prefix, key := k[:len(k)-16], k[len(k)-16:]
			if !bytes.Equal(prefix, task) {
				task, pos = append(task[:0], prefix...), 0
			}
			pos++
			if pos == 1 {
				continue // the newest job of a task is always kept
			}
			j, err := t.getJob(keyString(key))
			if err != nil || !j.Finalized {
				continue
			}
			byCount := p.MaxJobsPerTask > 0 && pos > p.MaxJobsPerTask
			byAge := p.JobsDays > 0 && j.CreatedAt.Before(cutoff)
			if byCount || byAge {
				out = append(out, j.ID)
			}
		}
		return nil
	})
	return out, err
}

// deleteJobs removes jobs in one transaction, then their log files.
func (r *Pruner) deleteJobs(ids []string, st *RetentionStats) error {
	var gone []string
	steps := 0
	err := r.opts.Store.update(func(t *txn) error {
		gone, steps = gone[:0], 0
		for _, id := range ids {
			n, err := t.deleteJob(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			gone, steps = append(gone, id), steps+n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retention: delete jobs: %w", err)
	}
	st.Jobs += len(gone)
	st.Steps += steps
	for _, id := range gone {
		size, _ := r.opts.Logs.Size(id)
		if err := r.opts.Logs.Remove(id); err != nil {
			r.log.Warn("retention: remove log", "job", id, "err", err)
			continue
		}
		if size > 0 {
			st.Logs++
			st.LogBytes += size
		}
	}
	return nil
}

// deleteJob removes a finalized job's record, steps, index entries,
// worker links and counters; it returns the number of steps.
func (t *txn) deleteJob(id string) (int, error) {
	j, err := t.getJob(id)
	if err != nil {
		return 0, err
	}
	if !j.Finalized {
		return 0, ErrNotFound // reopened since it was chosen: keep it
	}
	k, err := idKey(id)
	if err != nil {
		return 0, err
	}
	steps, err := t.getSteps(id)
	if err != nil {
		return 0, err
	}
	workers := map[string]bool{j.WorkerID: j.WorkerID != ""}
	sb := t.Bucket(bucketSteps)
	for _, s := range steps {
		if s.WorkerID != "" {
			workers[s.WorkerID] = true
		}
		if err := sb.Delete(append(append([]byte{}, k...), s.Name...)); err != nil {
			return 0, err
		}
	}
	for w, ok := range workers {
		if u, err := uuid.Parse(w); ok && err == nil {
			if err := t.Bucket(bucketWorkerJob).Delete(append(append([]byte{}, u[:]...), k...)); err != nil {
				return 0, err
			}
		}
	}
	dels := []struct{ b, key []byte }{
		{bucketJobs, k},
		{bucketByWS, join([]byte(j.Workspace), k)},
		{bucketByTask, join([]byte(j.Workspace), []byte(j.Task), k)},
		{bucketByStatus, join([]byte(j.Status), k)},
		{bucketBySource, join([]byte(j.SourceType), k)},
		{bucketOpen, k},
	}
	for qk := range queueEntries(j, steps) {
		dels = append(dels, struct{ b, key []byte }{bucketQueue, []byte(qk)})
	}
	for _, d := range dels {
		if err := t.Bucket(d.b).Delete(d.key); err != nil {
			return 0, err
		}
	}
	for _, c := range countKeys(j.Workspace, j.Task) {
		if err := t.addCount(c, -1); err != nil {
			return 0, err
		}
	}
	return len(steps), nil
}

// deleteWorkers removes remote workers inactive since before cutoff, with
// their job links.
func (r *Pruner) deleteWorkers(cutoff time.Time, st *RetentionStats) error {
	n := 0
	err := r.opts.Store.update(func(t *txn) error {
		n = 0
		all, err := t.allWorkers()
		if err != nil {
			return err
		}
		for _, w := range all {
			if w.Builtin || w.Status == WorkerActive || !w.LastHeartbeat.Before(cutoff) {
				continue
			}
			u, err := uuid.Parse(w.ID)
			if err != nil {
				continue
			}
			if err := t.Bucket(bucketWorkers).Delete(u[:]); err != nil {
				return err
			}
			c := t.Bucket(bucketWorkerJob).Cursor()
			for k, _ := c.Seek(u[:]); k != nil && bytes.HasPrefix(k, u[:]); k, _ = c.Seek(u[:]) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retention: delete workers: %w", err)
	}
	st.Workers += n
	return nil
}

// deleteOrphanSchedules drops the scheduler records ("<ws>/<trigger>") of
// workspaces that are no longer configured.
func (r *Pruner) deleteOrphanSchedules(st *RetentionStats) error {
	recs, err := r.opts.Store.ScheduleRecords()
	if err != nil {
		return err
	}
	var del []string
	for key := range recs {
		ws, _, _ := bytes.Cut([]byte(key), []byte("/"))
		if _, err := r.opts.Defs.Current(string(ws)); errors.Is(err, workspace.ErrNotFound) {
			del = append(del, key)
		}
	}
	if err := r.opts.Store.PutScheduleRecords(nil, del); err != nil {
		return fmt.Errorf("retention: delete schedule records: %w", err)
	}
	st.Schedules += len(del)
	return nil
}
