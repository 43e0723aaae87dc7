package jobs_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// hookJobs returns the finished hook jobs fired for job id, in creation
// order. Hooks are created in the transaction that finalizes the job, so
// once the job is terminal and finalized the list is complete.
func hookJobs(t testing.TB, h *jobstest.Harness, id string) []*jobs.Job {
	t.Helper()
	res, err := h.Query.List(jobs.ListFilter{SourceType: jobs.SourceHook, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*jobs.Job
	for _, j := range res.Jobs {
		if j.SourceID == id {
			out = append(out, h.Wait(j.ID))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// finished waits for the job to be terminal and finalized (its hooks
// fired and its parent told, all in the finalizing transaction).
func finished(t testing.TB, h *jobstest.Harness, id string) *jobs.Job {
	t.Helper()
	h.Wait(id)
	return h.WaitFor(id, "finalized", func(j *jobs.Job) bool { return j.Finalized })
}

// waitLog waits (jobstest.Patience at most) for the job's log to contain
// want; on failure it shows the log.
func waitLog(t testing.TB, h *jobstest.Harness, id, want string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, h.Log(id))
		}
	}()
	jobstest.Eventually(t, fmt.Sprintf("log of %s to contain %s", id, want), func() bool { return strings.Contains(h.Log(id), want) })
}

const hookActions = `
actions:
  notify:
    type: script
    input:
      msg: { type: string }
    env: { MSG: "{{ input.msg }}" }
    script: |
      python3 -c 'import json, os; print("OUTPUT: " + json.dumps({"msg": os.environ["MSG"]}))'
  fail-notify:
    type: script
    script: |
      echo "hook is broken" >&2
      exit 3
  report:
    type: task
    task: reporter
  ctx:
    type: script
    script: "true"
  run-hooked:
    type: task
    task: hooked
tasks:
  hooked:
    flow:
      x: { type: script, script: "echo x" }
  reporter:
    input:
      status: { type: string, required: true }
      ok: { type: string, required: true }
      failed: { type: array }
    flow:
      r:
        type: script
        input: { status: "{{ input.status }}", ok: "{{ input.ok }}" }
        script: |
          echo 'OUTPUT: {"status": "{{ input.status }}", "ok": "{{ input.ok }}"}'
`

// TestHookOnErrorPythonKeyError is Strøm's own end-to-end case: a Python
// script raising KeyError fails its step; the on_error hook gets the
// failing step's stderr tail in hook.error_message.
func TestHookOnErrorPythonKeyError(t *testing.T) {
	fs := files(hookActions + `
  etl:
    flow:
      extract:
        type: shell
        cmd: python3 scripts/extract.py
    on_error:
      - action: notify
        input: { msg: "{{ hook.error_message }}" }
      - action: report
        input: { status: "{{ hook.status }}", ok: "{{ hook.is_success }}", failed: "{{ hook.failed_steps }}" }
`)
	fs["scripts/extract.py"] = "record = {'id': 1}\nprint('extracting')\nprint(record['missing_key'])\n"
	h := jobstest.New(t, fs)
	id := h.Trigger("etl", nil)
	j := finished(t, h, id)
	if j.Status != jobs.JobFailed {
		t.Fatalf("job %s", j.Status)
	}
	step := jobstest.Step(t, j, "extract")
	if !strings.HasPrefix(step.ErrorMessage, "Exit code: 1\nStderr: Traceback") || !strings.HasSuffix(step.ErrorMessage, "KeyError: 'missing_key'") {
		t.Fatalf("step error %q", step.ErrorMessage)
	}

	hooks := hookJobs(t, h, id)
	if len(hooks) != 2 {
		t.Fatalf("%d hook jobs, want 2", len(hooks))
	}
	notify, report := hooks[0], hooks[1]
	if notify.Task != "_hook:notify" || notify.SourceType != jobs.SourceHook || notify.HookEvent != jobs.EventError ||
		notify.Revision != j.Revision || notify.Mode != "distributed" || notify.Status != jobs.JobCompleted {
		t.Errorf("notify hook job %+v", notify)
	}
	wantMsg := "Step 'extract': " + step.ErrorMessage
	if diff := cmp.Diff(map[string]any{"msg": wantMsg}, notify.Input); diff != "" {
		t.Errorf("hook job input (-want +got):\n%s", diff)
	}
	hs := jobstest.Step(t, notify, "hook")
	if hs.Action != "notify" || hs.Status != jobs.StepCompleted {
		t.Errorf("hook step %+v", hs)
	}
	if diff := cmp.Diff(map[string]any{"hook": map[string]any{"msg": wantMsg}}, notify.Output); diff != "" {
		t.Errorf("the hook saw (-want +got):\n%s", diff)
	}

	// A type: task hook runs that task with the rendered, typed input.
	if report.Task != "reporter" || report.HookEvent != jobs.EventError || report.Status != jobs.JobCompleted {
		t.Errorf("report hook job %+v", report)
	}
	wantIn := map[string]any{"status": "failed", "ok": "false", "failed": []any{map[string]any{
		"step_name": "extract", "action_name": "_inline:etl:extract", "error_message": step.ErrorMessage, "continue_on_failure": false,
	}}}
	if diff := cmp.Diff(wantIn, report.Input); diff != "" {
		t.Errorf("task hook input (-want +got):\n%s", diff)
	}
}

func TestHookOnSuccessContext(t *testing.T) {
	h := jobstest.New(t, files(hookActions+`
  ok:
    flow:
      a:
        type: script
        script: |
          echo 'OUTPUT: {"v": 1}'
    on_success:
      - action: ctx
        input:
          event: "{{ hook.event }}"
          status: "{{ hook.status }}"
          is_success: "{{ hook.is_success }}"
          error: "{{ hook.error_message }}"
          output: "{{ hook.output }}"
          source: "{{ hook.source_type }}"
          job: "{{ hook.job_id }}"
          task: "{{ hook.task_name }}"
          ws: "{{ hook.workspace }}"
          rev: "{{ hook.revision }}"
          failed: "{{ hook.failed_steps }}"
          took: "{{ hook.duration_secs }}"
    on_error:
      - action: notify
        input: { msg: "{{ hook.error_message }}" }
`))
	id := h.Trigger("ok", nil)
	j := finished(t, h, id)
	hooks := hookJobs(t, h, id)
	if len(hooks) != 1 || j.Status != jobs.JobCompleted {
		t.Fatalf("job %s, %d hook jobs", j.Status, len(hooks))
	}
	in := hooks[0].Input
	if took, err := strconv.ParseFloat(in["took"].(string), 64); err != nil || took < 0 {
		t.Errorf("duration_secs %q", in["took"])
	}
	delete(in, "took")
	want := map[string]any{
		"event": "on_success", "status": "completed", "is_success": "true", "error": "",
		"output": map[string]any{"a": map[string]any{"v": float64(1)}}, "source": "api",
		"job": id, "task": "ok", "ws": "default", "rev": "rev001", "failed": []any{},
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("hook context (-want +got):\n%s", diff)
	}
	if hooks[0].Task != "_hook:ctx" || hooks[0].HookEvent != jobs.EventSuccess {
		t.Errorf("hook job %+v", hooks[0])
	}
}

// TestHookFailureIsolated: a hook job that fails, and a hook that cannot
// start, are reported on the original job's log; its status never changes.
func TestHookFailureIsolated(t *testing.T) {
	h := jobstest.New(t, files(hookActions+`
  fine:
    flow:
      a: { type: script, script: "echo fine" }
    on_success:
      - action: fail-notify
      - action: report
        input: { status: "{{ hook.status }}", ok: "{{ hook.is_success }}", failed: "{{ hook.status }}" }
`))
	id := h.Trigger("fine", nil)
	j := finished(t, h, id)
	hooks := hookJobs(t, h, id)
	if len(hooks) != 1 || hooks[0].Task != "_hook:fail-notify" || hooks[0].Status != jobs.JobFailed {
		t.Fatalf("hook jobs %+v", hooks)
	}
	// The failed hook's outcome is written on the original's log.
	waitLog(t, h, id, `"line":"[hooks] Hook '_hook:fail-notify' failed: Exit code: 3"`)
	waitLog(t, h, id, `"line":"[hooks] Failed to fire hook on_success[1] for action 'report': Input validation failed: field 'failed' must be an array"`)
	finished(t, h, hooks[0].ID)
	j, err := h.Query.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != jobs.JobCompleted || !j.Finalized {
		t.Errorf("original job %s after its hook failed", j.Status)
	}
}

// TestHookSelection: the task's list wins, else the workspace's list for
// top-level jobs only; hook jobs (and jobs below them) never fire hooks;
// on_cancel fires after the job is cancelled.
func TestHookSelection(t *testing.T) {
	h := jobstest.New(t, files(hookActions+`
  parent:
    flow:
      call: { type: task, task: child }
  child:
    flow:
      c: { type: script, script: "echo child" }
  own:
    flow:
      o: { type: script, script: "echo own" }
    on_success:
      - action: ctx
        input: { which: task }
  slow:
    flow:
      s: { type: script, script: "sleep 60" }
on_success:
  - action: ctx
    input: { which: workspace }
  - action: run-hooked
on_cancel:
  - action: ctx
    input: { which: cancel, status: "{{ hook.status }}" }
`))
	parent := finished(t, h, h.Trigger("parent", nil))
	child := jobstest.Step(t, parent, "call").ChildJobID
	finished(t, h, child)
	ph := hookJobs(t, h, parent.ID)
	if len(ph) != 2 || ph[0].Task != "_hook:ctx" || ph[0].Input["which"] != "workspace" || ph[1].Task != "hooked" {
		t.Fatalf("parent's hook jobs %+v", ph)
	}
	if ch := hookJobs(t, h, child); len(ch) != 0 {
		t.Errorf("a child job fired workspace hooks: %+v", ch)
	}
	// Neither hook job fires hooks, not even the task hook job whose task
	// would use the workspace list.
	for _, hj := range ph {
		finished(t, h, hj.ID)
		if hh := hookJobs(t, h, hj.ID); len(hh) != 0 {
			t.Errorf("hook job %s fired hooks: %+v", hj.Task, hh)
		}
	}

	own := finished(t, h, h.Trigger("own", nil))
	if oh := hookJobs(t, h, own.ID); len(oh) != 1 || oh[0].Input["which"] != "task" {
		t.Errorf("task list not preferred: %+v", oh)
	}

	slow := h.Trigger("slow", nil)
	h.WaitFor(slow, "running", func(j *jobs.Job) bool { return j.Status == jobs.JobRunning })
	if err := h.Engine.Cancel(context.Background(), slow, "api"); err != nil {
		t.Fatal(err)
	}
	finished(t, h, slow)
	sh := hookJobs(t, h, slow)
	if len(sh) != 1 || sh[0].HookEvent != jobs.EventCancel || sh[0].Input["status"] != "cancelled" {
		t.Errorf("on_cancel hook jobs %+v", sh)
	}
	if s := jobstest.Step(t, h.Wait(slow), "s"); s.Status != jobs.StepCancelled {
		t.Errorf("cancelled job's step %s when on_cancel fired", s.Status)
	}
}
