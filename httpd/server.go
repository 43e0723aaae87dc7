package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/httpd/web"
	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/logstore"
	"runnel/workspace"
)

// Workspaces is what the server needs from the workspace manager.
type Workspaces interface {
	List() []workspace.Status
	Get(ws string) (workspace.Status, workspace.Source, error)
	Current(ws string) (*workspace.Snapshot, error)
	Refresh(ctx context.Context, ws string) (workspace.RefreshResult, error)
	Webhook(name string) (*workspace.Snapshot, *workspace.Trigger, bool)
	Tarball(ws, rev string) (path, revision string, err error)
	// Commit describes a git revision (nil for folders or unknown ones).
	Commit(ctx context.Context, ws, rev string) (*workspace.Commit, error)
	// Changes lists the files that differ between two revisions.
	Changes(ctx context.Context, ws, from, to string) ([]workspace.FileChange, error)
}

// Engine is what the server needs from the job engine, the remote worker
// protocol included: starting, stopping and waiting for jobs.
type Engine interface {
	WorkerEngine
	Trigger(ctx context.Context, req jobs.TriggerRequest) (*jobs.Job, error)
	Cancel(ctx context.Context, id, by string) error
	// Rerun, Restart and PlanRestart give an ended job a second chance.
	Rerun(ctx context.Context, req jobs.RerunRequest) (*jobs.Job, error)
	Restart(ctx context.Context, req jobs.RestartRequest) (*jobs.Job, error)
	PlanRestart(req jobs.RestartRequest) (jobs.RestartPlan, error)
	// Decide approves or rejects a waiting approval step.
	Decide(ctx context.Context, jobID, step string, d jobs.Decision) error
	Wait(ctx context.Context, id string) (*jobs.Job, error)
}

// Jobs is what the server reads of jobs and workers (*jobs.Query).
type Jobs interface {
	Get(id string) (*jobs.Job, error)
	List(f jobs.ListFilter) (jobs.ListResult, error)
	// PreviousSuccess is the task's newest completed job before j.
	PreviousSuccess(j *jobs.Job) (*jobs.Job, error)
	Workers(limit, offset int) ([]*jobs.Worker, int, error)
	Worker(id string) (*jobs.Worker, []*jobs.Job, error)
}

// Masks gives the secret values masked in a job's output (*jobs.Masks).
type Masks interface {
	Values(jobID string) []string
}

// Schedule is what the server needs from the cron scheduler
// (*schedule.Scheduler).
type Schedule interface {
	// NextRuns is a scheduler trigger's next fire times, from the cache
	// the scheduler fires from.
	NextRuns(ws string, tr *workspace.Trigger, now time.Time, n int) []time.Time
}

// Store is what the server needs from the job store directly.
type Store interface {
	Ping() error
	// Backup writes a consistent snapshot of the store and the job logs.
	Backup(w io.Writer, logs *logstore.Store) (jobs.BackupStats, error)
}

// Options configure a Server.
type Options struct {
	Workspaces Workspaces
	Engine     Engine
	// Jobs reads jobs and workers.
	Jobs Jobs
	// Masks hides secret values in what the server sends of a job.
	Masks Masks
	// Schedule answers next_runs of scheduler triggers (nil: none).
	Schedule Schedule
	Store    Store
	Logs     *logstore.Store
	Logger   *slog.Logger
	// Version is reported by /api/config.
	Version string
	// BaseURL is the public URL (auth.base_url): trusted cross-origin and
	// WebSocket origin.
	BaseURL string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Auth is non-nil when authentication is configured.
	Auth *AuthOptions
	// Users keeps users, refresh tokens and API keys; required with Auth.
	// Without Auth, GET /api/users lists it (nil answers []).
	Users Users
	// PingInterval for WebSocket keepalive (default 30 s).
	PingInterval time.Duration
	// StreamWriteWait is how long a WebSocket write may wait for a reader
	// that does not read (default 10 s); past it the connection is dropped
	// without a close frame, and the client resumes from the bytes it has.
	StreamWriteWait time.Duration
	// Audit records state-changing requests and serves GET /api/audit;
	// nil records nothing.
	Audit Audit
	// WorkerToken is the bearer token of remote workers (worker_token);
	// "" disables every /worker route (404 "Remote workers are disabled").
	WorkerToken string
	// Listen is the configured listen address (host:port): with
	// authentication off, its host is an allowed Host (see AllowedHosts);
	// an unspecified host (0.0.0.0, ::) allows every IP address.
	Listen string
	// AllowedHosts are further Host names (or ".domain" for a domain and
	// its subdomains) that /api, /push and /worker answer with
	// authentication off; localhost, loopback addresses and the BaseURL
	// host always are. Others get 403 (DNS rebinding).
	AllowedHosts []string
	// MaxConnections caps open connections to ordinary routes (default
	// DefaultMaxConnections); ReserveConnections more (default
	// DefaultReserveConnections) are kept for /worker/* and /healthz.
	MaxConnections     int
	ReserveConnections int
	// BodyTimeout is how long a client has to send a request body after
	// its headers (default DefaultBodyTimeout); HeaderTimeout how long to
	// send the headers (default 10 s).
	BodyTimeout   time.Duration
	HeaderTimeout time.Duration
	// Metrics, when set, serves GET /metrics and records every request.
	Metrics Metrics
	// MetricsToken is a bearer token for scrapers (metrics_token); with
	// auth on, /metrics takes it or an admin's credentials.
	MetricsToken string
	// Pprof serves Go's runtime profiles under /debug/pprof/ to loopback
	// clients (debug.pprof); off, those paths are 404.
	Pprof bool
}

// Server serves the HTTP API.
type Server struct {
	opts   Options
	log    *slog.Logger
	router *httprouter.Router
	cop    *http.CrossOriginProtection
	auth   *authState // nil when auth is off
	hosts  *hostPolicy
	events *hub // /api/events subscribers
	ui     *web.Handler

	mu  sync.Mutex
	srv *http.Server

	// quit is closed by Shutdown: held worker claims answer "no work".
	quit     chan struct{}
	quitOnce sync.Once
}

// Request limits.
const (
	// maxBody is the largest accepted request body.
	maxBody = 1 << 20
	// maxHeaderBytes bounds a request's header block (bearer tokens and
	// signatures are small).
	maxHeaderBytes = 64 << 10
	// defaultHeaderTimeout is how long a client has to send its headers.
	defaultHeaderTimeout = 10 * time.Second
)

// New builds the server and its routes; it does no I/O.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.StreamWriteWait <= 0 {
		opts.StreamWriteWait = 10 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.ReserveConnections <= 0 {
		opts.ReserveConnections = DefaultReserveConnections
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = defaultHeaderTimeout
	}
	hosts, err := newHostPolicy(opts.Listen, opts.BaseURL, opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, router: httprouter.New(), hosts: hosts, quit: make(chan struct{}),
		events: newHub()}
	ui, err := web.New()
	if err != nil {
		return nil, err
	}
	s.ui = ui
	if err := s.initAuth(); err != nil {
		return nil, err
	}
	s.cop = http.NewCrossOriginProtection()
	if opts.BaseURL != "" {
		if err := s.cop.AddTrustedOrigin(strings.TrimRight(opts.BaseURL, "/")); err != nil {
			return nil, fmt.Errorf("trusted origin %q: %w", opts.BaseURL, err)
		}
	}
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "Cross-origin request refused"})
	}))
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	r := s.router
	r.RedirectTrailingSlash = false
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.Owns(r) {
			s.ui.ServeHTTP(w, r) // the browser UI routes every other page itself
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not found"})
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "Method not allowed"})
	})
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, p any) {
		s.log.Error("panic in router", "path", r.URL.Path, "panic", p)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Internal server error"})
	}

	r.GET("/healthz", s.handle(s.healthz))
	r.GET("/readyz", s.handle(s.readyz))
	r.GET("/api/config", s.handle(s.config))

	r.GET("/api/workspaces", s.handle(s.listWorkspaces))
	r.POST("/api/workspaces/:ws/refresh", s.handle(s.refreshWorkspace))
	r.GET("/api/workspaces/:ws/tasks", s.handle(s.listTasks))
	r.GET("/api/workspaces/:ws/tasks/:name", s.handle(s.getTask))
	r.POST("/api/workspaces/:ws/tasks/:name/execute", s.handle(s.executeTask))
	r.GET("/api/workspaces/:ws/triggers", s.handle(s.listTriggers))

	r.GET("/api/jobs", s.handle(s.listJobs))
	r.GET("/api/jobs/:id", s.handle(s.getJob))
	r.POST("/api/jobs/:id/cancel", s.handle(s.cancelJob))
	r.POST("/api/jobs/:id/rerun", s.handle(s.rerunJob))
	r.POST("/api/jobs/:id/restart", s.handle(s.restartJob))
	r.POST("/api/jobs/:id/steps/:step/approve", s.handle(s.approveStep))
	r.POST("/api/jobs/:id/steps/:step/reject", s.handle(s.rejectStep))
	r.GET("/api/jobs/:id/logs", s.handle(s.jobLogs))
	r.GET("/api/jobs/:id/logs/stream", s.handle(s.streamLogs))
	r.GET("/api/jobs/:id/steps/:step/logs", s.handle(s.stepLogs))
	r.GET("/api/jobs/:id/changes", s.handle(s.jobChanges))

	r.GET("/api/events", s.handle(s.streamEvents))

	r.GET("/api/workers", s.handle(s.listWorkers))
	r.GET("/api/workers/:id", s.handle(s.getWorker))

	r.POST("/push/:ws", s.handle(s.push))
	r.GET("/api/backup", s.handle(s.backup))
	r.GET("/api/audit", s.handle(s.listAudit))

	s.authRoutes(r)
	s.hookRoutes(r)
	s.workerRoutes(r)
	s.metricsRoutes(r)
	s.pprofRoutes(r)
}

// Handler returns the root handler: request metrics, the connection
// cap's admission (under Serve), the body deadline, the Host check and
// cross-origin protection on /api, /push and /worker, then the router.
func (s *Server) Handler() http.Handler {
	protected := s.cop.Handler(s.authenticate(s.router))
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protectedPath(r.URL.Path) {
			protected.ServeHTTP(w, r)
			return
		}
		s.router.ServeHTTP(w, r)
	})
	return s.instrument(s.limitConnections(s.bodyDeadline(s.checkHost(route))))
}

// Serve serves on ln until Shutdown; with certFile/keyFile set it serves
// HTTPS. At most MaxConnections+ReserveConnections connections are open at
// once (connLimiter). It returns nil after a clean shutdown.
func (s *Server) Serve(ln net.Listener, certFile, keyFile string) error {
	// No ReadTimeout or WriteTimeout: they would cut long-polls, waits and
	// WebSockets. Bodies get a per-request deadline (bodyDeadline).
	ln = newConnLimiter(ln, s.opts.MaxConnections, s.opts.ReserveConnections)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.HeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       120 * time.Second,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if certFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	select {
	case <-s.quit:
		// Shutdown ran before srv was published: it could not stop it.
		ln.Close()
		return nil
	default:
	}
	var err error
	if certFile != "" {
		err = srv.ServeTLS(ln, certFile, keyFile)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for active ones until ctx
// ends; long-polls, waits and WebSockets are then closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.quitOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	return err
}

// clientIP is the request's client address, believing X-Forwarded-For only
// from trusted proxies.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(addr) {
		return host
	}
	fwd := r.Header.Values("X-Forwarded-For")
	var hops []string
	for _, v := range fwd {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	// Walk from the nearest hop; the first untrusted one is the client.
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return host
		}
		if !s.trusted(a) {
			return a.String()
		}
		host = a.String()
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	type health struct {
		Status string `json:"status"`
		DB     string `json:"db"`
	}
	if err := s.opts.Store.Ping(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{"unhealthy", "error"})
		return nil
	}
	writeJSON(w, http.StatusOK, health{"ok", "ok"})
	return nil
}

// readyz serves GET /readyz (runnel): 200 once the store answers and every
// workspace has loaded a revision, else 503 naming what is not ready.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var waiting []string
	if err := s.opts.Store.Ping(); err != nil {
		waiting = append(waiting, "store: "+err.Error())
	}
	for _, st := range s.opts.Workspaces.List() {
		switch {
		case st.Snapshot != nil:
		case st.Loading:
			waiting = append(waiting, fmt.Sprintf("workspace '%s' is still loading", st.Name))
		default:
			first, _, _ := strings.Cut(st.Error, "\n")
			waiting = append(waiting, fmt.Sprintf("workspace '%s' has no loaded revision: %s", st.Name, first))
		}
	}
	if len(waiting) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready",
			"error": "Not ready: " + strings.Join(waiting, "; ")})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) config(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	writeJSON(w, http.StatusOK, api.Config{AuthRequired: s.auth != nil, HasInternalAuth: s.hasInternalAuth(),
		OIDCProviders: []api.Provider{}, Version: s.opts.Version})
	return nil
}
