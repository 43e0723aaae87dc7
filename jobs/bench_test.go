package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// BenchmarkOneStepJobs runs one-step `true` jobs through the engine with 8
// built-in slots, 16 concurrent triggers; reports jobs/s, its ratio to the
// bare spawn ceiling (8 goroutines running `sh -c true`, measured in the
// same run before and after, at least 200 starts each) and the CPU time
// per job of this process (engine, store and the triggering goroutines;
// RUSAGE_SELF) and of the step processes (RUSAGE_CHILDREN).
func BenchmarkOneStepJobs(b *testing.B) {
	h := jobstest.New(b, files(`
tasks:
  t:
    flow:
      s: { type: script, script: "true" }
`), func(o *jobs.Options) { o.LocalWorkers = 8 })
	ctx := context.Background()
	ceiling, spawnCPU := spawnCeilingCPU(b, b.N)
	self0, children0 := rusageCPU(b, syscall.RUSAGE_SELF), rusageCPU(b, syscall.RUSAGE_CHILDREN)
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
	perSec := float64(b.N) / time.Since(start).Seconds()
	self, children := rusageCPU(b, syscall.RUSAGE_SELF)-self0, rusageCPU(b, syscall.RUSAGE_CHILDREN)-children0
	b.StopTimer()
	ceiling2, spawnCPU2 := spawnCeilingCPU(b, b.N)
	ceiling, spawnCPU = (ceiling+ceiling2)/2, (spawnCPU+spawnCPU2)/2
	b.ReportMetric(perSec, "jobs/s")
	b.ReportMetric(ceiling, "spawn-ceiling/s")
	b.ReportMetric(perSec/ceiling, "ratio-to-spawn-ceiling")
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N), "server-cpu-ms/job")
	b.ReportMetric(float64(spawnCPU.Microseconds())/1000, "bare-spawn-parent-cpu-ms")
	b.ReportMetric(float64(children.Microseconds())/1000/float64(b.N), "child-cpu-ms/job")
	st := h.Store.Stats()
	b.ReportMetric(float64(st.Commits)/float64(b.N), "commits/job")
	b.ReportMetric(float64(st.Updates)/float64(st.Commits), "updates/commit")
}

// BenchmarkChain100 runs a 100-step sequential chain of `true`; reports the
// per-step overhead beyond the process itself, and the wall time per step
// beyond a bare `sh -c true` start (100 sequential starts measured in the
// same run before and after the chains). A step handed to the slot that
// reported its predecessor (claim.go) is stamped started in that commit,
// before its process starts, so ms/step-overhead leaves out that commit;
// ms-per-step-beyond-bare-start is the figure to compare.
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
	commits := &commitTimer{}
	h.Metrics = commits
	h.Restart()
	bare := bareStart(b)
	b.ResetTimer()
	self0 := rusageCPU(b, syscall.RUSAGE_SELF)
	c0, d0 := commits.n.Load(), commits.ns.Load()
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
	self := rusageCPU(b, syscall.RUSAGE_SELF) - self0
	b.StopTimer()
	bare = (bare + bareStart(b)) / 2
	perStep := total / time.Duration(b.N*100)
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N*100), "server-cpu-ms/step")
	if n := commits.n.Load() - c0; n > 0 {
		// What one commit fewer per step (a merged "A completed + B
		// running" transition) would save at most.
		b.ReportMetric(float64(n)/float64(b.N*100), "commits/step")
		b.ReportMetric(float64(commits.ns.Load()-d0)/float64(n)/1e6, "ms/commit")
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/chain")
	b.ReportMetric(float64((total-procs).Microseconds())/float64(b.N)/100/1000, "ms/step-overhead")
	b.ReportMetric(float64(bare.Microseconds())/1000, "ms-bare-start")
	b.ReportMetric(float64((perStep-bare).Microseconds())/1000, "ms-per-step-beyond-bare-start")
}

// BenchmarkThreeSteps runs a 3-step sequential job at a time, API call to
// completed; reports the wall time beyond 3 bare `sh -c true` starts
// measured in the same run (issue 16 target: ≤ 3 ms) and the server CPU
// per job.
func BenchmarkThreeSteps(b *testing.B) {
	h := jobstest.New(b, files(`
tasks:
  three:
    flow:
      a: { type: script, script: "true" }
      b: { type: script, script: "true", depends_on: [a] }
      c: { type: script, script: "true", depends_on: [b] }
`), func(o *jobs.Options) { o.LocalWorkers = 8 })
	bare := bareStart(b)
	b.ResetTimer()
	self0 := rusageCPU(b, syscall.RUSAGE_SELF)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if j := h.Wait(h.Trigger("three", nil)); j.Status != jobs.JobCompleted {
			b.Fatalf("status %s", j.Status)
		}
	}
	perJob := time.Since(start) / time.Duration(b.N)
	self := rusageCPU(b, syscall.RUSAGE_SELF) - self0
	b.StopTimer()
	bare = (bare + bareStart(b)) / 2
	b.ReportMetric(float64(perJob.Microseconds())/1000, "ms/job")
	b.ReportMetric(float64(bare.Microseconds())/1000, "ms-bare-start")
	b.ReportMetric(float64((perJob-3*bare).Microseconds())/1000, "ms-beyond-3-bare-starts")
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N), "server-cpu-ms/job")
}

// BenchmarkFanOut52 runs a fan-out/fan-in job (one step, 50 parallel
// steps, one join: 52 steps of `true`) with 16 built-in slots, one job at a
// time. It reports the ratio of its wall time to the same shape run with
// bare `sh -c true` starts from 16 goroutines (jobstest.BareFanOut, same
// run), and to the issue 16 formula 52/16 rounds × one bare start (target
// ≤ 2; on 2 cores 16 concurrent starts share the CPU, so that formula is
// below what the machine can do).
func BenchmarkFanOut52(b *testing.B) {
	var y strings.Builder
	y.WriteString("tasks:\n  fan:\n    flow:\n      root: { type: script, script: \"true\" }\n")
	var mids []string
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&y, "      m%02d: { type: script, script: \"true\", depends_on: [root] }\n", i)
		mids = append(mids, fmt.Sprintf("m%02d", i))
	}
	fmt.Fprintf(&y, "      join: { type: script, script: \"true\", depends_on: [%s] }\n", strings.Join(mids, ", "))
	h := jobstest.New(b, files(y.String()), func(o *jobs.Options) { o.LocalWorkers = 16 })
	bare, fan := bareStart(b), bareFanOut(b)
	b.ResetTimer()
	self0 := rusageCPU(b, syscall.RUSAGE_SELF)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if j := h.Wait(h.Trigger("fan", nil)); j.Status != jobs.JobCompleted {
			b.Fatalf("status %s", j.Status)
		}
	}
	perJob := time.Since(start) / time.Duration(b.N)
	self := rusageCPU(b, syscall.RUSAGE_SELF) - self0
	b.StopTimer()
	bare, fan = (bare+bareStart(b))/2, (fan+bareFanOut(b))/2
	b.ReportMetric(float64(perJob.Microseconds())/1000, "ms/job")
	b.ReportMetric(float64(fan.Microseconds())/1000, "ms-bare-fan-out")
	b.ReportMetric(perJob.Seconds()/fan.Seconds(), "ratio-to-bare-fan-out")
	b.ReportMetric(perJob.Seconds()/(52.0/16*bare.Seconds()), "ratio-to-rounds-x-bare-start")
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N*52), "server-cpu-ms/step")
}

// BenchmarkSpawnCeiling runs bare `sh -c true` processes from 8 goroutines
// (no engine at all): the machine's ceiling for one-step jobs/s.
func BenchmarkSpawnCeiling(b *testing.B) {
	b.ReportMetric(spawnCeiling(b, b.N), "spawns/s")
}

// spawnCeiling is jobstest.SpawnCeiling with at least 200 starts.
func spawnCeiling(b *testing.B, n int) float64 {
	b.Helper()
	perSec, err := jobstest.SpawnCeiling(max(n, 200))
	if err != nil {
		b.Fatal(err)
	}
	return perSec
}

// commitTimer is a jobs.Metrics that counts store commits and their time.
type commitTimer struct {
	n, ns atomic.Int64
}

func (c *commitTimer) StoreCommitted(took time.Duration) {
	c.n.Add(1)
	c.ns.Add(int64(took))
}

func (*commitTimer) JobStarted(string, string, string)                         {}
func (*commitTimer) JobFinished(string, string, string, string, time.Duration) {}
func (*commitTimer) StepFinished(string, string, string, time.Duration)        {}
func (*commitTimer) StepDispatched(time.Duration)                              {}
func (*commitTimer) ScheduleFired(time.Duration)                               {}
func (*commitTimer) ScheduleMissed(string)                                     {}
func (*commitTimer) RetentionDeleted(string, int64)                            {}

// spawnCeilingCPU is spawnCeiling plus the CPU time this process spent per
// start (fork, exec, wait: the part of a job's server CPU no engine can
// avoid).
func spawnCeilingCPU(b *testing.B, n int) (float64, time.Duration) {
	b.Helper()
	n = max(n, 200)
	self0 := rusageCPU(b, syscall.RUSAGE_SELF)
	perSec := spawnCeiling(b, n)
	return perSec, (rusageCPU(b, syscall.RUSAGE_SELF) - self0) / time.Duration(n)
}

// bareFanOut is jobstest.BareFanOut of BenchmarkFanOut52's shape.
func bareFanOut(b *testing.B) time.Duration {
	b.Helper()
	d, err := jobstest.BareFanOut(50, 16)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// bareStart is jobstest.BareStart of 100 starts (a chain's length).
func bareStart(b *testing.B) time.Duration {
	b.Helper()
	d, err := jobstest.BareStart(100)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// rusageCPU is the user plus system CPU time of who (RUSAGE_SELF: this
// process; RUSAGE_CHILDREN: its waited-for children).
func rusageCPU(b *testing.B, who int) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
