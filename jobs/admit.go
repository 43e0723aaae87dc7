package jobs

// This file holds queue admission (issue 13 item 6): jobs of a task in a
// queue and steps of an action in a queue hold at most max_concurrent
// slots of it per workspace; the others wait pending, in arrival order.
//
// The queue is never a list in memory. It is derived from the job and step
// records: a job with Queue holds a slot from Admitted until it is
// finalized (nothing of it runs any more); a step with Queue arrives at
// QueuedAt (when it would have been ready) and holds a slot from Admitted
// until it is terminal. idx_queue indexes exactly these records (saveQueue
// keeps it in step with them in every flush), ordered by arrival: a job by
// created_at then id, a step by arrival time, job and name. So after a
// crash the order, the holders and the waiters are what was committed.
//
// Admission runs at the end of every update that changed an entry (a job or
// step arrived, one ended), before the commit (Store.settle): the next
// waiters take the free slots in the same transaction, so a slot is never
// left free while someone waits, even if the server dies right after. An
// entry admitted on arrival starts in that update; one that waited starts
// right after the commit, in its own update (advanceLater), or at startup
// (recovery advances every open job). Start and every sweep admit over all
// queues too (a limit raised by a reload).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"runnel/workspace"
)

// queueState is a loaded job's entries in idx_queue: as stored, and as the
// last settle of this update saw them (key → holding a slot).
type queueState struct {
	stored, settled map[string]bool
	// noted are entries whose wait was logged in this update.
	noted map[string]bool
}

// newQueueState returns the queue state of a job and its steps, nil when
// neither names a queue; stored says whether they are in the store.
func newQueueState(j *Job, steps []*Step, stored bool) *queueState {
	if j.Queue == "" && !slices.ContainsFunc(steps, func(s *Step) bool { return s.Queue != "" }) {
		return nil
	}
	qs := &queueState{}
	if stored {
		qs.stored = queueEntries(j, steps)
		qs.settled = qs.stored
	}
	return qs
}

// queueEntries returns the idx_queue entries of a job and its steps.
func queueEntries(j *Job, steps []*Step) map[string]bool {
	var out map[string]bool
	add := func(q string, at time.Time, step string, holding bool) {
		if out == nil {
			out = map[string]bool{}
		}
		out[queueKey(j.Workspace, q, at, j.ID, step)] = holding
	}
	if j.Queue != "" && !j.Finalized {
		add(j.Queue, j.CreatedAt, "", j.Admitted)
	}
	for _, s := range steps {
		if s.Queue != "" && !s.QueuedAt.IsZero() && !StepTerminal(s.Status) {
			add(s.Queue, s.QueuedAt, s.Name, s.Admitted)
		}
	}
	return out
}

// queuePrefix starts every key of a queue in idx_queue.
func queuePrefix(ws, q string) string { return ws + "\x00" + q + "\x00" }

// queueKey is an entry's key: the queue prefix, the arrival (8 bytes of
// Unix nanoseconds, big-endian), the job id (16 bytes) and the step name
// ("" for a job).
func queueKey(ws, q string, at time.Time, jobID, step string) string {
	var b strings.Builder
	b.WriteString(queuePrefix(ws, q))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(at.UnixNano()))
	b.Write(ts[:])
	k, _ := idKey(jobID)
	b.Write(k)
	b.WriteString(step)
	return b.String()
}

// queueRef is one entry of a queue's view.
type queueRef struct {
	key, jobID, step string
	holding          bool
}

// parseQueueKey splits a key into its queue (ws, name) and entry.
func parseQueueKey(k string) (ws, q string, ref queueRef, ok bool) {
	ws, rest, ok1 := strings.Cut(k, "\x00")
	q, rest, ok2 := strings.Cut(rest, "\x00")
	if !ok1 || !ok2 || len(rest) < 24 {
		return "", "", queueRef{}, false
	}
	return ws, q, queueRef{key: k, jobID: keyString([]byte(rest[8:24])), step: rest[24:]}, true
}

// saveQueue brings idx_queue in step with a saved job state.
func (t *txn) saveQueue(st *jobState) error {
	if st.queue == nil {
		return nil
	}
	cur := queueEntries(st.job, st.steps)
	b := t.Bucket(bucketQueue)
	for k := range st.queue.stored {
		if _, ok := cur[k]; !ok {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for k, holding := range cur {
		if old, ok := st.queue.stored[k]; ok && old == holding {
			continue
		}
		v := []byte{'w'}
		if holding {
			v[0] = 'h'
		}
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	st.queue.stored = cur
	return nil
}

// queueView returns a queue's entries in arrival order as this update
// sees them: idx_queue overlaid with the jobs loaded (and changed) in it.
func (t *txn) queueView(ws, q string) []queueRef {
	prefix := queuePrefix(ws, q)
	m := map[string]bool{}
	c := t.Bucket(bucketQueue).Cursor()
	for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
		m[string(k)] = len(v) > 0 && v[0] == 'h'
	}
	for _, st := range t.loaded {
		if st.queue == nil {
			continue
		}
		for k := range st.queue.stored {
			delete(m, k)
		}
		for k, holding := range queueEntries(st.job, st.steps) {
			if strings.HasPrefix(k, prefix) {
				m[k] = holding
			}
		}
	}
	out := make([]queueRef, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, _, ref, ok := parseQueueKey(k); ok {
			ref.holding = m[k]
			out = append(out, ref)
		}
	}
	return out
}

// settleQueues admits waiters in every queue whose entries changed since
// the last settle of this update (Store.settle; the store runs it again
// while it defers work).
func (e *Engine) settleQueues(t *txn) error {
	touched := map[[2]string]bool{}
	for _, st := range t.loaded {
		if st.queue == nil {
			continue
		}
		cur := queueEntries(st.job, st.steps)
		if maps.Equal(cur, st.queue.settled) {
			continue
		}
		for _, m := range []map[string]bool{cur, st.queue.settled} {
			for k := range m {
				if ws, q, _, ok := parseQueueKey(k); ok {
					touched[[2]string{ws, q}] = true
				}
			}
		}
		st.queue.settled = cur
	}
	for _, wq := range slices.SortedFunc(maps.Keys(touched), func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	}) {
		if err := e.admit(t, wq[0], wq[1], time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// admit gives a queue's free slots to its oldest waiters, which are then
// advanced in this update; the waiters left are logged once with their
// position.
func (e *Engine) admit(t *txn, ws, q string, now time.Time) error {
	view := t.queueView(ws, q)
	holders := 0
	for _, r := range view {
		if r.holding {
			holders++
		}
	}
	limit := e.queueLimit(t, ws, q, view)
	stored := t.Bucket(bucketQueue)
	pos := 0
	for _, r := range view {
		if r.holding {
			continue
		}
		waited := stored.Get([]byte(r.key)) != nil
		if holders >= limit && waited {
			pos++
			continue
		}
		// A new waiter is loaded in this update already.
		st, err := t.load(r.jobID)
		if err != nil {
			return err
		}
		what := "Job"
		if r.step != "" {
			what = "Step '" + r.step + "'"
		}
		if holders >= limit {
			pos++
			if st.queue != nil && !st.queue.noted[r.key] {
				if st.queue.noted == nil {
					st.queue.noted = map[string]bool{}
				}
				st.queue.noted[r.key] = true
				e.logLifecycle(t, r.jobID, now, "%s waits in queue '%s' at position %d (%d of %d slots taken)", what, queueName(q), pos, holders, limit)
			}
			continue
		}
		if r.step == "" {
			err = st.moveJob(jobAdmit, "")
		} else if s := st.step(r.step); s != nil {
			err = st.moveStep(s, stepAdmit, now, "")
		}
		if err != nil {
			return err
		}
		holders++
		if !waited {
			// Arrived in this update: it starts in it (its renders are
			// those of its arrival).
			t.later(func() error { return e.readvance(t, st, now) })
			continue
		}
		// A waiter starts right after this commit, in an update of its own:
		// the update that freed the slot (a worker's report, a cancel)
		// never renders another job's steps, and a chain of waiters that
		// fail at once never piles up in one update. If the server dies
		// in between, the startup recovery advances it (recover.go).
		e.logLifecycle(t, r.jobID, now, "%s got a slot of queue '%s'", what, queueName(q))
		id := r.jobID
		t.after(func() { e.advanceLater(id) })
	}
	return nil
}

// readvance advances a job in t after an admission.
func (e *Engine) readvance(t *txn, st *jobState, now time.Time) error {
	snap, err := e.snapshot(st.job)
	if err != nil {
		return e.finishLater(t, st, now)
	}
	return e.advance(t, st, snap, now)
}

// advanceLater advances an admitted job in its own update, off the
// store's writer (an effect must not submit updates synchronously).
func (e *Engine) advanceLater(id string) {
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		err := e.store.update(func(t *txn) error {
			st, err := t.load(id)
			if err != nil || st.job.Finalized {
				return err
			}
			return e.readvance(t, st, time.Now())
		})
		if err != nil && !errors.Is(err, errStoreClosed) {
			e.log.Error("start admitted job", "job", id, "err", err)
		}
	}()
}

// queueName names a queue in log lines (a private queue as its task's
// concurrency).
func queueName(q string) string {
	if task, ok := strings.CutPrefix(q, workspace.PrivateQueue("")); ok {
		return "concurrency of task '" + task + "'"
	}
	return q
}

// queueLimit is a queue's max_concurrent in the workspace's current
// revision; for a queue that revision no longer declares, the one of the
// revision of its oldest entry; else 1.
func (e *Engine) queueLimit(t *txn, ws, q string, view []queueRef) int {
	if snap, err := e.defs.Current(ws); err == nil && snap.Queues[q] != nil {
		return snap.Queues[q].MaxConcurrent
	}
	for _, r := range view {
		j, err := t.getJob(r.jobID)
		if err != nil {
			continue
		}
		if snap, err := e.snapshot(j); err == nil && snap.Queues[q] != nil {
			return snap.Queues[q].MaxConcurrent
		}
		break
	}
	return 1
}

// admitAll admits waiters in every queue that has some (Start, the
// sweep); with none it writes nothing.
func (e *Engine) admitAll() error {
	var queues [][2]string
	if err := e.store.view(func(t *txn) error {
		c := t.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			ws, q, _, ok := parseQueueKey(string(k))
			if ok && len(v) > 0 && v[0] == 'w' && (len(queues) == 0 || queues[len(queues)-1] != [2]string{ws, q}) {
				queues = append(queues, [2]string{ws, q})
			}
		}
		return nil
	}); err != nil || len(queues) == 0 {
		return err
	}
	return e.store.update(func(t *txn) error {
		now := time.Now()
		for _, wq := range queues {
			if err := e.admit(t, wq[0], wq[1], now); err != nil {
				return err
			}
		}
		return nil
	})
}

// queuePositions fills QueuePosition of a job and its steps that wait (a
// read of idx_queue; positions are 1-based among the waiters).
func (t *txn) queuePositions(j *Job, steps []*Step) {
	if jobWaiting(j) && !JobTerminal(j.Status) {
		j.QueuePosition = t.queuePosition(j.Workspace, j.Queue, queueKey(j.Workspace, j.Queue, j.CreatedAt, j.ID, ""))
	}
	for _, s := range steps {
		if s.Status == StepPending && stepWaits(s) && !s.QueuedAt.IsZero() {
			s.QueuePosition = t.queuePosition(j.Workspace, s.Queue, queueKey(j.Workspace, s.Queue, s.QueuedAt, j.ID, s.Name))
		}
	}
}

// queuePosition counts the waiters of a queue up to and including key (0
// when key is not waiting).
func (t *txn) queuePosition(ws, q, key string) int {
	prefix := []byte(queuePrefix(ws, q))
	n := 0
	c := t.Bucket(bucketQueue).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) > 0 && v[0] == 'w' {
			n++
		}
		if string(k) == key {
			if len(v) > 0 && v[0] == 'w' {
				return n
			}
			return 0
		}
	}
	return 0
}
