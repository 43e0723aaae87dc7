package jobs_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// recorder is a jobs.Metrics that counts what it is told.
type recorder struct {
	mu        sync.Mutex
	counts    map[string]int
	durations map[string][]time.Duration
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, durations: map[string][]time.Duration{}}
}

func (r *recorder) add(key string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[key]++
	r.durations[key] = append(r.durations[key], d)
}

func (r *recorder) get(key string) (int, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key], append([]time.Duration(nil), r.durations[key]...)
}

func (r *recorder) JobStarted(ws, task, source string) {
	r.add(fmt.Sprintf("started %s/%s %s", ws, task, source), 0)
}
func (r *recorder) JobFinished(ws, task, source, status string, d time.Duration) {
	r.add(fmt.Sprintf("finished %s/%s %s %s", ws, task, source, status), d)
}
func (r *recorder) StepFinished(ws, task, status string, d time.Duration) {
	r.add(fmt.Sprintf("step %s/%s %s", ws, task, status), d)
}
func (r *recorder) StepDispatched(d time.Duration)    { r.add("dispatched", d) }
func (r *recorder) StoreCommitted(took time.Duration) { r.add("commit", took) }
func (r *recorder) RetentionDeleted(kind string, n int64) {
	r.add(fmt.Sprintf("retention %s %d", kind, n), 0)
}

const metricsTasks = `
tasks:
  ok:
    flow:
      s: { type: script, script: "sleep 0.2" }
  boom:
    flow:
      a: { type: script, script: "exit 2" }
      b: { type: script, script: "true", depends_on: [a] }
`

// TestMetricsTransitions: each job is counted once when created and once
// when it ends, each step that ran once with its duration, a step that
// never ran (skipped) not at all, and dispatches and commits are timed.
func TestMetricsTransitions(t *testing.T) {
	h := jobstest.New(t, files(metricsTasks))
	rec := newRecorder()
	h.Metrics = rec
	h.Restart()
	for _, task := range []string{"ok", "boom"} {
		if j := h.Wait(h.Trigger(task, nil)); !jobs.JobTerminal(j.Status) {
			t.Fatalf("%s: %s", task, j.Status)
		}
	}
	// Effects run before the update returns, so Wait has seen them all.
	want := map[string]int{
		"started default/ok api":            1,
		"started default/boom api":          1,
		"finished default/ok api completed": 1,
		"finished default/boom api failed":  1,
		"step default/ok completed":         1,
		"step default/boom failed":          1,
		"step default/boom skipped":         0,
		"dispatched":                        2,
	}
	got := map[string]int{}
	for k := range want {
		got[k], _ = rec.get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if _, d := rec.get("step default/ok completed"); len(d) != 1 || d[0] < 200*time.Millisecond {
		t.Errorf("ok's step took %v, want ≥ 200ms", d)
	}
	if _, d := rec.get("finished default/ok api completed"); len(d) != 1 || d[0] < 200*time.Millisecond {
		t.Errorf("ok took %v, want ≥ 200ms", d)
	}
	if n, _ := rec.get("commit"); n < 6 {
		t.Errorf("%d commits timed", n)
	}
}

// TestMetricsRetention: a retention pass reports what it deleted, by kind.
func TestMetricsRetention(t *testing.T) {
	h := jobstest.New(t, files(metricsTasks))
	rec := newRecorder()
	h.Metrics = rec
	h.Restart()
	for range 3 {
		h.Wait(h.Trigger("ok", nil))
	}
	if _, err := h.Pruner.Enforce(time.Now(), jobs.Retention{MaxJobsPerTask: 1}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"retention jobs 2", "retention steps 2", "retention logs 2"} {
		if n, _ := rec.get(key); n != 1 {
			t.Errorf("%q reported %d times, want once", key, n)
		}
	}
	if n, _ := rec.get("retention workers 0"); n != 0 {
		t.Error("a kind with nothing deleted was reported")
	}
}
