package jobs_test

import (
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/audit"
	"runnel/jobs/jobstest"
)

const retentionTasks = `
tasks:
  a: { flow: { s: { type: script, script: "echo a-line" } } }
  b: { flow: { s: { type: script, script: "echo b-line" } } }
  slow: { flow: { s: { type: script, script: "sleep 100" } } }
`

// TestRetention: each rule deletes exactly the finished jobs it names, with
// their steps, counters and log files, never a task's newest job or an
// unfinished one; inactive remote workers go after workers_days.
func TestRetention(t *testing.T) {
	cases := []struct {
		name   string
		policy jobs.Retention
		age    time.Duration // how far "now" is past the jobs' creation
		keepA  int           // jobs of task a kept (of 5)
		keepB  int           // jobs of task b kept (of 2)
	}{
		{"age, all old", jobs.Retention{JobsDays: 30}, 31 * 24 * time.Hour, 1, 1},
		{"age, none old", jobs.Retention{JobsDays: 30}, 29 * 24 * time.Hour, 5, 2},
		{"count", jobs.Retention{MaxJobsPerTask: 3}, 0, 3, 2},
		{"count of one", jobs.Retention{MaxJobsPerTask: 1}, 0, 1, 1},
		{"off", jobs.Retention{}, 365 * 24 * time.Hour, 5, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := jobstest.New(t, files(retentionTasks))
			var as, bs []string
			for range 5 {
				as = append(as, h.Wait(h.Trigger("a", nil)).ID)
			}
			for range 2 {
				bs = append(bs, h.Wait(h.Trigger("b", nil)).ID)
			}
			running := h.Trigger("slow", nil)
			h.WaitFor(running, "running", func(j *jobs.Job) bool { return j.Status == jobs.JobRunning })

			st, err := h.Pruner.Enforce(time.Now().Add(tc.age), tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			deleted := (5 - tc.keepA) + (2 - tc.keepB)
			if st.Jobs != deleted || st.Steps != deleted || st.Logs != deleted || st.LogBytes <= 0 && deleted > 0 {
				t.Errorf("stats %+v, want %d jobs deleted", st, deleted)
			}
			for task, ids := range map[string][]string{"a": as, "b": bs} {
				keep := map[string]int{"a": tc.keepA, "b": tc.keepB}[task]
				for i, id := range ids {
					_, err := h.Query.Get(id)
					_, ferr := os.Stat(filepath.Join(h.Dir, "logs", id+".jsonl"))
					if kept := i >= len(ids)-keep; kept != (err == nil) || kept != (ferr == nil) {
						t.Errorf("task %s job %d/%d: kept=%v but get err %v, log err %v", task, i+1, len(ids), kept, err, ferr)
					}
				}
				res, err := h.Query.List(jobs.ListFilter{Workspace: h.Defs.Name, Task: task, Limit: 50})
				if err != nil || res.Total != keep || len(res.Jobs) != keep {
					t.Errorf("list %s: total %d, %d jobs (err %v), want %d", task, res.Total, len(res.Jobs), err, keep)
				}
			}
			if _, err := h.Query.Get(running); err != nil {
				t.Errorf("the running job was deleted: %v", err)
			}
			res, _ := h.Query.List(jobs.ListFilter{Limit: 50})
			if res.Total != tc.keepA+tc.keepB+1 {
				t.Errorf("total %d after retention", res.Total)
			}
		})
	}
}

func TestRetentionWorkers(t *testing.T) {
	h := jobstest.New(t, files(retentionTasks), func(o *jobs.Options) { o.HeartbeatTimeout = 5 * time.Second })
	gone, err := h.Engine.Register("gone", []string{"shell"}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := h.Engine.Sweep(now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := h.Pruner.Enforce(now.Add(6*24*time.Hour), jobs.Retention{WorkersDays: 7})
	if err != nil || st.Workers != 0 {
		t.Fatalf("workers deleted before workers_days: %+v %v", st, err)
	}
	st, err = h.Pruner.Enforce(now.Add(8*24*time.Hour), jobs.Retention{WorkersDays: 7})
	if err != nil || st.Workers != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	ws, _, err := h.Query.Workers(50, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
		if w.ID == gone.ID {
			t.Errorf("inactive worker kept")
		}
	}
	if diff := cmp.Diff([]string{"builtin"}, names); diff != "" {
		t.Errorf("workers (-want +got):\n%s", diff)
	}
}

// TestRetentionAudit: audit_days deletes exactly the entries older than
// the cutoff, in batches of a bounded size, and leaves jobs alone; without
// it nothing goes.
func TestRetentionAudit(t *testing.T) {
	h := jobstest.New(t, files(retentionTasks))
	job := h.Wait(h.Trigger("a", nil)).ID
	// More than two delete batches, appended concurrently so the store
	// groups them into few commits.
	var mu sync.Mutex
	var all []audit.Entry
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 313 {
				e, err := h.Audit.Append(audit.Entry{Actor: "system", ActorType: audit.ActorSystem, Action: audit.ActionConfigReload})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	cutoff := all[2500].Time
	older := 0 // entries in an earlier millisecond than the cutoff
	for _, e := range all {
		if e.Time.Before(cutoff) {
			older++
		}
	}
	now := cutoff.Add(30 * 24 * time.Hour)

	st, err := h.Pruner.Enforce(now, jobs.Retention{JobsDays: 365})
	if err != nil || st.Audit != 0 {
		t.Fatalf("without audit_days: %+v, %v", st, err)
	}
	if st, err = h.Pruner.Enforce(now, jobs.Retention{AuditDays: 30}); err != nil {
		t.Fatal(err)
	}
	if st.Audit != older || st.Jobs != 0 {
		t.Errorf("stats %+v, want %d audit entries deleted and no jobs", st, older)
	}
	p, err := h.Audit.List(audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all) - older; p.Total != want || len(p.Entries) != want || p.Entries[0].ID != all[len(all)-1].ID {
		t.Errorf("left %d entries (total %d), want the %d newest", len(p.Entries), p.Total, want)
	}
	for _, e := range p.Entries {
		if e.Time.Before(cutoff) {
			t.Errorf("entry %s of %s survived the cutoff %s", e.ID, e.Time, cutoff)
		}
	}
	if _, err := h.Query.Get(job); err != nil {
		t.Errorf("audit retention deleted a job: %v", err)
	}
}
