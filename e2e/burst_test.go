package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBurstUnderLowFileLimit fires a burst of one-step jobs at a server
// running under `ulimit -n 256` (8 built-in worker slots, whose step pipes
// need descriptors too) through 16 client connections: every job
// completes and every job's log holds its step output and its `Job
// created` and `Job completed` lines (issue 10 item 4: each queued job used
// to hold its log file open, and the burst failed jobs and lost lines).
// 10,000 jobs, or 1,000 with -short.
func TestBurstUnderLowFileLimit(t *testing.T) {
	const fileLimit, clients = 256, 16
	n := 10000
	if testing.Short() {
		n = 1000
	}
	s := startServer(t, map[string]string{".workflows/burst.yaml": `
tasks:
  burst:
    flow:
      say:
        type: shell
        cmd: echo "hello $RUNNEL_JOB_ID"
`}, serverConfig{LocalWorkers: 8, FileLimit: fileLimit, LogLevel: "info", HeartbeatTimeout: 120, Sweep: 60})
	pid := s.cmd.Process.Pid
	if got := openFileLimits(t, pid); got != [2]string{"256", "256"} {
		t.Fatalf("server runs with open file limits %q, want 256 256", got)
	}
	if out := s.out.String(); !strings.Contains(out, "the open file limit is low") {
		t.Errorf("no warning about the low open file limit in the server log:\n%s", out)
	}
	// About a minute for 10,000 jobs on 2 idle cores, many more on a busy
	// machine: rather than a total deadline, give up when no job was
	// created, finished or read for a while.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var progress atomic.Int64
	go func() {
		const stall = 2 * time.Minute
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		last, since := progress.Load(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if p := progress.Load(); p != last {
				last, since = p, time.Now()
			} else if time.Since(since) > stall {
				cancel(fmt.Errorf("no job created, finished or read for %s (%d of %d requests done)", stall, p, 3*n))
				return
			}
		}
	}()

	// Sample the server's open descriptors while the burst runs.
	var peakFDs atomic.Int64
	sampleDone := make(chan struct{})
	sampleStop := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil && int64(len(ents)) > peakFDs.Load() {
				peakFDs.Store(int64(len(ents)))
			}
			select {
			case <-sampleStop:
				return
			case <-tick.C:
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() { close(sampleStop); <-sampleDone })
	defer stopSampling()

	// parallel runs f(i) for i in [0, n) on the client connections and
	// stops at the first error.
	parallel := func(what string, f func(i int) error) {
		t.Helper()
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Bool
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !failed.Load() {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					if err := f(i); err != nil {
						if !failed.Swap(true) {
							t.Errorf("%s %d: %v", what, i, err)
						}
						return
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() {
			t.FailNow()
		}
	}

	start := time.Now()
	ids := make([]string, n)
	parallel("execute", func(i int) error {
		var out struct {
			JobID string `json:"job_id"`
		}
		err := s.api.Do(ctx, "POST", "/api/workspaces/default/tasks/burst/execute", map[string]any{"input": map[string]any{}}, &out)
		ids[i] = out.JobID
		progress.Add(1)
		return cause(ctx, err)
	})
	created := time.Since(start)

	// Wait on each job's state (server-side wait), then check it.
	statuses := make([]string, n)
	parallel("wait for job", func(i int) error {
		for ctx.Err() == nil {
			var j job
			if err := s.api.Do(ctx, "GET", "/api/jobs/"+ids[i]+"?wait=true&timeout=30", nil, &j); err != nil {
				return cause(ctx, err)
			}
			switch j.Status {
			case "completed", "failed", "cancelled", "skipped":
				statuses[i] = j.Status
				progress.Add(1)
				return nil
			}
		}
		return context.Cause(ctx)
	})
	finished := time.Since(start)
	stopSampling()
	cpu := cpuTime(pid)

	failed := 0
	for i, st := range statuses {
		if st != "completed" {
			failed++
			if failed <= 5 {
				t.Errorf("job %s ended %s:\n%s", ids[i], st, strings.Join(s.logs(ids[i], "say"), "\n"))
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d jobs did not complete", failed, n)
	}

	var missing atomic.Int64
	parallel("read log", func(i int) error {
		var out struct {
			Logs string `json:"logs"`
		}
		if err := s.api.Do(ctx, "GET", "/api/jobs/"+ids[i]+"/logs", nil, &out); err != nil {
			return cause(ctx, err)
		}
		progress.Add(1)
		var created, output, completed bool
		for l := range strings.SplitSeq(out.Logs, "\n") {
			var v struct {
				Step string `json:"step"`
				Line string `json:"line"`
			}
			if l == "" || json.Unmarshal([]byte(l), &v) != nil {
				continue
			}
			created = created || v.Step == "_server" && strings.HasPrefix(v.Line, "Job created")
			output = output || v.Step == "say" && v.Line == "hello "+ids[i]
			completed = completed || v.Step == "_server" && strings.HasPrefix(v.Line, "Job completed")
		}
		if !created || !output || !completed {
			if missing.Add(1) <= 5 {
				t.Errorf("job %s: created=%v output=%v completed=%v in its log:\n%s", ids[i], created, output, completed, out.Logs)
			}
		}
		return nil
	})
	if m := missing.Load(); m > 0 {
		t.Errorf("%d of %d job logs miss lines", m, n)
	}
	t.Logf("%d jobs under ulimit -n %d: created in %s, all completed after %s (%.0f jobs/s); "+
		"server CPU time %s (with its steps); peak of %d open descriptors in the server",
		n, fileLimit, created.Round(time.Millisecond), finished.Round(time.Millisecond),
		float64(n)/finished.Seconds(), cpu, peakFDs.Load())
	if strings.Contains(s.out.String(), "too many open files") {
		t.Errorf("the server ran out of descriptors:\n%s", s.out.String())
	}
}

// cause names why ctx ended when err came from its end.
func cause(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", err, context.Cause(ctx))
	}
	return err
}

// cpuTime is the CPU time a process and its waited-for children used so
// far (from /proc/<pid>/stat, assuming 100 ticks a second), 0 if unknown.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime stime cutime cstime are fields 14 to 17.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} {
		if k >= len(f) {
			return 0
		}
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// openFileLimits reads the soft and hard "Max open files" of a process.
func openFileLimits(t *testing.T, pid int) [2]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Skipf("cannot read the server's limits: %v", err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return [2]string{f[0], f[1]}
			}
		}
	}
	t.Fatalf("no Max open files in /proc/%d/limits:\n%s", pid, b)
	return [2]string{}
}
