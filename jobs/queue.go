package jobs

import (
	"context"
	"sort"
	"sync"
	"time"
)

// queueItem is a ready step waiting for a worker. Items are hints: the
// claiming transaction checks the step is still ready.
type queueItem struct {
	jobID   string
	step    string
	readyAt time.Time
	created time.Time
	tags    []string
}

func (a *queueItem) before(b *queueItem) bool {
	if !a.readyAt.Equal(b.readyAt) {
		return a.readyAt.Before(b.readyAt)
	}
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	if a.jobID != b.jobID {
		return a.jobID < b.jobID
	}
	return a.step < b.step
}

// covers reports whether a worker with tags may run a step requiring req.
func covers(tags, req []string) bool {
	for _, r := range req {
		found := false
		for _, t := range tags {
			if t == r {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waiter is a blocked claim.
type waiter struct {
	tags []string
	ch   chan *queueItem // buffered 1; receives at most one item
}

// queue holds ready steps in claim order (oldest ready first) and the
// claims waiting for them. Owned by its mutex.
type queue struct {
	mu      sync.Mutex
	items   []*queueItem
	waiters []*waiter
	closed  bool
	done    chan struct{} // closed by close
	signal  chan struct{} // closed and replaced on every push (sweeper, tests)
}

func newQueue() *queue { return &queue{signal: make(chan struct{}), done: make(chan struct{})} }

// closedCh is closed when the queue closes.
func (q *queue) closedCh() <-chan struct{} { return q.done }

// push adds an item, handing it straight to the oldest waiter that can
// take it.
func (q *queue) push(it *queueItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range q.waiters {
		if covers(w.tags, it.tags) {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			w.ch <- it
			return
		}
	}
	n := len(q.items)
	if n == 0 || !it.before(q.items[n-1]) {
		q.items = append(q.items, it)
	} else {
		i := sort.Search(n, func(i int) bool { return it.before(q.items[i]) })
		q.items = append(q.items, nil)
		copy(q.items[i+1:], q.items[i:])
		q.items[i] = it
	}
	close(q.signal)
	q.signal = make(chan struct{})
}

// take returns the oldest item the tags cover, waiting until one is pushed,
// ctx ends (ctx.Err()) or the queue closes (ErrClosed).
func (q *queue) take(ctx context.Context, tags []string) (*queueItem, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	for i, it := range q.items {
		if covers(tags, it.tags) {
			q.items = append(q.items[:i], q.items[i+1:]...)
			q.mu.Unlock()
			return it, nil
		}
	}
	w := &waiter{tags: tags, ch: make(chan *queueItem, 1)}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()

	select {
	case it := <-w.ch:
		if it == nil {
			return nil, ErrClosed
		}
		return it, nil
	case <-ctx.Done():
		q.mu.Lock()
		removed := q.removeWaiterLocked(w)
		q.mu.Unlock()
		if !removed {
			// An item (or the close signal) was handed over meanwhile.
			if it := <-w.ch; it != nil {
				q.push(it)
			}
		}
		return nil, ctx.Err()
	}
}

func (q *queue) removeWaiterLocked(w *waiter) bool {
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// idle reports whether the queue is open and holds no item the tags
// cover: a slot with those tags would wait for the next push.
func (q *queue) idle(tags []string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	for _, it := range q.items {
		if covers(tags, it.tags) {
			return false
		}
	}
	return true
}

// close wakes every waiter with ErrClosed; later takes fail.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	close(q.done)
	for _, w := range q.waiters {
		w.ch <- nil
	}
	q.waiters = nil
}

// snapshot returns a copy of the queued items (sweeper).
func (q *queue) snapshot() []*queueItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*queueItem(nil), q.items...)
}

// remove drops the queued items of a step (it failed or was cancelled while
// ready).
func (q *queue) remove(jobID, step string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.items {
		if it.jobID == jobID && it.step == step {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return
		}
	}
}

// stats returns the queued items and the oldest one's ready time (zero
// when empty); O(1).
func (q *queue) stats() (int, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return 0, time.Time{}
	}
	return len(q.items), q.items[0].readyAt
}
