package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runnel/jobs/api"
	"strings"
	"testing"
	"time"

	"runnel/httpd/client"
	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
	"runnel/jobs/worker"
)

// retryWorkflow succeeds only on worker b; each attempt says where it ran.
const retryWorkflow = `
tasks:
  picky:
    flow:
      try:
        type: shell
        cmd: |
          echo "on $WHO"
          [ "$WHO" = b ]
        retry: { attempts: 3, delay: 2s }
`

// startLoop runs a remote worker loop named name (environment WHO=name)
// against s until the returned stop is called; stop waits for it to end.
func startLoop(t *testing.T, s *httpdtest.Server, name string) (*worker.Worker, func()) {
	t.Helper()
	cache := t.TempDir()
	t.Cleanup(func() { writable(cache) })
	w := worker.New(worker.Options{
		Server: client.WorkerServer{Client: client.New(s.URL, token)},
		Name:   name, Tags: []string{"shell"}, MaxConcurrent: 1,
		PollInterval: 100 * time.Millisecond, CacheDir: cache, TempDir: t.TempDir(),
		Environ:   []string{"PATH=" + os.Getenv("PATH"), "WHO=" + name},
		KillGrace: 500 * time.Millisecond, CancelPoll: 100 * time.Millisecond, Logger: quiet(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- w.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-ended:
		case <-time.After(jobstest.Patience()):
			t.Errorf("worker %s did not stop", name)
		}
	}
	t.Cleanup(stop)
	jobstest.Eventually(t, "registration of "+name, func() bool { return w.ID() != "" })
	return w, stop
}

// TestRemoteRetryOnAnotherWorker retries through the server: attempt 1
// fails on remote worker a, which then leaves; the failed report made the
// step wait for its retry, and a later attempt runs on worker b and
// completes. Each attempt's worker, exit code and lines are recorded.
func TestRemoteRetryOnAnotherWorker(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": retryWorkflow}, func(c *httpdtest.Config) {
		c.Engine.LocalWorkers = 0
		c.HTTP.WorkerToken = token
	})
	a, stopA := startLoop(t, s, "a")
	job := s.Execute("picky", nil)
	var c api.Job
	jobstest.Eventually(t, "attempt 1 to fail on worker a", func() bool {
		c = api.Job{}
		s.JSON("GET", "/api/jobs/"+job, nil, &c)
		return len(c.Steps) == 1 && len(c.Steps[0].Attempts) == 1
	})
	if st := c.Steps[0]; st.Status != "pending" || st.RetryAt.IsZero() || string(st.Attempts[0].WorkerID) != a.ID() || st.Attempts[0].ExitCode != 1 {
		t.Fatalf("step after attempt 1: %+v", st)
	}
	stopA()
	b, _ := startLoop(t, s, "b")

	j := s.WaitJob(job)
	raw, _ := json.Marshal(j)
	c = api.Job{}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	st := c.Steps[0]
	last := st.Attempts[len(st.Attempts)-1]
	if c.Status != "completed" || st.Status != "completed" || st.MaxAttempts != 3 || st.Attempt != len(st.Attempts) ||
		st.Attempt < 2 || string(last.WorkerID) != b.ID() || last.ExitCode != 0 || string(st.WorkerID) != b.ID() {
		t.Fatalf("job %s, step %+v", c.Status, st)
	}
	// Lines pushed by the worker carry their attempt from the second on.
	var out struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+job+"/steps/try/logs", nil, &out)
	lines := strings.Split(strings.TrimSpace(out.Logs), "\n")
	if len(lines) != st.Attempt || !strings.HasSuffix(lines[0], `"line":"on a"}`) ||
		!strings.HasSuffix(lines[len(lines)-1], fmt.Sprintf(`"line":"on b","attempt":%d}`, st.Attempt)) {
		t.Errorf("step lines:\n%s", out.Logs)
	}
	var srv struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+job+"/steps/_server/logs", nil, &srv)
	if !strings.Contains(srv.Logs, "Step 'try' failed (attempt 1/3), retrying in 2s") {
		t.Errorf("server lines:\n%s", srv.Logs)
	}
}
