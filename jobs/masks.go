package jobs

import "sync"

// Masks knows the secret values masked in each job's log lines (SPEC
// §5.10): those of jobs being created are recorded by the engine, others
// are computed from the stored job and its pinned snapshot. It needs only
// the store and the definitions, so it is built before the log store that
// asks it (logstore.Options.Mask = masks.Values) and the engine that feeds
// it (Options.Masks): nothing reaches back into an engine not yet built.
type Masks struct {
	store *Store
	defs  Definitions

	mu sync.Mutex
	m  map[string][]string // job id → values, while the job is not finalized
}

// NewMasks returns the masks of the jobs in store, whose snapshots defs
// serves.
func NewMasks(store *Store, defs Definitions) *Masks {
	return &Masks{store: store, defs: defs, m: map[string][]string{}}
}

// Values returns the values masked in a job's log lines; the log store
// calls it once when it opens the job's writer.
func (m *Masks) Values(jobID string) []string {
	m.mu.Lock()
	vals, ok := m.m[jobID]
	m.mu.Unlock()
	if ok {
		return vals
	}
	var j *Job
	if err := m.store.view(func(t *txn) error {
		var err error
		j, err = t.getJob(jobID)
		return err
	}); err != nil {
		return nil
	}
	snap, err := m.defs.Snapshot(j.Workspace, j.Revision)
	if err != nil {
		return nil
	}
	vals = maskValues(j, snap)
	if !j.Finalized {
		m.mu.Lock()
		m.m[jobID] = vals
		m.mu.Unlock()
	}
	return vals
}

// set records a job's values (at creation).
func (m *Masks) set(jobID string, vals []string) {
	m.mu.Lock()
	m.m[jobID] = vals
	m.mu.Unlock()
}

// forget drops a job's values (finalized, or never created).
func (m *Masks) forget(jobID string) {
	m.mu.Lock()
	delete(m.m, jobID)
	m.mu.Unlock()
}
