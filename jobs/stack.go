package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"runnel/jobs/audit"
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
	// Retention is enforced every Engine.SweepInterval once started (zero:
	// keep all).
	Retention Retention
	// AuditMirror, when set, receives every audit entry recorded
	// (audit.Open).
	AuditMirror *slog.Logger
}

// Stack is the job store, the job logs and the services over them for one
// data directory, wired in one place for `runnel serve`, `runnel run` and
// the test harnesses: the store opens first, the audit log and the masks
// over it, the logs with the masks, then the engine, the queries and the
// pruner, each sharing the store (not each other).
type Stack struct {
	Store *Store
	Logs  *logstore.Store
	Masks *Masks
	// Audit is the audit log in the store's file.
	Audit  *audit.Log
	Engine *Engine
	// Query answers reads of jobs and workers.
	Query *Query
	// Pruner enforces StackOptions.Retention.
	Pruner *Pruner
}

// OpenStack opens the store, the audit log and the logs and builds the
// engine, the queries and the pruner; Start starts them. An error from the store is returned unwrapped (ErrLocked when
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
	err := s.Store.Open()
	if err != nil {
		return nil, err
	}
	if s.Audit, err = audit.Open(s.Store, o.AuditMirror); err != nil {
		s.Store.Close()
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
	s.Query = NewQuery(s.Store, eo.Defs)
	s.Pruner = NewPruner(PrunerOptions{Store: s.Store, Logs: s.Logs, Defs: eo.Defs, Audit: s.Audit,
		Policy: o.Retention, Interval: eo.SweepInterval, Logger: eo.Logger})
	return s, nil
}

// Start starts the engine, then the pruner (ctx bounds the start only; the
// stack runs until Close).
func (s *Stack) Start(ctx context.Context) error {
	if err := s.Engine.Start(ctx); err != nil {
		return err
	}
	return s.Pruner.Start(ctx)
}

// Close stops the pruner and the engine, then closes the logs and the
// store. Idempotent.
func (s *Stack) Close() error {
	var errs []error
	if s.Pruner != nil {
		errs = append(errs, s.Pruner.Close())
	}
	if s.Engine != nil {
		errs = append(errs, s.Engine.Close())
	}
	errs = append(errs, s.Logs.Close(), s.Store.Close())
	return errors.Join(errs...)
}
