package httpd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"runnel/jobs/jobstest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
)

const workflow = `
actions:
  greet:
    type: shell
    cmd: |
      echo "Hello {{ input.name }}"
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}"}'
    input:
      name: { type: string, required: true }
tasks:
  hello-world:
    description: Says hello
    input:
      name: { type: string, default: World }
    flow:
      say-hello:
        action: greet
        input: { name: "{{ input.name }}" }
  fail:
    folder: demos
    flow:
      boom: { type: script, script: "echo bad >&2; exit 2" }
  sleepy:
    flow:
      nap: { type: script, script: "sleep 30" }
triggers:
  nightly:
    type: scheduler
    cron: "0 0 2 * * *"
    timezone: Europe/Copenhagen
    task: hello-world
  greet-hook:
    type: webhook
    name: greet
    task: hello-world
    enabled: false
`

func newServer(t *testing.T) *httpdtest.Server {
	return httpdtest.New(t, map[string]string{".workflows/main.yaml": workflow})
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestServerStepLogs: _server lifecycle lines are stdout and shown only
// with ?all=true; the step route answers problem events (stderr) alone, so
// a successful job's _server log is empty (SPEC §10.1, §10.3).
func TestServerStepLogs(t *testing.T) {
	s := newServer(t)
	ok := s.Execute("hello-world", map[string]any{"name": "Ada"})
	s.WaitJob(ok)
	failed := s.Execute("fail", nil)
	s.WaitJob(failed)

	type logLine struct{ Stream, Step, Line string }
	read := func(path string) []logLine {
		t.Helper()
		var page struct {
			Logs string `json:"logs"`
		}
		if st := s.JSON("GET", path, nil, &page); st != 200 {
			t.Fatalf("GET %s: %d", path, st)
		}
		var out []logLine
		for _, raw := range strings.Split(strings.TrimSuffix(page.Logs, "\n"), "\n") {
			if raw == "" {
				continue
			}
			var l logLine
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				t.Fatalf("GET %s: line %q: %v", path, raw, err)
			}
			l.Line = regexp.MustCompile(`revision [0-9a-f]{64}`).ReplaceAllString(l.Line, "revision <rev>")
			l.Line = regexp.MustCompile(`[0-9a-f-]{36}|[0-9.]+m?s$`).ReplaceAllString(l.Line, "<x>")
			out = append(out, l)
		}
		return out
	}
	srv := func(stream, line string) logLine { return logLine{stream, "_server", line} }
	cases := []struct {
		name, path string
		want       []logLine
	}{
		{"success, problems only", "/api/jobs/" + ok + "/steps/_server/logs", nil},
		{"success, all", "/api/jobs/" + ok + "/steps/_server/logs?all=true", []logLine{
			srv("stdout", "Job created: task 'hello-world', revision <rev>, source api"),
			srv("stdout", "Step 'say-hello' started on worker 'builtin' (<x>)"),
			srv("stdout", "Job completed in <x>"),
		}},
		{"failure, problems only", "/api/jobs/" + failed + "/steps/_server/logs", []logLine{
			srv("stderr", "Step 'boom' failed: Exit code: 2"),
		}},
		{"failure, all", "/api/jobs/" + failed + "/steps/_server/logs?all=true", []logLine{
			srv("stdout", "Job created: task 'fail', revision <rev>, source api"),
			srv("stdout", "Step 'boom' started on worker 'builtin' (<x>)"),
			srv("stderr", "Step 'boom' failed: Exit code: 2"),
			srv("stdout", "Job failed in <x>"),
		}},
		{"other steps ignore all", "/api/jobs/" + ok + "/steps/say-hello/logs?all=true", []logLine{
			{"stdout", "say-hello", "Hello Ada"},
			{"stdout", "say-hello", `OUTPUT: {"greeting": "Hello Ada"}`},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, read(c.path)); d != "" {
				t.Errorf("%s (-want +got):\n%s", c.path, d)
			}
		})
	}
	// The combined log keeps every _server line.
	var all struct {
		Logs string `json:"logs"`
	}
	s.JSON("GET", "/api/jobs/"+ok+"/logs", nil, &all)
	if n := strings.Count(all.Logs, `"stream":"stdout","step":"_server"`); n != 3 {
		t.Errorf("combined log has %d _server stdout lines, want 3:\n%s", n, all.Logs)
	}
}

func TestWorkspacesTasksTriggers(t *testing.T) {
	s := newServer(t)
	var ws []map[string]any
	if st := s.JSON("GET", "/api/workspaces", nil, &ws); st != 200 || len(ws) != 1 {
		t.Fatalf("workspaces: %d %v", st, ws)
	}
	if ws[0]["name"] != "default" || ws[0]["tasks_count"] != 3.0 || ws[0]["actions_count"] != 1.0 || ws[0]["triggers_count"] != 2.0 || !hex64.MatchString(ws[0]["revision"].(string)) {
		t.Errorf("workspace item: %v", ws[0])
	}
	if _, ok := ws[0]["error"]; ok {
		t.Errorf("error present on a good workspace: %v", ws[0])
	}

	_, _, body := s.Do("GET", "/api/workspaces/default/tasks", nil)
	want := `[{"name":"fail","workspace":"default","mode":"distributed","folder":"demos","has_triggers":false},` +
		`{"name":"hello-world","workspace":"default","mode":"distributed","has_triggers":true,"description":"Says hello"},` +
		`{"name":"sleepy","workspace":"default","mode":"distributed","has_triggers":false}]`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("tasks:\n got %s\nwant %s", body, want)
	}

	var task map[string]any
	if st := s.JSON("GET", "/api/workspaces/default/tasks/hello-world", nil, &task); st != 200 {
		t.Fatalf("task: %d", st)
	}
	wantFlow := map[string]any{"say-hello": map[string]any{"action": "greet", "depends_on": []any{},
		"input": map[string]any{"name": "{{ input.name }}"}, "continue_on_failure": false}}
	if diff := cmp.Diff(wantFlow, task["flow"]); diff != "" {
		t.Errorf("flow (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"name": map[string]any{"type": "string", "required": false, "default": "World"}}, task["input"]); diff != "" {
		t.Errorf("input:\n%s", diff)
	}
	trs := task["triggers"].([]any)
	if len(trs) != 2 {
		t.Fatalf("task triggers: %v", trs)
	}
	nightly := trs[1].(map[string]any)
	runs := nightly["next_runs"].([]any)
	if nightly["name"] != "nightly" || len(runs) != 5 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT02:00:00\+0[12]:00$`).MatchString(runs[0].(string)) {
		t.Errorf("nightly: %v", nightly)
	}
	hook := trs[0].(map[string]any)
	if hook["path"] != "/hooks/greet" || hook["mode"] != "async" || hook["enabled"] != false || len(hook["next_runs"].([]any)) != 0 {
		t.Errorf("webhook trigger: %v", hook)
	}
	if _, ok := hook["secret"]; ok {
		t.Error("trigger secret shown")
	}

	_, _, body = s.Do("GET", "/api/workspaces/default/triggers", nil)
	if !strings.HasPrefix(string(body), `[{"name":"greet-hook","type":"webhook","task":"hello-world","enabled":false,"input":{},"next_runs":[],"path":"/hooks/greet","mode":"async"},{"name":"nightly","type":"scheduler","cron":"0 0 2 * * *","task":"hello-world","enabled":true,"input":{},"next_runs":["`) {
		t.Errorf("triggers: %s", body)
	}
}

func TestErrors(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		method, path string
		body         any
		status       int
		msg          string
	}{
		{"GET", "/api/nope", nil, 404, "Not found"},
		{"POST", "/nothing/here", nil, 404, "Not found"}, // a GET there is the web UI
		{"GET", "/hooks", nil, 404, "Not found"},
		{"DELETE", "/api/workspaces", nil, 405, "Method not allowed"},
		{"GET", "/api/workspaces/nope/tasks", nil, 404, "Workspace 'nope' not found"},
		{"GET", "/api/workspaces/default/tasks/nope", nil, 404, "Task not found"},
		{"POST", "/api/workspaces/default/tasks/nope/execute", nil, 404, "Task not found"},
		{"POST", "/api/workspaces/nope/tasks/x/execute", nil, 404, "Workspace 'nope' not found"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": 5}`, 400, "Invalid request body: input must be an object"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": 1e400}`, 400, "Invalid request body: input must be an object"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": []}`, 400, "Invalid request body: input must be an object"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": {"w": 1e400}}`, 400, "Invalid request body: number 1e400 is out of range"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": {"a": {"b": [1, -2E+999]}}}`, 400, "Invalid request body: number -2E+999 is out of range"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": `, 400, "Invalid request body: unexpected EOF"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": {"name": 5}}`, 400, "Input validation failed: field 'name' must be a string"},
		{"POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input": {"x": "` + strings.Repeat("a", 1<<20) + `"}}`, 413, "Request body too large"},
		{"GET", "/api/jobs/not-a-uuid", nil, 400, "Invalid job ID"},
		{"GET", "/api/jobs/01900000-0000-7000-8000-000000000000", nil, 404, "Job not found"},
		{"POST", "/api/jobs/01900000-0000-7000-8000-000000000000/cancel", nil, 404, "Job not found"},
		{"GET", "/api/jobs/01900000-0000-7000-8000-000000000000/logs", nil, 404, "Job not found"},
		{"GET", "/api/jobs?task_name=x", nil, 400, "task_name filter requires workspace"},
		{"GET", "/api/jobs?limit=-1", nil, 400, "Invalid limit"},
		{"GET", "/api/jobs?limit=abc", nil, 400, "Invalid limit"},
		{"GET", "/api/jobs?offset=x", nil, 400, "Invalid offset"},
		{"GET", "/api/jobs?status=weird", nil, 400, "Invalid status 'weird'"},
		{"GET", "/api/jobs?source_type=weird", nil, 400, "Invalid source_type 'weird'"},
		{"GET", "/api/workers/xyz", nil, 400, "Invalid worker ID"},
		{"GET", "/api/workers/01900000-0000-4000-8000-000000000000", nil, 404, "Worker not found"},
		{"POST", "/api/workspaces/nope/refresh", nil, 404, "Workspace 'nope' not found"},
		{"POST", "/push/default", nil, 404, "Push webhook not configured"},
		{"POST", "/api/auth/login", `{}`, 404, "Authentication not configured"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path[:min(len(c.path), 60)], func(t *testing.T) {
			st, h, body := s.Do(c.method, c.path, c.body)
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body not JSON: %q", body)
			}
			if st != c.status || e["error"] != c.msg {
				t.Errorf("got %d %v, want %d %q", st, e, c.status, c.msg)
			}
			if h.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", h.Get("Content-Type"))
			}
		})
	}
	if _, h, _ := s.Do("DELETE", "/api/workspaces", nil); h.Get("Allow") == "" {
		t.Error("405 without Allow header")
	}
}

func TestCrossSiteRequestRefused(t *testing.T) {
	s := newServer(t)
	// A browser form or fetch from another site: text/plain needs no CORS
	// preflight, so only the server can refuse it.
	st, _, body := s.Do("POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input":{}}`,
		"Origin", "https://evil.example", "Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site")
	if st != http.StatusForbidden || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("cross-site POST: %d %s", st, body)
	}
	st, _, _ = s.Do("POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input":{}}`,
		"Origin", "https://evil.example", "Content-Type", "text/plain")
	if st != http.StatusForbidden {
		t.Fatalf("cross-origin POST without Sec-Fetch-Site: %d", st)
	}
	var jobs []any
	s.JSON("GET", "/api/jobs", nil, &jobs)
	if len(jobs) != 0 {
		t.Fatalf("refused request created a job: %v", jobs)
	}
	// curl and the CLI send no Origin; same-origin browsers are fine.
	if st, _, _ := s.Do("POST", "/api/workspaces/default/tasks/hello-world/execute", `{}`); st != 200 {
		t.Errorf("plain POST: %d", st)
	}
	if st, _, _ := s.Do("POST", "/api/workspaces/default/tasks/hello-world/execute", `{}`, "Origin", s.URL, "Sec-Fetch-Site", "same-origin"); st != 200 {
		t.Errorf("same-origin POST: %d", st)
	}
}

func TestJobLifecycleAPI(t *testing.T) {
	s := newServer(t)
	id := s.Execute("hello-world", map[string]any{"name": "Ada"})
	j := s.WaitJob(id)
	if j["status"] != "completed" || j["source_type"] != "api" || j["source_id"] != nil || !hex64.MatchString(j["revision"].(string)) {
		t.Fatalf("job: %v", j)
	}
	step := j["steps"].([]any)[0].(map[string]any)
	if diff := cmp.Diff(map[string]any{"greeting": "Hello Ada"}, step["output"]); diff != "" {
		t.Errorf("step output:\n%s", diff)
	}
	ts := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for _, k := range []string{"created_at", "started_at", "completed_at"} {
		if v, _ := j[k].(string); !ts.MatchString(v) {
			t.Errorf("%s = %v", k, j[k])
		}
	}
	// Key order follows the seed: job_id, workspace, task_name, mode, input, output, status, …
	_, _, raw := s.Do("GET", "/api/jobs/"+id, nil)
	order := []string{`"job_id"`, `"workspace"`, `"task_name"`, `"mode"`, `"input"`, `"output"`, `"status"`, `"source_type"`, `"source_id"`, `"worker_id"`, `"created_at"`, `"started_at"`, `"completed_at"`, `"steps"`, `"revision"`, `"hook_event"`, `"parent_job_id"`, `"parent_step_name"`}
	last := -1
	for _, k := range order {
		i := strings.Index(string(raw), k)
		if i < last {
			t.Errorf("key %s out of order in %s", k, raw)
		}
		last = i
	}

	// Logs.
	var logs struct {
		Logs       string `json:"logs"`
		NextOffset int64  `json:"next_offset"`
	}
	s.JSON("GET", "/api/jobs/"+id+"/logs", nil, &logs)
	if !strings.Contains(logs.Logs, `"step":"say-hello","line":"Hello Ada"`) || logs.NextOffset != int64(len(logs.Logs)) {
		t.Errorf("logs: %+v", logs)
	}
	var again struct {
		Logs       string `json:"logs"`
		NextOffset int64  `json:"next_offset"`
	}
	s.JSON("GET", fmt.Sprintf("/api/jobs/%s/logs?offset=%d", id, logs.NextOffset), nil, &again)
	if again.Logs != "" || again.NextOffset != logs.NextOffset {
		t.Errorf("logs from the end: %+v", again)
	}
	s.JSON("GET", "/api/jobs/"+id+"/steps/_server/logs?all=true", nil, &logs)
	if !strings.Contains(logs.Logs, "Job created") || strings.Contains(logs.Logs, `"step":"say-hello"`) {
		t.Errorf("server step logs: %s", logs.Logs)
	}
	if st, _, _ := s.Do("GET", "/api/jobs/"+id+"/steps/nope/logs", nil); st != 404 {
		t.Errorf("unknown step logs: %d", st)
	}

	// Cancel: terminal → 409; running → cancelled.
	var e map[string]any
	if st := s.JSON("POST", "/api/jobs/"+id+"/cancel", nil, &e); st != 409 || e["error"] != "Job is already in a terminal state" {
		t.Errorf("cancel terminal: %d %v", st, e)
	}
	sid := s.Execute("sleepy", nil)
	if st := s.JSON("POST", "/api/jobs/"+sid+"/cancel", nil, &e); st != 200 || e["status"] != "cancelled" {
		t.Errorf("cancel running: %d %v", st, e)
	}
	if j := s.WaitJob(sid); j["status"] != "cancelled" {
		t.Errorf("cancelled job: %v", j["status"])
	}
}

func TestJobList(t *testing.T) {
	s := newServer(t)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, s.Execute("hello-world", nil))
	}
	ids = append(ids, s.Execute("fail", nil))
	for _, id := range ids {
		s.WaitJob(id)
	}
	get := func(q string) ([]string, string) {
		t.Helper()
		st, h, body := s.Do("GET", "/api/jobs"+q, nil)
		if st != 200 {
			t.Fatalf("list %s: %d %s", q, st, body)
		}
		var items []map[string]any
		json.Unmarshal(body, &items)
		var out []string
		for _, it := range items {
			out = append(out, it["job_id"].(string))
		}
		return out, h.Get("X-Total-Count")
	}
	rev := func(xs ...string) []string {
		out := append([]string{}, xs...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	cases := []struct {
		q     string
		want  []string
		total string
	}{
		{"", rev(ids...), "4"},
		{"?limit=2", rev(ids...)[:2], "4"},
		{"?limit=2&offset=3", rev(ids...)[3:], "4"},
		{"?workspace=default", rev(ids...), "4"},
		{"?workspace=default&task_name=hello-world", rev(ids[:3]...), "3"},
		{"?workspace=default&task_name=hello-world&offset=1&limit=1", rev(ids[:3]...)[1:2], "3"},
		{"?status=failed", []string{ids[3]}, ""},
		{"?status=completed&limit=2", rev(ids[:3]...)[:2], ""},
		{"?workspace=nope", nil, "0"},
		{"?source_type=api&offset=1", rev(ids...)[1:], ""},
		{"?workspace=default&status=completed&offset=2", rev(ids[:3]...)[2:], ""},
	}
	for _, c := range cases {
		got, total := get(c.q)
		if diff := cmp.Diff(c.want, got); diff != "" || total != c.total {
			t.Errorf("list %q: total %q (want %q)\n%s", c.q, total, c.total, diff)
		}
	}
}

func TestWorkersAPI(t *testing.T) {
	s := newServer(t)
	id := s.Execute("hello-world", nil)
	s.WaitJob(id)
	var ws []map[string]any
	s.JSON("GET", "/api/workers", nil, &ws)
	if len(ws) != 1 || ws[0]["name"] != "builtin" || ws[0]["builtin"] != true || ws[0]["status"] != "active" {
		t.Fatalf("workers: %v", ws)
	}
	var w map[string]any
	s.JSON("GET", "/api/workers/"+ws[0]["worker_id"].(string), nil, &w)
	jobs, _ := w["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["job_id"] != id {
		t.Errorf("worker jobs: %v", w)
	}
}

func TestHealthzAndConfig(t *testing.T) {
	s := newServer(t)
	if st, _, body := s.Do("GET", "/healthz", nil); st != 200 || strings.TrimSpace(string(body)) != `{"status":"ok","db":"ok"}` {
		t.Errorf("healthz: %d %s", st, body)
	}
	var c map[string]any
	s.JSON("GET", "/api/config", nil, &c)
	if c["auth_required"] != false || c["has_internal_auth"] != false {
		t.Errorf("config: %v", c)
	}
}

func TestReloadSeenThroughAPI(t *testing.T) {
	s := newServer(t)
	var ws []map[string]any
	s.JSON("GET", "/api/workspaces", nil, &ws)
	rev1 := ws[0]["revision"]
	s.Write(map[string]string{".workflows/extra.yaml": "tasks:\n  extra:\n    flow:\n      s: { type: script, script: \"true\" }\n"})
	jobstest.Eventually(t, "the new revision", func() bool {
		s.JSON("GET", "/api/workspaces", nil, &ws)
		return ws[0]["revision"] != rev1
	})
	if st, _, _ := s.Do("GET", "/api/workspaces/default/tasks/extra", nil); st != 200 {
		t.Errorf("new task: %d", st)
	}
	// A broken file keeps the last good revision and reports the error.
	s.Write(map[string]string{".workflows/broken.yaml": "tasks:\n  b:\n    flow:\n      s: { depend_on: [x], type: script, script: ok }\n"})
	good := ws[0]["revision"]
	jobstest.Eventually(t, "the load error reported", func() bool {
		s.JSON("GET", "/api/workspaces", nil, &ws)
		return ws[0]["error"] != nil
	})
	if ws[0]["revision"] != good || !strings.Contains(ws[0]["error"].(string), ".workflows/broken.yaml:4:") || !hex64.MatchString(ws[0]["error_revision"].(string)) {
		t.Errorf("broken push: %v", ws[0])
	}
	if st, _, _ := s.Do("GET", "/api/workspaces/default/tasks/extra", nil); st != 200 {
		t.Errorf("last good revision not serving: %d", st)
	}
}

// TestWebUIMounted: every GET outside the API routes is the web UI's app
// shell (with its CSP); the API, hooks and health keep their JSON answers.
func TestWebUIMounted(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		method, path string
		status       int
		ctype        string
		ui           bool
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", true},
		{"GET", "/jobs/01a2", 200, "text/html; charset=utf-8", true},
		{"HEAD", "/tasks/default/hello", 200, "text/html; charset=utf-8", true},
		{"GET", "/assets/js/main.js", 200, "text/javascript; charset=utf-8", true},
		{"GET", "/api/nope", 404, "application/json", false},
		{"GET", "/api", 404, "application/json", false},
		{"GET", "/hooks/nope", 404, "application/json", false},
		{"GET", "/healthz", 200, "application/json", false},
		{"POST", "/", 404, "application/json", false},
	}
	for _, c := range cases {
		st, h, _ := s.Do(c.method, c.path, nil)
		if st != c.status || h.Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, st, h.Get("Content-Type"), c.status, c.ctype)
		}
		if got := h.Get("Content-Security-Policy") != ""; got != c.ui {
			t.Errorf("%s %s: CSP present %v, want %v", c.method, c.path, got, c.ui)
		}
	}
}
