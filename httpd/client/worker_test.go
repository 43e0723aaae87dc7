package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runnel/jobs/jobstest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/client"
	"runnel/httpd/httpdtest"
	"runnel/jobs/worker"
)

const token = "client-test-worker-token-0123456789"

const workflow = `
actions:
  report:
    type: shell
    script: bin/report.sh
tasks:
  env:
    flow:
      show:
        type: shell
        cmd: |
          echo "job=$RUNNEL_JOB_ID stroem=$STROEM_JOB_ID step=$RUNNEL_STEP task=$STROEM_TASK_NAME"
          echo "secret=${RUNNEL__WORKER_TOKEN:-absent} other=$OTHER_VAR"
          [ -d "$TMPDIR" ] && [ -z "$(ls -A "$TMPDIR")" ] && echo tmp-ok
          echo 'OUTPUT: {"ok": true}'
      file:
        depends_on: [show]
        action: report
  many:
    input:
      n: { type: integer, default: 3000 }
    flow:
      print:
        type: shell
        input: { n: "{{ input.n }}" }
        cmd: |
          i=1; while [ $i -le {{ input.n }} ]; do echo "line $i"; i=$((i+1)); done
          echo "to stderr" >&2
  sleepy:
    flow:
      nap:
        type: shell
        cmd: echo napping; sleep 30
  slow:
    flow:
      nap:
        type: shell
        timeout: 1s
        cmd: sleep 30
`

var files = map[string]string{
	".workflows/main.yaml": workflow,
	"bin/report.sh":        "#!/bin/sh\necho \"report from $(basename \"$PWD\")\"\n",
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stack runs the server without built-in workers plus one in-process
// remote worker loop talking HTTP to it.
type stack struct {
	*httpdtest.Server
	w     *worker.Worker
	stop  context.CancelFunc
	ended chan error
	cache string
}

func newStack(t *testing.T, adjust func(*worker.Options)) *stack {
	t.Helper()
	s := httpdtest.New(t, files, func(c *httpdtest.Config) {
		c.Engine.LocalWorkers = 0
		c.HTTP.WorkerToken = token
	})
	cache := t.TempDir()
	t.Cleanup(func() { writable(cache) })
	opts := worker.Options{
		Server:        client.WorkerServer{Client: client.New(s.URL, token)},
		Name:          "loop",
		Tags:          []string{"shell"},
		MaxConcurrent: 2,
		PollInterval:  100 * time.Millisecond,
		CacheDir:      cache,
		Environ:       []string{"PATH=" + os.Getenv("PATH"), "OTHER_VAR=kept", "RUNNEL__WORKER_TOKEN=" + token},
		TempDir:       t.TempDir(),
		KillGrace:     500 * time.Millisecond,
		CancelPoll:    100 * time.Millisecond,
		Logger:        quiet(),
	}
	if adjust != nil {
		adjust(&opts)
	}
	st := &stack{Server: s, w: worker.New(opts), ended: make(chan error, 1), cache: cache}
	ctx, cancel := context.WithCancel(context.Background())
	st.stop = cancel
	go func() { st.ended <- st.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-st.ended:
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop")
		}
	})
	jobstest.Eventually(t, "registration", func() bool { return st.w.ID() != "" })
	return st
}

func writable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func stepOf(j map[string]any, name string) map[string]any {
	for _, s := range j["steps"].([]any) {
		if s := s.(map[string]any); s["step_name"] == name {
			return s
		}
	}
	return nil
}

func (s *stack) logs(t *testing.T, job, step string) []string {
	t.Helper()
	var out struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+job+"/steps/"+step+"/logs", nil, &out)
	var texts []string
	for _, l := range strings.Split(strings.TrimSpace(out.Logs), "\n") {
		if i := strings.Index(l, `"line":"`); i >= 0 {
			texts = append(texts, strings.TrimSuffix(l[i+len(`"line":"`):], `"}`))
		}
	}
	return texts
}

func TestWorkerLoopRunsSteps(t *testing.T) {
	s := newStack(t, nil)
	job := s.Execute("env", nil)
	j := s.WaitJob(job)
	if j["status"] != "completed" {
		t.Fatalf("job: %v", j)
	}
	show := stepOf(j, "show")
	if show["worker_id"] != s.w.ID() || !cmp.Equal(show["output"], map[string]any{"ok": true}) {
		t.Errorf("step show: %v", show)
	}
	want := []string{
		fmt.Sprintf("job=%s stroem=%s step=show task=env", job, job),
		"secret=absent other=kept",
		"tmp-ok",
		`OUTPUT: {\"ok\": true}`,
	}
	if diff := cmp.Diff(want, s.logs(t, job, "show")); diff != "" {
		t.Errorf("step output (-want +got):\n%s", diff)
	}
	// The script file ran from the cached tree of the job's revision.
	rev := j["revision"].(string)
	if diff := cmp.Diff([]string{"report from " + rev}, s.logs(t, job, "file")); diff != "" {
		t.Errorf("script step (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(s.cache, "default", rev, "bin", "report.sh")); err != nil {
		t.Errorf("revision not cached: %v", err)
	}
	var srv map[string]any
	s.JSON("GET", "/api/jobs/"+job+"/steps/_server/logs?all=true", nil, &srv)
	if !strings.Contains(fmt.Sprint(srv), fmt.Sprintf("Step 'show' started on worker 'loop' (%s)", s.w.ID())) {
		t.Errorf("server log: %v", srv)
	}
}

func TestWorkerLoopDeliversEveryLine(t *testing.T) {
	s := newStack(t, nil)
	job := s.Execute("many", map[string]any{"n": 5000})
	if j := s.WaitJob(job); j["status"] != "completed" {
		t.Fatalf("job: %v", j)
	}
	got := s.logs(t, job, "print")
	if len(got) != 5001 {
		t.Fatalf("%d lines", len(got))
	}
	var stdout []string
	for _, l := range got {
		if l != "to stderr" {
			stdout = append(stdout, l)
		}
	}
	for i, l := range stdout {
		if l != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("line %d is %q", i+1, l)
		}
	}
}

func TestWorkerLoopCancel(t *testing.T) {
	s := newStack(t, nil)
	job := s.Execute("sleepy", nil)
	jobstest.Eventually(t, "the step to print", func() bool { return len(s.logs(t, job, "nap")) > 0 })
	if st := s.JSON("POST", "/api/jobs/"+job+"/cancel", nil, nil); st != 200 {
		t.Fatalf("cancel: %d", st)
	}
	jobstest.Eventually(t, "the step to stop", func() bool {
		var j map[string]any
		s.JSON("GET", "/api/jobs/"+job, nil, &j)
		return stepOf(j, "nap")["status"] == "cancelled"
	})
}

func TestWorkerLoopStepTimeout(t *testing.T) {
	s := newStack(t, nil)
	job := s.Execute("slow", nil)
	j := s.WaitJob(job)
	if step := stepOf(j, "nap"); j["status"] != "failed" || step["error_message"] != "Step timed out after 1s" {
		t.Fatalf("job: %v", j)
	}
	if got := s.logs(t, job, "_server"); !strings.Contains(strings.Join(got, "\n"), "[timeout] Step 'nap' timed out after 1s") {
		t.Errorf("server lines: %v", got)
	}
}

func TestWorkerLoopShutdownKillsAfterGrace(t *testing.T) {
	s := newStack(t, func(o *worker.Options) { o.ShutdownGrace = 300 * time.Millisecond })
	job := s.Execute("sleepy", nil)
	jobstest.Eventually(t, "the step to print", func() bool { return len(s.logs(t, job, "nap")) > 0 })
	s.stop()
	select {
	case err := <-s.ended:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		s.ended <- nil
	case <-time.After(jobstest.Patience()):
		t.Fatal("worker did not stop")
	}
	var j map[string]any
	s.JSON("GET", "/api/jobs/"+job, nil, &j)
	if step := stepOf(j, "nap"); j["status"] != "failed" || step["error_message"] != "worker shut down while step was running" {
		t.Errorf("job after shutdown: %v", j)
	}
}

func TestWorkerLoopRefusedRegistration(t *testing.T) {
	s := httpdtest.New(t, files, func(c *httpdtest.Config) {
		c.HTTP.WorkerToken = token
	})
	w := worker.New(worker.Options{
		Server: client.WorkerServer{Client: client.New(s.URL, "wrong-token-0123456789012345678901")},
		Name:   "x", Tags: []string{"shell"}, CacheDir: t.TempDir(), Logger: quiet(),
	})
	err := w.Run(t.Context())
	var refused *worker.RefusedError
	if !errors.As(err, &refused) || refused.Status != 401 || !strings.Contains(err.Error(), "Invalid worker token") {
		t.Errorf("Run: %v", err)
	}
}

func TestDownloadWorkspaceNotModified(t *testing.T) {
	s := httpdtest.New(t, files, func(c *httpdtest.Config) {
		c.HTTP.WorkerToken = token
	})
	c := client.New(s.URL, token)
	tb, err := c.DownloadWorkspace(t.Context(), "default", "", "")
	if err != nil || tb.NotModified || len(tb.Revision) != 64 {
		t.Fatalf("download: %+v %v", tb, err)
	}
	tb.Body.Close()
	again, err := c.DownloadWorkspace(t.Context(), "default", tb.Revision, tb.Revision)
	if err != nil || !again.NotModified || again.Body != nil {
		t.Errorf("conditional download: %+v %v", again, err)
	}
	_, err = c.DownloadWorkspace(t.Context(), "nope", "", "")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus() != 404 || apiErr.Message != "Workspace 'nope' not found" {
		t.Errorf("unknown workspace: %v", err)
	}
}
