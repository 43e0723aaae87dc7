package logstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/logstore"
)

// pageAll reads the job with read from 0 in pages of max bytes, checking
// that each page is whole lines within max (unless one line is longer) and
// that offsets advance to the end.
func pageAll(t *testing.T, read func(off int64, max int) ([]byte, int64, error), max int, size int64) (string, int) {
	t.Helper()
	var b strings.Builder
	var off int64
	pages := 0
	for {
		data, next, err := read(off, max)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if next == off {
			if len(data) != 0 || off != size {
				t.Fatalf("stuck at %d of %d with %q", off, size, data)
			}
			return b.String(), pages
		}
		if len(data) > 0 {
			checkChunk(t, data)
			if max > 0 && len(data) > max && strings.Count(string(data), "\n") > 1 {
				t.Fatalf("page of %d bytes > max %d holds several lines", len(data), max)
			}
		}
		b.Write(data)
		pages++
		off = next
	}
}

func TestReadPaging(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	for i := range 100 {
		mustAppend(t, s, "j", out("s", strings.Repeat("x", i*7%300)))
	}
	file := fileOf(t, dir, "j")
	size := int64(len(file))
	for _, max := range []int{1, 50, 100, 333, 1000, 4096, 1 << 20, 0} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			got, pages := pageAll(t, func(off int64, m int) ([]byte, int64, error) { return s.Read("j", off, m) }, max, size)
			if got != file {
				t.Errorf("pages differ from the file")
			}
			if max == 1 && pages != 100 {
				t.Errorf("max 1: %d pages, want one line per page", pages)
			}
			if max == 0 && pages != 1 {
				t.Errorf("default max: %d pages", pages)
			}
		})
	}
	// A missing job reads as empty.
	if data, next, err := s.Read("none", 0, 0); err != nil || len(data) != 0 || next != 0 {
		t.Errorf("missing job: %q, %d, %v", data, next, err)
	}
}

func TestReadStep(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j",
		out("build", "b1"),
		out("test", "t1"),
		logstore.Line{TS: ts0, Stream: logstore.Stdout, Step: logstore.ServerStep, Text: "Step 'build' started"},
		logstore.Line{TS: ts0, Stream: logstore.Stderr, Step: logstore.ServerStep, Text: "Step 'build' failed"},
		out("build", "b2 \"quoted\"\t"),
		out("build-2", "not build"),
		out("wéird \"step\"", "w1"),
	)
	// Lines not written by this writer: garbage, other key orders, escapes.
	f, err := os.OpenFile(filepath.Join(dir, "j.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	odd := strings.Join([]string{
		`not json at all`,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"build","line":"broken`,
		`{"step":"build","line":"reordered","stream":"stdout","ts":"2026-02-10T12:00:00Z"}`,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"bu\u0069ld","line":"escaped step"}`,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"build","line":"dup","step":"test"}`,
		`{"ts":"2026-02-30T12:00:00.123Z","stream":"stdout","step":"build","line":"bad date"}`,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"build"}`,
		``,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"build","line":"b3"}`,
		`{"ts":"2026-02-10T12:00:00.123Z","stream":"std\u0065rr","step":"_server","line":"escaped stream"}`,
		`{"line":"reordered problem","step":"_server","stream":"stderr","ts":"2026-02-10T12:00:00Z"}`,
	}, "\n") + "\n"
	if _, err := f.WriteString(odd); err != nil {
		t.Fatal(err)
	}
	f.Close()
	size, err := s.Size("j")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		step, stream string
		want         []string
	}{
		{"build", "", []string{"build|b1", "build|b2 \"quoted\"\t", "build|reordered", "build|escaped step", "build|b3"}},
		{"build", logstore.Stderr, nil},
		{"test", "", []string{"test|t1", "test|dup"}},
		{logstore.ServerStep, "", []string{"_server|Step 'build' started", "_server|Step 'build' failed", "_server|escaped stream", "_server|reordered problem"}},
		{logstore.ServerStep, logstore.Stderr, []string{"_server|Step 'build' failed", "_server|escaped stream", "_server|reordered problem"}},
		{logstore.ServerStep, logstore.Stdout, []string{"_server|Step 'build' started"}},
		{"wéird \"step\"", "", []string{"wéird \"step\"|w1"}},
		{"nope", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.step+"/"+tc.stream, func(t *testing.T) {
			for _, max := range []int{1, 200, 0} {
				got, _ := pageAll(t, func(off int64, m int) ([]byte, int64, error) {
					if tc.stream == "" {
						return s.ReadStep("j", tc.step, off, m)
					}
					return s.ReadStepStream("j", tc.step, tc.stream, off, m)
				}, max, size)
				if diff := cmp.Diff(tc.want, texts(t, got)); diff != "" {
					t.Errorf("max %d (-want +got):\n%s", max, diff)
				}
			}
		})
	}
	// The one-shot answer ends at the file end.
	if _, next, err := s.ReadStep("j", "test", 0, 0); err != nil || next != size {
		t.Errorf("ReadStep next = %d, %v; want %d", next, err, size)
	}
}

func TestReadLongLines(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, MaxLine: 3 << 20})
	long := strings.Repeat("y", 2<<20+5) // longer than ReadStep's and backfill's 1 MiB blocks
	mustAppend(t, s, "j", out("s", "short"), out("s", long), out("t", long), out("s", "end"))
	file := fileOf(t, dir, "j")
	got, _ := pageAll(t, func(off int64, m int) ([]byte, int64, error) { return s.Read("j", off, m) }, 100, int64(len(file)))
	if got != file {
		t.Error("Read pages differ from the file")
	}
	data, next, err := s.ReadStep("j", "s", 0, 0)
	if err != nil || next != int64(len(file)) {
		t.Fatalf("ReadStep: %d, %v", next, err)
	}
	if diff := cmp.Diff([]string{"s|short", "s|" + long, "s|end"}, texts(t, string(data))); diff != "" {
		t.Errorf("ReadStep: %d bytes differ", len(diff))
	}
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := drain(t, f); got != file {
		t.Error("follow differs from the file")
	}
}

func TestInvalidOffsets(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j", out("s", "one"), out("s", "two"))
	size, _ := s.Size("j")
	line := int64(len(logstore.EncodeLine(out("s", "one"))))
	tests := []struct {
		name string
		job  string
		off  int64
		ok   bool
	}{
		{"start", "j", 0, true},
		{"line start", "j", line, true},
		{"end", "j", size, true},
		{"negative", "j", -1, false},
		{"mid line", "j", 5, false},
		{"just before a line start", "j", line - 1, false},
		{"beyond end", "j", size + 1, false},
		{"missing job at 0", "none", 0, true},
		{"missing job beyond 0", "none", 10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, next, err := s.Read(tc.job, tc.off, 0)
			check := func(what string, err error) {
				t.Helper()
				if tc.ok && err != nil || !tc.ok && !errors.Is(err, logstore.ErrInvalidOffset) {
					t.Errorf("%s at %d: %v", what, tc.off, err)
				}
			}
			check("Read", err)
			if want := map[string]int64{"j": size, "none": 0}[tc.job]; tc.ok && next != want {
				t.Errorf("Read next = %d, want %d", next, want)
			}
			_, _, err = s.ReadStep(tc.job, "s", tc.off, 0)
			check("ReadStep", err)
			if tc.off < 0 {
				return // Follow takes a negative offset as "the end"
			}
			f, err := s.Follow(tc.job, tc.off)
			check("Follow", err)
			if err == nil {
				f.Close()
			}
		})
	}
}

// TestConcurrency runs writers of one job (parallel steps) and of other
// jobs, readers and followers at once; run it with -race.
func TestConcurrency(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, FollowBuffer: 64 << 20})
	const (
		jobs    = 3
		steps   = 4
		batches = 60
		perB    = 7
	)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var writers, readers sync.WaitGroup
	followed := make([]string, jobs)
	for j := range jobs {
		job := fmt.Sprintf("job%d", j)
		f, err := s.Follow(job, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		readers.Go(drainTo(t, f, &followed[j]))
		for st := range steps {
			writers.Go(func() {
				for b := range batches {
					if err := s.Append(job, numbered(fmt.Sprint("step", st), b*perB, perB)...); err != nil {
						t.Error(err)
						return
					}
					if b%20 == 0 {
						if err := s.Sync(job); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		readers.Go(func() {
			for ctx.Err() == nil {
				var off int64
				for {
					data, next, err := s.Read(job, off, 512)
					if err != nil {
						t.Error(err)
						return
					}
					if len(data) > 0 && data[len(data)-1] != '\n' {
						t.Errorf("partial line %q", data)
					}
					if next == off {
						break
					}
					off = next
				}
				if _, _, err := s.ReadStep(job, "step1", 0, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	writers.Wait()
	for j := range jobs {
		if err := s.Finish(fmt.Sprintf("job%d", j)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	readers.Wait()
	for j := range jobs {
		job := fmt.Sprintf("job%d", j)
		file := fileOf(t, dir, job)
		if followed[j] != file {
			t.Errorf("%s: follower got %d bytes, file has %d", job, len(followed[j]), len(file))
		}
		// Every line is there, each step's in order, batches unbroken.
		nextN := make(map[string]int)
		lines := texts(t, file)
		if len(lines) != steps*batches*perB {
			t.Fatalf("%s: %d lines", job, len(lines))
		}
		for i, l := range lines {
			step, text, _ := strings.Cut(l, "|")
			if want := fmt.Sprintf("line %d", nextN[step]); text != want {
				t.Fatalf("%s line %d: %q, want %q", job, i, l, want)
			}
			if nextN[step]%perB != 0 && !strings.HasPrefix(lines[i-1], step+"|") {
				t.Fatalf("%s: batch of %s interleaved at line %d", job, step, i)
			}
			nextN[step]++
		}
	}
}

// TestReadStepAttempts reads a step's lines across its attempts: marked
// lines are the step's lines too, and ParseLine gives their attempt back,
// from the writer's format and from any JSON object alike.
func TestReadStepAttempts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	for a := 1; a <= 3; a++ {
		mustAppend(t, s, "j", logstore.Line{TS: ts0, Stream: "stdout", Step: "flaky", Text: fmt.Sprintf("try %d", a), Attempt: a},
			logstore.Line{TS: ts0, Stream: "stdout", Step: "other", Text: "x"})
	}
	data, _, err := s.ReadStep("j", "flaky", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		p, err := logstore.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s #%d", p.Text, p.Attempt))
	}
	if diff := cmp.Diff([]string{"try 1 #0", "try 2 #2", "try 3 #3"}, got); diff != "" {
		t.Errorf("step lines (-want +got):\n%s", diff)
	}
	p, err := logstore.ParseLine([]byte(`{"attempt":4,"line":"x","step":"s","stream":"stdout","ts":"2026-02-10T12:00:00Z"}`))
	if err != nil || p.Attempt != 4 || p.Text != "x" {
		t.Errorf("reordered line: %+v, %v", p, err)
	}
}
