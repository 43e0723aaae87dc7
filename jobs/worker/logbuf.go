package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"runnel/jobs/shell"
)

// maxPushBytes bounds the JSON size of one log push (the server takes
// 4 MiB).
const maxPushBytes = 2 << 20

// lineOverhead is the JSON framing of one pushed line besides its text
// (ts, stream, keys, punctuation), generously counted.
const lineOverhead = 80

// LogBuffer holds a step's unsent log lines in order. Add blocks while
// the buffer holds Max bytes or more (back-pressure on the step's pipes:
// lines are never dropped), until lines are sent or the buffer is
// abandoned. Safe for concurrent use; one Pump goroutine drains it.
type LogBuffer struct {
	max int

	mu        sync.Mutex
	space     *sync.Cond // broadcast when bytes shrink or state changes
	lines     []shell.Line
	bytes     int
	closed    bool // no more Add calls
	abandoned bool // the server refused the step's lines: discard
	kick      chan struct{}
}

// NewLogBuffer returns a buffer blocking writers at max bytes.
func NewLogBuffer(max int) *LogBuffer {
	b := &LogBuffer{max: max, kick: make(chan struct{}, 1)}
	b.space = sync.NewCond(&b.mu)
	return b
}

func lineSize(l shell.Line) int { return len(l.Text) + lineOverhead }

// Add appends lines, first waiting while the buffer is full. Lines added
// after Abandon are discarded.
func (b *LogBuffer) Add(lines []shell.Line) {
	if len(lines) == 0 {
		return
	}
	b.mu.Lock()
	for b.bytes >= b.max && !b.abandoned {
		b.space.Wait()
	}
	if !b.abandoned {
		b.lines = append(b.lines, lines...)
		for _, l := range lines {
			b.bytes += lineSize(l)
		}
	}
	full := len(b.lines) >= MaxPushLines || b.bytes >= b.max
	b.mu.Unlock()
	if full {
		b.signal()
	}
}

func (b *LogBuffer) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Close says no more lines come; Pump returns once the rest is sent.
func (b *LogBuffer) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.signal()
}

// Abandon discards the buffered lines and every later one, releasing
// blocked writers.
func (b *LogBuffer) Abandon() {
	b.mu.Lock()
	b.abandoned = true
	b.lines, b.bytes = nil, 0
	b.space.Broadcast()
	b.mu.Unlock()
	b.signal()
}

// Buffered returns the number of unsent lines and their size.
func (b *LogBuffer) Buffered() (lines, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines), b.bytes
}

// next returns the oldest batch (≤ MaxPushLines lines, ≤ maxPushBytes of
// JSON), whether the buffer is finished (closed and empty, or abandoned).
func (b *LogBuffer) next() (batch []shell.Line, finished bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned || (b.closed && len(b.lines) == 0) {
		return nil, true
	}
	size := 0
	n := 0
	for n < len(b.lines) && n < MaxPushLines {
		s := jsonSize(b.lines[n].Text) + lineOverhead
		if n > 0 && size+s > maxPushBytes {
			break
		}
		size += s
		n++
	}
	return b.lines[:n:n], false
}

// drop removes the first n lines (they were sent).
func (b *LogBuffer) drop(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned {
		return
	}
	for _, l := range b.lines[:n] {
		b.bytes -= lineSize(l)
	}
	b.lines = append([]shell.Line(nil), b.lines[n:]...)
	b.space.Broadcast()
}

// errDropBatch tells Pump to skip a batch the server cannot take.
var errDropBatch = errors.New("log batch refused")

// Pump sends the buffered lines with push, oldest first, whenever flush
// has passed or MaxPushLines are waiting, until the buffer is closed and
// empty. push returns nil when the lines were accepted, errDropBatch to
// skip a batch the server cannot take, any other error to abandon the
// buffer (the server refused the step, or ctx ended). Pump reports the
// error that abandoned it, or nil.
func (b *LogBuffer) Pump(ctx context.Context, flush time.Duration, push func(ctx context.Context, lines []shell.Line) error) error {
	tick := time.NewTicker(flush)
	defer tick.Stop()
	for {
		b.mu.Lock()
		idle := !b.closed && !b.abandoned && len(b.lines) < MaxPushLines && b.bytes < b.max
		b.mu.Unlock()
		if idle {
			select {
			case <-tick.C:
			case <-b.kick:
			case <-ctx.Done():
				b.Abandon()
				return ctx.Err()
			}
		}
		// Send everything waiting now.
		for {
			batch, finished := b.next()
			if finished {
				return nil
			}
			if len(batch) == 0 {
				break
			}
			err := push(ctx, batch)
			switch {
			case err == nil, err == errDropBatch:
				b.drop(len(batch))
			default:
				b.Abandon()
				return err
			}
		}
	}
}

// jsonSize is an upper bound of the length of s encoded as a JSON string
// by encoding/json (HTML-escaped), quotes included.
func jsonSize(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6
		case c == 0xe2: // U+2028 / U+2029 start with e2 and become \u2028
			n += 6
		default:
			n++
		}
	}
	return n
}
