package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"runnel/jobs/jobstest"
)

// TestCLICommandLine: --server, --token and --workspace before the
// command apply to it (a command's own flag still wins), a bare `runnel`
// prints usage and exits 2, and mistakes before the command exit 2, as
// does validating a folder that is not there.
func TestCLICommandLine(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliWorkflow}, nil)
	closed := cliClosedURL(t)
	environ := cliEnv(t, closed) // RUNNEL_URL points nowhere
	tests := []struct {
		name string
		args []string
		code int
		// out and errOut must appear in stdout and stderr.
		out, errOut string
	}{
		{"bare", nil, 2, "", "Usage: runnel [--server URL]"},
		{"help", []string{"help"}, 0, "Usage: runnel [--server URL]", ""},
		{"server before the command", []string{"--server", s.url, "tasks"}, 0, "hello-world", ""},
		{"server=URL", []string{"--server=" + s.url, "workers"}, 0, "builtin", ""},
		{"single dash", []string{"-server", s.url, "--workspace", "default", "task", "backup"}, 0, "Task backup (Nightly backup) in workspace default", ""},
		{"workspace before the command", []string{"--server", s.url, "--workspace", "nope", "tasks"}, 2, "", "Workspace 'nope' not found"},
		{"the command's flag wins", []string{"--server", closed, "workers", "--server", s.url}, 0, "builtin", ""},
		{"the global flag wins over the environment", []string{"--server", closed, "workers"}, 4, "", "cannot reach runnel at " + closed},
		{"unknown flag", []string{"--verbose", "jobs"}, 2, "", `unknown flag "--verbose" before the command`},
		{"missing value", []string{"--server"}, 2, "", "flag --server needs a value"},
		{"flags but no command", []string{"--server", s.url}, 2, "", "Usage: runnel"},
		{"validate a missing folder", []string{"validate", filepath.Join(t.TempDir(), "nope")}, 2, "", "nope does not exist"},
		{"validate a file", []string{"validate", "cli_exit_test.go"}, 2, "", "cli_exit_test.go is not a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cliRun(t, environ, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.out) || !strings.Contains(r.stderr, tt.errOut) {
				t.Errorf("runnel %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), r.code, tt.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestCLIServeFlags: `serve --listen --data-dir` override the config file,
// with a relative data directory taken from the working directory.
func TestCLIServeFlags(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := filepath.Join(dir, "server-config.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:1\ndata_dir: ./elsewhere\nlog_level: error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan cliResult, 1)
	go func() {
		out, errb := newSyncBuffer(), newSyncBuffer()
		code := run(ctx, []string{"serve", "--config", cfg, "--listen", addr, "--data-dir", "data"}, strings.NewReader(""), out, errb, cliEnv(t, ""))
		done <- cliResult{out.String(), errb.String(), code}
	}()
	jobstest.Eventually(t, "server health on --listen", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("serve exited %d:\n%s", r.code, r.stderr)
		}
	case <-time.After(jobstest.Patience()):
		t.Fatal("serve did not stop")
	}
	for _, p := range []string{"data/runnel.db", "data/logs"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("--data-dir data: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Errorf("the config's data_dir was used although --data-dir was given")
	}
	r := cliRun(t, nil, "", "serve", "--config", cfg, "--listen", "nohost")
	if r.code != 1 || !strings.Contains(r.stderr, "listen") {
		t.Errorf("bad --listen: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCLIExitByJobState: `status` and `logs -f` exit by the job's state
// like `trigger --wait`; `logs -f` of a job cancelled while it follows
// ends with the final status line and exit 3.
func TestCLIExitByJobState(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	environ := cliEnv(t, s.url)
	gate := t.TempDir()
	id, err := s.api.Execute(ctx, "default", "gated", map[string]any{"dir": gate})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"logs", "-f", id}, strings.NewReader(""), stdout, stderr, environ)
	}()
	stdout.waitFor(t, "waiting for the gate")
	if r := cliRun(t, environ, "", "status", id); r.code != 0 || !strings.Contains(r.stdout, "running for") {
		t.Errorf("status of a running job: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := s.api.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 3 || !strings.Contains(stderr.String(), "job "+id+" cancelled in ") {
			t.Errorf("logs -f: exit %d, stderr %q; want 3 and the final status line", code, stderr.String())
		}
	case <-time.After(jobstest.Patience()):
		t.Fatal("logs -f did not end after the cancel")
	}
	for _, args := range [][]string{{"status", id}, {"status", id, "--json"}, {"logs", "-f", id}} {
		if r := cliRun(t, environ, "", args...); r.code != 3 {
			t.Errorf("runnel %s: exit %d, want 3\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	// A completed one exits 0 and a failed one 1 (TestCLIGolden shows the
	// output).
	for _, tt := range []struct {
		result int
		code   int
	}{{0, 0}, {4, 1}} {
		id, err := s.api.Execute(ctx, "default", "gated", map[string]any{"dir": gate, "result": tt.result})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(gate, "open"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := waitJob(ctx, env{stderr: os.Stderr}, s.api, id); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"status", id}, {"logs", "-f", id}} {
			if r := cliRun(t, environ, "", args...); r.code != tt.code {
				t.Errorf("runnel %s (exit %d): exit %d, want %d\n%s%s", strings.Join(args, " "), tt.result, r.code, tt.code, r.stdout, r.stderr)
			}
		}
	}
}

// TestCLIStatusWaitingForWorker: a step that needs tags no active worker
// has shows the server's notice in `status`.
func TestCLIStatusWaitingForWorker(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": `
actions:
  train: { type: shell, cmd: echo train, tags: [gpu] }
tasks:
  ml:
    flow:
      train: { action: train }
`}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	environ := cliEnv(t, s.url)
	id, err := s.api.Execute(ctx, "default", "ml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "train  ready  -  -  waiting for a worker with tags [shell, gpu]; active workers: builtin [shell]"
	var last cliResult
	jobstest.Eventually(t, "the notice in status", func() bool {
		last = cliRun(t, environ, "", "status", id)
		return strings.Contains((&cliNormalizer{}).apply(last.stdout), want)
	})
	if last.code != 0 {
		t.Errorf("status of a waiting job: exit %d", last.code)
	}
	if err := s.api.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
}
