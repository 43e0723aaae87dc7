package jobs

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"runnel/logstore"
)

// BenchmarkBackup100k backs up a store of 100,000 finished jobs, each with
// a 10-line log; reports the archive size and the time per backup.
func BenchmarkBackup100k(b *testing.B) {
	dir := b.TempDir()
	s := NewStore(filepath.Join(dir, "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := seedJobs(b, s, 100_000)
	logs, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "logs")})
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	for _, id := range ids {
		lines := make([]logstore.Line, 10)
		for i := range lines {
			lines[i] = logstore.Line{Stream: "stdout", Step: "a", Text: "line " + strconv.Itoa(i) + " of a backed-up job"}
		}
		if err := logs.Append(id, lines...); err != nil {
			b.Fatal(err)
		}
		if err := logs.Finish(id); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var size int64
	for range b.N {
		f, err := os.Create(filepath.Join(dir, "backup.tar.gz"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Backup(f, logs); err != nil {
			b.Fatal(err)
		}
		size, _ = f.Seek(0, io.SeekCurrent)
		f.Close()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB-archive")
}

// BenchmarkCompact compacts a store of RUNNEL_BENCH_JOBS (default 100,000)
// finished jobs of which half were deleted; reports the sizes before and
// after. Run with RUNNEL_BENCH_JOBS=1000000 for the README's figure.
func BenchmarkCompact(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("RUNNEL_BENCH_JOBS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "runnel.db")
		s := NewStore(path, time.Second)
		if err := s.Open(); err != nil {
			b.Fatal(err)
		}
		ids := seedJobs(b, s, n)
		for i := 0; i < len(ids); i += 1000 {
			batch := ids[i:min(i+1000, len(ids))]
			if err := s.update(func(t *txn) error {
				for j, id := range batch {
					if j%2 == 0 {
						k, _ := idKey(id)
						if err := t.Bucket(bucketJobs).Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		b.StartTimer()
		st, err := Compact(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Before)/(1<<20), "MiB-before")
		b.ReportMetric(float64(st.After)/(1<<20), "MiB-after")
	}
}
