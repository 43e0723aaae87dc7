package logstore_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/logstore"
)

// fdCounter counts this process's open file descriptors on files in dir,
// from /proc/self/fd. It lists that directory through one handle kept
// open, so the only descriptors opened and closed while it samples are the
// log files themselves, and a count never exceeds the number that were
// open at once.
type fdCounter struct {
	prefix string
	mu     sync.Mutex
	proc   *os.File
}

func newFDCounter(t testing.TB, dir string) *fdCounter {
	t.Helper()
	proc, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count open files: %v", err)
	}
	t.Cleanup(func() { proc.Close() })
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fdCounter{prefix: real + string(filepath.Separator), proc: proc}
}

func (c *fdCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.proc.Seek(0, io.SeekStart); err != nil {
		return 0
	}
	ents, err := c.proc.ReadDir(-1)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		// A descriptor closed since ReadDir fails to resolve: not open.
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, c.prefix) {
			n++
		}
	}
	return n
}

// TestManyJobsBoundedFiles appends to far more jobs than MaxOpen at once,
// in an interleaved order, with Syncs in between: every line is kept, in
// order, and no more than MaxOpen log files are ever open.
func TestManyJobsBoundedFiles(t *testing.T) {
	const (
		maxOpen = 8
		jobs    = 300
		lines   = 20
		writers = 16
	)
	dir := t.TempDir()
	fds := newFDCounter(t, dir)
	s := open(t, logstore.Options{Dir: dir, MaxOpen: maxOpen})

	// Each job's lines go in order (one goroutine per job at a time), but
	// the jobs interleave: writers take (job, line) pairs round-robin.
	type task struct{ job, line int }
	var order []task
	for l := range lines {
		perm := rand.Perm(jobs)
		for _, j := range perm {
			order = append(order, task{j, l})
		}
	}
	var jobMu [jobs]sync.Mutex
	var nextLine [jobs]int
	tasks := make(chan task)
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(fds.count()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tk := range tasks {
				job := fmt.Sprintf("job-%03d", tk.job)
				jobMu[tk.job].Lock()
				l := nextLine[tk.job]
				nextLine[tk.job]++
				err := s.Append(job, out("s", fmt.Sprintf("line %d", l)))
				if err == nil && l%7 == 6 {
					err = s.Sync(job) // step end: may reopen an evicted file
				}
				jobMu[tk.job].Unlock()
				if err != nil {
					t.Errorf("%s line %d: %v", job, l, err)
				}
				if n := s.OpenWriters(); n > maxOpen {
					t.Errorf("%d writer files open, MaxOpen %d", n, maxOpen)
				}
			}
		}()
	}
	for _, tk := range order {
		tasks <- tk
	}
	close(tasks)
	wg.Wait()
	if n := fds.count(); n > maxOpen {
		t.Errorf("%d log files open with every job live, MaxOpen %d", n, maxOpen)
	}

	// Finish them all at once (Finish reopens evicted files to fsync).
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Finish(fmt.Sprintf("job-%03d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if p := peak.Load(); p > maxOpen {
		t.Errorf("peak of %d log files open, MaxOpen %d", p, maxOpen)
	}
	if n := fds.count(); n != 0 || s.OpenWriters() != 0 {
		t.Errorf("after Finish: %d log files open, %d slots taken", n, s.OpenWriters())
	}

	want := make([]string, lines)
	for l := range want {
		want[l] = fmt.Sprintf("s|line %d", l)
	}
	for i := range jobs {
		job := fmt.Sprintf("job-%03d", i)
		if diff := cmp.Diff(want, texts(t, fileOf(t, dir, job))); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", job, diff)
		}
	}
}

// TestEvictionKeepsWriterState checks that a job whose file was closed for
// another job's slot goes on as if it had stayed open: masking (asked
// once), the step cap and its one notice, the append position.
func TestEvictionKeepsWriterState(t *testing.T) {
	dir := t.TempDir()
	var maskCalls sync.Map
	s := open(t, logstore.Options{Dir: dir, MaxOpen: 1, MaxStepBytes: 30,
		Mask: func(job string) []string {
			n, _ := maskCalls.LoadOrStore(job, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return []string{"hunter2-" + job}
		}})
	// Each line of step "big" counts 10 bytes: three fit in 30. Every
	// append closes the other job's file.
	steps := []struct{ job, text string }{
		{"a", "hunter2-a"},
		{"b", "hunter2-b"},
		{"a", "123456789"},
		{"b", "123456789"},
		{"a", "hunter2-a"},
		{"b", "123456789"},
		{"a", "dropped!!"}, // over the cap: notice
		{"b", "hunter2-b"}, // over the cap: notice
		{"a", "dropped!!"}, // no second notice
	}
	for _, st := range steps {
		mustAppend(t, s, st.job, out("big", st.text))
		if n := s.OpenWriters(); n != 1 {
			t.Fatalf("%d writer files open, want 1", n)
		}
	}
	notice := "_server|[logs] Step 'big' exceeded 30 bytes of output; further lines dropped"
	wantA := []string{"big|••••••", "big|123456789", "big|••••••", notice}
	wantB := []string{"big|••••••", "big|123456789", "big|123456789", notice}
	for job, want := range map[string][]string{"a": wantA, "b": wantB} {
		if diff := cmp.Diff(want, texts(t, fileOf(t, dir, job))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", job, diff)
		}
		if n, _ := maskCalls.Load(job); n.(*atomic.Int32).Load() != 1 {
			t.Errorf("Mask of %s called %d times, want once per writer", job, n.(*atomic.Int32).Load())
		}
	}
}

// TestFollowAcrossEviction follows a job whose writer file is closed and
// reopened between its appends: nothing lost or repeated, and a follower
// holds no file once its backfill is delivered.
func TestFollowAcrossEviction(t *testing.T) {
	dir := t.TempDir()
	fds := newFDCounter(t, dir)
	s := open(t, logstore.Options{Dir: dir, MaxOpen: 1})
	mustAppend(t, s, "a", numbered("s", 0, 3)...)
	early, err := s.Follow("a", 0) // backfill from the open writer's file
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	mustAppend(t, s, "b", numbered("other", 0, 1)...) // closes a's file
	late, err := s.Follow("a", 0)                     // a is live, its file closed
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()

	ctx := context.Background()
	for _, f := range []*logstore.Follower{early, late} {
		if data, _, err := f.Next(ctx); err != nil || len(texts(t, string(data))) != 3 {
			t.Fatalf("backfill %q, %v", data, err)
		}
	}
	// Only b's writer is open; the followers dropped theirs after the
	// backfill (the next Next call, which now waits for live data).
	nextDone := make(chan string, 2)
	for _, f := range []*logstore.Follower{early, late} {
		go func() {
			data, _, err := f.Next(ctx)
			if err != nil {
				t.Error(err)
			}
			nextDone <- string(data)
		}()
	}
	mustAppend(t, s, "a", numbered("s", 3, 2)...) // reopens a, closes b
	for range 2 {
		if got := texts(t, <-nextDone); len(got) != 2 || got[0] != "s|line 3" {
			t.Errorf("live chunk %q", got)
		}
	}
	if n := fds.count(); n != 1 {
		t.Errorf("%d log files open, want 1 (a's writer)", n)
	}
	mustAppend(t, s, "b", numbered("other", 1, 1)...) // closes a
	mustAppend(t, s, "a", numbered("s", 5, 1)...)
	if err := s.Finish("a"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*logstore.Follower{early, late} {
		if got := texts(t, drain(t, f)); len(got) != 1 || got[0] != "s|line 5" {
			t.Errorf("after reopen: %q", got)
		}
	}
	var want []string
	for i := range 6 {
		want = append(want, fmt.Sprintf("s|line %d", i))
	}
	if diff := cmp.Diff(want, texts(t, fileOf(t, dir, "a"))); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
}

// TestFinishedMemoryBounded finishes many jobs: the Store keeps no entry
// for them and remembers only the most recent RecentFinished; a follower
// of a recent one ends by itself, one of an older one with EndAtCurrent.
func TestFinishedMemoryBounded(t *testing.T) {
	const recent = 5
	s := open(t, logstore.Options{RecentFinished: recent})
	for i := range 200 {
		job := fmt.Sprintf("j%d", i)
		mustAppend(t, s, job, out("s", job))
		if err := s.Finish(job); err != nil {
			t.Fatal(err)
		}
	}
	if jobs, finished := s.Remembered(); jobs != 0 || finished != recent {
		t.Fatalf("after 200 finished jobs: %d entries, %d finished remembered; want 0, %d", jobs, finished, recent)
	}
	last, err := s.Follow("j199", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	if got := texts(t, drain(t, last)); !cmp.Equal(got, []string{"s|j199"}) {
		t.Errorf("recent job: %q", got)
	}
	first, err := s.Follow("j0", 0)
	if err != nil {
		t.Fatal(err)
	}
	first.EndAtCurrent() // what a caller does for a job it knows is terminal
	if got := texts(t, drain(t, first)); !cmp.Equal(got, []string{"s|j0"}) {
		t.Errorf("old job: %q", got)
	}
	first.Close()
	if jobs, _ := s.Remembered(); jobs != 0 {
		t.Errorf("%d entries after the followers ended, want 0", jobs)
	}
	// Writing again after Finish (a hook's outcome) forgets the finish.
	mustAppend(t, s, "j199", out("s", "late"))
	if _, finished := s.Remembered(); finished != recent-1 {
		t.Errorf("%d finished remembered after a late write, want %d", finished, recent-1)
	}
}
