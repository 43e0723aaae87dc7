package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/jobs/api"
	"runnel/jobs/jobstest"
)

const benchWorkflow = `
tasks:
  one:
    flow:
      only:
        type: shell
        cmd: echo ok
  tagged:
    flow:
      only:
        type: shell
        tags: [bench]
        cmd: echo ok
  lines:
    flow:
      print:
        type: shell
        cmd: seq 1 100000
`

var benchFiles = map[string]string{".workflows/main.yaml": benchWorkflow}

// BenchmarkClaimDispatch measures how fast a step that becomes ready
// reaches a worker holding a long-poll claim. Medians: "ms-execute-to-claim"
// from sending the execute request to the claim answer's arrival (job
// creation commit + claim commit + two HTTP exchanges);
// "ms-execute-rtt" the execute request alone (creation commit + HTTP);
// "ms-claim-after-execute" from the execute answer to the claim answer
// (≤ 0: the worker had the step before the client had its job id). One
// iteration = execute, claim answer, complete.
func BenchmarkClaimDispatch(b *testing.B) {
	s := startServer(b, benchFiles, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 120, Sweep: 60})
	ctx := context.Background()
	reg, err := s.wk.Register(ctx, api.RegisterRequest{Name: "bench", Tags: []string{"shell", "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	type claimed struct {
		c  *api.ClaimResponse
		at time.Time
	}
	got := make(chan claimed)
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for stop.Err() == nil {
			c, err := s.wk.Claim(stop, reg.WorkerID, nil, 25)
			if err != nil || c == nil {
				continue
			}
			got <- claimed{c, time.Now()}
		}
	}()
	var rtt, total, after []time.Duration
	zero := 0
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		id := s.execute("tagged", nil)
		t1 := time.Now()
		c := <-got
		if *c.c.JobID != id {
			b.Fatalf("claimed %s, executed %s", *c.c.JobID, id)
		}
		total = append(total, c.at.Sub(t0))
		rtt = append(rtt, t1.Sub(t0))
		after = append(after, c.at.Sub(t1))
		if err := s.wk.Complete(ctx, id, "only", api.CompleteRequest{WorkerID: reg.WorkerID, ExitCode: &zero}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(median(total), "ms-execute-to-claim")
	b.ReportMetric(median(rtt), "ms-execute-rtt")
	b.ReportMetric(median(after), "ms-claim-after-execute")
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[len(ds)/2]) / float64(time.Millisecond)
}

// BenchmarkOneStepJobs runs one-step jobs through the built-in pool and
// through two `runnel worker` processes with 4 slots each; 16 clients
// execute and wait concurrently. Reported as jobs/s, its ratio to the bare
// spawn ceiling (8 goroutines running `sh -c true`, 200 starts measured in
// the same run before and after) and the server process's own CPU time
// per job (/proc/<pid>/stat utime+stime: children excluded, 10 ms ticks).
func BenchmarkOneStepJobs(b *testing.B) {
	cases := []struct {
		name    string
		local   int
		workers int
	}{
		{"builtin-4", 4, 0},
		{"builtin-8", 8, 0},
		{"remote-2x4", 0, 2},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := startServer(b, benchFiles, serverConfig{LocalWorkers: c.local, HeartbeatTimeout: 120, Sweep: 60})
			for i := range c.workers {
				startWorker(b, s, fmt.Sprintf("bench-%d", i), []string{"shell"}, 4)
			}
			// Warm up: the revision cache of the workers, connections.
			for range 8 {
				s.waitJobBench(b, s.execute("one", nil))
			}
			ceiling := spawnCeiling(b)
			pid := s.cmd.Process.Pid
			cpu0 := procCPU(b, pid)
			jobs := make(chan struct{})
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range jobs {
						s.waitJobBench(b, s.execute("one", nil))
					}
				}()
			}
			for b.Loop() {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()
			b.StopTimer()
			perSec := float64(b.N) / time.Since(start).Seconds()
			cpu := procCPU(b, pid) - cpu0
			ceiling = (ceiling + spawnCeiling(b)) / 2
			b.ReportMetric(perSec, "jobs/s")
			b.ReportMetric(ceiling, "spawn-ceiling/s")
			b.ReportMetric(perSec/ceiling, "ratio-to-spawn-ceiling")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "server-cpu-ms/job")
		})
	}
}

// spawnCeiling is jobstest.SpawnCeiling of 200 starts.
func spawnCeiling(b *testing.B) float64 {
	b.Helper()
	perSec, err := jobstest.SpawnCeiling(200)
	if err != nil {
		b.Fatal(err)
	}
	return perSec
}

// procCPU is the user plus system CPU time of process pid itself, without
// its children (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of
// 10 ms: USER_HZ is 100 on Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("short /proc/%d/stat: %q", pid, data)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// waitJobBench waits for a job to complete (server-side wait).
func (s *server) waitJobBench(b *testing.B, id string) {
	var j job
	for range 10 {
		if err := s.api.Do(context.Background(), "GET", "/api/jobs/"+id+"?wait=true&timeout=30", nil, &j); err != nil {
			b.Error(err)
			return
		}
		if j.Status == "completed" {
			return
		}
		if j.Status == "failed" || j.Status == "cancelled" {
			b.Errorf("job %s: %+v", id, j)
			return
		}
	}
	b.Errorf("job %s not done: %s", id, j.Status)
}

// BenchmarkLogPush measures the server's log push path: batches of 500
// lines (≈ 60 bytes each) for one running step. Reported as lines/s.
func BenchmarkLogPush(b *testing.B) {
	s := startServer(b, benchFiles, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 120, Sweep: 60})
	ctx := context.Background()
	reg, err := s.wk.Register(ctx, api.RegisterRequest{Name: "bench", Tags: []string{"shell", "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	id := s.execute("tagged", nil)
	c, err := s.wk.Claim(ctx, reg.WorkerID, nil, 10)
	if err != nil || c == nil {
		b.Fatalf("claim: %v %v", c, err)
	}
	if err := s.wk.Start(ctx, id, "only", reg.WorkerID); err != nil {
		b.Fatal(err)
	}
	batch := make([]api.LogLine, 500)
	ts := api.Stamp{Time: time.Now()}
	for i := range batch {
		batch[i] = api.LogLine{TS: ts, Stream: "stdout", Line: fmt.Sprintf("line %04d %s", i, strings.Repeat("x", 40))}
	}
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		if err := s.wk.PushLogs(ctx, id, "only", reg.WorkerID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkWorkerLogThroughput measures a `runnel worker` end to end: a
// step printing 100 000 lines, read, batched, pushed and written by the
// server. Reported as lines/s (job creation to completion).
func BenchmarkWorkerLogThroughput(b *testing.B) {
	s := startServer(b, benchFiles, serverConfig{LocalWorkers: 0, HeartbeatTimeout: 120, Sweep: 60})
	startWorker(b, s, "bench", []string{"shell"}, 1)
	s.waitJobBench(b, s.execute("one", nil)) // warm the revision cache
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		s.waitJobBench(b, s.execute("lines", nil))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*100000)/time.Since(start).Seconds(), "lines/s")
}
