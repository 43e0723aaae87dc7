package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runnel/jobs/api"
	"runnel/jobs/jobstest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/client"
	"runnel/httpd/httpdtest"
)

const apiWorkflow = `
actions:
  greet:
    type: shell
    cmd: 'echo "Hello {{ input.name }}"; echo "OUTPUT: {\"greeting\": \"Hello {{ input.name }}\"}"'
    input:
      name: { type: string, required: true }
tasks:
  hello:
    folder: demo/sub
    description: Says hello.
    input:
      name: { type: string, default: World }
      count: { type: integer, required: true }
    flow:
      say:
        action: greet
        input: { name: "{{ input.name }}" }
      after:
        depends_on: [say]
        type: shell
        cmd: 'echo done >&2'
  blocked:
    flow:
      wait:
        type: shell
        cmd: 'sleep 30'
triggers:
  nightly: { type: scheduler, cron: "0 2 * * *", timezone: Europe/Copenhagen, task: hello, input: { count: 1 } }
  poke: { type: webhook, name: poke, task: hello, enabled: false, input: { count: 2 } }
`

func apiServer(t *testing.T) (*httpdtest.Server, *client.Client) {
	t.Helper()
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": apiWorkflow})
	return s, client.New(s.URL, "")
}

// testCtx ends with the test or after jobstest.Patience.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), jobstest.Patience())
	t.Cleanup(cancel)
	return ctx
}

func TestAPIReadOnly(t *testing.T) {
	s, c := apiServer(t)
	ctx := testCtx(t)

	ws, err := c.Workspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Name != "default" || ws[0].Revision == "" || ws[0].TasksCount != 2 || ws[0].TriggersCount != 2 || ws[0].ActionsCount != 1 {
		t.Fatalf("workspaces: %+v", ws)
	}

	tasks, err := c.Tasks(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.TaskItem{
		{Name: "blocked", Workspace: "default", Mode: "distributed"},
		{Name: "hello", Workspace: "default", Mode: "distributed", Folder: "demo/sub", HasTriggers: true, Description: "Says hello."},
	}
	if d := cmp.Diff(want, tasks); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}

	task, err := c.Task(ctx, "default", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if f := task.Input["name"]; !f.HasDefault() || string(f.Default) != `"World"` || f.Type != "string" {
		t.Errorf("input name: %+v", f)
	}
	if f := task.Input["count"]; f.HasDefault() || !f.Required {
		t.Errorf("input count: %+v", f)
	}
	if d := cmp.Diff([]string{"say"}, task.Flow["after"].DependsOn); d != "" || !strings.HasPrefix(task.Flow["after"].Action, "_inline:") {
		t.Errorf("flow after: %+v", task.Flow["after"])
	}
	if len(task.Triggers) != 2 {
		t.Fatalf("task triggers: %+v", task.Triggers)
	}

	trs, err := c.Triggers(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 2 || trs[0].Name != "nightly" || trs[0].Timezone != "Europe/Copenhagen" || len(trs[0].NextRuns) != 5 ||
		trs[1].Name != "poke" || trs[1].Enabled || trs[1].Path != "/hooks/poke" {
		t.Fatalf("triggers: %+v", trs)
	}
	next, err := time.Parse(api.NextRunLayout, trs[0].NextRuns[0])
	if err != nil || next.Hour() != 2 {
		t.Errorf("next run %q: %v (hour %d in the trigger's zone)", trs[0].NextRuns[0], err, next.Hour())
	}

	workers, err := c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(workers) != 1 || !workers[0].Builtin || workers[0].Status != "active" || workers[0].LastHeartbeat.IsZero() {
		t.Fatalf("workers: %+v", workers)
	}

	res, err := c.RefreshWorkspace(ctx, "default")
	if err != nil || !res.Refreshed || res.Changed || res.Revision != string(ws[0].Revision) {
		t.Fatalf("refresh: %+v %v", res, err)
	}

	info, err := c.ServerInfo(ctx)
	if err != nil || info.AuthRequired {
		t.Fatalf("server info: %+v %v", info, err)
	}

	// --json callers get the bytes the typed method decodes.
	raw, err := c.GetJSON(ctx, client.TasksPath("default"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, body := s.Do("GET", "/api/workspaces/default/tasks", nil)
	if strings.TrimSpace(string(raw)) != strings.TrimSpace(string(body)) {
		t.Errorf("GetJSON = %s, want %s", raw, body)
	}
}

func TestAPIJobs(t *testing.T) {
	s, c := apiServer(t)
	ctx := testCtx(t)

	id, err := c.Execute(ctx, "default", "hello", map[string]any{"name": "Ada", "count": 3})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, id, jobstest.Patience())
	if err != nil {
		t.Fatal(err)
	}
	if j.JobID != id || j.Status != api.JobCompleted || j.TaskName != "hello" || j.SourceType != "api" ||
		j.SourceID != "" || j.CreatedAt.IsZero() || j.CompletedAt.IsZero() || len(j.Steps) != 2 {
		t.Fatalf("job: %+v", j)
	}
	if s0 := j.Steps[0]; s0.StepName != "say" || s0.Status != "completed" || s0.WorkerID == "" || s0.ErrorMessage != "" {
		t.Errorf("step: %+v", s0)
	}
	if d := cmp.Diff(map[string]any{"greeting": "Hello Ada"}, j.Steps[0].Output); d != "" {
		t.Errorf("step output (-want +got):\n%s", d)
	}
	if !api.Terminal(j.Status) || api.Terminal(api.JobRunning) {
		t.Error("Terminal")
	}

	// Logs read from 0 return the whole file; from its end, nothing.
	full, _, err := s.Logs.Read(id, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.Logs(ctx, id, 0)
	if err != nil || page.Logs != string(full) || page.NextOffset != int64(len(full)) {
		t.Fatalf("logs: %+v %v", page, err)
	}
	end, err := c.Logs(ctx, id, page.NextOffset)
	if err != nil || end.Logs != "" || end.NextOffset != page.NextOffset {
		t.Fatalf("logs at the end: %+v %v", end, err)
	}
	step, err := c.StepLogs(ctx, id, "after", 0)
	if err != nil || !strings.Contains(step.Logs, `"stream":"stderr","step":"after","line":"done"`) || strings.Count(step.Logs, "\n") != 1 {
		t.Fatalf("step logs: %+v %v", step, err)
	}

	list, err := c.Jobs(ctx, client.JobFilter{Workspace: "default", Task: "hello", Status: "completed", Limit: 5})
	if err != nil || len(list) != 1 || list[0].JobID != id {
		t.Fatalf("jobs: %+v %v", list, err)
	}

	// Cancel a running job; a second cancel is a conflict.
	bid, err := c.Execute(ctx, "default", "blocked", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, bid); err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitJob(ctx, bid, jobstest.Patience()); err != nil || j.Status != api.JobCancelled {
		t.Fatalf("cancelled job: %+v %v", j.Status, err)
	}
	var ae *client.APIError
	if err := c.Cancel(ctx, bid); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	_, c := apiServer(t)
	ctx := testCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		call   func(c *client.Client) error
		status int
		msg    string
	}{
		{"unknown workspace", func(c *client.Client) error { _, err := c.Tasks(ctx, "nope"); return err }, 404, "Workspace 'nope' not found"},
		{"unknown task", func(c *client.Client) error { _, err := c.Task(ctx, "default", "nope"); return err }, 404, "Task not found"},
		{"missing input", func(c *client.Client) error { _, err := c.Execute(ctx, "default", "hello", nil); return err }, 400, ""},
		{"bad job id", func(c *client.Client) error { _, err := c.Job(ctx, "x"); return err }, 400, "Invalid job ID"},
		{"unknown job", func(c *client.Client) error {
			_, err := c.Job(ctx, "01900000-0000-7000-8000-000000000000")
			return err
		}, 404, "Job not found"},
		{"bad status filter", func(c *client.Client) error { _, err := c.Jobs(ctx, client.JobFilter{Status: "weird"}); return err }, 400, "Invalid status 'weird'"},
		{"auth off", func(c *client.Client) error { _, err := c.Login(ctx, "a@b.c", "pw"); return err }, 404, "Authentication not configured"},
		{"api keys with auth off", func(c *client.Client) error { _, err := c.APIKeys(ctx); return err }, 404, "Authentication not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(c)
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("err = %v, want HTTP %d", err, tt.status)
			}
			if tt.msg != "" && ae.Message != tt.msg {
				t.Errorf("message %q, want %q", ae.Message, tt.msg)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		_, err := client.New(closed, "").Workspaces(ctx)
		var ce *client.ConnError
		if !errors.As(err, &ce) || ce.Addr != closed || !strings.Contains(err.Error(), closed) {
			t.Fatalf("err = %v, want a ConnError naming %s", err, closed)
		}
	})
}

func TestJobsPath(t *testing.T) {
	tests := []struct {
		f    client.JobFilter
		want string
	}{
		{client.JobFilter{}, "/api/jobs"},
		{client.JobFilter{Workspace: "a b", Task: "t", Status: "failed", SourceType: "api", Limit: 5, Offset: 10},
			"/api/jobs?limit=5&offset=10&source_type=api&status=failed&task_name=t&workspace=a+b"},
	}
	for _, tt := range tests {
		if got := client.JobsPath(tt.f); got != tt.want {
			t.Errorf("JobsPath(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
	if got := client.TaskPath("w s", "a/b"); got != "/api/workspaces/w%20s/tasks/a%2Fb" {
		t.Errorf("TaskPath = %q", got)
	}
}

func TestJobDecodesNulls(t *testing.T) {
	var j api.Job
	raw := `{"job_id":"x","source_id":null,"worker_id":null,"started_at":null,"completed_at":null,"created_at":"2026-02-10T12:00:00.123Z",
	"steps":[{"step_name":"s","error_message":null,"started_at":null,"completed_at":"2026-02-10T12:00:01.000Z"}]}`
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		t.Fatal(err)
	}
	if j.SourceID != "" || !j.StartedAt.IsZero() || j.CreatedAt.Nanosecond() != 123e6 || j.Steps[0].CompletedAt.IsZero() {
		t.Errorf("decoded %+v", j)
	}
	// A null default is a default (of null); an absent one is none.
	var fields map[string]api.Field
	if err := json.Unmarshal([]byte(`{"a":{"type":"string","default":null},"b":{"type":"string"}}`), &fields); err != nil {
		t.Fatal(err)
	}
	if !fields["a"].HasDefault() || string(fields["a"].Default) != "null" || fields["b"].HasDefault() {
		t.Errorf("fields: %+v", fields)
	}
}
