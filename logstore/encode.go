package logstore

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// MaskText replaces every occurrence of a masked value in a log line.
const MaskText = "••••••"

// truncatedSuffix ends a line cut at MaxLine.
const truncatedSuffix = " …[truncated]"

// minMaskLen is the shortest masked value, in characters (SPEC §5.10).
const minMaskLen = 4

// jsonSafe[b] reports whether ASCII byte b is copied as is inside a JSON
// string (constant table).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// newMasker returns a replacer for the values of at least four characters,
// longest first so a value containing another is masked whole, or nil when
// there is nothing to mask.
func newMasker(values []string) *strings.Replacer {
	vs := make([]string, 0, len(values))
	for _, v := range values {
		if utf8.RuneCountInString(v) >= minMaskLen {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	slices.SortFunc(vs, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	vs = slices.Compact(vs)
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, MaskText)
	}
	return strings.NewReplacer(pairs...)
}

// encoder turns Lines into the file format. It is owned by one jobLog and
// used only under its lock.
type encoder struct {
	mask    *strings.Replacer // nil: nothing to mask
	maxLine int
	scratch sliceWriter // masked text of the current line

	tsSec    int64    // unix second tsPrefix was made for
	tsOK     bool     // tsPrefix is valid
	tsPrefix [20]byte // "2006-01-02T15:04:05."
}

// sliceWriter collects a strings.Replacer's output without allocating.
type sliceWriter []byte

func (w *sliceWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}

func (w *sliceWriter) WriteString(s string) (int, error) {
	*w = append(*w, s...)
	return len(s), nil
}

var _ io.StringWriter = (*sliceWriter)(nil)

// appendLine appends l, masked and cut to maxLine, as one encoded line
// ending in '\n'.
func (e *encoder) appendLine(dst []byte, l Line) []byte {
	text := l.Text
	if e.mask != nil {
		e.scratch = e.scratch[:0]
		_, _ = e.mask.WriteString(&e.scratch, text)
		// The string aliases scratch, which is not touched again until
		// the next line: no copy per line.
		text = unsafe.String(unsafe.SliceData(e.scratch), len(e.scratch))
	}
	cut := false
	if e.maxLine > 0 && len(text) > e.maxLine {
		text = text[:utf8Boundary(text, e.maxLine)]
		cut = true
	}
	dst = append(dst, `{"ts":"`...)
	dst = e.appendTS(dst, l.TS)
	dst = append(dst, `","stream":`...)
	dst = appendJSONString(dst, l.Stream, "")
	dst = append(dst, `,"step":`...)
	dst = appendJSONString(dst, l.Step, "")
	dst = append(dst, `,"line":`...)
	suffix := ""
	if cut {
		suffix = truncatedSuffix
	}
	dst = appendJSONString(dst, text, suffix)
	if l.Attempt > 1 {
		dst = append(dst, `,"attempt":`...)
		dst = strconv.AppendInt(dst, int64(l.Attempt), 10)
	}
	return append(dst, "}\n"...)
}

// utf8Boundary returns the largest n' ≤ n such that s[:n'] does not end
// inside a valid UTF-8 sequence.
func utf8Boundary(s string, n int) int {
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if !utf8.RuneStart(s[i]) {
			continue
		}
		// s[i] starts a sequence: cut before it if it does not fit.
		if _, size := utf8.DecodeRuneInString(s[i:]); i+size > n && size > 1 {
			return i
		}
		return n
	}
	return n
}

// appendTS appends t as UTC with milliseconds (truncated), without the
// quotes: 2026-02-10T12:00:00.123Z. A zero time or a year outside
// 0000–9999 is replaced by the current time.
func (e *encoder) appendTS(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	sec := t.Unix()
	if !e.tsOK || sec != e.tsSec {
		u := t.UTC()
		if y := u.Year(); y < 0 || y > 9999 {
			t = time.Now()
			sec, u = t.Unix(), t.UTC()
		}
		y, mo, d := u.Date()
		h, mi, s := u.Clock()
		p := e.tsPrefix[:0]
		p = append(p, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
		p = append2(p, int(mo))
		p = append(p, '-')
		p = append2(p, d)
		p = append(p, 'T')
		p = append2(p, h)
		p = append(p, ':')
		p = append2(p, mi)
		p = append(p, ':')
		p = append2(p, s)
		_ = append(p, '.')
		e.tsSec, e.tsOK = sec, true
	}
	ms := t.Nanosecond() / 1e6
	dst = append(dst, e.tsPrefix[:]...)
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendJSONString appends s+suffix as a quoted JSON string: '"' and '\\'
// escaped, control characters as \n, \r, \t, \b, \f or \u00XX, U+2028 and
// U+2029 as \u escapes, and each byte of invalid UTF-8 as U+FFFD. suffix is
// plain text needing no escapes.
func appendJSONString(dst []byte, s, suffix string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	dst = append(dst, suffix...)
	return append(dst, '"')
}

// formatSize renders a byte count for messages: "64 MiB", "512 KiB",
// "1000 bytes".
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
