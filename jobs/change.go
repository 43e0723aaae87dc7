package jobs

import "encoding/json"

// Change is one committed change of a job, a step or a worker, reported to
// the store's commit observer (see Store.OnCommit). Exactly one of Job,
// Step or Worker is set. The values are shallow copies: observers may keep
// them but must not modify their maps or slices.
type Change struct {
	// Job is set when a job was created or its status changed (Steps nil).
	Job *Job
	// JobID names the job of Step.
	JobID string
	// Step is set when a step's status changed (or a new job's step is not
	// pending).
	Step *Step
	// Worker is set when a worker registered or its status changed.
	Worker *Worker
	// Scrubbed is set when Step's job record is already scrubbed of
	// secrets (finalized jobs): its error message needs no masking.
	Scrubbed bool
}

// OnCommit sets fn (nil clears it), called by the store's writer after
// each write transaction commits with the changes it made, in commit order.
// fn runs on the writer: it must not block or submit updates. It may be
// set while the store runs.
func (s *Store) OnCommit(fn func([]Change)) {
	if fn == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&fn)
}

// recordJob notes a saved job state's changes (called by save before the
// dirty marks are cleared). A new job's event comes before its steps'; an existing job's status
// change comes after the step changes that caused it.
func (t *txn) recordJob(st *jobState) {
	if !t.observe {
		return
	}
	j := st.job
	jobChanged := st.dirtyJob && (st.isNew || st.origStatus != j.Status)
	if jobChanged && st.isNew {
		t.recordJobRecord(j)
	}
	for _, s := range st.steps {
		if !st.dirtySteps[s.Name] {
			continue
		}
		name := s.Name
		prev, known := st.origSteps[name]
		if known && prev == s.Status || !known && st.isNew && s.Status == StepPending {
			continue
		}
		if st.origSteps == nil {
			st.origSteps = make(map[string]string, len(st.steps))
		}
		st.origSteps[name] = s.Status
		if p := st.passed[name]; p != nil {
			t.changes = append(t.changes, Change{JobID: j.ID, Step: p, Scrubbed: j.Scrubbed})
			delete(st.passed, name)
		}
		c := *s
		t.changes = append(t.changes, Change{JobID: j.ID, Step: &c, Scrubbed: j.Scrubbed})
	}
	if jobChanged && !st.isNew {
		t.recordJobRecord(j)
	}
}

func (t *txn) recordJobRecord(j *Job) {
	c := *j
	c.Steps = nil
	t.changes = append(t.changes, Change{Job: &c})
}

// recordWorker notes a worker saved over its stored record old (nil when
// new) if it is new or its status changed.
func (t *txn) recordWorker(old []byte, w *Worker) {
	if !t.observe {
		return
	}
	var prev struct {
		Status string `json:"status"`
	}
	if old != nil && json.Unmarshal(old, &prev) == nil && prev.Status == w.Status {
		return
	}
	c := *w
	t.changes = append(t.changes, Change{Worker: &c})
}
