package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"runnel/httpd/client"
)

// bin is the runnel binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runnel-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "runnel")
	out, err := exec.Command("go", "build", "-o", bin, "runnel/cmd/runnel").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build runnel: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "e2e-worker-token-0123456789abcdefghij"

// wait is how long tests wait for any event.
var wait = jobstest.Patience()

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running runnel process.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

func startProc(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, exec.Command(bin, args...), env)
}

// startCmd starts cmd (the runnel binary, maybe through a wrapper that
// execs it) with the test's environment plus env.
func startCmd(t testing.TB, name string, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = cmd
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s", p.name, d)
		return 0
	}
}

func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// freePort returns a port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serverConfig is what tests vary in server-config.yaml.
type serverConfig struct {
	LocalWorkers int
	LocalTags    []string
	NoToken      bool
	// HeartbeatTimeout and Sweep are seconds (defaults 4 and 1 here).
	HeartbeatTimeout, Sweep int
	// FileLimit, if set, is the soft and hard open-file limit (ulimit -n)
	// the server runs under.
	FileLimit int
	// LogLevel is the server's log_level (default debug).
	LogLevel string
}

// server is a running `runnel serve`.
type server struct {
	*proc
	t         testing.TB
	url       string
	cfgPath   string
	fileLimit int
	wsDir     string
	api       *client.Client
	wk        *client.Client
}

// startServer writes the workspace files into a folder workspace and
// serves it; a port taken between picking and binding is retried.
func startServer(t testing.TB, files map[string]string, sc serverConfig) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, wsDir: filepath.Join(dir, "ws"), cfgPath: filepath.Join(dir, "server-config.yaml"), fileLimit: sc.FileLimit}
	s.write(files)
	if sc.HeartbeatTimeout == 0 {
		sc.HeartbeatTimeout = 4
	}
	if sc.Sweep == 0 {
		sc.Sweep = 1
	}
	if sc.LogLevel == "" {
		sc.LogLevel = "debug"
	}
	tags := "[shell]"
	if len(sc.LocalTags) > 0 {
		tags = "[" + strings.Join(sc.LocalTags, ", ") + "]"
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: data
workspaces:
  default: { type: folder, path: ws }
local_workers: %d
local_worker_tags: %s
recovery:
  heartbeat_timeout_secs: %d
  sweep_interval_secs: %d
log_level: %s
`, port, sc.LocalWorkers, tags, sc.HeartbeatTimeout, sc.Sweep, sc.LogLevel)
		if !sc.NoToken {
			cfg += "worker_token: " + token + "\n"
		}
		if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		s.url = fmt.Sprintf("http://127.0.0.1:%d", port)
		s.api = client.New(s.url, "")
		s.wk = client.New(s.url, token)
		if s.launch() {
			return s
		}
		if attempt == 4 || !strings.Contains(s.out.String(), "address already in use") {
			t.Fatalf("runnel serve did not start:\n%s", s.out.String())
		}
	}
}

// launch starts the process and waits until it serves with its workspace
// loaded; false if it exited first.
func (s *server) launch() bool {
	s.t.Helper()
	args := []string{"serve", "--config", s.cfgPath}
	cmd := exec.Command(bin, args...)
	if s.fileLimit > 0 {
		// ulimit -n sets the soft and the hard limit: runnel cannot raise it.
		script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, s.fileLimit)
		cmd = exec.Command("sh", append([]string{"-c", script, bin}, args...)...)
	}
	s.proc = startCmd(s.t, "runnel serve", cmd, nil)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if s.exited() {
			return false
		}
		var ws []struct {
			Revision *string `json:"revision"`
		}
		if s.api.Do(context.Background(), "GET", "/api/workspaces", nil, &ws) == nil && len(ws) == 1 && ws[0].Revision != nil {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("runnel serve not ready after %s:\n%s", wait, s.out.String())
	return false
}

// stop stops the server with SIGTERM; it must exit 0.
func (s *server) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	if code := s.waitExit(2 * wait); code != 0 {
		s.t.Fatalf("runnel serve exited with %d:\n%s", code, s.out.String())
	}
}

// start starts a stopped server again on the same port and data
// directory.
func (s *server) start() {
	s.t.Helper()
	if !s.launch() {
		s.t.Fatalf("runnel serve did not restart:\n%s", s.out.String())
	}
}

func (s *server) write(files map[string]string) {
	s.t.Helper()
	for name, content := range files {
		p := filepath.Join(s.wsDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			s.t.Fatal(err)
		}
	}
}

// revision is the workspace's current revision.
func (s *server) revision() string {
	s.t.Helper()
	var ws []struct {
		Revision string `json:"revision"`
	}
	if err := s.api.Do(context.Background(), "GET", "/api/workspaces", nil, &ws); err != nil || len(ws) != 1 {
		s.t.Fatalf("workspaces: %v %v", ws, err)
	}
	return ws[0].Revision
}

// job is the part of a job's API body the tests read.
type job struct {
	ID       string          `json:"job_id"`
	Status   string          `json:"status"`
	Revision string          `json:"revision"`
	WorkerID *string         `json:"worker_id"`
	Output   json.RawMessage `json:"output"`
	Steps    []step          `json:"steps"`
}

type step struct {
	Name         string          `json:"step_name"`
	Status       string          `json:"status"`
	WorkerID     *string         `json:"worker_id"`
	ErrorMessage *string         `json:"error_message"`
	Output       json.RawMessage `json:"output"`
}

func (j job) step(name string) step {
	for _, s := range j.Steps {
		if s.Name == name {
			return s
		}
	}
	return step{}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func (s *server) execute(task string, input map[string]any) string {
	s.t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	err := s.api.Do(context.Background(), "POST", "/api/workspaces/default/tasks/"+task+"/execute", map[string]any{"input": input}, &out)
	if err != nil {
		s.t.Fatalf("execute %s: %v", task, err)
	}
	return out.JobID
}

func (s *server) job(id string) job {
	s.t.Helper()
	var j job
	if err := s.api.Do(context.Background(), "GET", "/api/jobs/"+id, nil, &j); err != nil {
		s.t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// waitJob waits for the job to be terminal.
func (s *server) waitJob(id string) job {
	s.t.Helper()
	var j job
	jobstest.Eventually(s.t, "job "+id+" to finish", func() bool {
		j = s.job(id)
		switch j.Status {
		case "completed", "failed", "cancelled", "skipped":
			return true
		}
		return false
	})
	return j
}

// logs returns the texts of a step's log lines ("_server" for events).
func (s *server) logs(id, stepName string) []string {
	s.t.Helper()
	var out struct {
		Logs string `json:"logs"`
	}
	if err := s.api.Do(context.Background(), "GET", "/api/jobs/"+id+"/steps/"+stepName+"/logs", nil, &out); err != nil {
		s.t.Fatalf("logs: %v", err)
	}
	var texts []string
	for _, l := range strings.Split(out.Logs, "\n") {
		var v struct {
			Line string `json:"line"`
		}
		if l != "" && json.Unmarshal([]byte(l), &v) == nil {
			texts = append(texts, v.Line)
		}
	}
	return texts
}

// worker is a running `runnel worker`.
type worker struct {
	*proc
	id string
}

// startWorker starts `runnel worker` against s and waits for it to be an
// active worker in the registry.
func startWorker(t testing.TB, s *server, name string, tags []string, maxConcurrent int, env ...string) *worker {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { writable(dir) })
	cfg := fmt.Sprintf(`server_url: %s
worker_token: %s
worker_name: %s
max_concurrent: %d
poll_interval_secs: 1
workspace_cache_dir: cache
tags: [%s]
`, s.url, token, name, maxConcurrent, strings.Join(tags, ", "))
	path := filepath.Join(dir, "worker-config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &worker{proc: startProc(t, "runnel worker "+name, env, "worker", "--config", path)}
	jobstest.Eventually(t, "worker "+name+" to register", func() bool {
		w.id = s.workerID(name)
		return w.id != "" || w.exited()
	})
	if w.exited() {
		t.Fatalf("runnel worker %s exited:\n%s", name, w.out.String())
	}
	return w
}

// workerID is the id of the active worker with that name ("" if none).
func (s *server) workerID(name string) string {
	var ws []struct {
		ID     string `json:"worker_id"`
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	if s.api.Do(context.Background(), "GET", "/api/workers", nil, &ws) != nil {
		return ""
	}
	for _, w := range ws {
		if w.Name == name && w.Status == "active" {
			return w.ID
		}
	}
	return ""
}

func writable(dir string) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if fi != nil && fi.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// status returns the HTTP status of err (200 for nil).
func status(err error) int {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	if err == nil {
		return http.StatusOK
	}
	return 0
}
