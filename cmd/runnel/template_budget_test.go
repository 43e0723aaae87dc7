package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"runnel/jobs/jobstest"
)

const budgetWorkflow = `
tasks:
  stall:
    flow:
      render:
        type: script
        script: echo "{{ input.msg }}"
        input:
          msg: "{% for c in 'a'*100000 %}{% for d in 'a'*100000 %}x{% endfor %}{% endfor %}"
  boom:
    input:
      w: { type: integer, required: true }
    flow:
      render:
        type: script
        script: echo "{{ input.msg }}"
        input:
          msg: "{{ '=' * (input.w|int) }}"
  ok:
    flow:
      one:
        type: script
        script: echo fine
`

// TestTemplatesCannotStallServer runs the real binary against the two
// templates of issue 10 (one stalled every later execute and SIGTERM, one
// killed the process out of memory): both fail their step, the server keeps
// answering and running jobs, and SIGTERM stops it within its shutdown grace
// while renders are in flight.
func TestTemplatesCannotStallServer(t *testing.T) {
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	if err := os.MkdirAll(filepath.Join(ws, ".workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, ".workflows", "t.yaml"), []byte(budgetWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "server-config.yaml")
	cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\nworkspaces:\n  default: { type: folder, path: %s }\n", addr, filepath.Join(dir, "data"), ws)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := serveProcess(t, cfgPath, addr)
	s := &e2eServer{t: t, url: "http://" + addr}
	jobstest.Eventually(t, "load", func() bool { return s.workspace().Revision != nil })

	run := func(task, body string) map[string]any {
		var out struct {
			JobID string `json:"job_id"`
		}
		if code := s.json("POST", "/api/workspaces/default/tasks/"+task+"/execute", body, &out); code != 200 {
			t.Fatalf("execute %s: status %d", task, code)
		}
		var j map[string]any
		s.json("GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", "", &j)
		return j
	}
	for _, tc := range []struct{ task, body, want string }{
		{"boom", `{"input": {"w": 2000000000}}`, "Template error in step input 'msg': string repetition '*' would make 2000000000 bytes: exceeded the 1 MiB output budget"},
		{"stall", "", "Template error in step input 'msg': "},
	} {
		j := run(tc.task, tc.body)
		steps, _ := j["steps"].([]any)
		if j["status"] != "failed" || len(steps) != 1 {
			t.Fatalf("%s: job %v", tc.task, j)
		}
		msg, _ := steps[0].(map[string]any)["error_message"].(string)
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "budget") && !strings.Contains(msg, "iterations") {
			t.Fatalf("%s: step error %q, want %q and a budget", tc.task, msg, tc.want)
		}
		if j := run("ok", ""); j["status"] != "completed" {
			t.Fatalf("after %s, a plain job: %v", tc.task, j)
		}
	}

	// Renders in flight while the server is told to stop: SIGTERM goes
	// out once the requests are written.
	wrote := make(chan struct{}, 3)
	for range 3 {
		go func() {
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote <- struct{}{} }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
				"POST", s.url+"/api/workspaces/default/tasks/stall/execute", nil)
			if err != nil {
				wrote <- struct{}{}
				return
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for range 3 {
		<-wrote
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Shutdown grace is 5 s; generous for a busy machine.
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("server exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30 s after SIGTERM")
	}
}
