package jobs

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"runnel/logstore"
)

// BenchmarkRetention100k deletes 100,000 finished jobs (records, steps,
// indexes, counters and 2-line log files) with a max_jobs_per_task policy;
// reports jobs deleted per second.
func BenchmarkRetention100k(b *testing.B) {
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s := NewStore(filepath.Join(dir, "runnel.db"), time.Second)
		if err := s.Open(); err != nil {
			b.Fatal(err)
		}
		ids := seedJobs(b, s, 100_020)
		logs, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "logs")})
		if err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			if err := logs.Append(id, logstore.Line{Stream: "stdout", Step: "a", Text: "one"}, logstore.Line{Stream: "stdout", Step: "b", Text: "two"}); err != nil {
				b.Fatal(err)
			}
			if err := logs.Finish(id); err != nil {
				b.Fatal(err)
			}
		}
		r := NewPruner(PrunerOptions{Store: s, Logs: logs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		b.StartTimer()
		start := time.Now()
		// seedJobs spreads jobs over 20 tasks: keep one per task.
		st, err := r.Enforce(time.Now(), Retention{MaxJobsPerTask: 1})
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if st.Jobs != 100_000 || st.Logs != 100_000 {
			b.Fatalf("deleted %+v, want 100000 jobs and logs", st)
		}
		b.ReportMetric(float64(st.Jobs)/elapsed.Seconds(), "jobs/s")
		logs.Close()
		s.Close()
	}
}
