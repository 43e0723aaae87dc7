package logstore

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stream names.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// ServerStep is the step name of server events: lifecycle events on stream
// stdout, problems on stream stderr (SPEC §10.1).
const ServerStep = "_server"

// Defaults for the zero values of Options.
const (
	DefaultMaxLine      = 64 << 10
	DefaultMaxStepBytes = 64 << 20
	DefaultFollowBuffer = 4 << 20
	// DefaultReadMax is the read size used when Read or ReadStep get
	// max ≤ 0 (the REST limit, SPEC §10.3).
	DefaultReadMax = 16 << 20
	// DefaultMaxOpen is the default bound on writer files open at once.
	DefaultMaxOpen = 128
	// DefaultRecentFinished is the default number of finished jobs a Store
	// remembers for Follow.
	DefaultRecentFinished = 4096
)

// Line is one log line. Encoded as
// {"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"say-hello","line":"Hello World"}
// with that key order, ts in UTC with milliseconds (truncated). A zero TS is
// written as the time of the Append. A line of a step's second or later
// attempt (retry:) ends with ,"attempt":N; other lines keep the four keys.
type Line struct {
	TS     time.Time
	Stream string
	Step   string
	Text   string
	// Attempt is the step attempt that wrote the line; 0 and 1 are not
	// written (the first attempt).
	Attempt int
}

// ErrInvalidOffset is returned when an offset is negative, beyond the end of
// the file, or not at a line start.
var ErrInvalidOffset = errors.New("invalid offset")

// ErrInvalidJobID is returned for a job ID that cannot be a file name
// (empty, ".", "..", or containing a path separator or NUL).
var ErrInvalidJobID = errors.New("invalid job ID")

// ErrClosed is returned by a closed Store, and by Next on a Follower that
// was closed or whose Store was closed.
var ErrClosed = errors.New("logstore closed")

// SlowReaderError ends a Follower whose bounded queue overflowed. Offset is
// where the reader should resume (bytes delivered so far).
type SlowReaderError struct {
	Offset int64
}

func (e *SlowReaderError) Error() string {
	return fmt.Sprintf("slow reader; resume at offset %d", e.Offset)
}

// Options configure a Store.
type Options struct {
	// Dir holds the <job_id>.jsonl files; created if missing.
	Dir string
	// Mask returns the secret values to mask (replaced by "••••••") in every
	// line of a job as it is written; called once when the job's writer
	// opens, with that job's writer lock held (it must not call the Store
	// for the same job). Values shorter than 4 characters are ignored. Nil
	// means no masking.
	Mask func(jobID string) []string
	// MaxLine is the longest line text kept, in bytes (default 64 KiB);
	// longer text is cut at a UTF-8 boundary and ends with " …[truncated]".
	MaxLine int
	// MaxStepBytes caps the output one step may write, counted as text
	// plus newline (default 64 MiB); after it, the step's lines are dropped
	// and one _server notice is written: "[logs] Step '<s>' exceeded 64 MiB
	// of output; further lines dropped" (with the actual cap).
	MaxStepBytes int64
	// FollowBuffer bounds a follower's queue of live data, in bytes (default
	// 4 MiB).
	FollowBuffer int
	// MaxOpen bounds the writer files open at once (default 128), however
	// many jobs are live: a job's file is opened when it is written and
	// the least recently written one is closed (without fsync; Sync and
	// Finish still make its lines durable) when another needs the slot.
	// Followers and readers open their own files, outside this bound.
	MaxOpen int
	// RecentFinished is how many finished jobs the Store remembers (default
	// 4096), oldest forgotten first: a Follow of one of them ends at the
	// current end by itself. A job finished earlier (or before this process
	// started) is followed like a live one and its caller ends the follower
	// with EndAtCurrent.
	RecentFinished int
}

// Store owns the log files: one writer per job, any number of readers.
type Store struct {
	opts Options

	mu        sync.Mutex // guards the fields below; never held while taking a jobLog's mu
	slotFreed sync.Cond  // on mu: open went down or lru grew (see acquireSlot)
	closed    bool
	jobs      map[string]*jobLog     // live jobs (written, not finished) and followed ones
	finished  recentSet              // jobs Finished in this process and not written since
	followers map[*Follower]struct{} // every open Follower, for Close
	open      int                    // writer files open or being opened; ≤ MaxOpen
	lru       list.List              // *jobLog with an evictable open file, most recently used first

	// written counts what Append wrote since Open (Stats).
	writtenBytes, writtenLines atomic.Uint64
}

// Stats counts what the store wrote since it opened.
type Stats struct {
	Bytes, Lines uint64
}

// Stats returns the bytes and lines written since Open; it does no I/O.
func (s *Store) Stats() Stats {
	return Stats{Bytes: s.writtenBytes.Load(), Lines: s.writtenLines.Load()}
}

// jobLog is one job's writer and live subscribers. The goroutine holding mu
// is the file's only writer.
type jobLog struct {
	id   string
	path string

	mu   sync.Mutex
	dead bool // removed from Store.jobs by Finish/Remove/Close: look the job up again
	// live is set from the writer's first open to Finish/Remove/Close;
	// size, synced, enc and steps are valid while it is, also while the
	// file itself is closed to free its slot.
	live   bool
	file   *os.File // the writer; nil when not live or evicted
	size   int64    // end of the last line written
	synced int64    // size at the last fsync: dirty while synced < size
	enc    encoder
	buf    []byte                // batch buffer, reused between Appends
	steps  map[string]*stepCount // bytes written per step since the writer opened
	subs   map[*Follower]struct{}
	// pins counts fsyncs of file running outside mu (Sync); a pinned file
	// is not in Store.lru, and one closed while pinned (unpinSlot set)
	// keeps its slot until the last fsync returns: the descriptor itself
	// stays open until then.
	pins      int
	unpinSlot bool
	elem      *list.Element // in Store.lru while file is open; guarded by Store.mu
}

// stepCount tracks one step against MaxStepBytes.
type stepCount struct {
	bytes  int64
	capped bool // notice written; further lines dropped
}

// maxKeptBuf is the largest batch buffer kept between Appends.
const maxKeptBuf = 4 << 20

// Open creates the directory and returns a Store.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open log store: no directory")
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.MaxStepBytes <= 0 {
		opts.MaxStepBytes = DefaultMaxStepBytes
	}
	if opts.FollowBuffer <= 0 {
		opts.FollowBuffer = DefaultFollowBuffer
	}
	if opts.MaxOpen <= 0 {
		opts.MaxOpen = DefaultMaxOpen
	}
	if opts.RecentFinished <= 0 {
		opts.RecentFinished = DefaultRecentFinished
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	s := &Store{
		opts:      opts,
		jobs:      make(map[string]*jobLog),
		finished:  newRecentSet(opts.RecentFinished),
		followers: make(map[*Follower]struct{}),
	}
	s.slotFreed.L = &s.mu
	return s, nil
}

// Close syncs and closes every open writer and ends every follower (their
// Next returns ErrClosed). Idempotent; later calls that write or follow
// return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	jobs := s.jobs
	followers := s.followers
	s.jobs, s.followers = map[string]*jobLog{}, map[*Follower]struct{}{}
	s.finished = newRecentSet(1)
	s.slotFreed.Broadcast() // waiting writers return ErrClosed
	s.mu.Unlock()

	var errs []error
	for _, j := range jobs {
		j.mu.Lock()
		if j.live && j.file == nil && j.synced < j.size {
			// Evicted with lines not yet fsynced; no slot is taken any more.
			errs = append(errs, syncPath(j.path))
		}
		errs = append(errs, s.closeWriterLocked(j, true))
		j.subs = nil
		j.dead = true
		j.mu.Unlock()
	}
	for f := range followers {
		f.fail(ErrClosed)
		f.release()
	}
	return errors.Join(errs...)
}

func (s *Store) path(jobID string) string {
	return filepath.Join(s.opts.Dir, jobID+".jsonl")
}

func checkJobID(jobID string) error {
	if jobID == "" || jobID == "." || jobID == ".." || strings.ContainsAny(jobID, "/\\\x00") {
		return fmt.Errorf("%w %q", ErrInvalidJobID, jobID)
	}
	return nil
}

// lockJob returns the job's live entry, created if missing, with its mu
// held. write marks the job as written again after a Finish.
func (s *Store) lockJob(jobID string, write bool) (*jobLog, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		j := s.jobs[jobID]
		if j == nil {
			j = &jobLog{id: jobID, path: s.path(jobID), subs: make(map[*Follower]struct{})}
			s.jobs[jobID] = j
		}
		if write {
			s.finished.remove(jobID)
			if j.elem != nil {
				s.lru.MoveToFront(j.elem)
			}
		}
		s.mu.Unlock()
		j.mu.Lock()
		if !j.dead {
			return j, nil
		}
		j.mu.Unlock()
	}
}

// existingJob returns the job's live entry with its mu held, or nil.
func (s *Store) existingJob(jobID string) (*jobLog, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		j := s.jobs[jobID]
		s.mu.Unlock()
		if j == nil {
			return nil, nil
		}
		j.mu.Lock()
		if !j.dead {
			return j, nil
		}
		j.mu.Unlock()
	}
}

// dropLocked removes j from the Store (j.mu held), marking the job
// finished if finish; later calls make a new entry.
func (s *Store) dropLocked(j *jobLog, finish bool) {
	j.dead = true
	s.mu.Lock()
	if s.jobs[j.id] == j {
		delete(s.jobs, j.id)
	}
	if finish && !s.closed {
		s.finished.add(j.id)
	}
	s.mu.Unlock()
}

// Append writes lines to the job's file with one write call (opening the
// writer on first use; a writer reopening a file after a crash first cuts an
// unterminated last line), after masking, truncation and the per-step cap.
// Lines are visible to readers and followers when Append returns; they are
// durable after Sync. Safe for concurrent use; concurrent batches of one job
// are written one after the other, never interleaved.
func (s *Store) Append(jobID string, lines ...Line) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	j, err := s.writer(jobID)
	if err != nil {
		return err
	}
	defer j.mu.Unlock()
	buf := j.buf[:0]
	written := 0
	for _, l := range lines {
		n := len(buf)
		if buf = s.appendLocked(j, buf, l); len(buf) > n {
			written++
		}
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := j.file.Write(buf); err != nil {
		// Cut a partial write so the file still ends at a line end.
		if terr := j.file.Truncate(j.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("append to log %q: %w", j.path, err)
	}
	start := j.size
	j.size += int64(len(buf))
	s.writtenBytes.Add(uint64(len(buf)))
	s.writtenLines.Add(uint64(written))
	if len(j.subs) > 0 {
		chunk := append([]byte(nil), buf...) // shared, read-only, by every follower
		for f := range j.subs {
			if !f.push(chunk, start, j.size) {
				delete(j.subs, f)
			}
		}
	}
	if cap(buf) <= maxKeptBuf {
		j.buf = buf[:0]
	} else {
		j.buf = nil
	}
	return nil
}

// Open opens the job's writer (creating the file) without writing, so a
// caller on a latency-sensitive path can pay for the file creation
// elsewhere. The Mask callback runs now. Opening an open writer is a no-op.
// The file takes a slot of Options.MaxOpen like any written one.
func (s *Store) Open(jobID string) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	j, err := s.writer(jobID)
	if err != nil {
		return err
	}
	j.mu.Unlock()
	return nil
}

// writer returns the job's live entry with its mu held and its file open.
func (s *Store) writer(jobID string) (*jobLog, error) {
	for {
		j, err := s.lockJob(jobID, true)
		if err != nil {
			return nil, err
		}
		err = s.openLocked(j)
		if err == nil {
			return j, nil
		}
		j.mu.Unlock()
		if !errors.Is(err, errDead) {
			return nil, err
		}
	}
}

// appendLocked encodes one line into buf, applying the step cap.
func (s *Store) appendLocked(j *jobLog, buf []byte, l Line) []byte {
	sc := j.steps[l.Step]
	if sc == nil {
		sc = &stepCount{}
		j.steps[l.Step] = sc
	}
	if sc.capped {
		return buf
	}
	// The cap counts the step's output (text and newline), not the JSON
	// around it: "64 MiB of output" means what the process printed.
	if size := int64(len(l.Text)) + 1; sc.bytes+size <= s.opts.MaxStepBytes {
		sc.bytes += size
		return j.enc.appendLine(buf, l)
	}
	sc.capped = true
	return j.enc.appendLine(buf, Line{
		TS:     time.Now(),
		Stream: Stderr,
		Step:   ServerStep,
		Text: fmt.Sprintf("[logs] Step '%s' exceeded %s of output; further lines dropped",
			l.Step, formatSize(s.opts.MaxStepBytes)),
	})
}

// openFileLocked opens j's file for appending, cutting a torn tail, and
// makes j live if it was not (the Mask callback runs then). A slot is held
// for the file.
func (s *Store) openFileLocked(j *jobLog) error {
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log %q: %w", j.path, err)
	}
	end, size, err := committedEnd(f)
	if err == nil && end < size {
		err = f.Truncate(end)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open log %q: %w", j.path, err)
	}
	j.file, j.size = f, end
	if j.live {
		return nil // reopened after an eviction: masks and step counts go on
	}
	var mask []string
	if s.opts.Mask != nil {
		mask = s.opts.Mask(j.id)
	}
	j.live, j.synced = true, end
	j.enc = encoder{mask: newMasker(mask), maxLine: s.opts.MaxLine}
	j.steps = make(map[string]*stepCount)
	return nil
}

// closeWriterLocked closes j's writer file, after an fsync if sync, and
// ends j's writer state.
func (s *Store) closeWriterLocked(j *jobLog, sync bool) error {
	var err error
	if j.file != nil {
		if sync {
			err = j.file.Sync()
		}
		if cerr := s.closeFileLocked(j); err == nil {
			err = cerr
		}
	}
	j.live, j.enc, j.buf, j.steps = false, encoder{}, nil, nil
	if err != nil {
		return fmt.Errorf("close log %q: %w", j.path, err)
	}
	return nil
}

// endFollowersLocked makes j's subscribers end once drained.
func (j *jobLog) endFollowersLocked() {
	for f := range j.subs {
		f.stop()
	}
	clear(j.subs)
}

// Sync fsyncs the job's file (at step end and job end), reopening it if it
// was closed to free its slot with lines not yet fsynced. A job that is not
// live has nothing to sync (Finish fsynced it).
func (s *Store) Sync(jobID string) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	for {
		j, err := s.existingJob(jobID)
		if err != nil || j == nil {
			return err
		}
		if !j.live || j.synced >= j.size {
			j.mu.Unlock()
			return nil
		}
		if err := s.openLocked(j); err != nil {
			j.mu.Unlock()
			if errors.Is(err, errDead) {
				return nil // finished (fsynced) or removed meanwhile
			}
			return fmt.Errorf("sync log: %w", err)
		}
		f, size := j.file, j.size
		s.pinLocked(j)
		j.mu.Unlock()
		// Outside the lock so Appends continue during the fsync. A file
		// closed before the fsync started was closed by Finish (which
		// fsyncs), Remove or Close (which fsyncs).
		err = f.Sync()
		j.mu.Lock()
		if err == nil {
			j.synced = max(j.synced, size)
		}
		s.unpinLocked(j)
		j.mu.Unlock()
		if err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("sync log %q: %w", f.Name(), err)
		}
		return nil
	}
}

// Finish syncs and closes the job's writer and ends its followers once they
// have received everything written so far; later Follows of the job end at
// the then current end. A later Append reopens the file (a hook's outcome
// may arrive after the job finished) and makes the job live again until the
// Writing reports whether the job's log has a writer in this process that
// has not been finished: more lines may still come (a job's final status
// line is written just after the job is recorded as ended), and Finish will
// end its followers. A job written by an earlier process, or finished, is
// not writing.
func (s *Store) Writing(jobID string) bool {
	j, err := s.existingJob(jobID)
	if err != nil || j == nil {
		return false
	}
	defer j.mu.Unlock()
	return j.live
}

// next Finish.
func (s *Store) Finish(jobID string) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		j := s.jobs[jobID]
		if j == nil {
			s.finished.add(jobID)
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		j.mu.Lock()
		if j.dead {
			j.mu.Unlock()
			continue
		}
		var err error
		if j.live && j.file == nil && j.synced < j.size {
			// Evicted before its last lines were fsynced: reopen to sync.
			if err = s.openLocked(j); errors.Is(err, errDead) {
				j.mu.Unlock()
				continue
			}
		}
		if cerr := s.closeWriterLocked(j, true); err == nil {
			err = cerr
		}
		j.endFollowersLocked()
		s.dropLocked(j, true)
		j.mu.Unlock()
		return err
	}
}

// Size returns the length of the job's file up to the end of its last
// complete line (0 if there is no file).
func (s *Store) Size(jobID string) (int64, error) {
	if err := checkJobID(jobID); err != nil {
		return 0, err
	}
	f, err := os.Open(s.path(jobID))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of log: %w", err)
	}
	defer f.Close()
	end, _, err := committedEnd(f)
	if err != nil {
		return 0, fmt.Errorf("size of log %q: %w", f.Name(), err)
	}
	return end, nil
}

// Remove deletes a job's file (retention), closing its writer and ending its
// followers once they drain. Removing a job without a file is not an error.
func (s *Store) Remove(jobID string) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	j, err := s.existingJob(jobID)
	if err != nil {
		return err
	}
	if j != nil {
		defer j.mu.Unlock()
		err = s.closeWriterLocked(j, false)
		j.endFollowersLocked()
		s.dropLocked(j, false)
	}
	s.mu.Lock()
	s.finished.remove(jobID)
	s.mu.Unlock()
	if rerr := os.Remove(s.path(jobID)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove log: %w", rerr))
	}
	return err
}
