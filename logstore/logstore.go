package logstore

// This file fixes the package API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the logstore implementation.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Stream names.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// ServerStep is the step name of server events ("_server", stream stderr).
const ServerStep = "_server"

// Line is one log line. Encoded as
// {"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"say-hello","line":"Hello World"}
// with that key order, ts in UTC with milliseconds.
type Line struct {
	TS     time.Time
	Stream string
	Step   string
	Text   string
}

// ErrNotImplemented is returned by API stubs that are not written yet.
var ErrNotImplemented = errors.New("logstore: not implemented")

// ErrInvalidOffset is returned when an offset is negative, beyond the end of
// the file, or not at a line start.
var ErrInvalidOffset = errors.New("invalid offset")

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
	// opens. Nil means no masking.
	Mask func(jobID string) []string
	// MaxLine is the longest line text kept (default 64 KiB); longer text is
	// cut and ends with " …[truncated]".
	MaxLine int
	// MaxStepBytes caps the bytes one step may write (default 64 MiB); after
	// it, the step's lines are dropped and one _server notice is written:
	// "[logs] Step '<s>' exceeded 64 MiB of output; further lines dropped".
	MaxStepBytes int64
	// FollowBuffer bounds a follower's queue of live data (default 4 MiB).
	FollowBuffer int
}

// Store owns the log files: one writer per job, any number of readers.
type Store struct {
	opts Options
}

// Open creates the directory and returns a Store.
func Open(opts Options) (*Store, error) {
	return nil, ErrNotImplemented
}

// Close syncs and closes every open writer and ends every follower.
func (s *Store) Close() error { return ErrNotImplemented }

// Append writes lines to the job's file with one write call (opening the
// writer on first use; a writer reopening a file after a crash first cuts an
// unterminated last line), after masking, truncation and the per-step cap.
// Lines are visible to readers and followers when Append returns; they are
// durable after Sync.
func (s *Store) Append(jobID string, lines ...Line) error { return ErrNotImplemented }

// Sync fsyncs the job's file (at step end and job end).
func (s *Store) Sync(jobID string) error { return ErrNotImplemented }

// Finish syncs and closes the job's writer and ends its followers once they
// have received everything written so far. A later Append reopens the file
// (a hook's outcome may arrive after the job finished).
func (s *Store) Finish(jobID string) error { return ErrNotImplemented }

// Read returns complete lines from byte offset, at most max bytes (but at
// least one whole line if one exists), and the offset after them. A job
// without a file reads as empty.
func (s *Store) Read(jobID string, offset int64, max int) (data []byte, next int64, err error) {
	return nil, 0, ErrNotImplemented
}

// ReadStep is Read filtered to lines whose step is step; next is the file
// offset after the last line examined.
func (s *Store) ReadStep(jobID, step string, offset int64, max int) (data []byte, next int64, err error) {
	return nil, 0, ErrNotImplemented
}

// Size returns the current length of the job's file (0 if none).
func (s *Store) Size(jobID string) (int64, error) { return 0, ErrNotImplemented }

// Remove deletes a job's file (retention).
func (s *Store) Remove(jobID string) error { return ErrNotImplemented }

// Follower delivers a job's log from an offset: the backfill first, then
// live data, with no byte lost or repeated between the two.
type Follower struct{}

// Follow subscribes to the job's live appends and then reads the backfill
// from offset; with offset < 0 it starts at the current end (no backfill).
func (s *Store) Follow(jobID string, offset int64) (*Follower, error) {
	return nil, ErrNotImplemented
}

// Next returns the next chunk: one or more complete lines, byte-identical to
// the file (backfill chunks ≤ 1 MiB, live chunks one per Append), and the
// file offset just after it. It returns io.EOF after the last chunk of a
// finished job, *SlowReaderError when the queue overflowed, or ctx's error.
func (f *Follower) Next(ctx context.Context) (data []byte, next int64, err error) {
	return nil, 0, ErrNotImplemented
}

// EndAtCurrent makes the follower end (io.EOF) once it has delivered
// everything written so far: for a job already finished before this process
// started. Idempotent, and consistent with Finish.
func (f *Follower) EndAtCurrent() {}

// Close unsubscribes; Next then returns an error.
func (f *Follower) Close() {}
