package jobs

import "time"

// Metrics receives the measurements of the store, the engine and the
// scheduler as they happen (implemented by runnel/metrics; cmd wires it
// through Store.Instrument). Calls are made after the transaction that
// caused them committed, never inside it, and before that transaction's
// effects (so whoever is woken by a job's end finds it counted); they must
// not block.
type Metrics interface {
	// JobStarted: a job was created.
	JobStarted(ws, task, source string)
	// JobFinished: a job reached a terminal status, took after its creation.
	JobFinished(ws, task, source, status string, took time.Duration)
	// StepFinished: a step that ran reached a terminal status after took.
	StepFinished(ws, task, status string, took time.Duration)
	// StepDispatched: a step went from ready to running after wait.
	StepDispatched(wait time.Duration)
	// StoreCommitted: one write transaction took took.
	StoreCommitted(took time.Duration)
	// RetentionDeleted: a retention pass deleted n things of kind (jobs,
	// steps, logs, log_bytes, workers, schedule_records, audit_entries).
	RetentionDeleted(kind string, n int64)
}

// nopMetrics records nothing (no Instrument call).
type nopMetrics struct{}

func (nopMetrics) JobStarted(string, string, string)                         {}
func (nopMetrics) JobFinished(string, string, string, string, time.Duration) {}
func (nopMetrics) StepFinished(string, string, string, time.Duration)        {}
func (nopMetrics) StepDispatched(time.Duration)                              {}
func (nopMetrics) StoreCommitted(time.Duration)                              {}
func (nopMetrics) RetentionDeleted(string, int64)                            {}

// Instrument sends the store's, its engine's and its scheduler's
// measurements to m; call it before Open.
func (s *Store) Instrument(m Metrics) { s.metrics = m }

// measure queues a metric call to run after the commit, before the
// effects.
func (t *txn) measure(f func()) { t.measured = append(t.measured, f) }

// measureJob queues the metrics of st's transitions since it was loaded (or
// created), to run after the commit.
func (t *txn) measureJob(st *jobState) {
	m := t.metrics
	if m == nil {
		return
	}
	j := st.job
	ws, task, source := j.Workspace, j.Task, j.SourceType
	if st.isNew {
		t.measure(func() { m.JobStarted(ws, task, source) })
	}
	if JobTerminal(j.Status) && (st.isNew || !JobTerminal(st.origStatus)) {
		status, took := j.Status, j.CompletedAt.Sub(j.CreatedAt)
		t.measure(func() { m.JobFinished(ws, task, source, status, max(0, took)) })
	}
	for name := range st.dirtySteps {
		s := st.byName[name]
		was := st.origSteps[name]
		if s.Status == StepRunning && was != StepRunning && !s.ReadyAt.IsZero() && !s.StartedAt.IsZero() {
			wait := s.StartedAt.Sub(s.ReadyAt)
			t.measure(func() { m.StepDispatched(max(0, wait)) })
		}
		if StepTerminal(s.Status) && !StepTerminal(was) && !s.StartedAt.IsZero() {
			status, took := s.Status, s.CompletedAt.Sub(s.StartedAt)
			t.measure(func() { m.StepFinished(ws, task, status, max(0, took)) })
		}
	}
}

// QueueStats returns the ready steps waiting for a worker and the oldest
// one's ready time (zero when none); it reads only the in-memory queue.
func (e *Engine) QueueStats() (depth int, oldest time.Time) { return e.queue.stats() }
