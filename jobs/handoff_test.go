package jobs_test

import (
	"os"
	"path/filepath"
	"testing"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

const handoffYAML = `
tasks:
  chain:
    input:
      gate: { type: string, default: "" }
    flow:
      a:
        type: script
        input: { gate: "{{ input.gate }}" }
        script: |
          if [ -n '{{ input.gate }}' ]; then while [ ! -e '{{ input.gate }}' ]; do sleep 0.01; done; fi
          echo 'OUTPUT: {"n": 1}'
      b:
        depends_on: [a]
        type: script
        input: { n: "{{ a.output.n }}" }
        script: |
          echo 'OUTPUT: {"n": {{ input.n }}}'
      c: { type: script, script: "true", depends_on: [b] }
  one:
    flow:
      y: { type: script, script: "true" }
`

// TestHandOffNextStep: a built-in slot's report of a step records the step
// it makes ready as running on that slot in the same commit (ready and
// started at the same instant), with the input rendered from the report;
// when an older ready step waits in the queue, the slot takes that one
// first and the new step is queued behind it.
func TestHandOffNextStep(t *testing.T) {
	h := jobstest.New(t, files(handoffYAML), func(o *jobs.Options) { o.LocalWorkers = 1 })

	j := h.Wait(h.Trigger("chain", nil))
	if j.Status != jobs.JobCompleted {
		t.Fatalf("chain %s: %+v", j.Status, j.Steps)
	}
	for _, name := range []string{"b", "c"} {
		s := jobstest.Step(t, j, name)
		if !s.StartedAt.Equal(s.ReadyAt) || s.WorkerID != h.Engine.BuiltinWorkerID() {
			t.Errorf("step %s ready %v started %v on %q: not handed to the reporting slot", name, s.ReadyAt, s.StartedAt, s.WorkerID)
		}
	}
	if out, _ := jobstest.Step(t, j, "b").Output.(map[string]any); out["n"] != float64(1) {
		t.Errorf("b output %v, want n 1 (input rendered from a's output)", out)
	}

	// a holds the only slot until the gate exists; meanwhile y is queued.
	gate := filepath.Join(t.TempDir(), "gate")
	x := h.Trigger("chain", map[string]any{"gate": gate})
	h.WaitFor(x, "a running", func(j *jobs.Job) bool { return jobstest.Step(t, j, "a").Status == jobs.StepRunning })
	y := h.Trigger("one", nil)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	jx, jy := h.Wait(x), h.Wait(y)
	if jx.Status != jobs.JobCompleted || jy.Status != jobs.JobCompleted {
		t.Fatalf("jobs %s, %s", jx.Status, jy.Status)
	}
	b, ys := jobstest.Step(t, jx, "b"), jobstest.Step(t, jy, "y")
	if !ys.StartedAt.Before(b.StartedAt) || b.StartedAt.Equal(b.ReadyAt) {
		t.Errorf("y (queued first) started %v, b ready %v started %v: want y first and b queued", ys.StartedAt, b.ReadyAt, b.StartedAt)
	}
}
