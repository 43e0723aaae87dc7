package jobs_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// BenchmarkOneStepJobs runs one-step `true` jobs through the engine with 8
// built-in slots, 16 concurrent triggers; reports jobs/s.
func BenchmarkOneStepJobs(b *testing.B) {
	h := jobstest.New(b, files(`
tasks:
  t:
    flow:
      s: { type: script, script: "true" }
`), func(o *jobs.Options) { o.LocalWorkers = 8 })
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	ids := make(chan string, b.N)
	sem := make(chan struct{}, 16)
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			j, err := h.Engine.Trigger(ctx, jobs.TriggerRequest{Workspace: "default", Task: "t"})
			if err != nil {
				b.Error(err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if j, err = h.Engine.Wait(wctx, j.ID); err != nil || j.Status != jobs.JobCompleted {
				b.Errorf("job %v: %v", j, err)
			}
			ids <- j.ID
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	st := h.Store.Stats()
	b.ReportMetric(float64(st.Commits)/float64(b.N), "commits/job")
	b.ReportMetric(float64(st.Updates)/float64(st.Commits), "updates/commit")
}

// BenchmarkChain100 runs a 100-step sequential chain of `true`; reports the
// per-step overhead beyond the process itself.
func BenchmarkChain100(b *testing.B) {
	var y strings.Builder
	y.WriteString("tasks:\n  chain:\n    flow:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&y, "      s%03d: { type: script, script: \"true\"", i)
		if i > 0 {
			fmt.Fprintf(&y, ", depends_on: [s%03d]", i-1)
		}
		y.WriteString(" }\n")
	}
	h := jobstest.New(b, files(y.String()), func(o *jobs.Options) { o.LocalWorkers = 8 })
	b.ResetTimer()
	var total, procs time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		j := h.Wait(h.Trigger("chain", nil))
		total += time.Since(start)
		if j.Status != jobs.JobCompleted {
			b.Fatalf("status %s", j.Status)
		}
		for _, s := range j.Steps {
			procs += s.CompletedAt.Sub(s.StartedAt)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/chain")
	b.ReportMetric(float64((total-procs).Microseconds())/float64(b.N)/100/1000, "ms/step-overhead")
}

// BenchmarkSpawnCeiling runs bare `sh -c true` processes from 8 goroutines
// (no engine at all): the machine's ceiling for one-step jobs/s.
func BenchmarkSpawnCeiling(b *testing.B) {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := exec.Command("sh", "-c", "true").Run(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "spawns/s")
}
