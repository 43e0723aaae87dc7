package logstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"runnel/logstore"
)

// benchLines returns a batch of typical build output lines (~70 bytes of
// text, some with quotes or tabs to escape).
func benchLines(n int) []logstore.Line {
	now := time.Now()
	ls := make([]logstore.Line, n)
	for i := range ls {
		text := fmt.Sprintf("[%05d] compiling pkg/module%03d/file_%d.go ... ok (%d ms)", i, i%97, i, i%13)
		if i%10 == 0 {
			text += "\t\"warning: unused variable\""
		}
		ls[i] = logstore.Line{TS: now.Add(time.Duration(i) * time.Microsecond), Stream: logstore.Stdout, Step: "build", Text: text}
	}
	return ls
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB, or 0.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// heapSampler tracks the peak of live heap objects.
type heapSampler struct {
	s    []metrics.Sample
	peak uint64
}

func newHeapSampler() *heapSampler {
	return &heapSampler{s: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (h *heapSampler) sample() {
	metrics.Read(h.s)
	h.peak = max(h.peak, h.s[0].Value.Uint64())
}

// BenchmarkAppend appends batches of lines to one job's step; every
// million lines the step's job is finished and removed (a 1,000,000-line
// step per job). It reports lines/s persisted (written to the file).
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		batch  int
		mask   []string
		follow bool
	}{
		{"batch=100", 100, nil, false},
		{"batch=500", 500, nil, false},
		{"batch=256/masked", 256, []string{"hunter2-secret", "another-token-value", "AKIAEXAMPLEKEY"}, false},
		{"batch=256/followed", 256, nil, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, logstore.Options{
				MaxStepBytes: 1 << 40,
				Mask:         func(string) []string { return bc.mask },
			})
			lines := benchLines(bc.batch)
			var bytes int64
			for _, l := range lines {
				bytes += int64(len(logstore.EncodeLine(l)))
			}
			b.SetBytes(bytes)
			job, written := 0, 0
			var fl *logstore.Follower
			done := make(chan struct{})
			startFollower := func(job string) {
				f, err := s.Follow(job, 0)
				if err != nil {
					b.Fatal(err)
				}
				fl = f
				go func() {
					defer close(done)
					for {
						if _, _, err := f.Next(context.Background()); err != nil {
							return // EOF at Finish or a slow reader: both fine here
						}
					}
				}()
			}
			id := func() string { return "job" + strconv.Itoa(job) }
			if bc.follow {
				startFollower(id())
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Append(id(), lines...); err != nil {
					b.Fatal(err)
				}
				if written += bc.batch; written >= 1_000_000 {
					b.StopTimer()
					if err := s.Finish(id()); err != nil {
						b.Fatal(err)
					}
					if fl != nil {
						<-done
						fl.Close()
						done = make(chan struct{})
					}
					if err := s.Remove(id()); err != nil {
						b.Fatal(err)
					}
					job, written = job+1, 0
					if bc.follow {
						startFollower(id())
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.N*bc.batch)/b.Elapsed().Seconds(), "lines/s")
			if fl != nil {
				fl.Close()
			}
		})
	}
}

// BenchmarkAppendStep writes whole 1,000,000-line steps in batches of 256
// and reports lines/s, the peak live heap and the peak RSS.
func BenchmarkAppendStep(b *testing.B) {
	s := open(b, logstore.Options{MaxStepBytes: 1 << 40})
	lines := benchLines(256)
	const total = 1_000_000
	h := newHeapSampler()
	runtime.GC()
	base := peakRSS()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		job := "step" + strconv.Itoa(n)
		n++
		for i := 0; i < total; i += len(lines) {
			if err := s.Append(job, lines[:min(len(lines), total-i)]...); err != nil {
				b.Fatal(err)
			}
			if i%(64*len(lines)) == 0 {
				h.sample()
			}
		}
		if err := s.Finish(job); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if size, _ := s.Size(job); size == 0 {
			b.Fatal("nothing written")
		}
		if err := s.Remove(job); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(h.peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	b.ReportMetric(base, "RSS-before-MiB")
}

// writeBenchLog makes a job with n lines over 4 steps.
func writeBenchLog(b *testing.B, s *logstore.Store, job string, n int) int64 {
	b.Helper()
	lines := benchLines(250)
	for i := 0; i < n; i += len(lines) {
		for k := range lines {
			lines[k].Step = "step" + strconv.Itoa(k%4)
		}
		if err := s.Append(job, lines...); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Finish(job); err != nil {
		b.Fatal(err)
	}
	size, err := s.Size(job)
	if err != nil {
		b.Fatal(err)
	}
	return size
}

// BenchmarkRead pages through a 200,000-line log (REST pages of 16 MiB) and
// reports MB/s; ReadStep filters one step of four.
func BenchmarkRead(b *testing.B) {
	s := open(b, logstore.Options{})
	size := writeBenchLog(b, s, "j", 200_000)
	for _, bc := range []struct {
		name string
		read func(off int64) ([]byte, int64, error)
	}{
		{"Read", func(off int64) ([]byte, int64, error) { return s.Read("j", off, 0) }},
		{"ReadStep", func(off int64) ([]byte, int64, error) { return s.ReadStep("j", "step1", off, 0) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				var off int64
				for off < size {
					_, next, err := bc.read(off)
					if err != nil {
						b.Fatal(err)
					}
					off = next
				}
			}
		})
	}
}

// BenchmarkFollow measures live delivery: batches of 256 lines appended
// while one follower drains them; lines/s counts lines the follower got.
// The writer paces itself to stay within the follower's queue so no
// chunk is dropped.
func BenchmarkFollow(b *testing.B) {
	s := open(b, logstore.Options{MaxStepBytes: 1 << 40})
	lines := benchLines(256)
	var batchBytes int64
	for _, l := range lines {
		batchBytes += int64(len(logstore.EncodeLine(l)))
	}
	f, err := s.Follow("j", -1)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	delivered := make(chan int64, 1024)
	errc := make(chan error, 1)
	go func() {
		for {
			_, next, err := f.Next(context.Background())
			if err != nil {
				errc <- err
				return
			}
			delivered <- next
		}
	}()
	b.SetBytes(batchBytes)
	var written, got int64
	for b.Loop() {
		if err := s.Append("j", lines...); err != nil {
			b.Fatal(err)
		}
		written += batchBytes
		for written-got > logstore.DefaultFollowBuffer/2 {
			got = <-delivered
		}
	}
	for got < written {
		got = <-delivered
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
	if err := s.Finish("j"); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
}

// BenchmarkAppendManyJobs appends one line at a time to 256 live jobs in
// turn: with MaxOpen ≥ 256 every file stays open; with MaxOpen 8 every
// append first closes another job's file and reopens its own. Reported as
// appends/s.
func BenchmarkAppendManyJobs(b *testing.B) {
	const jobs = 256
	for _, maxOpen := range []int{jobs, 8} {
		b.Run("max_open="+strconv.Itoa(maxOpen), func(b *testing.B) {
			s := open(b, logstore.Options{MaxOpen: maxOpen})
			line := benchLines(1)
			i := 0
			for b.Loop() {
				if err := s.Append("job"+strconv.Itoa(i%jobs), line...); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
