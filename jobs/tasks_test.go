package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

const taskActions = `
tasks:
  child:
    input:
      name: { type: string, required: true }
      times: { type: integer, default: 2 }
    flow:
      greet:
        type: script
        input: { name: "{{ input.name }}", times: "{{ input.times }}" }
        script: |
          echo 'OUTPUT: {"hello": "{{ input.name }}", "times": {{ input.times }}}'
  parent:
    input:
      who: { type: string, default: Ada }
    flow:
      call:
        type: task
        task: child
        input: { name: "{{ input.who }}" }
      after:
        depends_on: [call]
        type: script
        input: { got: "{{ call.output.greet.hello }}" }
        script: |
          echo 'OUTPUT: "{{ input.got }}!"'
  broken-child:
    flow:
      boom: { type: script, script: "echo no >&2; exit 4" }
  calls-broken:
    flow:
      call: { type: task, task: broken-child }
      later: { depends_on: [call], type: script, script: "echo unreachable" }
  bad-input:
    flow:
      call: { type: task, task: child, input: { name: x, times: "{{ input.n }}" } }
    input:
      n: { type: integer, default: 3 }
  napper:
    flow:
      nap: { type: script, script: "sleep 60" }
  calls-napper:
    flow:
      call: { type: task, task: napper }
`

func TestTaskActionOutputFlowsToParent(t *testing.T) {
	h := jobstest.New(t, files(taskActions))
	p := finished(t, h, h.Trigger("parent", nil))
	if p.Status != jobs.JobCompleted {
		t.Fatalf("parent %s: %+v", p.Status, p.Steps)
	}
	call := jobstest.Step(t, p, "call")
	if call.Status != jobs.StepCompleted || call.ChildJobID == "" || call.Runner != "none" || call.ActionType != "task" {
		t.Fatalf("call step %+v", call)
	}
	c := h.Wait(call.ChildJobID)
	want := map[string]any{"greet": map[string]any{"hello": "Ada", "times": float64(2)}}
	if diff := cmp.Diff(want, c.Output); diff != "" {
		t.Errorf("child output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, call.Output); diff != "" {
		t.Errorf("parent step output = child job output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"after": "Ada!"}, p.Output); diff != "" {
		t.Errorf("parent output (-want +got):\n%s", diff)
	}
	if c.SourceType != jobs.SourceTask || c.SourceID != p.ID+"/call" || c.ParentJobID != p.ID ||
		c.ParentStepName != "call" || c.Revision != p.Revision || c.Task != "child" {
		t.Errorf("child job %+v", c)
	}
	if diff := cmp.Diff(map[string]any{"name": "Ada", "times": float64(2)}, c.Input); diff != "" {
		t.Errorf("child input (-want +got):\n%s", diff)
	}
	if log := h.Log(p.ID); !strings.Contains(log, `"line":"Step 'call' started child job `+c.ID+`"`) {
		t.Errorf("parent log:\n%s", log)
	}
}

func TestTaskActionFailures(t *testing.T) {
	tests := []struct {
		task    string
		wantErr func(child string) string
		child   bool // a child job exists
	}{
		{task: "calls-broken", child: true, wantErr: func(c string) string { return "Child job " + c + " failed" }},
		{task: "bad-input", wantErr: func(string) string {
			return "Child job input validation failed: field 'times' must be an integer"
		}},
	}
	h := jobstest.New(t, files(taskActions))
	for _, tt := range tests {
		t.Run(tt.task, func(t *testing.T) {
			p := finished(t, h, h.Trigger(tt.task, nil))
			call := jobstest.Step(t, p, "call")
			if p.Status != jobs.JobFailed || call.Status != jobs.StepFailed || p.Output != nil {
				t.Fatalf("parent %s, call %s", p.Status, call.Status)
			}
			if (call.ChildJobID != "") != tt.child {
				t.Fatalf("child job id %q", call.ChildJobID)
			}
			if call.ErrorMessage != tt.wantErr(call.ChildJobID) {
				t.Errorf("error %q, want %q", call.ErrorMessage, tt.wantErr(call.ChildJobID))
			}
			if tt.child {
				if c := h.Wait(call.ChildJobID); c.Status != jobs.JobFailed {
					t.Errorf("child %s", c.Status)
				}
				if l := jobstest.Step(t, p, "later"); l.Status != jobs.StepSkipped || l.SkipReason != "upstream step 'call' failed" {
					t.Errorf("dependant %s %q", l.Status, l.SkipReason)
				}
			}
		})
	}
}

// TestTaskActionDepthLimit chains t0 → t1 → … → t10: the job of t9 has
// depth 9, so its call of t10 (depth 10) fails and every level fails.
func TestTaskActionDepthLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("tasks:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "  t%d:\n    flow:\n      call: { type: task, task: t%d }\n", i, i+1)
	}
	b.WriteString("  t10:\n    flow:\n      leaf: { type: script, script: \"echo leaf\" }\n")
	h := jobstest.New(t, files(b.String()))
	id := h.Trigger("t0", nil)
	var chain []*jobs.Job
	for {
		j := finished(t, h, id)
		chain = append(chain, j)
		call := jobstest.Step(t, j, "call")
		if call.ChildJobID == "" {
			break
		}
		id = call.ChildJobID
	}
	if len(chain) != 10 {
		t.Fatalf("%d jobs in the chain, want 10 (t0…t9)", len(chain))
	}
	last := jobstest.Step(t, chain[9], "call")
	if last.ErrorMessage != "Maximum task nesting depth (10) exceeded for task 't10'" {
		t.Errorf("deepest call: %q", last.ErrorMessage)
	}
	for i, j := range chain {
		if j.Status != jobs.JobFailed || j.Task != fmt.Sprintf("t%d", i) {
			t.Errorf("level %d: %s %s", i, j.Task, j.Status)
		}
		if i < 9 {
			if msg := jobstest.Step(t, j, "call").ErrorMessage; msg != "Child job "+chain[i+1].ID+" failed" {
				t.Errorf("level %d: %q", i, msg)
			}
		}
	}
}

func TestTaskActionCancel(t *testing.T) {
	h := jobstest.New(t, files(taskActions))
	startChild := func() (parent, child string) {
		parent = h.Trigger("calls-napper", nil)
		p := h.WaitFor(parent, "child started", func(j *jobs.Job) bool { return j.Steps[0].ChildJobID != "" })
		child = p.Steps[0].ChildJobID
		h.WaitFor(child, "child running", func(j *jobs.Job) bool { return j.Steps[0].Status == jobs.StepRunning })
		return parent, child
	}

	t.Run("parent cancelled", func(t *testing.T) {
		parent, child := startChild()
		if err := h.Engine.Cancel(context.Background(), parent, "api"); err != nil {
			t.Fatal(err)
		}
		p, c := finished(t, h, parent), finished(t, h, child)
		if p.Status != jobs.JobCancelled || c.Status != jobs.JobCancelled {
			t.Fatalf("parent %s, child %s", p.Status, c.Status)
		}
		if s := jobstest.Step(t, p, "call"); s.Status != jobs.StepCancelled {
			t.Errorf("parent step %s %q", s.Status, s.ErrorMessage)
		}
		if s := jobstest.Step(t, c, "nap"); s.Status != jobs.StepCancelled {
			t.Errorf("child's running step %s %q", s.Status, s.ErrorMessage)
		}
		if log := h.Log(child); !strings.Contains(log, `"line":"Job cancelled with parent job `+parent+`"`) {
			t.Errorf("child log:\n%s", log)
		}
	})

	t.Run("child cancelled", func(t *testing.T) {
		parent, child := startChild()
		if err := h.Engine.Cancel(context.Background(), child, "api"); err != nil {
			t.Fatal(err)
		}
		p := finished(t, h, parent)
		s := jobstest.Step(t, p, "call")
		if p.Status != jobs.JobFailed || s.Status != jobs.StepFailed || s.ErrorMessage != "Child job "+child+" was cancelled" {
			t.Errorf("parent %s, step %s %q", p.Status, s.Status, s.ErrorMessage)
		}
	})
}
