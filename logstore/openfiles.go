package logstore

import (
	"container/list"
	"errors"
	"fmt"
	"os"
)

// The writer files open at once are bounded by Options.MaxOpen, not by the
// number of live jobs: a job's file is opened when it is written and stays
// open, in Store.lru, until Finish or until a writer of another job needs
// the slot, which then closes the least recently written file. Closing for
// a slot does not fsync; the job stays live (size, masks and step counts
// are kept) and Sync and Finish reopen the file to fsync lines written
// since the last fsync. Followers never use the writer's file, so they are
// not disturbed when it is closed and reopened.
//
// Lock order: a goroutine holds at most one jobLog.mu at a time while it
// takes a slot, and never waits for a slot while holding one. Store.mu may
// be taken under a jobLog.mu, never the reverse.

// errDead reports that a job's entry was dropped (Finish, Remove, Close)
// while its lock was released to wait for a slot: look the job up again.
var errDead = errors.New("job log entry dropped")

// openLocked makes sure j's writer file is open (j.mu held on entry and on
// return; released while waiting for a slot). It returns errDead if j was
// dropped meanwhile.
func (s *Store) openLocked(j *jobLog) error {
	if j.file != nil {
		return nil
	}
	j.mu.Unlock()
	err := s.acquireSlot()
	j.mu.Lock()
	if err != nil {
		return err
	}
	if j.dead || j.file != nil {
		s.releaseSlot()
		if j.dead {
			return errDead
		}
		return nil
	}
	if err := s.openFileLocked(j); err != nil {
		s.releaseSlot()
		return err
	}
	s.mu.Lock()
	j.elem = s.lru.PushFront(j)
	s.slotFreed.Broadcast() // j is now a candidate for eviction
	s.mu.Unlock()
	return nil
}

// acquireSlot takes one of the MaxOpen slots, closing the least recently
// written file if none is free. It must be called with no jobLog.mu held.
func (s *Store) acquireSlot() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return ErrClosed
		}
		if s.open < s.opts.MaxOpen {
			s.open++
			return nil
		}
		e := s.lru.Back()
		if e == nil {
			// Every slot is being opened or synced right now.
			s.slotFreed.Wait()
			continue
		}
		v := e.Value.(*jobLog)
		s.lru.Remove(e)
		v.elem = nil
		s.mu.Unlock()
		v.mu.Lock()
		// Only eviction closes a file without making its entry dead, and
		// only this goroutine took v out of the list: an open file of a
		// live v is still the one listed, and its slot is still counted.
		// A v pinned meanwhile returns to the list when unpinned.
		if v.file != nil && !v.dead && v.pins == 0 {
			v.file.Close() // no fsync: Sync and Finish reopen to do that
			v.file, v.buf = nil, nil
			s.mu.Lock()
			s.open--
			s.mu.Unlock()
		}
		v.mu.Unlock()
		s.mu.Lock()
	}
}

// releaseSlot gives back a slot taken by acquireSlot whose file was not
// opened.
func (s *Store) releaseSlot() {
	s.mu.Lock()
	s.open--
	s.slotFreed.Broadcast()
	s.mu.Unlock()
}

// closeFileLocked closes j's open writer file and frees its slot, or lets
// the last unpin free it (j.mu held). The caller fsyncs first if it must.
func (s *Store) closeFileLocked(j *jobLog) error {
	err := j.file.Close()
	j.file = nil
	s.mu.Lock()
	if j.elem != nil {
		s.lru.Remove(j.elem)
		j.elem = nil
	}
	if j.pins > 0 {
		j.unpinSlot = true
	} else {
		s.open--
		s.slotFreed.Broadcast()
	}
	s.mu.Unlock()
	return err
}

// pinLocked keeps j's open file from eviction while it is used outside
// j.mu (j.mu held).
func (s *Store) pinLocked(j *jobLog) {
	j.pins++
	s.mu.Lock()
	if j.elem != nil {
		s.lru.Remove(j.elem)
		j.elem = nil
	}
	s.mu.Unlock()
}

// unpinLocked undoes pinLocked (j.mu held): the last unpin frees the slot
// of a file closed meanwhile, or makes the open file evictable again.
func (s *Store) unpinLocked(j *jobLog) {
	j.pins--
	if j.pins > 0 {
		return
	}
	s.mu.Lock()
	switch {
	case j.unpinSlot:
		j.unpinSlot = false
		s.open--
	case j.file != nil && j.elem == nil:
		j.elem = s.lru.PushFront(j)
	}
	s.slotFreed.Broadcast()
	s.mu.Unlock()
}

// syncPath fsyncs a file that has no open writer (Close of an evicted job
// with lines not yet fsynced).
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync log %q: %w", path, err)
	}
	return nil
}

// recentSet remembers the last max job IDs added, forgetting the oldest.
type recentSet struct {
	max   int
	ids   map[string]*list.Element
	order list.List // job IDs, newest first
}

func newRecentSet(max int) recentSet {
	return recentSet{max: max, ids: make(map[string]*list.Element)}
}

func (r *recentSet) has(id string) bool {
	_, ok := r.ids[id]
	return ok
}

func (r *recentSet) add(id string) {
	if e, ok := r.ids[id]; ok {
		r.order.MoveToFront(e)
		return
	}
	r.ids[id] = r.order.PushFront(id)
	for r.order.Len() > r.max {
		e := r.order.Back()
		r.order.Remove(e)
		delete(r.ids, e.Value.(string))
	}
}

func (r *recentSet) remove(id string) {
	if e, ok := r.ids[id]; ok {
		r.order.Remove(e)
		delete(r.ids, id)
	}
}

func (r *recentSet) len() int { return r.order.Len() }
