package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/examples"
	"runnel/gitsync"
	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/httpd/metrics"
	"runnel/jobs"
	"runnel/jobs/audit"
	"runnel/jobs/schedule"
	"runnel/logstore"
	"runnel/workspace"
)

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve", "serve [--config FILE] [--listen ADDR] [--data-dir DIR]\n\nRuns the API server, the scheduler and the built-in workers. Without a config\nfile it serves the bundled example workspace as 'default' on 127.0.0.1:8080.\n--listen and --data-dir override the config file and RUNNEL__ variables.", "runnel serve --config server-config.yaml --listen 127.0.0.1:9090")
	configFlag := fs.String("config", "", "server config file (default $RUNNEL_CONFIG, else ./server-config.yaml if present)")
	listen := fs.String("listen", "", "API address host:port (overrides the config's listen)")
	dataDir := fs.String("data-dir", "", "data directory (overrides the config's data_dir)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: "unexpected arguments: " + fmt.Sprint(fs.Args())}
	}
	path := config.Path(*configFlag, e.environ, "server-config.yaml")
	cfg, err := config.LoadServer(path, e.environ)
	if err != nil {
		return err
	}
	if err := overrideConfig(&cfg, *listen, *dataDir); err != nil {
		return err
	}
	m := NewMain(cfg, e)
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			m.Reload(ctx)
		case <-ctx.Done():
			m.log.Info("shutting down")
			return m.Close()
		}
	}
}

// overrideConfig applies serve's --listen and --data-dir ("" = keep): a
// relative data directory is taken from the working directory, and logs
// that lived under the old data directory move with it. The result is
// validated again.
func overrideConfig(c *config.Server, listen, dataDir string) error {
	if listen != "" {
		c.Listen = listen
	}
	if dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return &usageError{msg: fmt.Sprintf("--data-dir: %v", err)}
		}
		if c.LogStorage.LocalDir == filepath.Join(c.DataDir, "logs") {
			c.LogStorage.LocalDir = filepath.Join(abs, "logs")
		}
		c.DataDir = abs
	}
	return c.Validate()
}

// Main is a running `runnel serve`: it owns every component and closes
// them in reverse order.
type Main struct {
	Config config.Server
	env    env
	log    *slog.Logger
	level  *slog.LevelVar // the log level; Reload changes it

	// Stack holds Store, Audit, Logs, Engine and Query (jobs.OpenStack).
	Stack     *jobs.Stack
	Store     *jobs.Store
	Accounts  *accounts.Store
	Audit     *audit.Log
	Logs      *logstore.Store
	Manager   *workspace.Manager
	Engine    *jobs.Engine
	Query     *jobs.Query
	Scheduler *schedule.Scheduler
	Metrics   *metrics.Metrics
	HTTP      *httpd.Server
	Listener  net.Listener
	serveDone chan error
}

// NewMain returns an unopened server for cfg.
func NewMain(cfg config.Server, e env) *Main {
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return &Main{Config: cfg, env: e, level: level, log: newLogger(e.stderr, level, cfg.LogFormat)}
}

func newLogger(w io.Writer, level slog.Leveler, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Addr is the bound listen address (valid after Open).
func (m *Main) Addr() string { return m.Listener.Addr().String() }

// Open creates the data directory, opens the store and logs, starts the
// workspace manager and the engine, binds the listener and serves.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	// Bind first: a busy port fails before anything is opened or written.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	m.Listener = ln
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	if cfg.LogStorage.LocalDir == "" {
		cfg.LogStorage.LocalDir = filepath.Join(cfg.DataDir, "logs")
	}
	m.Metrics = metrics.New(m.metricSources())
	limit := raiseFileLimit(m.log, max(minFileLimit, uint64(cfg.LogStorage.MaxOpenFiles)+512))
	maxOpen := logFileBudget(cfg.LogStorage.MaxOpenFiles, limit)
	if maxOpen < cfg.LogStorage.MaxOpenFiles {
		m.log.Warn("keeping fewer job log files open than log_storage.max_open_files: half the open file limit",
			"max_open_files", cfg.LogStorage.MaxOpenFiles, "using", maxOpen, "limit", limit)
	}
	sources, err := m.sources()
	if err != nil {
		return err
	}
	var mirror *slog.Logger
	if cfg.Audit.Log {
		// Entries are logged whatever log_level says.
		mirror = newLogger(m.env.stderr, slog.LevelInfo, cfg.LogFormat)
	}
	var stack *jobs.Stack // built over the manager it reads snapshots from
	m.Manager = workspace.NewManager(workspace.ManagerOptions{
		RevisionsDir: filepath.Join(cfg.DataDir, "revisions"),
		TarballsDir:  filepath.Join(cfg.DataDir, "tarballs"),
		Load:         workspace.LoadOptions{Getenv: m.env.lookup},
		InUse:        func(ws string) []string { return stack.Query.RevisionsInUse(ws) },
		Logger:       m.log,
		Metrics:      m.Metrics,
	}, sources)
	stack, err = jobs.OpenStack(jobs.StackOptions{
		DataDir: cfg.DataDir, LockWait: 5 * time.Second, Metrics: m.Metrics,
		Logs: logstore.Options{Dir: cfg.LogStorage.LocalDir, MaxOpen: maxOpen},
		Engine: jobs.Options{
			Defs:         m.Manager,
			LocalWorkers: cfg.LocalWorkers, LocalTags: cfg.LocalWorkerTags,
			ShutdownGrace: time.Duration(cfg.ShutdownGraceSecs) * time.Second,
			Environ:       m.env.environ, Version: version, Logger: m.log,
			HeartbeatTimeout: time.Duration(cfg.Recovery.HeartbeatTimeoutSecs) * time.Second,
			SweepInterval:    time.Duration(cfg.Recovery.SweepIntervalSecs) * time.Second,
			UnmatchedTimeout: time.Duration(cfg.Recovery.UnmatchedStepTimeoutSecs) * time.Second,
		},
		Retention: jobs.Retention{JobsDays: cfg.Retention.JobsDays, MaxJobsPerTask: cfg.Retention.MaxJobsPerTask,
			WorkersDays: cfg.Retention.WorkersDays, AuditDays: cfg.Retention.AuditDays},
		AuditMirror: mirror,
	})
	if errors.Is(err, jobs.ErrLocked) {
		return fmt.Errorf("data_dir %s is in use by another runnel process", cfg.DataDir)
	}
	if err != nil {
		return err
	}
	m.Stack, m.Store, m.Logs = stack, stack.Store, stack.Logs
	engine := stack.Engine
	if m.Accounts, err = accounts.Open(m.Store); err != nil {
		return err
	}
	if err := ensureInitialUser(m.Accounts, cfg.Auth, m.log); err != nil {
		return err
	}
	m.Audit = stack.Audit
	m.Engine, m.Query = engine, stack.Query
	m.Scheduler = schedule.New(engine, m.Store, schedule.Options{Workspaces: m.Manager, Logger: m.log, Audit: m.Audit, Metrics: m.Metrics})
	m.Manager.OnSwap(m.Scheduler.OnSwap)
	if err := m.Manager.Start(ctx); err != nil {
		return fmt.Errorf("start workspaces: %w", err)
	}
	if err := stack.Start(ctx); err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	if err := m.Scheduler.Start(ctx); err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}

	srv, err := httpd.New(httpd.Options{
		Workspaces: m.Manager, Engine: m.Engine, Jobs: m.Query, Masks: stack.Masks,
		Schedule: m.Scheduler, Store: m.Store, Logs: m.Logs, Logger: m.log,
		Users: m.Accounts, Audit: m.Audit, Auth: authOptions(cfg.Auth), BaseURL: authBaseURL(cfg.Auth),
		Version: version, TrustedProxies: cfg.TrustedProxies, WorkerToken: cfg.WorkerToken,
		Listen: cfg.Listen, AllowedHosts: cfg.AllowedHosts, MaxConnections: cfg.MaxConnections,
		Metrics: m.Metrics, MetricsToken: cfg.MetricsToken, Pprof: cfg.Debug.Pprof,
	})
	if err != nil {
		return err
	}
	m.HTTP = srv
	m.Store.OnCommit(srv.PublishCommit)
	m.Manager.OnLoad(srv.PublishWorkspace)
	cert, key := "", ""
	scheme := "http"
	if cfg.TLS != nil {
		cert, key, scheme = cfg.TLS.CertFile, cfg.TLS.KeyFile, "https"
	}
	m.serveDone = make(chan error, 1)
	go func() { m.serveDone <- srv.Serve(ln, cert, key) }()
	m.log.Info("runnel serving", "url", scheme+"://"+ln.Addr().String(), "version", version,
		"data_dir", cfg.DataDir, "workspaces", len(sources), "local_workers", cfg.LocalWorkers)
	return nil
}

// sources turns configured workspaces into manager sources; with no config
// file at all, the bundled examples become workspace "default".
func (m *Main) sources() ([]workspace.Source, error) {
	cfg := m.Config
	revisions := filepath.Join(cfg.DataDir, "revisions")
	if cfg.Path == "" && len(cfg.Workspaces) == 0 {
		dir := filepath.Join(cfg.DataDir, "example-workspace")
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := examples.WriteWorkspace(dir); err != nil {
				return nil, fmt.Errorf("write example workspace: %w", err)
			}
		}
		m.log.Info("no config file: serving the bundled examples as workspace 'default'", "path", dir)
		cfg.Workspaces = map[string]config.Workspace{"default": {Type: "folder", Path: dir}}
	}
	names := make([]string, 0, len(cfg.Workspaces))
	for name := range cfg.Workspaces {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []workspace.Source
	for _, name := range names {
		wc := cfg.Workspaces[name]
		revDir := filepath.Join(revisions, name)
		switch wc.Type {
		case workspace.KindFolder:
			f := workspace.NewFolder(wc.Path, revDir)
			out = append(out, workspace.Source{Name: name, Kind: wc.Type, Fetch: f.Fetch, Watch: f.Watch, Path: wc.Path})
		case workspace.KindGit:
			opts := gitsync.Options{URL: wc.URL, Ref: wc.Ref, Dir: filepath.Join(cfg.DataDir, "git", name)}
			if a := wc.Auth; a != nil {
				opts.Auth = gitsync.Auth{Type: a.Type, Username: a.Username, Password: a.Password,
					Token: a.Token, KeyPath: a.KeyPath, Key: a.Key}
			}
			repo := gitsync.New(opts)
			out = append(out, workspace.Source{
				Name: name, Kind: wc.Type, Ref: repo.Ref(), WebhookSecret: wc.WebhookSecret,
				PollInterval: time.Duration(wc.PollIntervalSecs) * time.Second,
				Fetch: func(ctx context.Context) (string, string, error) {
					start := time.Now()
					rev, dir, err := repo.Fetch(ctx, revDir)
					if ctx.Err() == nil {
						m.Metrics.GitFetched(name, time.Since(start), err)
					}
					return rev, dir, err
				},
				URL:      wc.URL,
				Describe: gitDescribe(repo),
				Changes:  gitChanges(repo),
				Restore:  repo.Export,
			})
		default:
			return nil, fmt.Errorf("workspace %q: unknown type %q", name, wc.Type)
		}
	}
	return out, nil
}

// gitDescribe hands the workspace manager a git repo's commit details.
func gitDescribe(repo *gitsync.Repo) func(context.Context, string) (workspace.Commit, error) {
	return func(ctx context.Context, rev string) (workspace.Commit, error) {
		c, err := repo.Commit(ctx, rev)
		return workspace.Commit{Hash: c.Hash, Message: c.Message, Author: c.Author, Time: c.Time}, err
	}
}

// gitChanges hands the workspace manager a git repo's file comparison,
// bounded as the manager's own.
func gitChanges(repo *gitsync.Repo) func(context.Context, string, string) ([]workspace.FileChange, error) {
	return func(ctx context.Context, from, to string) ([]workspace.FileChange, error) {
		cs, err := repo.Changes(ctx, from, to, workspace.MaxChangedFiles, workspace.MaxDiffFileSize)
		if errors.Is(err, gitsync.ErrTooManyChanges) {
			return nil, fmt.Errorf("%w: %w", workspace.ErrTooManyChanges, err)
		}
		if err != nil {
			return nil, err
		}
		out := make([]workspace.FileChange, len(cs))
		for i, c := range cs {
			out[i] = workspace.FileChange{Path: c.Path, Status: c.Status, Old: c.Old, New: c.New, Omitted: c.Omitted}
		}
		return out, nil
	}
}

// Close shuts the server down: HTTP first (in-flight requests get 5 s),
// then the engine (running steps get their grace), the workspaces, the
// logs and the store. Idempotent enough to call after a failed Open.
func (m *Main) Close() error {
	var errs []error
	if m.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.HTTP.Shutdown(ctx)
		cancel()
		if err := <-m.serveDone; err != nil {
			errs = append(errs, err)
		}
		m.HTTP = nil
	} else if m.Listener != nil {
		m.Listener.Close()
	}
	if m.Scheduler != nil {
		errs = append(errs, m.Scheduler.Close())
	}
	if m.Engine != nil {
		// Before the manager: running steps and retention read snapshots.
		errs = append(errs, m.Stack.Pruner.Close(), m.Engine.Close())
	}
	if m.Manager != nil {
		errs = append(errs, m.Manager.Close())
	}
	if m.Stack != nil {
		errs = append(errs, m.Stack.Close())
	}
	return errors.Join(errs...)
}

// Reload is what SIGHUP does: it reads the config file again, applies the
// log level, refreshes every workspace (as POST …/refresh does) and names
// the changed settings that need a restart. A config file that no longer
// loads changes nothing. It returns those settings' keys, and records the
// reload in the audit log (actor "system").
func (m *Main) Reload(ctx context.Context) []string {
	m.log.Info("reloading (SIGHUP)")
	var restart []string
	detail := map[string]any{"signal": "SIGHUP"}
	defer func() {
		if len(restart) > 0 {
			detail["restart_keys"] = restart
		}
		err := m.Audit.Record(audit.Entry{Actor: "system", ActorType: audit.ActorSystem, Action: audit.ActionConfigReload,
			Target: m.Config.Path, Detail: detail})
		if err != nil {
			m.log.Error("record audit entry", "action", audit.ActionConfigReload, "err", err)
		}
	}()
	if m.Config.Path != "" {
		cfg, err := config.LoadServer(m.Config.Path, m.env.environ)
		if err != nil {
			m.log.Error("config reload failed; the running configuration stays", "err", err)
			detail["config_error"] = true
		} else {
			if cfg.LogLevel != m.Config.LogLevel {
				_ = m.level.UnmarshalText([]byte(cfg.LogLevel))
				m.log.Info("log level changed", "log_level", cfg.LogLevel)
				m.Config.LogLevel = cfg.LogLevel
			}
			if restart = changedKeys(m.Config, cfg); len(restart) > 0 {
				m.log.Warn("changed settings take effect after a restart", "keys", strings.Join(restart, ", "))
			}
		}
	}
	for _, st := range m.Manager.List() {
		res, err := m.Manager.Refresh(ctx, st.Name)
		if err != nil {
			m.log.Warn("workspace refresh failed", "workspace", st.Name, "err", err)
			detail["failed_workspaces"] = append(asStrings(detail["failed_workspaces"]), st.Name)
			continue
		}
		m.log.Info("workspace refreshed", "workspace", st.Name, "revision", res.Revision, "changed", res.Changed)
	}
	return restart
}

// asStrings is v as a []string (nil for anything else).
func asStrings(v any) []string {
	s, _ := v.([]string)
	return s
}

// changedKeys lists the top-level config keys whose values differ.
func changedKeys(a, b config.Server) []string {
	var keys []string
	va, vb, t := reflect.ValueOf(a), reflect.ValueOf(b), reflect.TypeOf(a)
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}
