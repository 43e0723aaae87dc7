package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"runnel/logstore"
)

// StackOptions configure OpenStack.
type StackOptions struct {
	// DataDir holds the store (runnel.db), the job logs (logs/, unless
	// Logs.Dir is set) and the steps' temp dirs (tmp/, unless
	// Engine.TempDir is set); it is created if missing.
	DataDir string
	// LockWait bounds the wait for another process's lock on the store
	// (NewStore's default when zero).
	LockWait time.Duration
	// Metrics, when set, instruments the store.
	Metrics Metrics
	// Logs configure the job logs; OpenStack sets Mask.
	Logs logstore.Options
	// Engine configures the engine; OpenStack sets Store, Logs and Masks.
	// Defs is required.
	Engine Options
}

// Stack is the job store, the job logs and the engine over one data
// directory, wired in one place for `runnel serve`, `runnel run` and the
// test harnesses: the store opens first, the masks over it, the logs with
// the masks, the engine over all three.
type Stack struct {
	Store  *Store
	Logs   *logstore.Store
	Masks  *Masks
	Engine *Engine
}

// OpenStack opens the store and the logs and builds the engine; Start
// starts it. An error from the store is returned unwrapped (ErrLocked when
// another process holds the data directory); on error nothing stays open.
func OpenStack(o StackOptions) (*Stack, error) {
	if o.Engine.Defs == nil {
		return nil, errors.New("open stack: no workspace definitions")
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &Stack{Store: NewStore(filepath.Join(o.DataDir, "runnel.db"), o.LockWait)}
	if o.Metrics != nil {
		s.Store.Instrument(o.Metrics)
	}
	if err := s.Store.Open(); err != nil {
		return nil, err
	}
	s.Masks = NewMasks(s.Store, o.Engine.Defs)
	lo := o.Logs
	if lo.Dir == "" {
		lo.Dir = filepath.Join(o.DataDir, "logs")
	}
	lo.Mask = s.Masks.Values
	logs, err := logstore.Open(lo)
	if err != nil {
		s.Store.Close()
		return nil, fmt.Errorf("open logs: %w", err)
	}
	s.Logs = logs
	eo := o.Engine
	eo.Store, eo.Logs, eo.Masks = s.Store, s.Logs, s.Masks
	if eo.TempDir == "" {
		eo.TempDir = filepath.Join(o.DataDir, "tmp")
		if err := os.MkdirAll(eo.TempDir, 0o755); err != nil {
			s.Close()
			return nil, fmt.Errorf("create step temp dir: %w", err)
		}
	}
	s.Engine = New(eo)
	return s, nil
}

// Start starts the engine (Engine.Start: ctx bounds the start only; the
// stack runs until Close).
func (s *Stack) Start(ctx context.Context) error { return s.Engine.Start(ctx) }

// Close stops the engine, then closes the logs and the store. Idempotent.
func (s *Stack) Close() error {
	var errs []error
	if s.Engine != nil {
		errs = append(errs, s.Engine.Close())
	}
	errs = append(errs, s.Logs.Close(), s.Store.Close())
	return errors.Join(errs...)
}
