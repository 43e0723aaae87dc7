package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// TestWaitingForWorkerNotice checks that a step needing tags no active
// worker has says so once in the job's _server log, naming the active
// workers, and that a step some worker can take says nothing.
func TestWaitingForWorkerNotice(t *testing.T) {
	h := jobstest.New(t, files(`
actions:
  train: { type: shell, cmd: echo train, tags: [gpu] }
  pack: { type: shell, cmd: echo pack, tags: [docker] }
tasks:
  ml:
    flow:
      train: { action: train }
  build:
    flow:
      pack: { action: pack }
`), func(o *jobs.Options) { o.LocalTags = []string{"shell"} })
	if _, err := h.Engine.Register("builder", []string{"shell", "docker"}, "test"); err != nil {
		t.Fatal(err)
	}
	ml := h.Trigger("ml", nil)
	h.WaitFor(ml, "train ready", func(j *jobs.Job) bool { return j.Steps[0].Status == jobs.StepReady })
	// A sweep requeues nothing and must not repeat the notice.
	if err := h.Engine.Sweep(time.Now()); err != nil {
		t.Fatal(err)
	}
	build := h.Trigger("build", nil)
	h.WaitFor(build, "pack ready", func(j *jobs.Job) bool { return j.Steps[0].Status == jobs.StepReady })
	if err := h.Engine.Cancel(context.Background(), ml, "test"); err != nil {
		t.Fatal(err)
	}
	if err := h.Engine.Cancel(context.Background(), build, "test"); err != nil {
		t.Fatal(err)
	}
	h.Wait(ml)
	h.Wait(build)

	data, _, err := h.Logs.ReadStep(ml, "_server", 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := `Step 'train' is waiting for a worker with tags [shell, gpu]; active workers: builder [shell, docker], builtin [shell]`
	if n := strings.Count(string(data), "is waiting for a worker"); n != 1 || !strings.Contains(string(data), want) {
		t.Errorf("ml's server log has %d notices, want 1 with %q:\n%s", n, want, data)
	}
	data, _, err = h.Logs.ReadStep(build, "_server", 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "waiting for a worker") {
		t.Errorf("build's step has a worker but got a notice:\n%s", data)
	}
}
