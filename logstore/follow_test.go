package logstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/logstore"
)

// wait is the deadline for events in tests; it is never expected to pass.
const wait = 10 * time.Second

// drain reads f to io.EOF and returns the bytes (see drainErr).
func drain(t testing.TB, f *logstore.Follower) string {
	t.Helper()
	got, err := drainErr(f)
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	return got
}

// drainErr reads f to io.EOF, checking that each chunk is whole lines and
// that next offsets are contiguous. Safe to call from any goroutine.
func drainErr(f *logstore.Follower) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var b strings.Builder
	var last int64 = -1
	for {
		data, next, err := f.Next(ctx)
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			return b.String(), fmt.Errorf("chunk %q is not whole lines", data)
		}
		if last >= 0 && next != last+int64(len(data)) {
			return b.String(), fmt.Errorf("next offset %d after %d + %d bytes", next, last, len(data))
		}
		last = next
		b.Write(data)
	}
}

// drainTo drains f into *got from another goroutine, reporting errors.
func drainTo(t testing.TB, f *logstore.Follower, got *string) func() {
	return func() {
		var err error
		if *got, err = drainErr(f); err != nil {
			t.Errorf("follow: %v", err)
		}
	}
}

func checkChunk(t testing.TB, data []byte) {
	t.Helper()
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("chunk %q is not whole lines", data)
	}
}

// next returns f's next chunk within the test deadline.
func next(t testing.TB, f *logstore.Follower) ([]byte, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data, off, err := f.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	checkChunk(t, data)
	return append([]byte(nil), data...), off
}

func numbered(step string, from, n int) []logstore.Line {
	ls := make([]logstore.Line, n)
	for i := range ls {
		ls[i] = out(step, fmt.Sprintf("line %d", from+i))
	}
	return ls
}

func TestFollowBackfillLiveEOF(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j", numbered("s", 0, 3)...)
	mustAppend(t, s, "j", numbered("s", 3, 2)...)
	backfill := fileOf(t, dir, "j")

	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, off := next(t, f)
	if string(data) != backfill || off != int64(len(backfill)) {
		t.Errorf("backfill = %q, %d; want %q, %d", data, off, backfill, len(backfill))
	}
	// Live: one chunk per Append, byte-identical to what it wrote.
	for i := range 3 {
		batch := numbered("live", 10*i, i+1)
		mustAppend(t, s, "j", batch...)
		var want []byte
		for _, l := range batch {
			want = append(want, logstore.EncodeLine(l)...)
		}
		data, off := next(t, f)
		if diff := cmp.Diff(string(want), string(data)); diff != "" {
			t.Errorf("live chunk %d (-want +got):\n%s", i, diff)
		}
		if size, _ := s.Size("j"); off != size {
			t.Errorf("next offset %d, file size %d", off, size)
		}
	}
	mustAppend(t, s, "j", out("s", "last"))
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	rest := drain(t, f)
	if got := backfill + rest; !strings.HasSuffix(fileOf(t, dir, "j"), rest) || !strings.Contains(rest, `"line":"last"`) {
		t.Errorf("after Finish got %q (total %d bytes)", rest, len(got))
	}
	// EOF is sticky.
	if _, _, err := f.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after EOF = %v", err)
	}
}

func TestFollowSkipBackfill(t *testing.T) {
	s := open(t, logstore.Options{})
	mustAppend(t, s, "j", numbered("s", 0, 5)...)
	size, _ := s.Size("j")
	f, err := s.Follow("j", -1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustAppend(t, s, "j", out("s", "new"))
	data, off := next(t, f)
	if want := string(logstore.EncodeLine(out("s", "new"))); string(data) != want || off != size+int64(len(want)) {
		t.Errorf("got %q, %d", data, off)
	}
}

func TestFollowBeforeFirstAppend(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustAppend(t, s, "j", numbered("s", 0, 2)...)
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	if got, want := drain(t, f), fileOf(t, dir, "j"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFollowResume follows from every line start while appends continue
// and checks each follower gets exactly the file from there.
func TestFollowResume(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j", numbered("s", 0, 20)...)
	data, _, err := s.Read("j", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for off := 0; off < len(data); {
		starts = append(starts, int64(off))
		off += strings.IndexByte(string(data[off:]), '\n') + 1
	}
	starts = append(starts, int64(len(data)))

	followers := make([]*logstore.Follower, len(starts))
	for i, off := range starts {
		if followers[i], err = s.Follow("j", off); err != nil {
			t.Fatal(err)
		}
		defer followers[i].Close()
		mustAppend(t, s, "j", numbered("live", 100*i, 1+i%3)...)
	}
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	file := fileOf(t, dir, "j")
	for i, f := range followers {
		if got, want := drain(t, f), file[starts[i]:]; got != want {
			t.Errorf("from %d: got %d bytes, want %d", starts[i], len(got), len(want))
		}
	}
}

// TestFollowResumeChunks resumes a follower at each next offset it returned.
func TestFollowResumeChunks(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	for i := range 10 {
		mustAppend(t, s, "j", numbered("s", 10*i, 10)...)
	}
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	file := fileOf(t, dir, "j")
	var got string
	var off int64
	for off < int64(len(file)) {
		f, err := s.Follow("j", off)
		if err != nil {
			t.Fatal(err)
		}
		data, n := next(t, f)
		f.Close()
		if n != off+int64(len(data)) {
			t.Fatalf("next %d after %d bytes from %d", n, len(data), off)
		}
		got += string(data)
		off = n
	}
	if got != file {
		t.Errorf("resumed chunks differ from the file")
	}
}

func TestFollowConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j", numbered("s", 0, 50)...)
	f1, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := s.Append("j", numbered(fmt.Sprintf("w%d", w), 10*i, 10)...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	f2, err := s.Follow("j", 0) // subscribes in the middle of the appends
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	var got1, got2 string
	var rg sync.WaitGroup
	rg.Go(drainTo(t, f1, &got1))
	rg.Go(drainTo(t, f2, &got2))
	wg.Wait()
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	rg.Wait()
	file := fileOf(t, dir, "j")
	if got1 != file || got2 != file {
		t.Errorf("followers got %d and %d bytes, file has %d", len(got1), len(got2), len(file))
	}
	if n := strings.Count(file, "\n"); n != 50+4*50*10 {
		t.Errorf("file has %d lines", n)
	}
}

func TestFollowSlowReader(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, FollowBuffer: 4 << 10})
	mustAppend(t, s, "j", numbered("s", 0, 10)...)
	slow, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	// The slow follower reads the backfill and one live chunk, then stops.
	backfill, _ := next(t, slow)
	mustAppend(t, s, "j", numbered("s", 10, 5)...)
	live, delivered := next(t, slow)

	fastGot := string(backfill) + string(live)
	if b, _ := next(t, fast); string(b) != string(backfill) {
		t.Fatalf("fast follower's backfill %q", b)
	}
	if l, _ := next(t, fast); string(l) != string(live) {
		t.Fatalf("fast follower's live chunk %q", l)
	}
	// The writer is never held up by the slow follower: 200 batches of 10
	// lines ≈ 170 KiB, far over its 4 KiB queue. The fast one reads each
	// batch as it comes (its queue is bounded too).
	for i := range 200 {
		mustAppend(t, s, "j", numbered("s", 100+10*i, 10)...)
		data, _ := next(t, fast)
		fastGot += string(data)
	}
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	file := fileOf(t, dir, "j")
	if got := fastGot + drain(t, fast); got != file {
		t.Errorf("fast follower got %d bytes, file has %d", len(got), len(file))
	}
	if delivered != int64(len(backfill)+len(live)) {
		t.Fatalf("delivered %d", delivered)
	}
	// The slow one may get queued chunks before the error; the error's
	// offset is what it delivered.
	got := string(backfill) + string(live)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var slowErr *logstore.SlowReaderError
	for {
		data, _, err := slow.Next(ctx)
		if errors.As(err, &slowErr) {
			break
		}
		if err != nil {
			t.Fatalf("slow follower: %v, want *SlowReaderError", err)
		}
		got += string(data)
	}
	if slowErr.Offset != int64(len(got)) || file[:len(got)] != got {
		t.Fatalf("SlowReaderError offset %d after %d bytes", slowErr.Offset, len(got))
	}
	if slowErr.Offset >= int64(len(file)) {
		t.Fatalf("the slow follower was not cut off (offset %d, file %d)", slowErr.Offset, len(file))
	}
	if want := fmt.Sprintf("slow reader; resume at offset %d", slowErr.Offset); slowErr.Error() != want {
		t.Errorf("error text %q", slowErr.Error())
	}
	// Resuming from the offset gives the rest exactly.
	r, err := s.Follow("j", slowErr.Offset)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rest := drain(t, r); got+rest != file {
		t.Errorf("resumed follower: %d + %d bytes, file has %d", len(got), len(rest), len(file))
	}
}

func TestFollowAfterFinish(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	mustAppend(t, s, "j", numbered("s", 0, 3)...)
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := drain(t, f); got != fileOf(t, dir, "j") {
		t.Errorf("got %q", got)
	}
	// A job finished with no log at all ends at once.
	if err := s.Finish("empty"); err != nil {
		t.Fatal(err)
	}
	e, err := s.Follow("empty", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := drain(t, e); got != "" {
		t.Errorf("empty job: %q", got)
	}

	// An Append after Finish (a hook's outcome) reopens the log: a new
	// follower sees it and waits for the next Finish.
	mustAppend(t, s, "j", out(logstore.ServerStep, "hook done"))
	g, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	data, _ := next(t, g)
	mustAppend(t, s, "j", out(logstore.ServerStep, "after"))
	live, _ := next(t, g)
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	if rest := drain(t, g); string(data)+string(live)+rest != fileOf(t, dir, "j") || rest != "" {
		t.Errorf("reopened follower: %q + %q + %q", data, live, rest)
	}
}

func TestEndAtCurrent(t *testing.T) {
	dir := t.TempDir()
	first := open(t, logstore.Options{Dir: dir})
	mustAppend(t, first, "j", numbered("s", 0, 5)...)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process: the job finished before it started.
	s := open(t, logstore.Options{Dir: dir})
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.EndAtCurrent()
	f.EndAtCurrent()
	if got := drain(t, f); got != fileOf(t, dir, "j") {
		t.Errorf("got %q", got)
	}

	// On a live follower it ends after what was written before the call,
	// including queued live chunks.
	g, err := s.Follow("j", -1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	mustAppend(t, s, "j", out("s", "queued"))
	g.EndAtCurrent()
	mustAppend(t, s, "j", out("s", "after"))
	if got := drain(t, g); got != string(logstore.EncodeLine(out("s", "queued"))) {
		t.Errorf("got %q", got)
	}
	// Consistent with Finish.
	if err := s.Finish("j"); err != nil {
		t.Fatal(err)
	}
	g.EndAtCurrent()
}

func TestFollowContextAndClose(t *testing.T) {
	s := open(t, logstore.Options{})
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, _, err := f.Next(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next = %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("Next ignored ctx")
	}

	// Close from another goroutine ends a blocked Next.
	go func() {
		_, _, err := f.Next(context.Background())
		errc <- err
	}()
	f.Close()
	f.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, logstore.ErrClosed) {
			t.Errorf("Next after Close = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not end Next")
	}

	// Store.Close ends every follower.
	g, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	go func() {
		_, _, err := g.Next(context.Background())
		errc <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, logstore.ErrClosed) {
			t.Errorf("Next after Store.Close = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Store.Close did not end Next")
	}
}

func TestRemoveEndsFollowers(t *testing.T) {
	s := open(t, logstore.Options{})
	mustAppend(t, s, "j", out("s", "x"))
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Remove("j"); err != nil {
		t.Fatal(err)
	}
	// The backfill is read from the file opened before the removal.
	if got := drain(t, f); got != string(logstore.EncodeLine(out("s", "x"))) {
		t.Errorf("got %q", got)
	}
}
