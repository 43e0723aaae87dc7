package httpd_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/httpd/httpdtest"
	"runnel/jobs"
	"runnel/jobs/jobstest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/wire")

// wireWorkflow gives every resource its optional parts: folders, display
// names, defaults (null too), secrets, timeouts, dependencies, child jobs,
// scheduler and webhook triggers, a step only a remote worker can take.
const wireWorkflow = `
actions:
  greet:
    type: shell
    cmd: |
      echo "Hello {{ input.name }}"
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}", "html": "<b>&</b>"}'
    env: { WHO: "{{ input.name }}" }
    input:
      name: { type: string, required: true }
  gpu-job:
    type: shell
    script: bin/run.sh
    env: { MODEL: big }
    tags: [gpu]
  sub:
    type: task
    task: child
tasks:
  hello:
    description: Says hello
    folder: demos
    timeout: 10m
    input:
      name: { type: string, default: World, name: Name, description: Who to greet }
      note: { type: string, default: null }
      token: { type: string, secret: true }
    flow:
      say:
        action: greet
        input: { name: "{{ input.name }}" }
      after:
        depends_on: [say]
        type: script
        script: "echo after"
        continue_on_failure: true
        timeout: 30s
  fail:
    flow:
      boom: { type: script, script: "echo bad >&2; exit 2" }
      never: { depends_on: [boom], type: script, script: "echo never" }
  parent:
    flow:
      call: { action: sub }
  child:
    flow:
      x: { type: script, script: "echo x" }
  gpu:
    flow:
      train: { action: gpu-job, timeout: 5m, input: { size: 3 } }
triggers:
  nightly:
    type: scheduler
    cron: "0 0 2 * * *"
    timezone: Europe/Copenhagen
    task: hello
    input: { name: Night }
  greet-hook:
    type: webhook
    name: greet
    task: hello
    mode: sync
    enabled: false
`

var (
	wireUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	wireTime = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	wireRev  = regexp.MustCompile(`\b[0-9a-f]{40,64}\b`)
	wireTok  = regexp.MustCompile(`"(access_token|refresh_token|key|prefix)": "[^"]*"`)
	wireKey  = regexp.MustCompile(`runnel_[0-9a-f]{8}`)
	// Log pages keep their keys; the lines and offsets depend on timing
	// ("Job completed in 0s") and are pinned by the log tests.
	wireLogs   = regexp.MustCompile(`"logs": ".*"`)
	wireOffset = regexp.MustCompile(`"(next_offset|start_offset)": \d+`)
)

// wireGolden compares the body of one answer, indented (key order, nulls
// and omitted keys kept) and with ids, times, revisions, tokens and temp
// paths replaced by placeholders (log lines and offsets too), with testdata/wire/<name>.json.
func wireGolden(t *testing.T, s *httpdtest.Server, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v: %q", name, err, body)
	}
	out := strings.ReplaceAll(buf.String(), s.WorkspaceDir, "<workspace dir>")
	ids := map[string]string{}
	out = wireUUID.ReplaceAllStringFunc(out, func(id string) string {
		if ids[id] == "" {
			ids[id] = fmt.Sprintf("<id %d>", len(ids)+1)
		}
		return ids[id]
	})
	out = wireTime.ReplaceAllString(out, "<time>")
	out = wireRev.ReplaceAllString(out, "<revision>")
	out = wireTok.ReplaceAllString(out, `"$1": "<token>"`)
	out = wireKey.ReplaceAllString(out, "<key prefix>")
	out = wireLogs.ReplaceAllString(out, `"logs": "<lines>"`)
	out = wireOffset.ReplaceAllString(out, `"$1": <offset>`)
	path := filepath.Join("testdata", "wire", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("%s: JSON differs from %s\n got:\n%s\nwant:\n%s", name, path, out, want)
	}
}

// get fetches path with the optional headers and fails unless status is 200.
func wireGet(t *testing.T, s *httpdtest.Server, path string, header ...string) []byte {
	t.Helper()
	st, _, body := s.Do("GET", path, nil, header...)
	if st != 200 {
		t.Fatalf("GET %s: %d %s", path, st, body)
	}
	return body
}

// TestWireGolden pins the exact JSON of every public resource and of the
// worker protocol's answers as the real server sends them.
func TestWireGolden(t *testing.T) {
	s := httpdtest.New(t, map[string]string{
		".workflows/main.yaml": wireWorkflow,
		"bin/run.sh":           "#!/bin/sh\necho training\n",
	}, func(c *httpdtest.Config) {
		c.HTTP.WorkerToken = workerToken
		c.HTTP.Version = "test"
	})
	wh := []string{"Authorization", "Bearer " + workerToken}
	wpost := func(path string, body any) []byte {
		t.Helper()
		st, _, out := s.Do("POST", path, body, wh...)
		if st != 200 {
			t.Fatalf("POST %s: %d %s", path, st, out)
		}
		return out
	}

	hello := s.Execute("hello", map[string]any{"name": "Ada", "token": "s3cret"})
	s.WaitJob(hello)
	failed := s.Execute("fail", nil)
	s.WaitJob(failed)
	parent := s.Execute("parent", nil)
	s.WaitJob(parent)

	// A remote worker takes the gpu step through the protocol.
	reg := wpost("/worker/register", map[string]any{"name": "gpu-box", "tags": []string{"shell", "gpu"}, "version": "1.2.3"})
	wireGolden(t, s, "worker_register", reg)
	var r struct {
		WorkerID string `json:"worker_id"`
	}
	if err := json.Unmarshal(reg, &r); err != nil {
		t.Fatal(err)
	}
	gpu := s.Execute("gpu", nil)
	wireGolden(t, s, "worker_claim", wpost("/worker/jobs/claim", map[string]any{"worker_id": r.WorkerID, "wait_secs": 20}))
	wireGolden(t, s, "worker_claim_none", wpost("/worker/jobs/claim", map[string]any{"worker_id": r.WorkerID, "wait_secs": 0}))
	wpost("/worker/jobs/"+gpu+"/steps/train/start", map[string]any{"worker_id": r.WorkerID})
	wpost("/worker/jobs/"+gpu+"/logs", map[string]any{"worker_id": r.WorkerID, "step_name": "train",
		"lines": []map[string]any{{"ts": "2026-01-02T03:04:05Z", "stream": "stdout", "line": "training"}}})
	wireGolden(t, s, "worker_cancelled", wireGet(t, s, "/worker/jobs/"+gpu+"/cancelled", wh...))
	wpost("/worker/jobs/"+gpu+"/steps/train/complete", map[string]any{"worker_id": r.WorkerID, "exit_code": 0,
		"output": map[string]any{"loss": 0.25}})
	s.WaitJob(gpu)

	// A job still running: steps not started yet show their nulls.
	running := s.Execute("gpu", nil)
	jobstest.Eventually(t, "the second gpu step is ready", func() bool {
		var j struct {
			Steps []struct {
				Status string `json:"status"`
			} `json:"steps"`
		}
		s.JSON("GET", "/api/jobs/"+running, nil, &j)
		return len(j.Steps) == 1 && j.Steps[0].Status == jobs.StepReady
	})

	for _, c := range []struct{ name, path string }{
		{"workspaces", "/api/workspaces"},
		{"tasks", "/api/workspaces/default/tasks"},
		{"task_hello", "/api/workspaces/default/tasks/hello"},
		{"task_gpu", "/api/workspaces/default/tasks/gpu"},
		{"triggers", "/api/workspaces/default/triggers"},
		{"jobs", "/api/jobs?limit=20"},
		{"job_hello", "/api/jobs/" + hello},
		{"job_failed", "/api/jobs/" + failed},
		{"job_parent", "/api/jobs/" + parent},
		{"job_remote", "/api/jobs/" + gpu},
		{"job_running", "/api/jobs/" + running},
		{"workers", "/api/workers"},
		{"worker_remote", "/api/workers/" + r.WorkerID},
		{"logs", "/api/jobs/" + gpu + "/logs"},
		{"logs_tail", "/api/jobs/" + gpu + "/logs?tail_bytes=4096"},
		{"step_logs", "/api/jobs/" + gpu + "/steps/train/logs"},
		{"config", "/api/config"},
	} {
		wireGolden(t, s, c.name, wireGet(t, s, c.path))
	}
	st, _, body := s.Do("POST", "/api/workspaces/default/refresh", nil)
	if st != 200 {
		t.Fatalf("refresh: %d %s", st, body)
	}
	wireGolden(t, s, "refresh", body)

	// A broken workflow keeps the last good revision and reports the error.
	s.Write(map[string]string{".workflows/main.yaml": "tasks: [\n"})
	s.Do("POST", "/api/workspaces/default/refresh", nil)
	wireGolden(t, s, "workspaces_error", wireGet(t, s, "/api/workspaces"))
}

// TestWireGoldenAuth pins the JSON of the auth resources (tokens, me, API
// keys, users) and of the audit log.
func TestWireGoldenAuth(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": wireWorkflow}, func(c *httpdtest.Config) {
		c.HTTP.Version = "test"
		c.HTTP.Auth = &httpd.AuthOptions{JWTSecret: testJWTSecret, RefreshSecret: testRefreshSecret}
	})
	hash, err := auth.HashPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &accounts.User{Email: adminEmail, Name: "Admin", PasswordHash: hash, IsAdmin: true, CreatedAt: time.Now().UTC()}
	if err := s.Accounts.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	post := func(path string, body any, header ...string) []byte {
		t.Helper()
		st, _, out := s.Do("POST", path, body, header...)
		if st != 200 {
			t.Fatalf("POST %s: %d %s", path, st, out)
		}
		return out
	}
	login := post("/api/auth/login", map[string]string{"email": adminEmail, "password": adminPassword})
	wireGolden(t, s, "auth_tokens", login)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(login, &tok); err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization", "Bearer " + tok.AccessToken}
	wireGolden(t, s, "auth_key_created", post("/api/auth/api-keys", map[string]any{"name": "ci", "expires_in_days": 30}, bearer...))
	post("/api/auth/api-keys", map[string]any{"name": "forever"}, bearer...)
	post("/api/users", map[string]any{"email": "dev@example.com", "name": "Dev", "password": "dev-password-1"}, bearer...)
	for _, c := range []struct{ name, path string }{
		{"auth_me", "/api/auth/me"},
		{"auth_keys", "/api/auth/api-keys"},
		{"users", "/api/users"},
		{"user", "/api/users/" + u.ID},
		{"config_auth", "/api/config"},
		{"audit", "/api/audit?limit=4"},
	} {
		wireGolden(t, s, c.name, wireGet(t, s, c.path, bearer...))
	}
}
