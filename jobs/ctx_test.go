package jobs_test

import (
	"context"
	"errors"
	"testing"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// TestEndedContextChangesNothing: a request whose ctx has ended before its
// update joins a commit (the client went away) gets ctx's error and
// changes nothing: Trigger creates no job, Cancel leaves the job running,
// Complete records no end, Rerun and Restart create nothing.
func TestEndedContextChangesNothing(t *testing.T) {
	h := jobstest.New(t, files(retentionTasks), func(o *jobs.Options) { o.LocalWorkers = 0 })
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Engine.Trigger(ended, jobs.TriggerRequest{Workspace: h.Defs.Name, Task: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("trigger: %v, want context.Canceled", err)
	}
	if res, err := h.Query.List(jobs.ListFilter{Limit: 10}); err != nil || res.Total != 0 {
		t.Fatalf("after the refused trigger: %d jobs, %v; want none", res.Total, err)
	}

	w, err := h.Engine.Register("w1", []string{"shell"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	id := h.Trigger("a", nil)
	a, err := h.Engine.ClaimRemote(context.Background(), w.ID, []string{"shell"})
	if err != nil || a == nil || a.JobID != id {
		t.Fatalf("claim: %+v, %v", a, err)
	}
	cases := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"cancel", func(ctx context.Context) error { return h.Engine.Cancel(ctx, id, "api") }},
		{"complete", func(ctx context.Context) error {
			return h.Engine.Complete(ctx, id, a.Step, w.ID, jobs.StepResult{})
		}},
	}
	for _, tc := range cases {
		if err := tc.do(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", tc.name, err)
		}
		j, err := h.Query.Get(id)
		if err != nil || j.Status != jobs.JobRunning || j.Steps[0].Status != jobs.StepRunning {
			t.Fatalf("after the refused %s: %+v, %v; want the job and its step running", tc.name, j, err)
		}
	}
	// A failed job can be re-run and restarted.
	if err := h.Engine.Complete(context.Background(), id, a.Step, w.ID, jobs.StepResult{Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if j := h.Wait(id); j.Status != jobs.JobFailed {
		t.Fatalf("job %s, want failed", j.Status)
	}
	if _, err := h.Engine.Rerun(ended, jobs.RerunRequest{JobID: id}); !errors.Is(err, context.Canceled) {
		t.Errorf("rerun: %v, want context.Canceled", err)
	}
	if _, err := h.Engine.Restart(ended, jobs.RestartRequest{JobID: id, FromStep: a.Step}); !errors.Is(err, context.Canceled) {
		t.Errorf("restart: %v, want context.Canceled", err)
	}
	if res, err := h.Query.List(jobs.ListFilter{Limit: 10}); err != nil || res.Total != 1 {
		t.Errorf("after the refused rerun and restart: %d jobs, %v; want 1", res.Total, err)
	}
}
