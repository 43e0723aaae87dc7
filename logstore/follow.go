package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// backfillChunk bounds a backfill chunk (unless one line is longer).
const backfillChunk = 1 << 20

// Follower delivers a job's log from an offset: the backfill first, then
// live data, with no byte lost or repeated between the two. Next must be
// called from one goroutine at a time; EndAtCurrent and Close may be called
// from any goroutine.
type Follower struct {
	s      *Store
	job    *jobLog       // subscribed entry; nil if the job was finished at Follow
	limit  int           // FollowBuffer
	notify chan struct{} // capacity 1: something changed

	mu       sync.Mutex // guards the fields below; taken after job.mu, never before
	file     *os.File   // backfill source; closed once the backfill is delivered
	pos      int64      // offset after the last byte returned by Next
	end      int64      // backfill end: the job's end when subscribing
	tail     int64      // end of the last live chunk taken (end before the first)
	queue    []chunk    // live chunks from end on; queue[0] starts where the previous ends
	queued   int        // bytes in queue
	ended    bool       // no more live data: io.EOF once drained
	slow     bool       // the queue overflowed: *SlowReaderError
	err      error      // ErrClosed, or a read error
	released bool       // file closed and removed from the Store
}

// chunk is one Append batch as written at [end-len(data), end).
type chunk struct {
	data []byte
	end  int64
}

// Follow subscribes to the job's live appends and then reads the backfill
// from offset; with offset < 0 it starts at the current end (no backfill).
// offset must be 0 or a line start within the file (else ErrInvalidOffset).
// For one of the last Options.RecentFinished jobs Finished in this process
// (and not written since), the follower ends at the current end; for a job
// finished earlier, the caller who knows it is terminal calls EndAtCurrent.
// Close the follower when done with it.
func (s *Store) Follow(jobID string, offset int64) (*Follower, error) {
	if err := checkJobID(jobID); err != nil {
		return nil, err
	}
	f := &Follower{s: s, limit: s.opts.FollowBuffer, notify: make(chan struct{}, 1)}
	path := s.path(jobID)
	var file *os.File // f.file once published under f.mu
	var end int64
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		s.followers[f] = struct{}{}
		if s.finished.has(jobID) {
			s.mu.Unlock()
			f.ended = true
			var err error
			if file, end, err = openFollow(path); err != nil {
				f.Close()
				return nil, err
			}
			break
		}
		j := s.jobs[jobID]
		if j == nil {
			j = &jobLog{id: jobID, path: path, subs: make(map[*Follower]struct{})}
			s.jobs[jobID] = j
		}
		s.mu.Unlock()

		j.mu.Lock()
		if j.dead {
			j.mu.Unlock()
			continue
		}
		// Under j.mu no Append runs: the file ends at a line end, the end
		// of what the backfill covers and the start of the first live chunk.
		var err error
		file, end, err = openFollow(path)
		if err == nil && j.live {
			end = j.size
		}
		if err != nil {
			j.dropIfIdleLocked(s)
			j.mu.Unlock()
			f.Close()
			return nil, err
		}
		f.job, f.end, f.tail = j, end, end
		j.subs[f] = struct{}{}
		j.mu.Unlock()
		break
	}
	if offset < 0 {
		offset = end
	}
	var err error
	if file == nil {
		if offset != 0 {
			err = ErrInvalidOffset
		}
	} else {
		err = checkOffset(file, offset, end)
	}
	f.mu.Lock()
	f.pos, f.end = offset, end
	if err == nil && !f.released {
		f.file, file = file, nil
	}
	f.mu.Unlock()
	if file != nil {
		file.Close()
		if err == nil {
			err = ErrClosed // released by the Store's Close meanwhile
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openFollow opens a job's file for a follower's backfill and returns the
// end of its complete lines; a missing file is (nil, 0).
func openFollow(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("follow log: %w", err)
	}
	end, _, err := committedEnd(f)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("follow log %q: %w", path, err)
	}
	return f, end, nil
}

// dropIfIdleLocked forgets an entry that is neither live nor followed
// (j.mu held).
func (j *jobLog) dropIfIdleLocked(s *Store) {
	if !j.live && len(j.subs) == 0 && !j.dead {
		s.dropLocked(j, false)
	}
}

// push queues a live chunk written at [start, end) (job.mu held). It
// reports false when the follower no longer takes live data: it ended, was
// closed, or just overflowed its queue (which is then dropped). It never
// blocks on the reader.
func (f *Follower) push(data []byte, start, end int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended || f.slow || f.err != nil {
		return false
	}
	if f.queued > 0 && f.queued+len(data) > f.limit {
		f.slow = true
		clear(f.queue)
		f.queue, f.queued = nil, 0
		f.signal()
		return false
	}
	if start != f.tail {
		// Cannot happen while j.mu serialises writes; never deliver a gap.
		f.err = fmt.Errorf("follow log: live chunk at %d, expected %d", start, f.tail)
		clear(f.queue)
		f.queue, f.queued = nil, 0
		f.signal()
		return false
	}
	f.tail = end
	f.queue = append(f.queue, chunk{data: data, end: end})
	f.queued += len(data)
	f.signal()
	return true
}

// signal wakes Next (f.mu held).
func (f *Follower) signal() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// stop makes the follower stop taking live data and end once drained.
func (f *Follower) stop() {
	f.mu.Lock()
	f.ended = true
	f.signal()
	f.mu.Unlock()
}

// fail ends the follower at once with err.
func (f *Follower) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	clear(f.queue)
	f.queue, f.queued = nil, 0
	f.signal()
	f.mu.Unlock()
}

// Next returns the next chunk: one or more complete lines, byte-identical to
// the file (backfill chunks ≤ 1 MiB unless one line is longer, live chunks
// one per Append), and the file offset just after it. It returns io.EOF
// after the last chunk of a finished job, *SlowReaderError when the queue
// overflowed, ErrClosed after Close, or ctx's error; the returned offset is
// then the resume offset. data is read-only and is valid until the next
// call.
func (f *Follower) Next(ctx context.Context) (data []byte, next int64, err error) {
	for {
		if err := ctx.Err(); err != nil {
			f.mu.Lock()
			pos := f.pos
			f.mu.Unlock()
			return nil, pos, err
		}
		f.mu.Lock()
		pos := f.pos
		if pos >= f.end && f.file != nil {
			// Backfill done: live data comes from the queue, so the
			// file handle is not kept for the follower's lifetime.
			file := f.file
			f.file = nil
			f.mu.Unlock()
			file.Close()
			continue
		}
		switch {
		case f.err != nil:
			err := f.err
			f.mu.Unlock()
			return nil, pos, err
		case f.slow:
			f.mu.Unlock()
			f.release()
			return nil, pos, &SlowReaderError{Offset: pos}
		case pos < f.end:
			end, file := f.end, f.file
			f.mu.Unlock()
			data, err := backfill(file, pos, end)
			f.mu.Lock()
			if err == nil && f.err != nil {
				err = f.err // closed while reading
			}
			if err != nil {
				if f.err == nil {
					f.err = err
				}
				f.mu.Unlock()
				return nil, pos, err
			}
			f.pos += int64(len(data))
			next := f.pos
			f.mu.Unlock()
			return data, next, nil
		case len(f.queue) > 0:
			c := f.queue[0]
			f.queue[0] = chunk{}
			f.queue = f.queue[1:]
			if len(f.queue) == 0 {
				f.queue = nil
			}
			f.queued -= len(c.data)
			f.pos = c.end
			f.mu.Unlock()
			return c.data, c.end, nil
		case f.ended:
			f.mu.Unlock()
			f.release()
			return nil, pos, io.EOF
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-f.notify:
		}
	}
}

// backfill reads the complete lines of [pos, end) from file, at most
// backfillChunk bytes unless the first line is longer.
func backfill(file *os.File, pos, end int64) ([]byte, error) {
	if file == nil {
		return nil, ErrClosed // released meanwhile
	}
	data, err := readLines(file, pos, end, backfillChunk)
	if err != nil {
		return nil, fmt.Errorf("follow log %q: %w", file.Name(), err)
	}
	if len(data) == 0 {
		// [pos, end) is whole lines written before Follow; reading none
		// means the file was cut or removed under us.
		return nil, fmt.Errorf("follow log %q: file shrank below offset %d", file.Name(), end)
	}
	return data, nil
}

// EndAtCurrent makes the follower end (io.EOF) once it has delivered
// everything written so far: for a job already finished before this process
// started. Idempotent, and consistent with Finish.
func (f *Follower) EndAtCurrent() {
	if j := f.job; j != nil {
		j.mu.Lock()
		if _, ok := j.subs[f]; ok {
			delete(j.subs, f)
			j.dropIfIdleLocked(f.s)
		}
		f.stop() // under j.mu: no Append lands between the two
		j.mu.Unlock()
		return
	}
	f.stop()
}

// Close unsubscribes and releases the follower; Next then returns
// ErrClosed (or the error that already ended it). Idempotent.
func (f *Follower) Close() {
	if j := f.job; j != nil {
		j.mu.Lock()
		if _, ok := j.subs[f]; ok {
			delete(j.subs, f)
			j.dropIfIdleLocked(f.s)
		}
		j.mu.Unlock()
	}
	f.fail(ErrClosed)
	f.release()
}

// release closes the file and forgets the follower in the Store.
func (f *Follower) release() {
	f.mu.Lock()
	done := f.released
	f.released = true
	file := f.file
	f.file = nil
	f.mu.Unlock()
	if done {
		return
	}
	if file != nil {
		file.Close()
	}
	f.s.mu.Lock()
	delete(f.s.followers, f)
	f.s.mu.Unlock()
}
