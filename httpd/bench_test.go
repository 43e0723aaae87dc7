package httpd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
)

// BenchmarkExecuteHTTP runs one-step `true` jobs through the HTTP API with
// 8 built-in worker slots and 16 concurrent clients; reports jobs/s, their
// ratio to the bare spawn ceiling (jobstest.SpawnCeiling, measured in the
// same run before and after; issue 16 target ≥ 0.85) and the CPU time of
// this process per job (server and the HTTP clients; RUSAGE_SELF).
func BenchmarkExecuteHTTP(b *testing.B) {
	s := httpdtest.New(b, map[string]string{".workflows/t.yaml": "tasks:\n  t:\n    flow:\n      s: { type: script, script: \"true\" }\n"},
		func(c *httpdtest.Config) { c.Engine.LocalWorkers = 8 })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	ceiling := spawnCeiling(b, b.N)
	b.ResetTimer()
	self0 := selfCPU(b)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				resp, err := client.Post(s.URL+"/api/workspaces/default/tasks/t/execute", "application/json", strings.NewReader(`{}`))
				if err != nil {
					b.Error(err)
					return
				}
				var out struct {
					JobID string `json:"job_id"`
				}
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				resp, err = client.Get(s.URL + "/api/jobs/" + out.JobID + "?wait=true&timeout=60")
				if err != nil {
					b.Error(err)
					return
				}
				var j struct{ Status string }
				json.NewDecoder(resp.Body).Decode(&j)
				resp.Body.Close()
				if j.Status != "completed" {
					b.Errorf("job %s: %s", out.JobID, j.Status)
				}
			}
		}()
	}
	wg.Wait()
	perSec := float64(b.N) / time.Since(start).Seconds()
	self := selfCPU(b) - self0
	b.StopTimer()
	ceiling = (ceiling + spawnCeiling(b, b.N)) / 2
	b.ReportMetric(perSec, "jobs/s")
	b.ReportMetric(ceiling, "spawn-ceiling/s")
	b.ReportMetric(perSec/ceiling, "ratio-to-spawn-ceiling")
	b.ReportMetric(float64(self.Microseconds())/1000/float64(b.N), "server-cpu-ms/job")
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

// selfCPU is the user plus system CPU time of this process.
func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMillionLines runs a step printing 1,000,000 lines while a
// WebSocket reader follows the log; reports lines/s persisted and the
// process's peak RSS, and checks the reader received every line.
func BenchmarkMillionLines(b *testing.B) {
	s := httpdtest.New(b, map[string]string{".workflows/t.yaml": "tasks:\n  t:\n    flow:\n      s: { type: script, script: \"seq 1 1000000\" }\n"})
	for i := 0; i < b.N; i++ {
		start := time.Now()
		id := s.Execute("t", nil)
		url := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/jobs/" + id + "/logs/stream"
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		lines, stdout := 0, 0
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
					b.Fatalf("stream: %v after %d lines", err, lines)
				}
				break
			}
			lines += bytes.Count(data, []byte("\n"))
			stdout += bytes.Count(data, []byte(`"stream":"stdout"`))
		}
		c.Close()
		elapsed := time.Since(start)
		if j := s.WaitJob(id); j["status"] != "completed" || stdout != 1_000_000 {
			b.Fatalf("job %v, reader saw %d stdout lines", j["status"], stdout)
		}
		b.ReportMetric(1e6/elapsed.Seconds(), "lines/s")
	}
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}

// peakRSS reads VmHWM (bytes) from /proc/self/status.
func peakRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
