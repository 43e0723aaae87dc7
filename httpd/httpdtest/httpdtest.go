package httpdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runnel/jobs/jobstest"
	"strings"
	"testing"
	"time"

	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/jobs"
	"runnel/jobs/schedule"
	"runnel/logstore"
	"runnel/workspace"
)

// Config adjusts the stack before it starts.
type Config struct {
	Engine jobs.Options
	HTTP   httpd.Options
	// Workspace is the workspace name (default "default").
	Workspace string
	// Logs adjusts the log store (Dir and Mask are filled in).
	Logs logstore.Options
	// Logger receives the manager's, engine's and server's log lines
	// (default: discarded).
	Logger *slog.Logger
}

// Server is a running stack.
type Server struct {
	T            testing.TB
	URL          string
	DataDir      string
	WorkspaceDir string
	Manager      *workspace.Manager
	// Stack holds Store, Logs, Engine and Query (jobs.OpenStack).
	Stack    *jobs.Stack
	Store    *jobs.Store
	Accounts *accounts.Store
	Logs     *logstore.Store
	Engine   *jobs.Engine
	// Query reads jobs and workers (the stack's).
	Query *jobs.Query
	// Scheduler is the cron scheduler, not started (StartScheduler); the
	// server answers next_runs from it.
	Scheduler *schedule.Scheduler
	HTTP      *httpd.Server
	// Addr is the bound 127.0.0.1:port; URL is http://Addr.
	Addr   string
	Client *http.Client

	serveDone chan error
}

// New starts the stack with the workspace files (relative path → content;
// files ending in .sh are executable) and waits for the first load.
func New(t testing.TB, files map[string]string, opts ...func(*Config)) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{Workspace: "default"}
	cfg.Engine = jobs.Options{LocalWorkers: 4, KillGrace: 500 * time.Millisecond, ShutdownGrace: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{T: t, DataDir: filepath.Join(dir, "data"), WorkspaceDir: filepath.Join(dir, "ws")}
	s.Write(files)

	var stack *jobs.Stack // built after the manager it serves snapshots from
	revs := filepath.Join(s.DataDir, "revisions")
	folder := workspace.NewFolder(s.WorkspaceDir, filepath.Join(revs, cfg.Workspace))
	quiet := cfg.Logger
	if quiet == nil {
		quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.Manager = workspace.NewManager(workspace.ManagerOptions{
		RevisionsDir: revs, TarballsDir: filepath.Join(s.DataDir, "tarballs"), Logger: quiet,
		InUse: func(ws string) []string { return stack.Query.RevisionsInUse(ws) },
	}, []workspace.Source{{Name: cfg.Workspace, Kind: workspace.KindFolder, Fetch: folder.Fetch, Watch: folder.Watch,
		Path: s.WorkspaceDir}})
	eo := cfg.Engine
	eo.Defs = s.Manager
	if eo.Logger == nil {
		eo.Logger = quiet
	}
	stack, err := jobs.OpenStack(jobs.StackOptions{DataDir: s.DataDir, LockWait: time.Second, Logs: cfg.Logs, Engine: eo})
	if err != nil {
		t.Fatal(err)
	}
	s.Stack, s.Store, s.Logs, s.Engine, s.Query = stack, stack.Store, stack.Logs, stack.Engine, stack.Query
	eng := stack.Engine
	if s.Accounts, err = accounts.Open(s.Store); err != nil {
		t.Fatal(err)
	}
	s.Scheduler = schedule.New(eng, s.Store, schedule.Options{Workspaces: s.Manager, Logger: quiet})
	ctx := context.Background()
	if err := s.Manager.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, jobstest.Patience())
	defer cancel()
	if err := s.Manager.WaitLoaded(wctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Serve with the server's own Serve (connection cap, deadlines), as
	// `runnel serve` does, on a port bound first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	ho := cfg.HTTP
	ho.Workspaces, ho.Engine, ho.Schedule, ho.Store, ho.Logs = s.Manager, eng, s.Scheduler, s.Store, s.Logs
	ho.Jobs, ho.Masks = stack.Query, stack.Masks
	if ho.Listen == "" {
		ho.Listen = s.Addr
	}
	if ho.Users == nil {
		ho.Users = s.Accounts
	}
	if ho.Audit == nil {
		ho.Audit = stack.Audit
	}
	if ho.Logger == nil {
		ho.Logger = quiet
	}
	srv, err := httpd.New(ho)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s.HTTP = srv
	s.Store.OnCommit(srv.PublishCommit)
	s.Manager.OnLoad(srv.PublishWorkspace)
	s.serveDone = make(chan error, 1)
	go func() { s.serveDone <- srv.Serve(ln, "", "") }()
	s.URL = "http://" + s.Addr
	s.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(s.Close)
	return s
}

// StartScheduler starts the cron scheduler on top of the stack, as
// `runnel serve` does; Close stops it.
func (s *Server) StartScheduler() {
	s.T.Helper()
	s.Manager.OnSwap(s.Scheduler.OnSwap)
	if err := s.Scheduler.Start(context.Background()); err != nil {
		s.T.Fatal(err)
	}
}

// Write writes workspace files (the folder watcher reloads them).
func (s *Server) Write(files map[string]string) {
	s.T.Helper()
	for name, content := range files {
		p := filepath.Join(s.WorkspaceDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.T.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			s.T.Fatal(err)
		}
	}
}

// Close stops everything (idempotent).
func (s *Server) Close() {
	if s.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.HTTP.Shutdown(ctx)
		cancel()
		if err := <-s.serveDone; err != nil {
			s.T.Errorf("serve: %v", err)
		}
		s.Client.CloseIdleConnections()
		s.HTTP = nil
	}
	if s.Scheduler != nil {
		if err := s.Scheduler.Close(); err != nil {
			s.T.Errorf("close scheduler: %v", err)
		}
		s.Scheduler = nil
	}
	if s.Stack != nil {
		// Before the manager: running steps and retention read snapshots.
		s.Stack.Pruner.Close()
		s.Engine.Close()
	}
	if s.Manager != nil {
		s.Manager.Close()
		s.Manager = nil
	}
	if s.Stack != nil {
		s.Stack.Close()
	}
	s.Stack, s.Store, s.Logs, s.Engine, s.Query = nil, nil, nil, nil, nil
}

// Do sends a request with an optional body (a string is sent as is, other
// values as JSON) and returns the status, headers and body.
func (s *Server) Do(method, path string, body any, header ...string) (int, http.Header, []byte) {
	s.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.T.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		s.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.T.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// JSON sends a request and decodes the JSON answer into out (if non-nil);
// it returns the status.
func (s *Server) JSON(method, path string, body, out any, header ...string) int {
	s.T.Helper()
	status, _, data := s.Do(method, path, body, header...)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.T.Fatalf("%s %s: status %d, decode %q: %v", method, path, status, data, err)
		}
	}
	return status
}

// Execute starts a task and returns the job id (fails the test otherwise).
func (s *Server) Execute(task string, input map[string]any) string {
	s.T.Helper()
	var out struct {
		JobID string `json:"job_id"`
		Error string `json:"error"`
	}
	if st := s.JSON("POST", "/api/workspaces/default/tasks/"+task+"/execute", map[string]any{"input": input}, &out); st != 200 {
		s.T.Fatalf("execute %s: %d %s", task, st, out.Error)
	}
	return out.JobID
}

// WaitJob waits (10 s at most) for the job to be terminal and returns its
// API body decoded into a map.
func (s *Server) WaitJob(id string) map[string]any {
	s.T.Helper()
	// The server's wait is capped at 300 s; Patience (which scales under
	// load) decides how long the test waits.
	secs := max(1, int(jobstest.Patience().Round(time.Second)/time.Second))
	var j map[string]any
	if st := s.JSON("GET", fmt.Sprintf("/api/jobs/%s?wait=true&timeout=%d", id, min(secs, 300)), nil, &j); st != 200 {
		s.T.Fatalf("wait job: %d %v", st, j)
	}
	if !jobs.JobTerminal(j["status"].(string)) {
		s.T.Fatalf("job %s still %s after %ds", id, j["status"], min(secs, 300))
	}
	return j
}
