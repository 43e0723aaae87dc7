package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"runnel/logstore"
	"runnel/workspace"
)

// Definitions gives the engine the workspace snapshots it runs jobs on.
type Definitions interface {
	// Current returns the serving snapshot of a workspace.
	Current(ws string) (*workspace.Snapshot, error)
	// Snapshot returns the snapshot of a pinned revision.
	Snapshot(ws, rev string) (*workspace.Snapshot, error)
}

// Options configure an Engine.
type Options struct {
	Store *Store
	Logs  *logstore.Store
	Defs  Definitions
	// Masks records the secret values of jobs for the log store (default:
	// NewMasks(Store, Defs); OpenStack shares one with the logs).
	Masks *Masks
	// LocalWorkers is the number of built-in worker slots (0 disables).
	LocalWorkers int
	// LocalTags are the built-in worker's tags (default ["shell"]).
	LocalTags []string
	// TempDir is where per-step TMPDIRs are made (default os.TempDir()).
	TempDir string
	// Environ is the base environment of steps (default os.Environ()).
	Environ []string
	// KillGrace is the wait between SIGTERM and SIGKILL (default 10 s).
	KillGrace time.Duration
	// ShutdownGrace is how long running built-in steps may finish at Close
	// before they are killed (default 30 s).
	ShutdownGrace time.Duration
	// HeartbeatTimeout marks a silent remote worker inactive (default 120 s).
	HeartbeatTimeout time.Duration
	// SweepInterval is the recovery sweep period (default 60 s).
	SweepInterval time.Duration
	// UnmatchedTimeout fails ready steps no active worker can take
	// (0 = wait forever).
	UnmatchedTimeout time.Duration
	// Version is reported by the built-in worker.
	Version string
	// Logger receives the engine's own log lines.
	Logger *slog.Logger
}

// Engine runs jobs: it creates them, dispatches ready steps to workers,
// records results, and carries out timeouts, cancellation, child jobs and
// hooks. All job state lives in the Store; the engine's memory holds only
// the ready queue, timers and running processes, rebuilt at Start.
type Engine struct {
	opts  Options
	store *Store
	logs  *logstore.Store
	defs  Definitions
	log   *slog.Logger
	queue *queue
	query *Query // Wait's reads

	builtinID string
	started   time.Time // process start: downtime never counts (SPEC §9.6)

	mu        sync.Mutex
	watchers  map[string][]chan struct{} // job id → closed when terminal
	deadlines map[string]*time.Timer     // job id → job timeout
	approvals map[string]*time.Timer     // job id, step → approval timeout (approval.go)
	retries   map[string]*retryTimer     // job id → next retry_at of its steps (retry.go)
	running   map[string]map[string]context.CancelCauseFunc
	masks     *Masks
	killed    map[string]error // job id → why its processes must stop

	// closing stops timer callbacks (job and approval timeouts) from
	// starting; timers counts those running (timerRun).
	closing bool
	timers  sync.WaitGroup

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // workers, heartbeat, sweeper
	bg     sync.WaitGroup // log finishes
	closed sync.Once
}

// New returns an engine; it does no I/O.
func New(opts Options) *Engine {
	if len(opts.LocalTags) == 0 {
		opts.LocalTags = []string{"shell"}
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Masks == nil {
		opts.Masks = NewMasks(opts.Store, opts.Defs)
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 120 * time.Second
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 60 * time.Second
	}
	e := &Engine{
		opts:      opts,
		store:     opts.Store,
		logs:      opts.Logs,
		defs:      opts.Defs,
		log:       opts.Logger,
		queue:     newQueue(),
		query:     NewQuery(opts.Store, opts.Defs),
		watchers:  make(map[string][]chan struct{}),
		deadlines: make(map[string]*time.Timer),
		approvals: make(map[string]*time.Timer),
		retries:   make(map[string]*retryTimer),
		running:   make(map[string]map[string]context.CancelCauseFunc),
		masks:     opts.Masks,
		killed:    make(map[string]error),
	}
	if e.store != nil {
		settle := e.settleQueues
		e.store.settle.Store(&settle)
	}
	return e
}

// Start recovers state left by a previous process (steps that were running
// on built-in workers fail, ready steps are queued again, deadlines are
// re-armed), then starts the built-in workers.
//
// ctx bounds the start only (as for the scheduler and Stack): a cancelled ctx
// fails it; once started, the engine runs until Close (ctx's values are
// kept, its cancellation is not).
func (e *Engine) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.started = time.Now()
	id, err := e.registerBuiltin()
	if err != nil {
		return err
	}
	e.builtinID = id
	if err := e.recover(); err != nil {
		return err
	}
	if err := e.admitAll(); err != nil {
		return err
	}
	for i := 0; i < e.opts.LocalWorkers; i++ {
		e.wg.Add(1)
		go e.localWorker()
	}
	e.wg.Add(2)
	go e.builtinHeartbeat()
	go e.sweeper()
	return nil
}

// Close stops claiming, gives running built-in steps ShutdownGrace to end,
// kills the rest (they fail "server shut down while step was running"),
// and waits for the workers. Idempotent.
func (e *Engine) Close() error {
	e.closed.Do(func() {
		if e.cancel == nil {
			return
		}
		e.queue.close()
		if n := e.runningSteps(); n > 0 {
			e.log.Info("shutting down: no new steps are started; waiting for running steps",
				"steps", n, "grace", e.opts.ShutdownGrace)
		}
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(e.opts.ShutdownGrace):
			n := e.runningSteps()
			e.log.Warn("shutdown grace over: stopping the steps still running (they fail with 'server shut down while step was running')",
				"steps", n, "grace", e.opts.ShutdownGrace)
			e.killAll(errShutdown)
			<-done
		}
		e.cancel()
		e.mu.Lock()
		e.closing = true
		for _, t := range e.deadlines {
			t.Stop()
		}
		for _, t := range e.approvals {
			t.Stop()
		}
		for id := range e.retries {
			e.stopRetriesLocked(id)
		}
		e.mu.Unlock()
		e.timers.Wait()
		e.bg.Wait()
	})
	return nil
}

// timerRun runs f, a timer's callback, unless the engine is closing; Close
// waits for the callbacks running (their commits start log finishes).
func (e *Engine) timerRun(f func()) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return
	}
	e.timers.Add(1)
	e.mu.Unlock()
	defer e.timers.Done()
	f()
}

// runningSteps counts the built-in steps running now.
func (e *Engine) runningSteps() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, steps := range e.running {
		n += len(steps)
	}
	return n
}

// BuiltinWorkerID is the id of the built-in worker (valid after Start).
func (e *Engine) BuiltinWorkerID() string { return e.builtinID }

// Errors returned to API callers.
var (
	// ErrTaskNotFound: the workspace has no such task.
	ErrTaskNotFound = errors.New("Task not found")
	// ErrTerminal: the job is already in a terminal state.
	ErrTerminal = errors.New("Job is already in a terminal state")
	// ErrConflict: a worker report that is no longer accepted.
	ErrConflict = errors.New("conflict")
	// ErrClosed: the engine is shutting down.
	ErrClosed = errors.New("engine closed")
)

// InputError is an input validation failure (HTTP 400).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return "Input validation failed: " + e.Msg }

// ConflictError explains a refused request or worker report (HTTP 409).
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// stop causes for running steps.
var (
	errShutdown  = errors.New("server shut down while step was running")
	errCancelled = errors.New("Job cancelled")
	errTimeout   = errors.New("job timed out")
)

// snapshot returns the pinned snapshot of a job.
func (e *Engine) snapshot(j *Job) (*workspace.Snapshot, error) {
	snap, err := e.defs.Snapshot(j.Workspace, j.Revision)
	if err != nil {
		return nil, fmt.Errorf("workspace %s revision %s: %w", j.Workspace, j.Revision, err)
	}
	return snap, nil
}

// watch returns a channel closed when the job becomes terminal.
func (e *Engine) watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	e.mu.Lock()
	e.watchers[id] = append(e.watchers[id], ch)
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		ws := e.watchers[id]
		for i, c := range ws {
			if c == ch {
				e.watchers[id] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(e.watchers[id]) == 0 {
			delete(e.watchers, id)
		}
	}
}

// notifyTerminal wakes everyone waiting for the job.
func (e *Engine) notifyTerminal(id string) {
	e.mu.Lock()
	ws := e.watchers[id]
	delete(e.watchers, id)
	e.mu.Unlock()
	for _, c := range ws {
		close(c)
	}
}

// Wait blocks until the job is terminal or ctx ends, then returns the job
// as it is (redacted, with steps).
func (e *Engine) Wait(ctx context.Context, id string) (*Job, error) {
	ch, stop := e.watch(id)
	defer stop()
	j, err := e.query.Get(id)
	if err != nil || JobTerminal(j.Status) {
		return j, err
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return e.query.Get(id)
}

// logLifecycle queues a _server lifecycle line (created, started,
// finished, catch-up; stream stdout) for the job, written after commit.
// Seed clients show every stderr _server line as a warning, so anything
// that is not a problem goes here (SPEC §10.1).
func (e *Engine) logLifecycle(t *txn, jobID string, now time.Time, format string, args ...any) {
	e.logServer(t, jobID, logstore.Stdout, now, format, args...)
}

// logProblem queues a _server problem line (failures, skips, render
// errors, timeouts, cancels, recovery, hooks; stream stderr) for the job,
// written after commit. GET …/steps/_server/logs returns only these.
func (e *Engine) logProblem(t *txn, jobID string, now time.Time, format string, args ...any) {
	e.logServer(t, jobID, logstore.Stderr, now, format, args...)
}

// logServer queues one _server line on stream for the job, written after
// commit; logLifecycle and logProblem choose the stream.
func (e *Engine) logServer(t *txn, jobID, stream string, now time.Time, format string, args ...any) {
	line := logstore.Line{TS: now, Stream: stream, Step: logstore.ServerStep, Text: fmt.Sprintf(format, args...)}
	t.after(func() {
		if err := e.logs.Append(jobID, line); err != nil {
			e.log.Error("write job log", "job", jobID, "err", err)
		}
	})
}
