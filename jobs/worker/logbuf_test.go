package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/jobs/shell"
	"runnel/jobs/worker"
)

func lines(from, n int) []shell.Line {
	out := make([]shell.Line, n)
	for i := range out {
		out[i] = shell.Line{TS: time.Now(), Stream: "stdout", Text: fmt.Sprintf("line %d", from+i)}
	}
	return out
}

// TestLogBufferOrderAndBatches: every line arrives once, in order, in
// batches of at most MaxPushLines.
func TestLogBufferOrderAndBatches(t *testing.T) {
	b := worker.NewLogBuffer(16 << 20)
	var mu sync.Mutex
	var got []string
	done := make(chan error)
	go func() {
		done <- b.Pump(t.Context(), time.Hour, func(ctx context.Context, batch []shell.Line) error {
			if len(batch) > worker.MaxPushLines {
				t.Errorf("batch of %d lines", len(batch))
			}
			mu.Lock()
			for _, l := range batch {
				got = append(got, l.Text)
			}
			mu.Unlock()
			return nil
		})
	}()
	const total = 2345
	for i := 0; i < total; i += 7 {
		b.Add(lines(i, min(7, total-i)))
	}
	b.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("%d lines delivered, want %d", len(got), total)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
}

// TestLogBufferBackPressure: a writer blocks while the buffer is full and
// goes on once the pump has sent lines; nothing is dropped meanwhile.
func TestLogBufferBackPressure(t *testing.T) {
	b := worker.NewLogBuffer(1000) // a few lines fill it
	release := make(chan struct{})
	var sent []string
	done := make(chan error)
	go func() {
		done <- b.Pump(t.Context(), time.Millisecond, func(ctx context.Context, batch []shell.Line) error {
			<-release // the server is down until released
			for _, l := range batch {
				sent = append(sent, l.Text)
			}
			return nil
		})
	}()
	wrote := make(chan int, 100)
	go func() {
		for i := 0; i < 100; i++ {
			b.Add(lines(i, 1))
			wrote <- i
		}
		close(wrote)
	}()
	// The writer gets stuck once the buffer holds ≥ 1000 bytes.
	deadline := time.After(10 * time.Second)
	for {
		n, size := b.Buffered()
		if size >= 1000 {
			if n >= 100 {
				t.Fatalf("all %d lines buffered in %d bytes", n, size)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatalf("buffer never filled: %d lines, %d bytes", n, size)
		case <-time.After(time.Millisecond):
		}
	}
	if len(wrote) >= 100 {
		t.Fatalf("writer was not blocked")
	}
	close(release)
	for range wrote {
	}
	b.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sent) != 100 || sent[0] != "line 0" || sent[99] != "line 99" {
		t.Errorf("sent %d lines: %v … ", len(sent), sent[:min(3, len(sent))])
	}
}

// TestLogBufferRefused: a refusal abandons the buffer, releasing blocked
// writers; errDropBatch-style skips keep going.
func TestLogBufferRefused(t *testing.T) {
	b := worker.NewLogBuffer(100)
	refused := errors.New("Step is not running (HTTP 409)")
	done := make(chan error)
	go func() {
		done <- b.Pump(t.Context(), time.Millisecond, func(ctx context.Context, batch []shell.Line) error {
			return refused
		})
	}()
	for i := range 50 { // far beyond the cap: must not block after the refusal
		b.Add(lines(i, 1))
	}
	if err := <-done; !errors.Is(err, refused) {
		t.Errorf("pump ended with %v", err)
	}
	if n, _ := b.Buffered(); n != 0 {
		t.Errorf("%d lines kept after abandoning", n)
	}
}

// TestLogBufferFlushInterval: a few lines go out without Close after the
// flush interval.
func TestLogBufferFlushInterval(t *testing.T) {
	b := worker.NewLogBuffer(1 << 20)
	got := make(chan []shell.Line, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Pump(ctx, 10*time.Millisecond, func(ctx context.Context, batch []shell.Line) error {
		got <- batch
		return nil
	})
	b.Add(lines(0, 3))
	select {
	case batch := <-got:
		if len(batch) != 3 {
			t.Errorf("batch %v", batch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lines never flushed")
	}
}

// TestLogBufferLargeLines: batches stay under the push size limit even
// for lines that grow when JSON-escaped.
func TestLogBufferLargeLines(t *testing.T) {
	b := worker.NewLogBuffer(64 << 20)
	big := strings.Repeat("<\x01", shell.MaxLine/2) // 6 bytes each in JSON
	var in []shell.Line
	for range 100 {
		in = append(in, shell.Line{Stream: "stdout", Text: big})
	}
	b.Add(in)
	b.Close()
	batches := 0
	err := b.Pump(t.Context(), time.Hour, func(ctx context.Context, batch []shell.Line) error {
		batches++
		size := 0
		for _, l := range batch {
			size += 6 * len(l.Text)
		}
		if size > 3<<20 {
			t.Errorf("batch of %d lines is %d bytes of JSON", len(batch), size)
		}
		return nil
	})
	if err != nil || batches < 10 {
		t.Errorf("err %v, %d batches", err, batches)
	}
}
