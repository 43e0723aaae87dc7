package httpd_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd"
	"runnel/httpd/httpdtest"
	"runnel/jobs"
)

const workerToken = "test-worker-token-0123456789abcdef"

// Compile-time: the engine speaks the worker protocol.
var _ httpd.WorkerEngine = (*jobs.Engine)(nil)

const workerWorkflow = `
actions:
  greet:
    type: shell
    cmd: echo "Hello {{ input.name }}"
    env: { WHO: "{{ input.name }}" }
    input:
      name: { type: string, required: true }
  gpu-job:
    type: shell
    script: bin/run.sh
    tags: [gpu]
tasks:
  hello:
    input:
      name: { type: string, default: World }
    flow:
      say:
        action: greet
        input: { name: "{{ input.name }}" }
  gpu:
    flow:
      train:
        action: gpu-job
        timeout: 5m
  pair:
    flow:
      a: { type: script, script: "echo a" }
      b: { type: script, script: "echo b" }
`

// newWorkerServer runs the stack without built-in workers, so every step
// waits for a remote claim.
func newWorkerServer(t *testing.T, token string) *httpdtest.Server {
	t.Helper()
	return httpdtest.New(t, map[string]string{
		".workflows/main.yaml": workerWorkflow,
		"bin/run.sh":           "#!/bin/sh\necho training\n",
	}, func(c *httpdtest.Config) {
		c.Engine.LocalWorkers = 0
		c.HTTP.WorkerToken = token
	})
}

// wdo sends a /worker request with the worker token and decodes the JSON
// answer into a map (nil for an empty body).
func wdo(t *testing.T, s *httpdtest.Server, method, path string, body any) (int, map[string]any) {
	t.Helper()
	st, _, raw := s.Do(method, path, body, "Authorization", "Bearer "+workerToken)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, st, raw, err)
		}
	}
	return st, out
}

func register(t *testing.T, s *httpdtest.Server, name string, tags ...string) string {
	t.Helper()
	st, out := wdo(t, s, "POST", "/worker/register", map[string]any{"name": name, "tags": tags, "version": "1.2.3"})
	if st != 200 {
		t.Fatalf("register: %d %v", st, out)
	}
	return out["worker_id"].(string)
}

func claim(t *testing.T, s *httpdtest.Server, id string, wait float64) map[string]any {
	t.Helper()
	st, out := wdo(t, s, "POST", "/worker/jobs/claim", map[string]any{"worker_id": id, "wait_secs": wait})
	if st != 200 {
		t.Fatalf("claim: %d %v", st, out)
	}
	return out
}

// workerRoutes lists every /worker route with a body that would be valid.
var workerRoutes = []struct{ method, path string }{
	{"POST", "/worker/register"},
	{"POST", "/worker/heartbeat"},
	{"POST", "/worker/jobs/claim"},
	{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/steps/s/start"},
	{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/steps/s/complete"},
	{"POST", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/logs"},
	{"GET", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/cancelled"},
	{"GET", "/worker/workspace/default.tar.gz"},
	{"GET", "/worker/workspace/default"},
}

func TestWorkerAuthentication(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	cases := []struct {
		name, header, want string
	}{
		{"missing", "", "Missing authorization header"},
		{"basic", "Basic dXNlcjpwYXNz", "Invalid authorization header format"},
		{"bearer without token", "Bearer ", "Invalid authorization header format"},
		{"wrong token", "Bearer " + workerToken + "x", "Invalid worker token"},
		{"short token", "Bearer abc", "Invalid worker token"},
	}
	for _, c := range cases {
		for _, r := range workerRoutes {
			t.Run(c.name+" "+r.method+" "+r.path, func(t *testing.T) {
				var hdr []string
				if c.header != "" {
					hdr = []string{"Authorization", c.header}
				}
				st, h, body := s.Do(r.method, r.path, "{}", hdr...)
				want := fmt.Sprintf(`{"error":%q}`, c.want)
				if st != 401 || strings.TrimSpace(string(body)) != want {
					t.Errorf("got %d %s, want 401 %s", st, body, want)
				}
				if h.Get("WWW-Authenticate") == "" {
					t.Errorf("no WWW-Authenticate header")
				}
			})
		}
	}
}

func TestWorkerRoutesDisabledWithoutToken(t *testing.T) {
	s := newWorkerServer(t, "")
	for _, r := range workerRoutes {
		st, _, body := s.Do(r.method, r.path, "{}", "Authorization", "Bearer "+workerToken)
		if st != 404 || strings.TrimSpace(string(body)) != `{"error":"Remote workers are disabled"}` {
			t.Errorf("%s %s: %d %s", r.method, r.path, st, body)
		}
	}
}

func TestWorkerRegisterHeartbeat(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	st, out := wdo(t, s, "POST", "/worker/register", map[string]any{"name": "gpu-box", "capabilities": []string{"shell", "gpu"}})
	if st != 200 || out["heartbeat_interval_secs"] != 30.0 {
		t.Fatalf("register: %d %v", st, out)
	}
	id := out["worker_id"].(string)
	var w map[string]any
	s.JSON("GET", "/api/workers/"+id, nil, &w)
	if w["name"] != "gpu-box" || w["status"] != "active" || w["version"] != nil || w["builtin"] != false {
		t.Errorf("registry: %v", w)
	}
	if diff := cmp.Diff([]any{"shell", "gpu"}, w["tags"]); diff != "" {
		t.Errorf("tags from capabilities:\n%s", diff)
	}
	if other := register(t, s, "gpu-box", "shell"); other == id {
		t.Errorf("a second registration reused id %s", id)
	}

	cases := []struct {
		name   string
		path   string
		body   string
		status int
		want   string
	}{
		{"no tags", "/worker/register", `{"name":"x"}`, 400, "Invalid request body: tags must not be empty"},
		{"empty tags", "/worker/register", `{"name":"x","tags":[],"capabilities":[]}`, 400, "Invalid request body: tags must not be empty"},
		{"no name", "/worker/register", `{"tags":["shell"]}`, 400, "Invalid request body: name is required"},
		{"bad json", "/worker/register", `{"name":`, 400, "Invalid request body: unexpected EOF"},
		{"heartbeat bad id", "/worker/heartbeat", `{"worker_id":"nope"}`, 400, "Invalid worker ID"},
		{"heartbeat no id", "/worker/heartbeat", `{}`, 400, "Invalid worker ID"},
		{"heartbeat unknown", "/worker/heartbeat", `{"worker_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}`, 404, "Worker not found"},
		{"claim unknown", "/worker/jobs/claim", `{"worker_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","wait_secs":0}`, 404, "Worker not found"},
		{"claim bad id", "/worker/jobs/claim", `{"worker_id":"x"}`, 400, "Invalid worker ID"},
		{"claim negative wait", "/worker/jobs/claim", `{"worker_id":"` + id + `","wait_secs":-1}`, 400, "Invalid request body: wait_secs must not be negative"},
		{"not claim", "/worker/jobs/other", `{}`, 404, "Not found"},
		{"heartbeat ok", "/worker/heartbeat", `{"worker_id":"` + id + `"}`, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _, body := s.Do("POST", c.path, c.body, "Authorization", "Bearer "+workerToken)
			want := fmt.Sprintf(`{"error":%q}`, c.want)
			if c.status == 200 {
				want = `{"status":"ok"}`
			}
			if st != c.status || strings.TrimSpace(string(body)) != want {
				t.Errorf("got %d %s, want %d %s", st, body, c.status, want)
			}
		})
	}
}

func TestWorkerClaimResponse(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell", "gpu")

	// No work, no wait: every key null.
	st, _, body := s.Do("POST", "/worker/jobs/claim", fmt.Sprintf(`{"worker_id":%q,"wait_secs":0}`, id), "Authorization", "Bearer "+workerToken)
	empty := `{"workspace":null,"job_id":null,"step_name":null,"action_name":null,"action_type":null,"action_image":null,"action_spec":null,"input":null,"runner":null,"task_name":null,"revision":null,"timeout_secs":null}`
	if st != 200 || strings.TrimSpace(string(body)) != empty {
		t.Fatalf("empty claim:\n got %d %s\nwant %s", st, body, empty)
	}

	hello := s.Execute("hello", map[string]any{"name": "Ada"})
	got := claim(t, s, id, 0) // an immediate poller still gets ready work
	var job map[string]any
	s.JSON("GET", "/api/jobs/"+hello, nil, &job)
	want := map[string]any{
		"workspace": "default", "job_id": hello, "step_name": "say", "action_name": "greet",
		"action_type": "shell", "action_image": nil,
		"action_spec": map[string]any{"type": "shell", "cmd": `echo "Hello Ada"`, "env": map[string]any{"WHO": "Ada"}, "tags": []any{}, "input": map[string]any{}},
		"input":       map[string]any{"name": "Ada"}, "runner": "local",
		"task_name": "hello", "revision": job["revision"], "timeout_secs": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inline claim (-want +got):\n%s", diff)
	}
	// Key order as in SPEC §9.2.
	gpu := s.Execute("gpu", nil)
	_, _, raw := s.Do("POST", "/worker/jobs/claim", fmt.Sprintf(`{"worker_id":%q,"wait_secs":0}`, id), "Authorization", "Bearer "+workerToken)
	order := []string{"workspace", "job_id", "step_name", "action_name", "action_type", "action_image", "action_spec", "input", "runner", "task_name", "revision", "timeout_secs"}
	last := -1
	for _, k := range order {
		i := strings.Index(string(raw), `"`+k+`":`)
		if i < last {
			t.Errorf("key %s out of order in %s", k, raw)
		}
		last = i
	}
	var file map[string]any
	json.Unmarshal(raw, &file)
	wantSpec := map[string]any{"type": "shell", "script": "bin/run.sh", "env": map[string]any{}, "tags": []any{"gpu"}, "input": map[string]any{}}
	if diff := cmp.Diff(wantSpec, file["action_spec"]); diff != "" || file["job_id"] != gpu || file["timeout_secs"] != 300.0 || file["action_type"] != "shell" {
		t.Errorf("script claim: %s\n%s", raw, diff)
	}

	// The claim marked the steps running on this worker.
	s.JSON("GET", "/api/jobs/"+hello, nil, &job)
	step := job["steps"].([]any)[0].(map[string]any)
	if job["status"] != "running" || step["status"] != "running" || step["worker_id"] != id || job["worker_id"] != id {
		t.Errorf("claimed job: %v", job)
	}
}

func TestWorkerClaimRouting(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	plain := register(t, s, "plain", "shell")
	gpu := register(t, s, "gpu", "shell", "gpu")
	s.Execute("gpu", nil)
	if got := claim(t, s, plain, 0); got["job_id"] != nil {
		t.Errorf("a worker without gpu got %v", got)
	}
	// Tags sent with the claim replace the registered ones.
	st, out := wdo(t, s, "POST", "/worker/jobs/claim", map[string]any{"worker_id": gpu, "wait_secs": 0, "tags": []string{"shell"}})
	if st != 200 || out["job_id"] != nil {
		t.Errorf("claim with narrower tags: %d %v", st, out)
	}
	if got := claim(t, s, gpu, 0); got["step_name"] != "train" {
		t.Errorf("gpu worker: %v", got)
	}
}

func TestWorkerClaimLongPoll(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	// Nothing ready: the answer comes after the wait, with every key null.
	if c := claim(t, s, id, 0.2); c["job_id"] != nil || len(c) != 12 {
		t.Errorf("empty long-poll: %v", c)
	}
	// A step that becomes ready during the wait is handed over.
	got := make(chan map[string]any, 1)
	go func() {
		st, out := wdo(t, s, "POST", "/worker/jobs/claim", map[string]any{"worker_id": id, "wait_secs": 20})
		if st != 200 {
			out = map[string]any{"status": st}
		}
		got <- out
	}()
	job := s.Execute("hello", nil)
	select {
	case c := <-got:
		if c["job_id"] != job {
			t.Errorf("long-poll answer: %v", c)
		}
	case <-time.After(jobstest.Patience()):
		t.Fatal("the long-poll did not answer when the step became ready")
	}

	// A long-poll ends with "no work" when the server shuts down. Shut
	// down once the claim is held (its heartbeat is recorded): a request
	// arriving after Shutdown would find the listener closed.
	before, _, err := s.Query.Worker(id)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, out := wdo(t, s, "POST", "/worker/jobs/claim", map[string]any{"worker_id": id, "wait_secs": 25})
		got <- out
	}()
	jobstest.Eventually(t, "the claim's heartbeat", func() bool {
		w, _, err := s.Query.Worker(id)
		return err == nil && w.LastHeartbeat.After(before.LastHeartbeat)
	})
	go s.HTTP.Shutdown(t.Context())
	select {
	case c := <-got:
		if c != nil && c["job_id"] != nil {
			t.Errorf("claim during shutdown: %v", c)
		}
	case <-time.After(jobstest.Patience()):
		t.Fatal("a held claim survived the shutdown")
	}
}

func TestWorkerStepReports(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	other := register(t, s, "other", "shell")
	job := s.Execute("hello", nil)
	claim(t, s, id, 0)
	base := "/worker/jobs/" + job

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		want   string
	}{
		{"start by another worker", base + "/steps/say/start", map[string]any{"worker_id": other}, 409, "Step is held by another worker"},
		{"start unknown step", base + "/steps/nope/start", map[string]any{"worker_id": id}, 404, "Step not found"},
		{"start unknown job", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/steps/say/start", map[string]any{"worker_id": id}, 404, "Job not found"},
		{"start bad job id", "/worker/jobs/nope/steps/say/start", map[string]any{"worker_id": id}, 400, "Invalid job ID"},
		{"start bad worker id", base + "/steps/say/start", map[string]any{"worker_id": "x"}, 400, "Invalid worker ID"},
		{"start", base + "/steps/say/start", map[string]any{"worker_id": id}, 200, ""},
		{"start again", base + "/steps/say/start", map[string]any{"worker_id": id}, 200, ""},
		{"logs without step", base + "/logs", map[string]any{"lines": []any{}}, 400, "Invalid request body: step_name is required"},
		{"logs bad stream", base + "/logs", map[string]any{"step_name": "say", "lines": []any{map[string]any{"ts": "x", "stream": "stdin", "line": "x"}}}, 400, "Invalid request body: stream must be stdout or stderr"},
		{"logs too many", base + "/logs", map[string]any{"step_name": "say", "lines": make([]map[string]any, 1001)}, 413, "Too many log lines (at most 1000 per request)"},
		{"logs too big", base + "/logs", map[string]any{"step_name": "say", "lines": []any{map[string]any{"stream": "stdout", "line": strings.Repeat("x", 4<<20)}}}, 413, "Request body too large"},
		{"logs by another worker", base + "/logs", map[string]any{"step_name": "say", "worker_id": other, "lines": []any{}}, 409, "Step is held by another worker"},
		{"logs", base + "/logs", map[string]any{"step_name": "say", "worker_id": id, "lines": []any{
			map[string]any{"ts": "2026-02-10T13:00:00.123456+01:00", "stream": "stdout", "line": "first"},
			map[string]any{"ts": "yesterday", "stream": "stderr", "line": "second"},
			map[string]any{"ts": 17, "stream": "stdout", "line": "third"},
		}}, 200, ""},
		{"cancelled", base + "/cancelled", nil, 200, ""},
		{"complete by another worker", base + "/steps/say/complete", map[string]any{"worker_id": other}, 409, "Step is held by another worker"},
		{"complete", base + "/steps/say/complete", map[string]any{"worker_id": id, "exit_code": 3}, 200, ""},
		{"complete again", base + "/steps/say/complete", map[string]any{"worker_id": id}, 409, "Step is not running"},
		{"logs after complete", base + "/logs", map[string]any{"step_name": "say", "lines": []any{}}, 409, "Step is not running"},
		{"start after complete", base + "/steps/say/start", map[string]any{}, 409, "Step is not running"},
		{"cancelled unknown job", "/worker/jobs/0190a0b0-0000-7000-8000-000000000000/cancelled", nil, 404, "Job not found"},
	}
	for _, c := range cases {
		method := "POST"
		if strings.HasSuffix(c.path, "/cancelled") {
			method = "GET"
		}
		st, _, body := s.Do(method, c.path, c.body, "Authorization", "Bearer "+workerToken)
		want := fmt.Sprintf(`{"error":%q}`, c.want)
		switch {
		case c.status != 200:
		case method == "GET":
			want = `{"cancelled":false}`
		default:
			want = `{"status":"ok"}`
		}
		if st != c.status || strings.TrimSpace(string(body)) != want {
			t.Errorf("%s: got %d %s, want %d %s", c.name, st, body, c.status, want)
		}
	}

	j := s.WaitJob(job)
	step := j["steps"].([]any)[0].(map[string]any)
	if j["status"] != "failed" || step["error_message"] != "Process exited with code 3" {
		t.Errorf("job after exit_code 3: %v", j)
	}
	var logs struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+job+"/steps/say/logs", nil, &logs)
	lines := strings.Split(strings.TrimSpace(logs.Logs), "\n")
	if len(lines) != 3 || lines[0] != `{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"say","line":"first"}` ||
		!strings.Contains(lines[1], `"stream":"stderr","step":"say","line":"second"}`) || !strings.Contains(lines[2], `"line":"third"`) {
		t.Errorf("pushed lines:\n%s", logs.Logs)
	}
	for _, l := range lines[1:] {
		var v struct{ TS time.Time }
		if err := json.Unmarshal([]byte(l), &v); err != nil || time.Since(v.TS) > time.Minute {
			t.Errorf("unparsable ts not replaced by the receipt time: %s", l)
		}
	}
}

func TestWorkerCompleteOutcomes(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	cases := []struct {
		name   string
		body   map[string]any
		status string
		output any
		errMsg any
	}{
		{"output", map[string]any{"output": map[string]any{"n": 1}, "exit_code": 0}, "completed", map[string]any{"n": 1.0}, nil},
		{"no fields", map[string]any{}, "completed", nil, nil},
		{"error wins", map[string]any{"output": 5, "exit_code": 0, "error": "disk full"}, "failed", nil, "disk full"},
		{"exit code", map[string]any{"output": 5, "exit_code": -1}, "failed", nil, "Process exited with code -1"},
		{"anonymous worker", map[string]any{"output": "x"}, "completed", "x", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := s.Execute("hello", nil)
			if got := claim(t, s, id, 0); got["job_id"] != job {
				t.Fatalf("claim: %v", got)
			}
			if c.name != "anonymous worker" {
				c.body["worker_id"] = id
			}
			if st, out := wdo(t, s, "POST", "/worker/jobs/"+job+"/steps/say/complete", c.body); st != 200 {
				t.Fatalf("complete: %d %v", st, out)
			}
			j := s.WaitJob(job)
			step := j["steps"].([]any)[0].(map[string]any)
			if j["status"] != c.status || !cmp.Equal(step["output"], c.output) || step["error_message"] != c.errMsg {
				t.Errorf("job %v step %v", j["status"], step)
			}
		})
	}
}

func TestWorkerCancelledJob(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	job := s.Execute("hello", nil)
	claim(t, s, id, 0)
	if st, out := wdo(t, s, "GET", "/worker/jobs/"+job+"/cancelled", nil); st != 200 || out["cancelled"] != false {
		t.Fatalf("cancelled before: %d %v", st, out)
	}
	if st := s.JSON("POST", "/api/jobs/"+job+"/cancel", nil, nil); st != 200 {
		t.Fatalf("cancel: %d", st)
	}
	if st, out := wdo(t, s, "GET", "/worker/jobs/"+job+"/cancelled", nil); st != 200 || out["cancelled"] != true {
		t.Fatalf("cancelled after: %d %v", st, out)
	}
	// The worker's report ends the step cancelled, whatever it says.
	if st, out := wdo(t, s, "POST", "/worker/jobs/"+job+"/steps/say/complete", map[string]any{"worker_id": id, "exit_code": -1, "error": "Job cancelled"}); st != 200 {
		t.Fatalf("complete: %d %v", st, out)
	}
	j := s.WaitJob(job)
	step := j["steps"].([]any)[0].(map[string]any)
	if j["status"] != "cancelled" || step["status"] != "cancelled" {
		t.Errorf("job %v step %v", j["status"], step)
	}
}

func TestWorkerLateReportAfterTimeout(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	job := s.Execute("hello", nil)
	claim(t, s, id, 0)
	if st, out := wdo(t, s, "POST", "/worker/jobs/"+job+"/steps/say/start", map[string]any{"worker_id": id}); st != 200 {
		t.Fatalf("start: %d %v", st, out)
	}
	// Three minutes of silence (heartbeat timeout 120 s).
	if err := s.Engine.Sweep(time.Now().Add(3 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	j := s.WaitJob(job)
	step := j["steps"].([]any)[0].(map[string]any)
	wantErr := fmt.Sprintf("Worker heartbeat timeout (worker %s unresponsive)", id)
	if j["status"] != "failed" || step["error_message"] != wantErr {
		t.Fatalf("after the sweep: %v", j)
	}
	for _, path := range []string{"/steps/say/complete", "/logs"} {
		st, out := wdo(t, s, "POST", "/worker/jobs/"+job+path, map[string]any{"worker_id": id, "step_name": "say", "lines": []any{}})
		if st != 409 || out["error"] != "Step is not running" {
			t.Errorf("late %s: %d %v", path, st, out)
		}
	}
	// A heartbeat reactivates the worker.
	var w map[string]any
	s.JSON("GET", "/api/workers/"+id, nil, &w)
	if w["status"] != "inactive" {
		t.Errorf("silent worker: %v", w["status"])
	}
	wdo(t, s, "POST", "/worker/heartbeat", map[string]any{"worker_id": id})
	s.JSON("GET", "/api/workers/"+id, nil, &w)
	if w["status"] != "active" {
		t.Errorf("after a heartbeat: %v", w["status"])
	}
}

func TestWorkerTarball(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	var ws []map[string]any
	s.JSON("GET", "/api/workspaces", nil, &ws)
	rev := ws[0]["revision"].(string)
	auth := []string{"Authorization", "Bearer " + workerToken}

	for _, path := range []string{"/worker/workspace/default.tar.gz", "/worker/workspace/default", "/worker/workspace/default.tar.gz?revision=" + rev} {
		st, h, body := s.Do("GET", path, nil, auth...)
		if st != 200 || h.Get("Content-Type") != "application/gzip" || h.Get("X-Revision") != rev || h.Get("ETag") != `"`+rev+`"` {
			t.Fatalf("%s: %d %v", path, st, h)
		}
		if diff := cmp.Diff([]string{"./", "./.workflows/", "./.workflows/main.yaml", "./bin/", "./bin/run.sh"}, tarNames(t, body)); diff != "" {
			t.Errorf("%s entries:\n%s", path, diff)
		}
		st, h, body = s.Do("GET", path, nil, append(auth, "If-None-Match", `"`+rev+`"`)...)
		if st != 304 || len(body) != 0 || h.Get("ETag") != `"`+rev+`"` {
			t.Errorf("%s with If-None-Match: %d %v %q", path, st, h, body)
		}
	}
	if st, _, _ := s.Do("GET", "/worker/workspace/default.tar.gz", nil, append(auth, "If-None-Match", `"0000"`)...); st != 200 {
		t.Errorf("stale If-None-Match: %d", st)
	}
	cases := []struct{ path, want string }{
		{"/worker/workspace/nope.tar.gz", "Workspace 'nope' not found"},
		{"/worker/workspace/default.tar.gz?revision=" + strings.Repeat("ab", 32), "Revision '" + strings.Repeat("ab", 32) + "' of workspace 'default' is not available"},
		{"/worker/workspace/default.tar.gz?revision=../x", "Revision '../x' of workspace 'default' is not available"},
	}
	for _, c := range cases {
		st, _, body := s.Do("GET", c.path, nil, auth...)
		if want := fmt.Sprintf(`{"error":%q}`, c.want); st != 404 || strings.TrimSpace(string(body)) != want {
			t.Errorf("%s: %d %s, want %s", c.path, st, body, want)
		}
	}
}

func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// Concurrent long-polls each get a different step.
func TestWorkerConcurrentClaims(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	id := register(t, s, "w", "shell")
	const n = 4
	var wg sync.WaitGroup
	got := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, out := wdo(t, s, "POST", "/worker/jobs/claim", map[string]any{"worker_id": id, "wait_secs": 10})
			got <- fmt.Sprint(out["job_id"], "/", out["step_name"])
		}()
	}
	s.Execute("pair", nil)
	s.Execute("pair", nil)
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for g := range got {
		if seen[g] || strings.HasPrefix(g, "<nil>") {
			t.Errorf("claims: duplicate or empty %s", g)
		}
		seen[g] = true
	}
}
