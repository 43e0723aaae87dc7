package jobs_test

import (
	"context"
	"encoding/json"
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

// loopYAML: hosts loops over the job input and reports each item and
// index; after reads the loop's output. fails has one failing instance;
// tolerant is the same loop with continue_on_failure.
const loopYAML = `
tasks:
  hosts:
    input: { hosts: { type: array, default: [] } }
    flow:
      prepare:
        type: shell
        cmd: |
          echo 'OUTPUT: {"suffix": "!"}'
      ping:
        depends_on: [prepare]
        for_each: "{{ input.hosts }}"
        type: shell
        cmd: |
          echo "pinging {{ input.host }} as {{ input.i }}"
          echo 'OUTPUT: {"host": "{{ input.host }}{{ input.s }}", "i": {{ input.i }}}'
        input: { host: "{{ item }}", i: "{{ index }}", s: "{{ prepare.output.suffix }}" }
      after:
        depends_on: [ping]
        type: shell
        cmd: |
          echo 'OUTPUT: {{ input.all | tojson }}'
        input: { all: "{{ ping.output }}" }
  fails:
    flow:
      hop:
        for_each: [0, 1, 2]
        type: shell
        cmd: '[ {{ input.n }} != 1 ] && echo "OUTPUT: {{ input.n }}"'
        input: { n: "{{ item }}" }
      after: { depends_on: [hop], type: shell, cmd: echo after }
  tolerant:
    flow:
      hop:
        for_each: [0, 1, 2]
        continue_on_failure: true
        type: shell
        cmd: '[ {{ input.n }} != 1 ] && echo "OUTPUT: {{ input.n }}"'
        input: { n: "{{ item }}" }
      after:
        depends_on: [hop]
        type: shell
        cmd: |
          echo 'OUTPUT: {{ input.all | tojson }}'
        input: { all: "{{ hop.output }}" }
  listed:
    flow:
      loop:
        for_each: "{{ input.list }}"
        type: shell
        cmd: |
          echo "OUTPUT: {{ input.n }}"
        input: { n: "{{ item }}" }
  text:
    flow:
      loop:
        for_each: '{{ "a,b" }}'
        type: shell
        cmd: echo never
`

// TestForEachOutputsInOrder runs a loop over the job input with real
// processes: each instance is a step named ping[i] with its own input,
// status, log lines and output; the loop's output is the list of the
// instances' outputs in order and its dependant reads it.
func TestForEachOutputsInOrder(t *testing.T) {
	h := jobstest.New(t, files(loopYAML))
	hosts := []any{"a", "b", "c", "d", "e"}
	id := h.Trigger("hosts", map[string]any{"hosts": hosts})
	j := h.Wait(id)
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	var names []string
	for _, s := range j.Steps {
		names = append(names, s.Name)
	}
	want := []string{"prepare", "ping", "ping[0]", "ping[1]", "ping[2]", "ping[3]", "ping[4]", "after"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("steps in API order (-want +got):\n%s", diff)
	}
	var outs []any
	for i, h := range hosts {
		s := jobstest.Step(t, j, fmt.Sprintf("ping[%d]", i))
		if s.Status != jobs.StepCompleted || s.StartedAt.IsZero() {
			t.Errorf("%s: %s", s.Name, s.Status)
		}
		if diff := cmp.Diff(map[string]any{"host": h, "i": fmt.Sprint(i), "s": "!"}, s.Input); diff != "" {
			t.Errorf("%s input (-want +got):\n%s", s.Name, diff)
		}
		outs = append(outs, map[string]any{"host": h.(string) + "!", "i": float64(i)})
	}
	ping := jobstest.Step(t, j, "ping")
	if ping.Status != jobs.StepCompleted {
		t.Errorf("ping: %s %q", ping.Status, ping.ErrorMessage)
	}
	if diff := cmp.Diff(outs, ping.Output); diff != "" {
		t.Errorf("loop output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"after": outs}, j.Output); diff != "" {
		t.Errorf("job output (-want +got):\n%s", diff)
	}
	log := h.Log(id)
	for _, w := range []string{
		`"step":"ping[2]","line":"pinging c as 2"`,
		`"step":"_server","line":"Step 'ping' loops over 5 items"`,
		`"step":"_server","line":"Step 'ping[4]' started on worker`,
	} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %s:\n%s", w, log)
		}
	}
}

// TestForEachFailure: a failed instance fails its loop (after the other
// instances ran), whose dependant is skipped, and the job; with
// continue_on_failure the loop completes with null for the failed
// instance, its dependant runs and the job completes.
func TestForEachFailure(t *testing.T) {
	h := jobstest.New(t, files(loopYAML))
	j := h.Wait(h.Trigger("fails", nil))
	if j.Status != jobs.JobFailed {
		t.Fatalf("status %s", j.Status)
	}
	for _, c := range []struct{ step, status, msg string }{
		{"hop[0]", jobs.StepCompleted, ""},
		{"hop[1]", jobs.StepFailed, "Exit code: 1\nStderr: "},
		{"hop[2]", jobs.StepCompleted, ""},
		{"hop", jobs.StepFailed, "1 of 3 instances failed: hop[1]"},
		{"after", jobs.StepSkipped, ""},
	} {
		s := jobstest.Step(t, j, c.step)
		if s.Status != c.status || s.ErrorMessage != c.msg {
			t.Errorf("%s: %s %q, want %s %q", c.step, s.Status, s.ErrorMessage, c.status, c.msg)
		}
	}

	j = h.Wait(h.Trigger("tolerant", nil))
	if j.Status != jobs.JobCompleted {
		t.Fatalf("tolerant: status %s", j.Status)
	}
	each := jobstest.Step(t, j, "hop")
	if each.Status != jobs.StepCompleted || jobstest.Step(t, j, "hop[1]").Status != jobs.StepFailed {
		t.Errorf("tolerant: each %s, hop[1] %s", each.Status, jobstest.Step(t, j, "hop[1]").Status)
	}
	if diff := cmp.Diff(map[string]any{"after": []any{0.0, nil, 2.0}}, j.Output); diff != "" {
		t.Errorf("tolerant job output (-want +got):\n%s", diff)
	}
}

// TestForEachLists: an empty list completes the loop with [] and no
// instance; a list over the cap, a non-list and a template error fail the
// loop before any instance exists, with a message naming the problem.
func TestForEachLists(t *testing.T) {
	h := jobstest.New(t, files(loopYAML))
	over := make([]any, 1001)
	for i := range over {
		over[i] = i
	}
	for _, c := range []struct {
		name, task string
		input      map[string]any
		status     string
		msg        string
		output     any
	}{
		{"empty", "listed", map[string]any{"list": []any{}}, jobs.JobCompleted, "", []any{}},
		{"over the cap", "listed", map[string]any{"list": over}, jobs.JobFailed, "for_each has 1001 items; at most 1000 are allowed", nil},
		{"not a list", "listed", map[string]any{"list": map[string]any{"a": 1}}, jobs.JobFailed, `for_each must be a list; it rendered an object: {"a":1}`, nil},
		{"text", "text", nil, jobs.JobFailed, `for_each must be a list; it rendered a string: "a,b"`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := h.Trigger(c.task, c.input)
			j := h.Wait(id)
			loop := jobstest.Step(t, j, "loop")
			if j.Status != c.status || loop.ErrorMessage != c.msg || len(j.Steps) != 1 {
				t.Fatalf("job %s, loop %s %q, %d steps; want %s %q", j.Status, loop.Status, loop.ErrorMessage, len(j.Steps), c.status, c.msg)
			}
			if diff := cmp.Diff(c.output, loop.Output); diff != "" {
				t.Errorf("loop output (-want +got):\n%s", diff)
			}
			line, _ := json.Marshal("Step 'loop' failed: " + c.msg)
			if c.msg != "" && !strings.Contains(h.Log(id), string(line)) {
				t.Errorf("log lacks the failure:\n%s", h.Log(id))
			}
		})
	}
}

// parallelYAML: each instance appends "start i" to a file outside runnel,
// waits until as many instances run as the bound allows (the window is
// full: a loop held under its bound would time out here), then appends
// "end i".
func parallelYAML(marks string, total int, bound string) string {
	return fmt.Sprintf(`
tasks:
  t:
    flow:
      loop:
        for_each: "{{ input.items }}"
        %s
        type: shell
        cmd: |
          f=%s
          echo "start {{ input.i }}" >> "$f"
          n=0
          while :; do
            s=$(grep -c '^start' "$f"); e=$(grep -c '^end' "$f")
            rem=$((%d - e)); want=$((rem < %d ? rem : %d))
            [ $((s - e)) -ge "$want" ] && break
            n=$((n + 1)); [ "$n" -gt 3000 ] && { echo "window never filled" >&2; exit 1; }
            sleep 0.01
          done
          echo "end {{ input.i }}" >> "$f"
        input: { i: "{{ index }}" }
`, bound, marks, total, boundOf(bound), boundOf(bound))
}

func boundOf(bound string) int {
	var n int
	if bound == "sequential: true" {
		return 1
	}
	fmt.Sscanf(bound, "max_parallel: %d", &n)
	return n
}

// TestForEachMaxParallel: with more worker slots than the bound, never
// more than max_parallel instances run at once (checked on the markers the
// processes wrote), and the bound is reached.
func TestForEachMaxParallel(t *testing.T) {
	for _, c := range []struct {
		bound string
		total int
	}{
		{"max_parallel: 2", 7},
		{"sequential: true", 4},
		{"max_parallel: 3", 3},
	} {
		t.Run(c.bound, func(t *testing.T) {
			marks := filepath.Join(t.TempDir(), "marks")
			if err := os.WriteFile(marks, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			h := jobstest.New(t, files(parallelYAML(marks, c.total, c.bound)), func(o *jobs.Options) { o.LocalWorkers = 6 })
			items := make([]any, c.total)
			for i := range items {
				items[i] = fmt.Sprintf("item%d", i)
			}
			j := h.Wait(h.Trigger("t", map[string]any{"items": items}))
			if j.Status != jobs.JobCompleted {
				t.Fatalf("status %s: %+v", j.Status, jobstest.Step(t, j, "loop"))
			}
			data, err := os.ReadFile(marks)
			if err != nil {
				t.Fatal(err)
			}
			active, most, starts := 0, 0, map[string]int{}
			for _, l := range strings.Fields(strings.ReplaceAll(string(data), " ", "_")) {
				kind, idx, _ := strings.Cut(l, "_")
				if kind == "start" {
					active++
					starts[idx]++
				} else {
					active--
				}
				most = max(most, active)
			}
			want := boundOf(c.bound)
			if most != want || len(starts) != c.total {
				t.Errorf("at most %d ran at once (want %d), %d of %d started:\n%s", most, want, len(starts), c.total, data)
			}
			for idx, n := range starts {
				if n != 1 {
					t.Errorf("instance %s started %d times", idx, n)
				}
			}
		})
	}
}

// TestForEachThousand runs a 1,000-item loop of `true` to the end.
func TestForEachThousand(t *testing.T) {
	h := jobstest.New(t, files(loopYAML), func(o *jobs.Options) { o.LocalWorkers = 8 })
	list := make([]any, 1000)
	for i := range list {
		list[i] = i
	}
	// 1,000 process starts: five times the shared deadline, since a busy
	// machine under -race starts processes slowly.
	ctx, cancel := context.WithTimeout(context.Background(), 5*jobstest.Patience())
	defer cancel()
	j, err := h.Engine.Wait(ctx, h.Trigger("listed", map[string]any{"list": list}))
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != jobs.JobCompleted || len(j.Steps) != 1001 {
		t.Fatalf("status %s, %d steps", j.Status, len(j.Steps))
	}
	out, _ := jobstest.Step(t, j, "loop").Output.([]any)
	if len(out) != 1000 || out[0] != 0.0 || out[999] != 999.0 {
		t.Errorf("loop output: %d items, first %v, last %v", len(out), out[0], out[len(out)-1])
	}
}

// TestForEachCancel: cancelling a job during a loop stops the running
// instance, cancels the pending ones and ends the loop cancelled.
func TestForEachCancel(t *testing.T) {
	block := filepath.Join(t.TempDir(), "never")
	h := jobstest.New(t, files(fmt.Sprintf(`
tasks:
  t:
    flow:
      loop:
        for_each: [1, 2, 3]
        sequential: true
        type: shell
        cmd: while [ ! -e %s ]; do sleep 0.05; done
`, block)))
	id := h.Trigger("t", nil)
	h.WaitFor(id, "loop[0] running", func(j *jobs.Job) bool {
		return len(j.Steps) == 4 && j.Steps[1].Status == jobs.StepRunning
	})
	if err := h.Engine.Cancel(context.Background(), id, "api"); err != nil {
		t.Fatal(err)
	}
	j := h.WaitFor(id, "every step ended", func(j *jobs.Job) bool {
		for _, s := range j.Steps {
			if !jobs.StepTerminal(s.Status) {
				return false
			}
		}
		return true
	})
	if j.Status != jobs.JobCancelled {
		t.Fatalf("status %s", j.Status)
	}
	for _, s := range j.Steps {
		if s.Status != jobs.StepCancelled {
			t.Errorf("%s: %s %q", s.Name, s.Status, s.ErrorMessage)
		}
	}
}

// TestForEachRestart: after an engine restart during a loop, the running
// instance has failed with the shutdown message (a SIGKILL of the server:
// e2e), the others run once each, and the loop fails naming it.
func TestForEachRestart(t *testing.T) {
	dir := t.TempDir()
	h := jobstest.New(t, files(fmt.Sprintf(`
tasks:
  t:
    flow:
      loop:
        for_each: [0, 1, 2]
        sequential: true
        type: shell
        cmd: |
          echo {{ input.i }} >> %s/ran
          [ {{ input.i }} != 0 ] || while [ ! -e %s/never ]; do sleep 0.05; done
        input: { i: "{{ index }}" }
`, dir, dir)))
	id := h.Trigger("t", nil)
	h.WaitFor(id, "loop[0] running", func(j *jobs.Job) bool {
		return len(j.Steps) == 4 && j.Steps[1].Status == jobs.StepRunning
	})
	h.Restart()
	j := h.Wait(id)
	want := map[string]string{
		"loop":    "failed 1 of 3 instances failed: loop[0]",
		"loop[0]": "failed server shut down while step was running",
		"loop[1]": "completed ", "loop[2]": "completed ",
	}
	for _, s := range j.Steps {
		if got := s.Status + " " + s.ErrorMessage; got != want[s.Name] {
			t.Errorf("%s: %q, want %q", s.Name, got, want[s.Name])
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "ran"))
	if string(data) != "0\n1\n2\n" {
		t.Errorf("instances ran: %q", data)
	}
}

// BenchmarkForEach1000 runs a loop over 1,000 `true` items on 8 built-in
// slots; reports the wall time per instance, its ratio to a bare `sh -c
// true` start measured in the same run (before and after), and the CPU time
// per instance of this process (engine and store; RUSAGE_SELF) and of the
// instance processes (RUSAGE_CHILDREN).
func BenchmarkForEach1000(b *testing.B) {
	const n = 1000
	h := jobstest.New(b, files(`
tasks:
  t:
    flow:
      loop: { for_each: "{{ input.items }}", type: script, script: "true" }
`), func(o *jobs.Options) { o.LocalWorkers = 8 })
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	bare := bareStart(b)
	self0, children0 := rusageCPU(b, syscall.RUSAGE_SELF), rusageCPU(b, syscall.RUSAGE_CHILDREN)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		j := h.Wait(h.Trigger("t", map[string]any{"items": items}))
		total += time.Since(start)
		if j.Status != jobs.JobCompleted || len(j.Steps) != n+1 {
			b.Fatalf("status %s, %d steps", j.Status, len(j.Steps))
		}
	}
	self, children := rusageCPU(b, syscall.RUSAGE_SELF)-self0, rusageCPU(b, syscall.RUSAGE_CHILDREN)-children0
	b.StopTimer()
	bare = (bare + bareStart(b)) / 2
	per := total / time.Duration(b.N*n)
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N*n), "server-cpu-ms/instance")
	b.ReportMetric(float64(children.Microseconds())/1000/float64(b.N*n), "child-cpu-ms/instance")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/loop")
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/instance")
	b.ReportMetric(float64(bare.Microseconds())/1000, "ms-bare-start")
	b.ReportMetric(float64(per)/float64(bare), "instance/bare-start")
	st := h.Store.Stats()
	b.ReportMetric(float64(st.Commits)/float64(b.N*n), "commits/instance")
	b.ReportMetric(float64(st.Updates)/float64(st.Commits), "updates/commit")
}
