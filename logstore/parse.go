package logstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// errNotFast reports a line outside the writer's exact format; such lines
// go to the encoding/json fallback.
var errNotFast = errors.New("not in the writer's format")

// ParseLine parses one log line, with or without its trailing '\n'. Lines in
// the writer's exact format take a fast path; any other JSON object with
// string fields "ts" (RFC 3339), "stream", "step" and "line" is accepted
// too. Anything else is an error. TS is returned in UTC.
func ParseLine(b []byte) (Line, error) {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	if f, ok := splitFast(b); ok {
		ts, ok := parseTS(f.ts)
		if ok {
			return Line{TS: ts, Stream: unquote(f.stream), Step: unquote(f.step), Text: unquote(f.text), Attempt: f.attempt}, nil
		}
	}
	return parseLineJSON(b)
}

// parseLineJSON is ParseLine's fallback for lines outside the fast format.
func parseLineJSON(b []byte) (Line, error) {
	var v struct {
		TS      *string `json:"ts"`
		Stream  *string `json:"stream"`
		Step    *string `json:"step"`
		Line    *string `json:"line"`
		Attempt any     `json:"attempt"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Line{}, fmt.Errorf("parse log line: %w", err)
	}
	if v.TS == nil || v.Stream == nil || v.Step == nil || v.Line == nil {
		return Line{}, errors.New("parse log line: missing ts, stream, step or line")
	}
	ts, err := time.Parse(time.RFC3339Nano, *v.TS)
	if err != nil {
		return Line{}, fmt.Errorf("parse log line: %w", err)
	}
	return Line{TS: ts.UTC(), Stream: *v.Stream, Step: *v.Step, Text: *v.Line, Attempt: attemptOf(v.Attempt)}, nil
}

// maxAttempt bounds the attempt numbers read back (far above any retry
// policy).
const maxAttempt = 1 << 20

// attemptOf reads a line's "attempt": an integer from 2 to maxAttempt, else
// 0 (the first attempt; anything else is ignored like an unknown key).
func attemptOf(v any) int {
	f, ok := v.(float64)
	if !ok || f < 2 || f > maxAttempt || f != float64(int(f)) {
		return 0
	}
	return int(f)
}

// fastFields are the raw (still escaped) contents of the four strings of a
// line in the writer's format.
type fastFields struct {
	ts, stream, step, text []byte
	// attempt is the optional trailing "attempt" (0 when absent).
	attempt int
}

// splitFast splits a line of the exact form
// {"ts":"…","stream":"…","step":"…","line":"…"} (no '\n'), optionally
// ending ,"attempt":N with N from 2 to 9999, checking that every string is
// valid JSON. It does not look at the ts value.
func splitFast(b []byte) (f fastFields, ok bool) {
	var i int
	if f.ts, i, ok = field(b, 0, `{"ts":`); !ok {
		return f, false
	}
	if f.stream, i, ok = field(b, i, `,"stream":`); !ok {
		return f, false
	}
	if f.step, i, ok = field(b, i, `,"step":`); !ok {
		return f, false
	}
	if f.text, i, ok = field(b, i, `,"line":`); !ok {
		return f, false
	}
	if rest, found := bytes.CutPrefix(b[i:], []byte(`,"attempt":`)); found {
		n := 0
		for len(rest) > 1 && rest[0] >= '0' && rest[0] <= '9' && n < 1000 && (n > 0 || rest[0] != '0') {
			n = n*10 + int(rest[0]-'0')
			rest = rest[1:]
		}
		if n < 2 || len(rest) != 1 || rest[0] != '}' {
			return f, false
		}
		f.attempt = n
		return f, true
	}
	return f, i == len(b)-1 && b[i] == '}'
}

// field expects key at b[i:] followed by a JSON string; it returns the
// string's raw contents and the index after its closing quote.
func field(b []byte, i int, key string) (raw []byte, next int, ok bool) {
	if !bytes.HasPrefix(b[i:], []byte(key)) {
		return nil, 0, false
	}
	i += len(key)
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end, ok := scanString(b, i+1)
	if !ok {
		return nil, 0, false
	}
	return b[i+1 : end], end + 1, true
}

// scanString returns the index of the quote closing the JSON string whose
// contents start at b[i], checking escapes and rejecting control
// characters.
func scanString(b []byte, i int) (int, bool) {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if i+1 >= len(b) {
				return 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		default:
			i++
		}
	}
	return 0, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// plain reports whether raw string contents need no decoding.
func plain(raw []byte) bool {
	return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
}

// unquote decodes raw contents already checked by scanString, exactly as
// encoding/json does: invalid UTF-8 bytes and unpaired surrogates become
// U+FFFD.
func unquote(raw []byte) string {
	if plain(raw) {
		return string(raw)
	}
	out := make([]byte, 0, len(raw)+2*utf8.UTFMax)
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			switch e := raw[i+1]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := getu4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if d := utf16.DecodeRune(r, getu4(raw[i+2:])); d != utf8.RuneError {
							r = d
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		out = utf8.AppendRune(out, r)
		i += size
	}
	return string(out)
}

// getu4 decodes the four hex digits at the start of b (already checked).
func getu4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// parseTS parses exactly 2006-01-02T15:04:05.000Z with the range checks of
// time.Parse.
func parseTS(b []byte) (time.Time, bool) {
	const layout = "dddd-dd-ddTdd:dd:dd.dddZ"
	if len(b) != len(layout) {
		return time.Time{}, false
	}
	for i := range len(layout) {
		if layout[i] == 'd' {
			if b[i] < '0' || b[i] > '9' {
				return time.Time{}, false
			}
		} else if b[i] != layout[i] {
			return time.Time{}, false
		}
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d := num(0, 4), num(5, 2), num(8, 2)
	h, mi, s, ms := num(11, 2), num(14, 2), num(17, 2), num(20, 3)
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ms*1e6, time.UTC), true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// lineMatcher selects the lines of one step, agreeing exactly with
// ParseLine: a line matches iff ParseLine accepts it, its Step is step and,
// when stream is set, its Stream is stream.
type lineMatcher struct {
	step   string
	stream string // "" matches any stream
}

func (m lineMatcher) match(b []byte) bool {
	if f, ok := splitFast(b); ok {
		if plain(f.step) {
			if string(f.step) != m.step {
				return false
			}
		} else if unquote(f.step) != m.step {
			return false
		}
		if m.stream != "" && unquote(f.stream) != m.stream {
			return false
		}
		if _, ok := parseTS(f.ts); ok {
			return true
		}
	}
	l, err := parseLineJSON(b)
	return err == nil && l.Step == m.step && (m.stream == "" || l.Stream == m.stream)
}
