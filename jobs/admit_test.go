package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// queueYAML: deploy is in queue deploys (one slot); build runs an action
// of that queue beside an unqueued step; limited has a private queue of
// two. Every gated step writes "start N" to marks, waits for the test on
// its own FIFO gate-N, then writes "end N".
const queueYAML = `
queues:
  deploys: { max_concurrent: 1 }
actions:
  gated:
    type: shell
    input: { n: { type: string }, dir: { type: string } }
    cmd: |
      echo "start {{ input.n }}" >> "{{ input.dir }}/marks"
      read x < "{{ input.dir }}/gate-{{ input.n }}"
      echo "end {{ input.n }}" >> "{{ input.dir }}/marks"
  ship:
    type: shell
    queue: deploys
    input: { n: { type: string }, dir: { type: string } }
    cmd: |
      echo "start {{ input.n }}" >> "{{ input.dir }}/marks"
      read x < "{{ input.dir }}/gate-{{ input.n }}"
      echo "end {{ input.n }}" >> "{{ input.dir }}/marks"
tasks:
  deploy:
    queue: deploys
    input: { n: { type: string }, dir: { type: string } }
    flow:
      go: { action: gated, input: { n: "{{ input.n }}", dir: "{{ input.dir }}" } }
      after: { depends_on: [go], type: shell, cmd: "true" }
  build:
    input: { n: { type: string }, dir: { type: string } }
    flow:
      free: { type: shell, cmd: "echo free" }
      ship: { depends_on: [free], action: ship, input: { n: "{{ input.n }}", dir: "{{ input.dir }}" } }
  impatient:
    queue: deploys
    timeout: 1s
    flow:
      go: { type: shell, cmd: "echo never" }
  parent:
    input: { n: { type: string }, dir: { type: string } }
    flow:
      call: { type: task, task: deploy, input: { n: "{{ input.n }}", dir: "{{ input.dir }}" } }
  limited:
    concurrency: 2
    input: { n: { type: string }, dir: { type: string } }
    flow:
      go: { action: gated, input: { n: "{{ input.n }}", dir: "{{ input.dir }}" } }
`

// gates are the FIFOs gated steps wait on, and their marks file.
type gates struct {
	t   *testing.T
	dir string
}

func newGates(t *testing.T, n int) gates {
	g := gates{t: t, dir: t.TempDir()}
	for i := 1; i <= n; i++ {
		if err := syscall.Mkfifo(filepath.Join(g.dir, fmt.Sprintf("gate-%d", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func (g gates) input(n int) map[string]any { return map[string]any{"n": fmt.Sprint(n), "dir": g.dir} }

// started returns once gated step n is running and waits on its gate (the
// FIFO opens for writing when its reader has opened it); the returned
// release lets it end.
func (g gates) started(n int) (release func()) {
	g.t.Helper()
	path := filepath.Join(g.dir, fmt.Sprintf("gate-%d", n))
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			opened <- nil
			return
		}
		opened <- f
	}()
	select {
	case f := <-opened:
		if f == nil {
			g.t.Fatalf("open gate %d failed", n)
		}
		return func() {
			fmt.Fprintln(f, "go")
			f.Close()
		}
	case <-time.After(jobstest.Patience()):
		// Unblock the opener before failing.
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer r.Close()
		}
		g.t.Fatalf("gated step %d never started", n)
		return nil
	}
}

// marks returns the lines the gated steps wrote, in order.
func (g gates) marks() []string {
	data, err := os.ReadFile(filepath.Join(g.dir, "marks"))
	if err != nil && !os.IsNotExist(err) {
		g.t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(data)), " ", "_"))
}

// serial is marks of runs that never overlap, in the given order.
func serial(ns ...int) []string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("start_%d", n), fmt.Sprintf("end_%d", n))
	}
	return out
}

// positions reads each job's status and queue position.
func positions(h *jobstest.Harness, ids []string) []string {
	var out []string
	for _, id := range ids {
		j, err := h.Query.Get(id)
		if err != nil {
			h.T.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d", j.Status, j.QueuePosition))
	}
	return out
}

// TestQueueSerialisesJobs runs five jobs of a task in a one-slot queue with
// real processes: one at a time, in arrival order, the waiters pending with
// their positions (and none of their steps ready), and every job completes.
func TestQueueSerialisesJobs(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 5)
	var ids []string
	for n := 1; n <= 5; n++ {
		ids = append(ids, h.Trigger("deploy", g.input(n)))
	}
	for n := 1; n <= 5; n++ {
		release := g.started(n)
		want := []string{}
		for i := 1; i <= 5; i++ {
			switch {
			case i < n:
				want = append(want, "completed/0")
			case i == n:
				want = append(want, "running/0")
			default:
				want = append(want, fmt.Sprintf("pending/%d", i-n))
			}
		}
		// Job n-1 ends (its last step) before job n is admitted: settled.
		if n > 1 {
			h.Wait(ids[n-2])
		}
		if d := cmp.Diff(want, positions(h, ids)); d != "" {
			t.Errorf("while job %d runs, status/position (-want +got):\n%s", n, d)
		}
		if n < 5 {
			next, _ := h.Query.Get(ids[n])
			for _, s := range next.Steps {
				if s.Status != jobs.StepPending {
					t.Errorf("waiting job %d: step %s is %s", n+1, s.Name, s.Status)
				}
			}
		}
		release()
	}
	for _, id := range ids {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	if d := cmp.Diff(serial(1, 2, 3, 4, 5), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
	log := h.Log(ids[2])
	for _, want := range []string{"Job waits in queue 'deploys' at position 2 (1 of 1 slots taken)", "Job got a slot of queue 'deploys'"} {
		if !strings.Contains(log, want) {
			t.Errorf("log of job 3 lacks %q:\n%s", want, log)
		}
	}
}

// TestQueueActionAcrossTasks: steps of one queued action in jobs of two
// tasks take turns; the waiting step stays pending with its position
// while the unqueued steps of both jobs run.
func TestQueueActionAcrossTasks(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 3)
	a := h.Trigger("build", g.input(1))
	release1 := g.started(1)
	b := h.Trigger("build", g.input(2))
	j := h.WaitFor(b, "step ship waiting in its queue", func(j *jobs.Job) bool {
		return jobstest.Step(t, j, "ship").QueuePosition == 1
	})
	if free, ship := jobstest.Step(t, j, "free"), jobstest.Step(t, j, "ship"); free.Status != jobs.StepCompleted || ship.Status != jobs.StepPending || ship.Queue != "deploys" {
		t.Errorf("job b: free %s, ship %s in %q", free.Status, ship.Status, ship.Queue)
	}
	// A job of the queued task waits behind the step.
	d := h.Trigger("deploy", g.input(3))
	if p := positions(h, []string{d}); p[0] != "pending/2" {
		t.Errorf("deploy job %s, want pending/2", p[0])
	}
	release1()
	g.started(2)()
	g.started(3)()
	for _, id := range []string{a, b, d} {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	if d := cmp.Diff(serial(1, 2, 3), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
	if s := jobstest.Step(t, h.Wait(b), "ship"); s.QueuePosition != 0 || !s.Admitted {
		t.Errorf("finished step: position %d, admitted %v", s.QueuePosition, s.Admitted)
	}
}

// TestConcurrencyShorthand: concurrency: 2 lets two jobs run together and
// the third wait until one of them ends.
func TestConcurrencyShorthand(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 3)
	ids := []string{h.Trigger("limited", g.input(1)), h.Trigger("limited", g.input(2)), h.Trigger("limited", g.input(3))}
	release1 := g.started(1)
	release2 := g.started(2)
	if d := cmp.Diff([]string{"running/0", "running/0", "pending/1"}, positions(h, ids)); d != "" {
		t.Errorf("status/position (-want +got):\n%s", d)
	}
	if j, _ := h.Query.Get(ids[2]); j.Queue != "_task:limited" {
		t.Errorf("queue %q", j.Queue)
	}
	release2()
	release3 := g.started(3)
	release1()
	h.Wait(ids[0])
	release3()
	for _, id := range ids {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	m := g.marks()
	if len(m) != 6 || m[0] != "start_1" && m[0] != "start_2" || strings.Join(m[2:], " ") != "end_2 start_3 end_1 end_3" {
		t.Errorf("marks %q: 1 and 2 together, 3 after 2 ended", m)
	}
}

// TestQueueCancelWaiting: a cancelled waiting job leaves the queue at once
// (the one behind it moves up) and never starts a step.
func TestQueueCancelWaiting(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 3)
	ids := []string{h.Trigger("deploy", g.input(1)), h.Trigger("deploy", g.input(2)), h.Trigger("deploy", g.input(3))}
	release1 := g.started(1)
	if err := h.Engine.Cancel(context.Background(), ids[1], "api"); err != nil {
		t.Fatal(err)
	}
	if j := h.Wait(ids[1]); j.Status != jobs.JobCancelled || jobstest.Step(t, j, "go").Status != jobs.StepCancelled {
		t.Fatalf("cancelled job: %s", j.Status)
	}
	if d := cmp.Diff([]string{"running/0", "cancelled/0", "pending/1"}, positions(h, ids)); d != "" {
		t.Errorf("status/position (-want +got):\n%s", d)
	}
	release1()
	g.started(3)()
	h.Wait(ids[2])
	if d := cmp.Diff(serial(1, 3), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
}

// TestQueueSurvivesRestart: jobs waiting when the engine stops keep their
// order and limit after it starts again on the same store; the job that
// was running fails (server restarted) and frees its slot.
func TestQueueSurvivesRestart(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 4)
	var ids []string
	for n := 1; n <= 4; n++ {
		ids = append(ids, h.Trigger("deploy", g.input(n)))
	}
	g.started(1)
	h.Restart()
	if j := h.Wait(ids[0]); j.Status != jobs.JobFailed {
		t.Errorf("job 1 %s", j.Status)
	}
	for n := 2; n <= 4; n++ {
		release := g.started(n)
		if n < 4 {
			if p := positions(h, ids[n:n+1]); p[0] != "pending/1" {
				t.Errorf("job %d %s while job %d runs", n+1, p[0], n)
			}
		}
		release()
	}
	for _, id := range ids[1:] {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	if d := cmp.Diff(append([]string{"start_1"}, serial(2, 3, 4)...), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
}

// TestQueueLimitRaisedByReload: a reload that raises max_concurrent lets
// the waiters in at the next sweep.
func TestQueueLimitRaisedByReload(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 3)
	ids := []string{h.Trigger("deploy", g.input(1)), h.Trigger("deploy", g.input(2)), h.Trigger("deploy", g.input(3))}
	release1 := g.started(1)
	h.Load(files(strings.Replace(queueYAML, "deploys: { max_concurrent: 1 }", "deploys: { max_concurrent: 3 }", 1)))
	if d := cmp.Diff([]string{"running/0", "pending/1", "pending/2"}, positions(h, ids)); d != "" {
		t.Errorf("before the sweep (-want +got):\n%s", d)
	}
	if err := h.Engine.Sweep(time.Now()); err != nil {
		t.Fatal(err)
	}
	release2, release3 := g.started(2), g.started(3)
	release1()
	release2()
	release3()
	for _, id := range ids {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
}

// TestQueueChildJobs: child jobs of a queued task queue like any job.
func TestQueueChildJobs(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 2)
	p1, p2 := h.Trigger("parent", g.input(1)), h.Trigger("parent", g.input(2))
	release1 := g.started(1)
	j := h.WaitFor(p2, "a child job", func(j *jobs.Job) bool { return jobstest.Step(t, j, "call").ChildJobID != "" })
	child := jobstest.Step(t, j, "call").ChildJobID
	if p := positions(h, []string{child}); p[0] != "pending/1" {
		t.Errorf("second child %s", p[0])
	}
	release1()
	g.started(2)()
	for _, id := range []string{p1, p2} {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	if d := cmp.Diff(serial(1, 2), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
}

// TestQueueStepsSurviveRestart: steps waiting in an action's queue keep
// their order after a restart; the one that was running fails and frees
// its slot.
func TestQueueStepsSurviveRestart(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 3)
	var ids []string
	for n := 1; n <= 3; n++ {
		ids = append(ids, h.Trigger("build", g.input(n)))
		if n == 1 {
			g.started(1)
		} else {
			h.WaitFor(ids[n-1], "ship waiting", func(j *jobs.Job) bool { return jobstest.Step(t, j, "ship").QueuePosition == n-1 })
		}
	}
	h.Restart()
	if j := h.Wait(ids[0]); j.Status != jobs.JobFailed {
		t.Errorf("job 1 %s", j.Status)
	}
	release2 := g.started(2)
	if j, _ := h.Query.Get(ids[2]); jobstest.Step(t, j, "ship").QueuePosition != 1 {
		t.Errorf("job 3 ship position %d", jobstest.Step(t, j, "ship").QueuePosition)
	}
	release2()
	g.started(3)()
	for _, id := range ids[1:] {
		if j := h.Wait(id); j.Status != jobs.JobCompleted {
			t.Errorf("job %s %s", id, j.Status)
		}
	}
	if d := cmp.Diff(append([]string{"start_1"}, serial(2, 3)...), g.marks()); d != "" {
		t.Errorf("marks (-want +got):\n%s", d)
	}
}

// TestQueueTimeoutWhileWaiting: a job's timeout counts while it waits; it
// fails without starting a step and leaves the queue.
func TestQueueTimeoutWhileWaiting(t *testing.T) {
	h := jobstest.New(t, files(queueYAML))
	g := newGates(t, 2)
	first := h.Trigger("deploy", g.input(1))
	release1 := g.started(1)
	late := h.Trigger("impatient", nil)
	after := h.Trigger("deploy", g.input(2))
	// Job 1 still holds the slot when the waiter's timeout fires.
	j := h.Wait(late)
	if s := jobstest.Step(t, j, "go"); j.Status != jobs.JobFailed || s.Status != jobs.StepSkipped || s.SkipReason != "job timed out" {
		t.Errorf("timed-out waiter: %s, step %s %q", j.Status, s.Status, s.SkipReason)
	}
	if d := cmp.Diff([]string{"running/0", "pending/1"}, positions(h, []string{first, after})); d != "" {
		t.Errorf("after the timeout (-want +got):\n%s", d)
	}
	release1()
	g.started(2)()
	h.Wait(after)
	if strings.Contains(h.Log(late), "never") {
		t.Error("the timed-out waiter ran its step")
	}
}
