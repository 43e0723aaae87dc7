package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

const restartHooksYAML = `
actions:
  note:
    type: script
    input:
      status: { type: string }
    script: |
      echo 'OUTPUT: {"status": "{{ input.status }}"}'
tasks:
  flaky:
    input:
      dir: { type: string, required: true }
    flow:
      first:
        type: script
        script: echo one
      second:
        type: script
        depends_on: [first]
        input: { dir: "{{ input.dir }}" }
        script: test -f {{ input.dir }}/ok
    on_success:
      - action: note
        input: { status: "{{ hook.status }}" }
    on_error:
      - action: note
        input: { status: "{{ hook.status }}" }
`

// TestRestartFiresHooks: a restarted job is a job like any other: its own
// hooks fire once with its outcome. Hook jobs themselves cannot be re-run
// or restarted.
func TestRestartFiresHooks(t *testing.T) {
	h := jobstest.New(t, files(restartHooksYAML))
	dir := t.TempDir()
	id := h.Trigger("flaky", map[string]any{"dir": dir})
	if j := finished(t, h, id); j.Status != jobs.JobFailed {
		t.Fatalf("first job %s", j.Status)
	}
	hooks := hookJobs(t, h, id)
	if len(hooks) != 1 || hooks[0].HookEvent != jobs.EventError {
		t.Fatalf("hooks of the failed job: %+v", hooks)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nj, err := h.Engine.Restart(ctx, jobs.RestartRequest{JobID: id, FromStep: "second"})
	if err != nil {
		t.Fatal(err)
	}
	j := finished(t, h, nj.ID)
	if j.Status != jobs.JobCompleted || j.RestartOf != id || !jobstest.Step(t, j, "first").CarriedOver {
		t.Fatalf("restarted job: %s restart_of %q", j.Status, j.RestartOf)
	}
	hooks = hookJobs(t, h, nj.ID)
	if len(hooks) != 1 || hooks[0].HookEvent != jobs.EventSuccess || hooks[0].Status != jobs.JobCompleted {
		t.Fatalf("hooks of the restarted job: %+v", hooks)
	}
	if out := jobstest.Step(t, hooks[0], "hook").Output; out.(map[string]any)["status"] != "completed" {
		t.Errorf("hook saw %v", out)
	}

	var conflict *jobs.ConflictError
	if _, err := h.Engine.Rerun(ctx, jobs.RerunRequest{JobID: hooks[0].ID}); !errors.As(err, &conflict) {
		t.Errorf("rerun of a hook job: %v, want a conflict", err)
	}
	if _, err := h.Engine.PlanRestart(jobs.RestartRequest{JobID: hooks[0].ID, FromStep: "hook"}); !errors.As(err, &conflict) {
		t.Errorf("restart of a hook job: %v, want a conflict", err)
	}
}
