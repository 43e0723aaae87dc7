package shell

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// truncMark ends a line cut to MaxLine.
const truncMark = " …[truncated]"

// outputPrefix starts a stdout line that sets the step output (SPEC §5.6).
const outputPrefix = "OUTPUT:"

// keepShort is how many raw bytes of a line are kept when only its log
// text matters: enough that the cut at MaxLine-len(truncMark) never lands
// on bytes damaged by cutting the raw line inside a rune.
const keepShort = MaxLine + 16

// readSize is the read buffer per pipe (the default Linux pipe capacity).
const readSize = 64 << 10

// stream reads one pipe, splits it into lines and feeds the sink. Its
// fields are owned by its reader goroutine until Run has waited for it.
type stream struct {
	name        string
	f           *os.File
	sink        Sink
	parseOutput bool         // stdout: look for OUTPUT: lines
	keepTail    bool         // stderr: keep the tail for the error message
	draining    *atomic.Bool // set by Run once the process group is gone

	line    []byte // current line's kept prefix
	lineLen int    // current line's full raw length
	pending bool   // bytes seen since the last '\n'

	output    json.RawMessage // last valid OUTPUT: value, compacted
	tail      []byte          // end of the stderr lines joined by '\n'
	tailLines int             // stderr lines seen
}

// read runs until EOF, or until the pipe is idle for drainIdle (or gave
// drainMax bytes) after Run set draining, then flushes the last line.
func (s *stream) read() {
	buf := make([]byte, readSize)
	drained := 0
	for {
		if s.draining.Load() {
			if drained >= drainMax {
				break
			}
			_ = s.f.SetReadDeadline(time.Now().Add(drainIdle))
		}
		n, err := s.f.Read(buf)
		if n > 0 {
			if s.draining.Load() {
				drained += n
			}
			s.chunk(buf[:n], time.Now())
		}
		if err != nil {
			// io.EOF, os.ErrDeadlineExceeded (abandoned pipe) or a read
			// error: the stream ends here either way.
			break
		}
	}
	if s.pending {
		s.sink([]Line{s.finish(time.Now())})
	}
}

// chunk splits data into lines and hands the complete ones to the sink.
// Lines lying wholly in data share one string allocation.
func (s *stream) chunk(data []byte, now time.Time) {
	n := bytes.Count(data, []byte{'\n'})
	if n == 0 {
		s.add(data)
		return
	}
	batch := make([]Line, 0, n)
	str := string(data)
	off := 0
	for {
		i := strings.IndexByte(str[off:], '\n')
		if i < 0 {
			break
		}
		if s.pending {
			s.add(data[off : off+i])
			batch = append(batch, s.finish(now))
		} else {
			batch = append(batch, s.whole(str[off:off+i], now))
		}
		off += i + 1
	}
	if off < len(data) {
		s.add(data[off:])
	}
	s.sink(batch)
}

// add appends part of the current line, keeping only what can matter: the
// first keepShort bytes, or MaxOutputLine+1 bytes of a stdout line starting
// with OUTPUT:.
func (s *stream) add(p []byte) {
	s.pending = true
	s.lineLen += len(p)
	for len(p) > 0 {
		room := s.keep() - len(s.line)
		if room <= 0 {
			return
		}
		n := min(room, len(p))
		s.line = append(s.line, p[:n]...)
		p = p[n:]
	}
}

func (s *stream) keep() int {
	if s.parseOutput && len(s.line) >= len(outputPrefix) && string(s.line[:len(outputPrefix)]) == outputPrefix {
		return MaxOutputLine + 1
	}
	return keepShort
}

// finish ends the current line and returns it ready for the sink.
func (s *stream) finish(now time.Time) Line {
	raw, n := s.line, s.lineLen
	if n == len(raw) && n > 0 && raw[n-1] == '\r' {
		raw, n = raw[:n-1], n-1
	}
	l := s.emit(sanitize(raw), n, n > len(raw), now)
	s.line, s.lineLen, s.pending = s.line[:0], 0, false
	return l
}

// whole returns a line received in one piece (shorter than readSize).
func (s *stream) whole(text string, now time.Time) Line {
	text = strings.TrimSuffix(text, "\r")
	n := len(text)
	if !utf8.ValidString(text) {
		text = sanitize([]byte(text))
	}
	return s.emit(text, n, false, now)
}

// emit applies the OUTPUT:, truncation and stderr-tail rules to a line:
// text is sanitized and without its "\r", n its raw length, and cut tells
// that bytes beyond text were dropped on reading.
func (s *stream) emit(text string, n int, cut bool, now time.Time) Line {
	if s.parseOutput && n <= MaxOutputLine && strings.HasPrefix(text, outputPrefix) {
		if v, ok := parseOutput(text[len(outputPrefix):]); ok {
			s.output = v
		}
	}
	if cut || len(text) > MaxLine {
		text = cutUTF8(text, MaxLine-len(truncMark)) + truncMark
	}
	if s.keepTail {
		s.addTail(text)
	}
	return Line{TS: now, Stream: s.name, Text: text}
}

// parseOutput parses what follows "OUTPUT:": optional spaces and tabs, one
// JSON value, optional trailing whitespace.
func parseOutput(rest string) (json.RawMessage, bool) {
	rest = strings.TrimLeft(rest, " \t")
	rest = strings.TrimRight(rest, " \t\r\n\v\f")
	if rest == "" {
		return nil, false
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(rest)); err != nil {
		return nil, false
	}
	return json.RawMessage(b.Bytes()), true
}

// addTail appends text to the stderr tail, keeping at least the last
// stderrTail bytes of the lines joined by '\n'.
func (s *stream) addTail(text string) {
	first := s.tailLines == 0
	s.tailLines++
	if len(text) >= stderrTail {
		s.tail = append(s.tail[:0], text[len(text)-stderrTail:]...)
		return
	}
	if !first {
		s.tail = append(s.tail, '\n')
	}
	s.tail = append(s.tail, text...)
	if len(s.tail) > 2*stderrTail {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-stderrTail:]...)
	}
}

// tailText is the last stderrTail bytes of the stderr lines joined by '\n',
// its start advanced to a UTF-8 boundary.
func (s *stream) tailText() string {
	t := s.tail
	if len(t) > stderrTail {
		t = t[len(t)-stderrTail:]
	}
	for len(t) > 0 && !utf8.RuneStart(t[0]) {
		t = t[1:]
	}
	return string(t)
}

// sanitize returns b as a string with each invalid UTF-8 byte replaced by
// U+FFFD.
func sanitize(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
