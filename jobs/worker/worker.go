package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"runnel/jobs/api"
	"runnel/jobs/shell"
)

// Server is what the worker needs from a runnel server (the /worker/*
// protocol). Errors that are answers of the server implement
// HTTPStatus() int; any other error is a transport failure.
type Server interface {
	// Register records a new worker and returns its id and heartbeat
	// interval (0 = not said).
	Register(ctx context.Context, name string, tags []string, version string) (Registration, error)
	// Heartbeat refreshes the worker (404: unknown, register again).
	Heartbeat(ctx context.Context, workerID string) error
	// Claim long-polls up to wait for a step the tags cover; nil, nil when
	// none came. Assignment.Dir is left empty.
	Claim(ctx context.Context, workerID string, tags []string, wait time.Duration) (*api.Assignment, error)
	// Start confirms a claimed step is starting.
	Start(ctx context.Context, workerID string, a *api.Assignment) error
	// Complete reports a finished step.
	Complete(ctx context.Context, workerID string, a *api.Assignment, r Report) error
	// PushLogs appends lines of a running step (≤ MaxPushLines lines).
	PushLogs(ctx context.Context, workerID string, a *api.Assignment, lines []shell.Line) error
	// Cancelled reports whether the job's running steps must stop.
	Cancelled(ctx context.Context, jobID string) (bool, error)
	// Download returns the gzip tarball of a workspace revision ("" =
	// current) and the revision served.
	Download(ctx context.Context, ws, rev string) (io.ReadCloser, string, error)
}

// Registration is the server's answer to Register.
type Registration struct {
	WorkerID string
	// HeartbeatInterval is 0 when the server did not say (30 s is used).
	HeartbeatInterval time.Duration
}

// Report is the end of a step as sent to the server: failed iff Error is
// set; Output (the OUTPUT: JSON) only on success.
type Report struct {
	Output   json.RawMessage
	ExitCode int
	Error    string
}

// MaxPushLines is the largest batch passed to Server.PushLogs (the server
// accepts 1000).
const MaxPushLines = 500

// Options configure a Worker. Zero durations and sizes take the defaults
// named on each field.
type Options struct {
	Server Server
	// Name is shown in the server's registry.
	Name string
	// Tags are advertised at registration and sent with every claim.
	Tags []string
	// Version is reported at registration.
	Version string
	// MaxConcurrent is the number of steps run at once (default 4).
	MaxConcurrent int
	// PollInterval is the pause after a failed or immediately empty claim
	// (default 2 s).
	PollInterval time.Duration
	// CacheDir holds extracted revisions: <CacheDir>/<ws>/<rev>/.
	CacheDir string
	// KeepRevisions per workspace, besides those in use (default 3).
	KeepRevisions int
	// Environ is the base environment of steps (default os.Environ());
	// RUNNEL_* variables are removed from it.
	Environ []string
	// TempDir is where per-step TMPDIRs are made (default os.TempDir()).
	TempDir string
	// ClaimWait is the long-poll asked of the server (default 25 s).
	ClaimWait time.Duration
	// KillGrace is the wait between SIGTERM and SIGKILL (default 10 s).
	KillGrace time.Duration
	// ShutdownGrace is how long running steps may finish after the worker
	// is told to stop before they are killed (default 30 s).
	ShutdownGrace time.Duration
	// ReportGrace bounds the delivery of the last reports once the steps
	// have ended after a stop (default 30 s).
	ReportGrace time.Duration
	// LogFlush is the longest a line waits before it is pushed (default
	// 200 ms); a batch also goes out as soon as MaxPushLines are waiting.
	LogFlush time.Duration
	// LogBuffer caps the unsent log bytes of one step (default 16 MiB);
	// when full the step's output is not read until lines are sent.
	LogBuffer int
	// CancelPoll is the period of the cancellation check (default 2 s).
	CancelPoll time.Duration
	// Logger receives the worker's own log lines.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.KeepRevisions <= 0 {
		o.KeepRevisions = 3
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.LogBuffer <= 0 {
		o.LogBuffer = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.PollInterval, 2*time.Second)
	def(&o.ClaimWait, 25*time.Second)
	def(&o.KillGrace, shell.DefaultKillGrace)
	def(&o.ShutdownGrace, 30*time.Second)
	def(&o.ReportGrace, 30*time.Second)
	def(&o.LogFlush, 200*time.Millisecond)
	def(&o.CancelPoll, 2*time.Second)
}

// RefusedError is a registration the server refused (401, 403 or 404):
// the worker cannot go on.
type RefusedError struct {
	Status int
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("registration refused by the server: %v", e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Stop causes of a running step.
var (
	errCancelled = errors.New("Job cancelled")
	errShutdown  = errors.New("worker shut down while step was running")
	errTakenBack = errors.New("step is no longer held by this worker")
)

// Worker is one remote worker process's loop.
type Worker struct {
	opts  Options
	srv   Server
	log   *slog.Logger
	cache *Cache

	// regMu serializes (re-)registration; mu guards id and interval.
	regMu    sync.Mutex
	mu       sync.Mutex
	id       string
	interval time.Duration

	// fatal ends Run with a refused re-registration.
	fatal context.CancelCauseFunc

	reach reachability
}

// New returns a worker; it does no I/O.
func New(opts Options) *Worker {
	opts.defaults()
	return &Worker{
		opts:  opts,
		srv:   opts.Server,
		log:   opts.Logger,
		cache: NewCache(opts.CacheDir, opts.KeepRevisions, opts.Logger),
	}
}

// ID is the current worker id ("" before registration).
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// Run registers and works until ctx ends, then stops claiming, gives
// running steps ShutdownGrace, kills the rest (they fail "worker shut down
// while step was running"), delivers the last reports and returns nil. It
// returns a *RefusedError when the server refuses the registration, and
// other errors only for local setup failures (the cache directory).
func (w *Worker) Run(ctx context.Context) error {
	if !slices.Contains(w.opts.Tags, "shell") {
		w.log.Warn("tags lack 'shell': every step requires it, so this worker can run nothing", "tags", w.opts.Tags)
	}
	if err := w.cache.Open(); err != nil {
		return err
	}
	claimCtx, fatal := context.WithCancelCause(ctx)
	defer fatal(nil)
	w.fatal = fatal
	if err := w.register(claimCtx, ""); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	// life carries heartbeats and deliveries past the stop, until the last
	// report is sent or ReportGrace is over; runCtx carries the processes
	// until ShutdownGrace is over.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	runCtx, kill := context.WithCancelCause(context.WithoutCancel(ctx))
	defer kill(nil)

	var hb sync.WaitGroup
	hb.Add(1)
	go func() { defer hb.Done(); w.heartbeats(life) }()
	var slots sync.WaitGroup
	var running runningSet
	for range w.opts.MaxConcurrent {
		slots.Add(1)
		go func() { defer slots.Done(); w.slot(claimCtx, runCtx, life, &running) }()
	}
	w.log.Info("worker started", "name", w.opts.Name, "tags", w.opts.Tags, "max_concurrent", w.opts.MaxConcurrent)

	<-claimCtx.Done()
	done := make(chan struct{})
	go func() { slots.Wait(); close(done) }()
	if n := running.count(); n > 0 {
		w.log.Info("stopping: no new claims; waiting for running steps", "running", n, "grace", w.opts.ShutdownGrace)
	}
	select {
	case <-done:
	case <-time.After(w.opts.ShutdownGrace):
		w.log.Warn("stopping: killing running steps", "running", running.count())
		kill(errShutdown)
		select {
		case <-done:
		case <-time.After(w.opts.KillGrace + w.opts.ReportGrace):
			w.log.Error("stopping: giving up on undelivered reports")
			endLife()
			<-done
		}
	}
	endLife()
	hb.Wait()
	if err := context.Cause(claimCtx); err != nil && ctx.Err() == nil {
		return err // a refused re-registration
	}
	w.log.Info("worker stopped")
	return nil
}

// runningSet counts the steps being run.
type runningSet struct {
	mu sync.Mutex
	n  int
}

func (r *runningSet) add(d int) {
	r.mu.Lock()
	r.n += d
	r.mu.Unlock()
}

func (r *runningSet) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// HTTP statuses the worker acts on (the package does not import net/http).
const (
	statusBadRequest   = 400
	statusUnauthorized = 401
	statusForbidden    = 403
	statusNotFound     = 404
	statusConflict     = 409
	statusTooLarge     = 413
)

// httpStatus returns the status of a server answer, 0 for a transport
// failure.
func httpStatus(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return 0
}

// register obtains a worker id, retrying transport failures and server
// errors after 1, 2, 4 … 60 s; 401, 403 and 404 are a *RefusedError.
// With old set, it re-registers only if old is still the current id.
func (w *Worker) register(ctx context.Context, old string) error {
	w.regMu.Lock()
	defer w.regMu.Unlock()
	if old != "" && w.ID() != old {
		return nil // another goroutine did it
	}
	backoff := time.Second
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		reg, err := w.srv.Register(rctx, w.opts.Name, w.opts.Tags, w.opts.Version)
		cancel()
		if err == nil {
			w.mu.Lock()
			w.id = reg.WorkerID
			w.interval = reg.HeartbeatInterval
			w.mu.Unlock()
			w.reach.ok(w.log)
			w.log.Info("registered", "worker_id", reg.WorkerID, "heartbeat_interval", reg.HeartbeatInterval)
			return nil
		}
		switch s := httpStatus(err); s {
		case statusUnauthorized, statusForbidden, statusNotFound:
			return &RefusedError{Status: s, Err: err}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("register: will retry", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 60*time.Second)
	}
}

// reregister registers again after the server forgot id; a refusal ends
// Run with it.
func (w *Worker) reregister(ctx context.Context, id string) {
	w.log.Warn("server does not know this worker: registering again", "worker_id", id)
	err := w.register(ctx, id)
	var refused *RefusedError
	if errors.As(err, &refused) {
		w.log.Error("re-registration refused", "err", err)
		w.fatal(err)
	}
}

// heartbeats refreshes the worker every interval until ctx ends.
func (w *Worker) heartbeats(ctx context.Context) {
	for {
		w.mu.Lock()
		id, every := w.id, w.interval
		w.mu.Unlock()
		if every <= 0 {
			every = 30 * time.Second
		}
		if !sleep(ctx, every) {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := w.srv.Heartbeat(rctx, id)
		cancel()
		switch {
		case err == nil:
			w.reach.ok(w.log)
		case httpStatus(err) == statusNotFound:
			w.reregister(ctx, id)
		case ctx.Err() == nil:
			w.reach.failed(w.log, "heartbeat", err)
		}
	}
}

// slot claims and runs one step at a time until claimCtx ends.
func (w *Worker) slot(claimCtx, runCtx, life context.Context, running *runningSet) {
	for claimCtx.Err() == nil {
		id := w.ID()
		began := time.Now()
		cctx, cancel := context.WithTimeout(claimCtx, w.opts.ClaimWait+30*time.Second)
		a, err := w.srv.Claim(cctx, id, w.opts.Tags, w.opts.ClaimWait)
		cancel()
		switch {
		case claimCtx.Err() != nil:
			if a != nil {
				// Claimed as we stopped: run it anyway, nobody else will.
				break
			}
			return
		case err != nil:
			if httpStatus(err) == statusNotFound {
				w.reregister(claimCtx, id)
			} else {
				w.reach.failed(w.log, "claim", err)
			}
			sleep(claimCtx, w.opts.PollInterval)
			continue
		case a == nil:
			w.reach.ok(w.log)
			if time.Since(began) < w.opts.ClaimWait/2 {
				sleep(claimCtx, w.opts.PollInterval) // an immediate "no work"
			}
			continue
		}
		w.reach.ok(w.log)
		running.add(1)
		w.runStep(runCtx, life, id, a)
		running.add(-1)
	}
}

// reachability logs when the server stops and starts answering, once per
// change rather than once per failed request.
type reachability struct {
	mu   sync.Mutex
	down bool
}

func (r *reachability) failed(log *slog.Logger, what string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down {
		log.Warn("server unreachable or failing; retrying", "request", what, "err", err)
	}
	r.down = true
}

func (r *reachability) ok(log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		log.Info("server reachable again")
	}
	r.down = false
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliver sends until the server answers 2xx (nil), 404 or 409 (that
// answer), or ctx ends; other failures are retried after 1 s doubling to
// 30 s. A 400 or 413 cannot succeed by retrying and is returned too.
func (w *Worker) deliver(ctx context.Context, what string, send func(ctx context.Context) error) error {
	backoff := time.Second
	for {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := send(rctx)
		cancel()
		if err == nil {
			w.reach.ok(w.log)
			return nil
		}
		switch httpStatus(err) {
		case statusNotFound, statusConflict, statusBadRequest, statusTooLarge:
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.reach.failed(w.log, what, err)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}
