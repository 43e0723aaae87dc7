package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"runnel/httpd"
	"runnel/httpd/metrics"
	"runnel/jobs"
	"runnel/logstore"
)

// BenchmarkMetricsScrape100k measures GET /metrics over real HTTP with
// 100,000 jobs stored (seeded through an instrumented store, so the job
// counters hold their 20 task series); reports the median scrape. A
// scrape must not depend on the number of jobs: counters are kept as jobs
// change, gauges come from the queue, the workers bucket and counters.
func BenchmarkMetricsScrape100k(b *testing.B) {
	dir := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := jobs.NewStore(filepath.Join(dir, "runnel.db"), time.Second)
	q := jobs.NewQuery(s, nil)
	logs, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "logs")})
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	var e *jobs.Engine
	m := metrics.New(metrics.Sources{
		Queue: func() (int, time.Time) { return e.QueueStats() },
		Workers: func() []metrics.Worker {
			ws, _, err := q.Workers(math.MaxInt, 0)
			if err != nil {
				b.Error(err)
			}
			out := make([]metrics.Worker, 0, len(ws))
			for _, w := range ws {
				out = append(out, metrics.Worker{ID: w.ID, Name: w.Name, State: w.Status, LastHeartbeat: w.LastHeartbeat})
			}
			return out
		},
		Store: func() metrics.Store {
			st := s.Stats()
			return metrics.Store{Commits: st.Commits, Updates: st.Updates, FileBytes: st.FileBytes}
		},
		Logs: func() metrics.Logs { st := logs.Stats(); return metrics.Logs{Bytes: st.Bytes, Lines: st.Lines} },
	})
	s.Instrument(m)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	jobs.SeedJobs(b, s, 100_000)
	e = jobs.New(jobs.Options{Store: s, Logs: logs, Logger: quiet, TempDir: dir})
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	srv, err := httpd.New(httpd.Options{Metrics: m, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	scrape := func() time.Duration {
		start := time.Now()
		resp, err := ts.Client().Get(ts.URL + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n == 0 {
			b.Fatalf("GET /metrics: %d, %d bytes", resp.StatusCode, n)
		}
		return time.Since(start)
	}
	scrape() // warm the connection
	b.ResetTimer()
	took := make([]time.Duration, 0, b.N)
	for range b.N {
		took = append(took, scrape())
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median/scrape")
}
