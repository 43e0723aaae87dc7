package jobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"runnel/jobs"
	"runnel/jobs/jobstest"
	"runnel/workspace/tmpl"
)

const budgetYAML = `
actions:
  echo:
    type: shell
    cmd: echo "{{ input.msg | length }}"
    input:
      msg: { type: string }
  wait-for:
    type: shell
    cmd: |
      while [ ! -e '{{ input.flag }}' ]; do sleep 0.02; done
      echo 'OUTPUT: {"waited": true}'
    input:
      flag: { type: string, required: true }
tasks:
  steady:
    input:
      flag: { type: string, required: true }
    flow:
      wait:
        action: wait-for
        input: { flag: "{{ input.flag }}" }
  quick:
    flow:
      one:
        action: echo
        input: { msg: "{{ input.nosuch }}" }
  loops:
    flow:
      render:
        action: echo
        input:
          msg: "{% for c in 'a'*100000 %}{% for d in 'a'*100000 %}x{% endfor %}{% endfor %}"
      after:
        depends_on: [render]
        continue_on_failure: true
        action: echo
        input: { msg: "still runs" }
      skipped:
        depends_on: [render]
        action: echo
        input: { msg: "never" }
  repeat:
    input:
      w: { type: integer, required: true }
    flow:
      render:
        action: echo
        input:
          msg: "{{ '=' * (input.w|int) }}"
  slow:
    input:
      s: { type: string, required: true }
    flow:
      render:
        action: echo
        input:
          msg: "{% for c in 'a'*99999 %}{% if (input.s|wordcount) > 0 %}{% endif %}{% endfor %}"
  pad:
    input:
      w: { type: integer, required: true }
    flow:
      render:
        action: echo
        input: { msg: "{{ 'x' | center(input.w) }}{{ 'y' | indent(input.w) }}" }
  hooked:
    input:
      w: { type: integer, required: true }
    flow:
      render:
        action: echo
        input: { msg: "{{ '=' * input.w }}" }
    on_error:
      - action: echo
        input: { msg: "{{ hook.status }}{{ 'x' | center(2000000000) }}" }
      - action: echo
        input: { msg: "{{ hook.error_message }}" }
  cmd:
    input:
      w: { type: integer, required: true }
    flow:
      render:
        type: script
        script: "echo {{ '=' * (input.w|int) }}"
        input: { w: "{{ input.w }}" }
`

// TestTemplateBudgets runs the templates that stalled or killed the server
// (issue 10) on a real engine: each fails its step with a [template]
// message, the job proceeds by SPEC §5.3, and a job that was running all
// along keeps running and then completes.
func TestTemplateBudgets(t *testing.T) {
	h := jobstest.New(t, files(budgetYAML))
	flag := filepath.Join(t.TempDir(), "go")
	steady := h.Trigger("steady", map[string]any{"flag": flag})
	h.WaitFor(steady, "running", func(j *jobs.Job) bool { return j.Status == jobs.JobRunning })

	for _, tc := range []struct {
		task  string
		input map[string]any
		want  string
	}{
		// Materialising the outer loop's items may use up the time
		// budget first on a busy machine (or under -race).
		{"loops", nil, "Template error in step input 'msg': loops exceeded 100000 iterations|Template error in step input 'msg': render exceeded the 2s time budget"},
		{"repeat", map[string]any{"w": 2000000000}, "Template error in step input 'msg': string repetition '*' would make 2000000000 bytes: exceeded the 1 MiB output budget"},
		{"pad", map[string]any{"w": 2000000000}, "Template error in step input 'msg': filter 'center' would make 2000000000 bytes: exceeded the 1 MiB output budget"},
		{"cmd", map[string]any{"w": 2000000000}, "Template error in action cmd: string repetition '*' would make 2000000000 bytes: exceeded the 1 MiB output budget"},
		{"slow", map[string]any{"s": strings.Repeat("ab ", 30000)}, "Template error in step input 'msg': render exceeded the 2s time budget"},
	} {
		t.Run(tc.task, func(t *testing.T) {
			start := time.Now()
			id := h.Trigger(tc.task, tc.input)
			// Generous for a busy machine: before the budgets this never
			// returned (or the process died).
			if d := time.Since(start); d > tmpl.DefaultTime+8*time.Second {
				t.Errorf("trigger took %s", d)
			}
			j := h.Wait(id)
			if j.Status != jobs.JobFailed {
				t.Fatalf("job %s, want failed", j.Status)
			}
			render := jobstest.Step(t, j, "render")
			want := ""
			for _, w := range strings.Split(tc.want, "|") {
				if strings.Contains(render.ErrorMessage, w) {
					want = w
				}
			}
			if render.Status != jobs.StepFailed || want == "" {
				t.Fatalf("render step %s %q, want failed with %q", render.Status, render.ErrorMessage, tc.want)
			}
			if !strings.Contains(h.Log(id), "[template] Step 'render': "+want) {
				t.Errorf("no [template] line in the log:\n%s", h.Log(id))
			}
		})
	}

	j := h.Wait(h.Trigger("loops", nil))
	if after := jobstest.Step(t, j, "after"); after.Status != jobs.StepCompleted {
		t.Errorf("continue_on_failure step %s %q, want completed", after.Status, after.ErrorMessage)
	}
	if sk := jobstest.Step(t, j, "skipped"); sk.Status != jobs.StepSkipped || sk.SkipReason != "upstream step 'render' failed" {
		t.Errorf("dependent step %s %q, want skipped", sk.Status, sk.SkipReason)
	}

	if j, err := h.Query.Get(steady); err != nil || j.Status != jobs.JobRunning {
		t.Fatalf("steady job %v %v, want still running", j, err)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if j := h.Wait(steady); j.Status != jobs.JobCompleted {
		t.Fatalf("steady job %s, want completed", j.Status)
	}
}

// TestHookInputBudget checks that a hook input over budget is a hook
// failure on the original job, and the job's other hooks still fire once.
func TestHookInputBudget(t *testing.T) {
	h := jobstest.New(t, files(budgetYAML))
	id := h.Trigger("hooked", map[string]any{"w": 2000000000})
	if j := finished(t, h, id); j.Status != jobs.JobFailed {
		t.Fatalf("job %s, want failed", j.Status)
	}
	waitLog(t, h, id, "[hooks] Failed to fire hook on_error[0] for action 'echo': Template error in hook input 'msg': filter 'center' would make 2000000000 bytes: exceeded the 1 MiB output budget")
	hooks := hookJobs(t, h, id)
	if len(hooks) != 1 || hooks[0].Status != jobs.JobCompleted {
		t.Fatalf("%d hook jobs (%v), want the second hook once", len(hooks), hooks)
	}
	in, _ := jobstest.Step(t, hooks[0], "hook").Input.(map[string]any)
	if msg, _ := in["msg"].(string); !strings.Contains(msg, "exceeded the 1 MiB output budget") {
		t.Errorf("second hook input %v, want the step's budget error", in)
	}
}

// TestRenderDoesNotHoldWriter checks that a render running to its time
// budget does not hold the store's writer: other jobs are created and
// finished (each in one write transaction: their step fails at dispatch)
// while it renders.
func TestRenderDoesNotHoldWriter(t *testing.T) {
	h := jobstest.New(t, files(budgetYAML))
	done := make(chan string, 1)
	go func() {
		j, err := h.Engine.Trigger(t.Context(), jobs.TriggerRequest{Workspace: h.Defs.Name, Task: "slow",
			Input: map[string]any{"s": strings.Repeat("ab ", 30000)}})
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- j.ID
	}()
	completed := 0
	for {
		select {
		case id := <-done:
			if strings.HasPrefix(id, "error: ") {
				t.Fatal(id)
			}
			if j := h.Wait(id); j.Status != jobs.JobFailed {
				t.Fatalf("slow job %s, want failed", j.Status)
			}
			// A writer held for the render's 2 s would let at most the
			// job already in flight finish meanwhile.
			if completed < 5 {
				t.Fatalf("%d jobs finished while the render ran, want at least 5", completed)
			}
			return
		default:
		}
		if j := h.Wait(h.Trigger("quick", nil)); j.Status != jobs.JobFailed {
			t.Fatalf("quick job %s", j.Status)
		}
		completed++
	}
}
