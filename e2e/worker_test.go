package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs/api"
	"runnel/jobs/jobstest"
)

const workflow = `
tasks:
  route:
    flow:
      alpha:
        type: shell
        tags: [alpha]
        cmd: |
          echo "token=${RUNNEL__WORKER_TOKEN:-absent} job=$RUNNEL_JOB_ID"
          echo 'OUTPUT: "from alpha"'
      beta:
        type: shell
        tags: [beta]
        cmd: |
          echo 'OUTPUT: "from beta"'
  gpu:
    flow:
      train:
        type: shell
        tags: [gpu]
        cmd: echo training
  sleepy:
    flow:
      nap:
        type: shell
        cmd: echo started; sleep 20
      after:
        depends_on: [nap]
        type: shell
        cmd: echo never
  chatty:
    flow:
      talk:
        type: shell
        cmd: |
          i=1
          while [ $i -le 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done
          echo 'OUTPUT: {"lines": 40}'
  short:
    flow:
      work:
        type: shell
        cmd: echo begun; sleep 2; echo finished
  version:
    flow:
      show:
        type: shell
        script: bin/version.sh
`

var files = map[string]string{
	".workflows/main.yaml": workflow,
	"bin/version.sh":       "#!/bin/sh\necho v1\n",
}

// TestTagRouting: steps go to the remote worker whose tags cover them;
// the built-in worker (tags [shell]) takes none of them; the step's
// environment lacks the worker's RUNNEL_ variables.
func TestTagRouting(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 2})
	a := startWorker(t, s, "w-alpha", []string{"shell", "alpha"}, 2, "RUNNEL__WORKER_TOKEN="+token)
	b := startWorker(t, s, "w-beta", []string{"shell", "beta"}, 2)
	id := s.execute("route", nil)
	j := s.waitJob(id)
	if j.Status != "completed" {
		t.Fatalf("job: %+v", j)
	}
	if got := str(j.step("alpha").WorkerID); got != a.id {
		t.Errorf("step alpha ran on %s, want %s", got, a.id)
	}
	if got := str(j.step("beta").WorkerID); got != b.id {
		t.Errorf("step beta ran on %s, want %s", got, b.id)
	}
	if diff := cmp.Diff(`{"alpha":"from alpha","beta":"from beta"}`, string(j.Output)); diff != "" {
		t.Errorf("job output:\n%s", diff)
	}
	want := []string{"token=absent job=" + id, `OUTPUT: "from alpha"`}
	if diff := cmp.Diff(want, s.logs(id, "alpha")); diff != "" {
		t.Errorf("alpha's log (-want +got):\n%s", diff)
	}

	// A step no worker has the tags for waits; a worker with them takes it.
	gpu := s.execute("gpu", nil)
	g := startWorker(t, s, "w-gpu", []string{"shell", "gpu"}, 1)
	if j := s.waitJob(gpu); j.Status != "completed" || str(j.step("train").WorkerID) != g.id {
		t.Errorf("gpu job: %+v", j)
	}
	// The registry shows each worker with what it ran.
	var detail struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
		Jobs []struct {
			ID string `json:"job_id"`
		} `json:"jobs"`
	}
	if err := s.api.Do(context.Background(), "GET", "/api/workers/"+g.id, nil, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Name != "w-gpu" || len(detail.Jobs) != 1 || detail.Jobs[0].ID != gpu || !cmp.Equal(detail.Tags, []string{"shell", "gpu"}) {
		t.Errorf("worker detail: %+v", detail)
	}
}

// TestKilledWorker: a worker SIGKILLed mid-step is declared dead after the
// heartbeat timeout, its step fails, the job finishes, and a late report
// under its id is refused.
func TestKilledWorker(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 4, Sweep: 1})
	w := startWorker(t, s, "doomed", []string{"shell"}, 1)
	id := s.execute("sleepy", nil)
	jobstest.Eventually(t, "the step to start", func() bool { return len(s.logs(id, "nap")) > 0 })
	w.kill()

	j := s.waitJob(id)
	want := fmt.Sprintf("Worker heartbeat timeout (worker %s unresponsive)", w.id)
	if j.Status != "failed" || j.step("nap").Status != "failed" || str(j.step("nap").ErrorMessage) != want || j.step("after").Status != "skipped" {
		t.Fatalf("job: %+v", j)
	}
	// The _server lines of a transaction are written just after its commit,
	// so a poll can see the job failed a moment before the line is there.
	line := fmt.Sprintf("[recovery] Worker %s unresponsive (heartbeat timeout), failing step 'nap'", w.id)
	var srvLog string
	if !jobstest.Until(func() bool {
		srvLog = strings.Join(s.logs(id, "_server"), "\n")
		return strings.Contains(srvLog, line)
	}) {
		t.Errorf("server log lacks %q:\n%s", line, srvLog)
	}
	if s.workerID("doomed") != "" {
		t.Error("the dead worker is still active")
	}

	// The late completion and log push of the dead worker change nothing.
	ctx := context.Background()
	zero := 0
	err := s.wk.Complete(ctx, id, "nap", api.CompleteRequest{WorkerID: w.id, ExitCode: &zero})
	if status(err) != 409 || !strings.Contains(err.Error(), "Step is not running") {
		t.Errorf("late complete: %v", err)
	}
	if err := s.wk.PushLogs(ctx, id, "nap", w.id, []api.LogLine{{Stream: "stdout", Line: "late"}}); status(err) != 409 {
		t.Errorf("late log push: %v", err)
	}
	if j2 := s.job(id); j2.Status != "failed" || str(j2.step("nap").ErrorMessage) != want {
		t.Errorf("job changed by a late report: %+v", j2)
	}
}

// TestServerRestartUnderRunningStep: the server restarts while a remote
// step runs; the worker keeps the lines it cannot push, delivers them and
// the result to the new process, and nothing is lost or repeated.
func TestServerRestartUnderRunningStep(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 30})
	w := startWorker(t, s, "steady", []string{"shell"}, 2)
	id := s.execute("chatty", nil)
	jobstest.Eventually(t, "the first lines", func() bool { return len(s.logs(id, "talk")) > 0 })
	s.stop()
	// The server stays away until the worker has noticed.
	jobstest.Eventually(t, "the worker to lose the server", func() bool {
		return strings.Contains(w.out.String(), "server unreachable or failing; retrying")
	})
	s.start()

	j := s.waitJob(id)
	if j.Status != "completed" || string(j.Output) != `{"talk":{"lines":40}}` {
		t.Fatalf("job after the restart: %+v", j)
	}
	var want []string
	for i := 1; i <= 40; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	want = append(want, `OUTPUT: {"lines": 40}`)
	if diff := cmp.Diff(want, s.logs(id, "talk")); diff != "" {
		t.Errorf("step log across the restart (-want +got):\n%s", diff)
	}
	if out := w.out.String(); !strings.Contains(out, "server reachable again") {
		t.Errorf("the worker never found the server again:\n%s", out)
	}
	// The worker goes on taking work from the new process.
	if j := s.waitJob(s.execute("short", nil)); j.Status != "completed" {
		t.Errorf("job after the restart: %+v", j)
	}
}

// TestPinnedRevisionAndTarball: the tarball answers 304 for an unchanged
// revision; a job created before a change runs the old script on the
// worker, a new job the new one.
func TestPinnedRevisionAndTarball(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0})
	rev1 := s.revision()
	ctx := context.Background()

	tb, err := s.wk.DownloadWorkspace(ctx, "default", "", "")
	if err != nil || tb.Revision != rev1 {
		t.Fatalf("download: %+v %v", tb, err)
	}
	tb.Body.Close()
	if tb, err := s.wk.DownloadWorkspace(ctx, "default", "", rev1); err != nil || !tb.NotModified {
		t.Errorf("unchanged revision: %+v %v", tb, err)
	}

	old := s.execute("version", nil) // pinned to rev1, waits: no worker yet
	s.write(map[string]string{"bin/version.sh": "#!/bin/sh\necho v2\n"})
	jobstest.Eventually(t, "the new revision", func() bool { return s.revision() != rev1 })
	rev2 := s.revision()

	tb, err = s.wk.DownloadWorkspace(ctx, "default", "", rev1)
	if err != nil || tb.NotModified || tb.Revision != rev2 {
		t.Errorf("changed revision: %+v %v", tb, err)
	} else {
		tb.Body.Close()
	}
	if tb, err := s.wk.DownloadWorkspace(ctx, "default", rev1, rev1); err != nil || !tb.NotModified {
		t.Errorf("old revision by ?revision=: %+v %v", tb, err)
	}

	startWorker(t, s, "pinned", []string{"shell"}, 2)
	newer := s.execute("version", nil)
	for _, c := range []struct{ id, rev, out string }{{old, rev1, "v1"}, {newer, rev2, "v2"}} {
		j := s.waitJob(c.id)
		if j.Status != "completed" || j.Revision != c.rev {
			t.Errorf("job %s: %+v", c.id, j)
		}
		if diff := cmp.Diff([]string{c.out}, s.logs(c.id, "show")); diff != "" {
			t.Errorf("job on %s (-want +got):\n%s", c.rev, diff)
		}
	}
}

// TestWorkerTokens: every /worker route refuses a bad token with 401; a
// worker with a bad token, or against a server without remote workers,
// exits 1 with the server's message.
func TestWorkerTokens(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0})
	routes := []struct{ method, path string }{
		{"POST", "/worker/register"},
		{"POST", "/worker/heartbeat"},
		{"POST", "/worker/jobs/claim"},
		{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/steps/s/start"},
		{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/steps/s/complete"},
		{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/logs"},
		{"GET", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/cancelled"},
		{"GET", "/worker/workspace/default.tar.gz"},
	}
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer nope", "Bearer " + token + "0", "Token " + token} {
			req, _ := http.NewRequest(r.method, s.url+r.path, strings.NewReader(`{"worker_id":"x","name":"x","tags":["shell"]}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != 401 || e.Error == "" {
				t.Errorf("%s %s with %q: %d %s", r.method, r.path, auth, resp.StatusCode, body)
			}
		}
	}

	bad := startProc(t, "runnel worker (bad token)", []string{
		"RUNNEL__SERVER_URL=" + s.url, "RUNNEL__WORKER_TOKEN=wrong-token-0123456789abcdefghijkl", "RUNNEL__WORKSPACE_CACHE_DIR=" + t.TempDir(),
	}, "worker")
	if code := bad.waitExit(wait); code != 1 || !strings.Contains(bad.out.String(), "Invalid worker token") {
		t.Errorf("bad token: exit %d\n%s", code, bad.out.String())
	}

	off := startServer(t, files, serverConfig{NoToken: true})
	w := startProc(t, "runnel worker (disabled)", []string{
		"RUNNEL__SERVER_URL=" + off.url, "RUNNEL__WORKER_TOKEN=" + token, "RUNNEL__WORKSPACE_CACHE_DIR=" + t.TempDir(),
	}, "worker")
	if code := w.waitExit(wait); code != 1 || !strings.Contains(w.out.String(), "Remote workers are disabled") {
		t.Errorf("disabled: exit %d\n%s", code, w.out.String())
	}

	none := startProc(t, "runnel worker (no config)", []string{"RUNNEL_CONFIG="}, "worker")
	none.cmd.Dir = t.TempDir()
	if code := none.waitExit(wait); code != 1 || !strings.Contains(none.out.String(), "server_url is required") {
		t.Errorf("no config: exit %d\n%s", code, none.out.String())
	}
}

// TestRemoteCancel: cancelling a job stops its remote step promptly.
func TestRemoteCancel(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0})
	startWorker(t, s, "cancellable", []string{"shell"}, 1)
	id := s.execute("sleepy", nil)
	jobstest.Eventually(t, "the step to start", func() bool { return len(s.logs(id, "nap")) > 0 })
	if err := s.api.Do(context.Background(), "POST", "/api/jobs/"+id+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(t, "the step to stop", func() bool { return s.job(id).step("nap").Status == "cancelled" })
	if j := s.job(id); j.Status != "cancelled" || j.step("after").Status != "cancelled" {
		t.Errorf("job: %+v", j)
	}
}

// TestWorkerSIGTERM: a stopping worker takes no new steps, lets the
// running one finish, reports it and exits 0.
func TestWorkerSIGTERM(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0})
	w := startWorker(t, s, "graceful", []string{"shell"}, 2)
	id := s.execute("short", nil)
	jobstest.Eventually(t, "the step to start", func() bool { return len(s.logs(id, "work")) > 0 })
	w.signal(syscall.SIGTERM)
	if code := w.waitExit(wait); code != 0 {
		t.Fatalf("exit %d\n%s", code, w.out.String())
	}
	if j := s.job(id); j.Status != "completed" || !cmp.Equal(s.logs(id, "work"), []string{"begun", "finished"}) {
		t.Errorf("job: %+v %v", j, s.logs(id, "work"))
	}
}

// TestWorkerReregisters: a server that no longer knows the worker (its
// data directory was wiped) answers heartbeats with 404; the worker
// registers again and goes on working.
func TestWorkerReregisters(t *testing.T) {
	s := startServer(t, files, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 4})
	w := startWorker(t, s, "phoenix", []string{"shell"}, 1)
	s.stop()
	if err := os.RemoveAll(filepath.Join(filepath.Dir(s.cfgPath), "data")); err != nil {
		t.Fatal(err)
	}
	s.start()
	var again string
	jobstest.Eventually(t, "the worker to register again", func() bool {
		again = s.workerID("phoenix")
		return again != ""
	})
	if again == w.id {
		t.Fatalf("same worker id %s after the server lost its data", again)
	}
	if j := s.waitJob(s.execute("short", nil)); j.Status != "completed" || str(j.step("work").WorkerID) != again {
		t.Errorf("job after re-registration: %+v", j)
	}
}
