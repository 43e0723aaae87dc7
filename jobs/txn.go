package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned for an unknown job, step, worker or user.
var ErrNotFound = errors.New("not found")

// txn is one update's view of a write (or read) transaction. Job states
// loaded through it are cached for the update and written back by flush;
// effects run after the commit, in commit order.
type txn struct {
	*bolt.Tx
	effects []func()
	work    []func() error
	states  map[string]*jobState
	loaded  []*jobState
	// renders holds the renders done outside for this update (render.go);
	// needs collects the ones this attempt asked for.
	renders *renderCache
	needs   []*renderJob
	// changes are reported to the store's observer after the commit;
	// recorded only when observe is set (an observer is registered).
	changes []Change
	observe bool
	metrics Metrics // nil in read transactions
	// measured are metric calls (observe); they run before effects, so a
	// waiter woken by an effect already finds them recorded.
	measured []func()
	// settle, when set, runs after the deferred work until it defers no
	// more (Store.settle).
	settle *func(t *txn) error
	// decoded memoises step decoding (stepcache.go); nil decodes always.
	decoded *stepCache
	// handoff is the built-in slot reporting in this update, which may
	// take a step the update makes ready (claim.go); nil otherwise.
	handoff *handoff
}

// after queues f to run after the transaction commits. Effects must not
// block or submit updates synchronously.
func (t *txn) after(f func()) { t.effects = append(t.effects, f) }

// later queues fn to run in the same transaction, after the current
// engine step returns (parent propagation without re-entrancy).
func (t *txn) later(fn func() error) { t.work = append(t.work, fn) }

// drain runs deferred work, then settle, until neither leaves work.
func (t *txn) drain() error {
	for {
		for len(t.work) > 0 {
			fn := t.work[0]
			t.work = t.work[1:]
			if err := fn(); err != nil {
				return err
			}
		}
		if t.settle == nil {
			return nil
		}
		if err := (*t.settle)(t); err != nil {
			return err
		}
		if len(t.work) == 0 {
			return nil
		}
	}
}

// runEffects runs the queued effects, isolating panics.
func (t *txn) runEffects() {
	for _, f := range append(t.measured, t.effects...) {
		func() {
			defer func() {
				if r := recover(); r != nil {
					slog.Error("panic in store effect", "panic", r)
				}
			}()
			f()
		}()
	}
}

// jobState is a job and its steps loaded for modification.
type jobState struct {
	job        *Job
	steps      []*Step // DAG order
	byName     map[string]*Step
	isNew      bool
	dirtyJob   bool
	dirtySteps map[string]bool
	origStatus string
	origFinal  bool
	// origSteps holds step statuses as last stored (step events).
	origSteps map[string]string
	// lite: the job record was read without its input and output
	// (loadStep with lite); it must not be written back.
	lite bool
	// queue is set when the job or a step names a queue; its entries in
	// idx_queue as stored and as last settled (admit.go).
	queue *queueState
	// passed holds copies of steps as they were in a status they left in
	// this update without it being stored (a step handed off: ready), for
	// their step events.
	passed map[string]*Step
}

func (st *jobState) touch()              { st.dirtyJob = true }
func (st *jobState) touchStep(s *Step)   { st.dirtySteps[s.Name] = true }
func (st *jobState) step(n string) *Step { return st.byName[n] }

// idKey converts a job id to its 16-byte key.
func idKey(id string) ([]byte, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("invalid job id %q: %w", id, err)
	}
	return u[:], nil
}

func keyString(k []byte) string {
	var u uuid.UUID
	copy(u[:], k)
	return u.String()
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, []byte{0}) }

// newState registers a job created in this transaction.
func (t *txn) newState(j *Job, steps []*Step) *jobState {
	st := &jobState{job: j, steps: steps, byName: make(map[string]*Step, len(steps)), isNew: true,
		dirtyJob: true, dirtySteps: make(map[string]bool, len(steps))}
	for _, s := range steps {
		st.byName[s.Name] = s
		st.dirtySteps[s.Name] = true
	}
	st.queue = newQueueState(j, steps, false)
	t.cache(st)
	return st
}

func (t *txn) cache(st *jobState) {
	if t.states == nil {
		t.states = make(map[string]*jobState)
	}
	t.states[st.job.ID] = st
	t.loaded = append(t.loaded, st)
}

// load reads a job and its steps for modification (cached per update).
func (t *txn) load(id string) (*jobState, error) {
	if st, ok := t.states[id]; ok {
		return st, nil
	}
	j, err := t.getJob(id)
	if err != nil {
		return nil, err
	}
	steps, err := t.getSteps(id)
	if err != nil {
		return nil, err
	}
	st := &jobState{job: j, steps: steps, byName: make(map[string]*Step, len(steps)),
		dirtySteps: make(map[string]bool), origStatus: j.Status, origFinal: j.Finalized,
		origSteps: make(map[string]string, len(steps))}
	for _, s := range steps {
		st.byName[s.Name] = s
		st.origSteps[s.Name] = s.Status
	}
	st.queue = newQueueState(j, steps, true)
	t.cache(st)
	return st, nil
}

// loadStep reads a job and one of its steps (nil when absent) for a change
// of that step and the job record alone, as a claim makes: reading every
// step would cost each claim the size of the job (a loop's instances). The
// state holds no other step, so nothing that plans over the job (advance,
// finish) may be given it; it is not cached, and keep registers it for the
// commit once it is changed.
//
// With lite, the job's input and output are not decoded (a loop's input can
// be its whole list): for reads, and for changes of the step alone.
func (t *txn) loadStep(id, name string, lite bool) (*jobState, *Step, error) {
	get := t.getJob
	if lite {
		get = t.getJobLite
	}
	j, err := get(id)
	if err != nil {
		return nil, nil, err
	}
	st := &jobState{job: j, byName: map[string]*Step{}, dirtySteps: map[string]bool{},
		origStatus: j.Status, origFinal: j.Finalized, origSteps: map[string]string{}, lite: lite}
	k, _ := idKey(id)
	raw := t.Bucket(bucketSteps).Get(append(k, name...))
	if raw == nil {
		return st, nil, nil
	}
	s := new(Step)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, nil, fmt.Errorf("decode step %s/%s: %w", id, name, err)
	}
	st.steps, st.byName[name], st.origSteps[name] = []*Step{s}, s, s.Status
	return st, s, nil
}

// keep registers a state from loadStep for the commit.
func (t *txn) keep(st *jobState) { t.loaded = append(t.loaded, st) }

// getJobLite reads one job record without steps, input and output (they
// are scanned, not built).
func (t *txn) getJobLite(id string) (*Job, error) {
	k, err := idKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	raw := t.Bucket(bucketJobs).Get(k)
	if raw == nil {
		return nil, ErrNotFound
	}
	var aux struct {
		*Job
		Input  json.RawMessage `json:"input"`
		Output json.RawMessage `json:"output"`
	}
	aux.Job = new(Job)
	if err := json.Unmarshal(raw, &aux); err != nil {
		return nil, fmt.Errorf("decode job %s: %w", id, err)
	}
	return aux.Job, nil
}

// getJob reads one job record without steps.
func (t *txn) getJob(id string) (*Job, error) {
	k, err := idKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	raw := t.Bucket(bucketJobs).Get(k)
	if raw == nil {
		return nil, ErrNotFound
	}
	j := new(Job)
	if err := json.Unmarshal(raw, j); err != nil {
		return nil, fmt.Errorf("decode job %s: %w", id, err)
	}
	return j, nil
}

// getSteps reads a job's steps in DAG order.
func (t *txn) getSteps(id string) ([]*Step, error) {
	k, err := idKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	var steps []*Step
	c := t.Bucket(bucketSteps).Cursor()
	for sk, v := c.Seek(k); sk != nil && bytes.HasPrefix(sk, k); sk, v = c.Next() {
		s, err := t.decoded.decode(sk, v)
		if err != nil {
			return nil, fmt.Errorf("decode step %s/%s: %w", id, sk[16:], err)
		}
		steps = append(steps, s)
	}
	sort.Slice(steps, func(a, b int) bool { return stepBefore(steps[a], steps[b]) })
	return steps, nil
}

// getStep reads one step of a job (nil when it has none of that name).
func (t *txn) getStep(id, name string) (*Step, error) {
	k, err := idKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	k = append(k, name...)
	raw := t.Bucket(bucketSteps).Get(k)
	if raw == nil {
		return nil, nil
	}
	s, err := t.decoded.decode(k, raw)
	if err != nil {
		return nil, fmt.Errorf("decode step %s/%s: %w", id, name, err)
	}
	return s, nil
}

// flush writes every modified job state, maintaining indexes and counters.
func (t *txn) flush() error {
	for _, st := range t.loaded {
		if err := t.save(st); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) save(st *jobState) error {
	j := st.job
	k, err := idKey(j.ID)
	if err != nil {
		return err
	}
	if st.lite && st.dirtyJob {
		return fmt.Errorf("job %s: a record read without its input cannot be written", j.ID)
	}
	// Metrics first: recordJob moves origSteps on to the saved statuses.
	t.measureJob(st)
	t.recordJob(st)
	if err := t.saveQueue(st); err != nil {
		return err
	}
	if st.dirtyJob {
		raw, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("encode job %s: %w", j.ID, err)
		}
		if err := t.Bucket(bucketJobs).Put(k, raw); err != nil {
			return err
		}
		if st.isNew {
			if err := t.indexNew(j, k); err != nil {
				return err
			}
		} else if st.origStatus != j.Status {
			b := t.Bucket(bucketByStatus)
			if err := b.Delete(join([]byte(st.origStatus), k)); err != nil {
				return err
			}
			if err := b.Put(join([]byte(j.Status), k), nil); err != nil {
				return err
			}
		}
		if j.Finalized != st.origFinal || (st.isNew && !j.Finalized) {
			if j.Finalized {
				err = t.Bucket(bucketOpen).Delete(k)
			} else {
				err = t.Bucket(bucketOpen).Put(k, nil)
			}
			if err != nil {
				return err
			}
		}
		st.origStatus = j.Status
		st.origFinal = j.Finalized
		st.isNew = false
		st.dirtyJob = false
	}
	if len(st.dirtySteps) > 0 {
		b := t.Bucket(bucketSteps)
		for name := range st.dirtySteps {
			s := st.byName[name]
			raw, err := json.Marshal(s)
			if err != nil {
				return fmt.Errorf("encode step %s/%s: %w", j.ID, name, err)
			}
			if err := b.Put(append(append([]byte{}, k...), name...), raw); err != nil {
				return err
			}
			if st.origSteps != nil {
				st.origSteps[name] = s.Status
			}
		}
		clear(st.dirtySteps)
	}
	return nil
}

func (t *txn) indexNew(j *Job, k []byte) error {
	puts := []struct {
		b   []byte
		key []byte
	}{
		{bucketByWS, join([]byte(j.Workspace), k)},
		{bucketByTask, join([]byte(j.Workspace), []byte(j.Task), k)},
		{bucketByStatus, join([]byte(j.Status), k)},
		{bucketBySource, join([]byte(j.SourceType), k)},
	}
	for _, p := range puts {
		if err := t.Bucket(p.b).Put(p.key, nil); err != nil {
			return err
		}
	}
	for _, c := range countKeys(j.Workspace, j.Task) {
		if err := t.addCount(c, 1); err != nil {
			return err
		}
	}
	return nil
}

func countKeys(ws, task string) [][]byte {
	return [][]byte{[]byte("all"), join([]byte("ws"), []byte(ws)), join([]byte("task"), []byte(ws), []byte(task))}
}

func (t *txn) addCount(key []byte, d int64) error {
	b := t.Bucket(bucketCounts)
	v := int64(0)
	if raw := b.Get(key); raw != nil {
		v = int64(decodeUint(raw))
	}
	return b.Put(key, encodeUint(uint64(v+d)))
}

func (t *txn) count(key []byte) int {
	if raw := t.Bucket(bucketCounts).Get(key); raw != nil {
		return int(decodeUint(raw))
	}
	return 0
}

// openJobIDs returns the ids of jobs not yet finalized (pending, running,
// or terminal with steps still stopping), oldest first.
func (t *txn) openJobIDs() []string {
	var ids []string
	c := t.Bucket(bucketOpen).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ids = append(ids, keyString(k))
	}
	return ids
}
