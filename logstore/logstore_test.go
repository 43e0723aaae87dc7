package logstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/logstore"
)

// ts0 is a fixed line time: 2026-02-10T12:00:00.123456789Z.
var ts0 = time.Date(2026, 2, 10, 12, 0, 0, 123456789, time.UTC)

// open returns a Store in a fresh directory, closed at cleanup.
func open(t testing.TB, opts logstore.Options) *logstore.Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := logstore.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileOf returns the job's file contents.
func fileOf(t testing.TB, dir, job string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, job+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustAppend(t testing.TB, s *logstore.Store, job string, lines ...logstore.Line) {
	t.Helper()
	if err := s.Append(job, lines...); err != nil {
		t.Fatal(err)
	}
}

func out(step, text string) logstore.Line {
	return logstore.Line{TS: ts0, Stream: logstore.Stdout, Step: step, Text: text}
}

// texts parses JSONL and returns "step|text" per line.
func texts(t testing.TB, data string) []string {
	t.Helper()
	var got []string
	for _, l := range strings.SplitAfter(data, "\n") {
		if l == "" {
			continue
		}
		p, err := logstore.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		got = append(got, p.Step+"|"+p.Text)
	}
	return got
}

func TestEncoding(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		line logstore.Line
		want string
	}{
		{"spec example", logstore.Line{TS: ts0, Stream: "stdout", Step: "say-hello", Text: "Hello World"},
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"say-hello","line":"Hello World"}` + "\n"},
		{"zone converted to UTC, ms truncated", logstore.Line{TS: time.Date(2026, 1, 1, 0, 30, 5, 999999999, berlin), Stream: "stderr", Step: "s", Text: ""},
			`{"ts":"2025-12-31T23:30:05.999Z","stream":"stderr","step":"s","line":""}` + "\n"},
		{"zero ms", logstore.Line{TS: time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC), Stream: "stdout", Step: "s", Text: "x"},
			`{"ts":"2026-02-10T12:00:00.000Z","stream":"stdout","step":"s","line":"x"}` + "\n"},
		{"quotes and backslashes", out("s", `say "hi" \ C:\dir`),
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"say \"hi\" \\ C:\\dir"}` + "\n"},
		{"control characters", out("s", "a\nb\rc\td\be\ff\x00g\x1fh\x7f"),
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"a\nb\rc\td\be\ff\u0000g\u001fh` + "\x7f" + `"}` + "\n"},
		{"unicode kept, line separators escaped", out("s", "héllo ✓ 😀 \u2028\u2029 <&>"),
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"héllo ✓ 😀 \u2028\u2029 <&>"}` + "\n"},
		{"invalid UTF-8 replaced", out("s", "a\xffb\xe2\x82c\xed\xa0\x80"),
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"a` + "\ufffd" + `b` + "\ufffd\ufffd" + `c` + "\ufffd\ufffd\ufffd" + `"}` + "\n"},
		{"step and stream escaped", logstore.Line{TS: ts0, Stream: "std\"out", Step: "st\\ep\n", Text: "x"},
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"std\"out","step":"st\\ep\n","line":"x"}` + "\n"},
		{"first attempt not marked", logstore.Line{TS: ts0, Stream: "stdout", Step: "s", Text: "x", Attempt: 1},
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"x"}` + "\n"},
		{"later attempt marked last", logstore.Line{TS: ts0, Stream: "stderr", Step: "s", Text: "x", Attempt: 12},
			`{"ts":"2026-02-10T12:00:00.123Z","stream":"stderr","step":"s","line":"x","attempt":12}` + "\n"},
		{"year 0", logstore.Line{TS: time.Date(0, 1, 1, 0, 0, 0, 1e6, time.UTC), Stream: "stdout", Step: "s", Text: "x"},
			`{"ts":"0000-01-01T00:00:00.001Z","stream":"stdout","step":"s","line":"x"}` + "\n"},
	}
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	var all string
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := fmt.Sprintf("job-%d", i)
			mustAppend(t, s, job, tc.line)
			got := fileOf(t, dir, job)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("encoding (-want +got):\n%s", diff)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %q", got)
			}
			all += got
			// ParseLine gives back the line (UTC, ms), as encoding/json reads it.
			p, err := logstore.ParseLine([]byte(got))
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				TS, Stream, Step, Line string
				Attempt                int
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatal(err)
			}
			want := logstore.Line{TS: tc.line.TS.UTC().Truncate(time.Millisecond), Stream: v.Stream, Step: v.Step, Text: v.Line, Attempt: v.Attempt}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("ParseLine (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZeroTimeIsNow(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	before := time.Now().Truncate(time.Millisecond)
	mustAppend(t, s, "j", logstore.Line{Stream: "stdout", Step: "s", Text: "x"})
	after := time.Now()
	p, err := logstore.ParseLine([]byte(fileOf(t, dir, "j")))
	if err != nil {
		t.Fatal(err)
	}
	if p.TS.Before(before) || p.TS.After(after) {
		t.Errorf("ts %v not within [%v, %v]", p.TS, before, after)
	}
}

func TestMask(t *testing.T) {
	calls := map[string]int{}
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, Mask: func(job string) []string {
		calls[job]++
		switch job {
		case "j1":
			return []string{"hunter2", "abc", "", "hunter2-long", "pässwörd", "hunter2"}
		case "j2":
			return []string{"s3cr3t-for-j2"}
		}
		return nil
	}})
	mustAppend(t, s, "j1",
		out("s", "pw=hunter2 and hunter2hunter2"),
		out("s", "long: hunter2-long; short abc kept"),
		out("hunter2", "step names are not masked"),
		out("s", "unicode pässwörd!"),
		logstore.Line{TS: ts0, Stream: logstore.Stderr, Step: logstore.ServerStep, Text: "server says hunter2"},
	)
	mustAppend(t, s, "j1", out("s", "second batch hunter2"))
	mustAppend(t, s, "j2", out("s", "j1's hunter2 is not j2's s3cr3t-for-j2"))
	want1 := []string{
		"s|pw=•••••• and ••••••••••••",
		"s|long: ••••••; short abc kept",
		"hunter2|step names are not masked",
		"s|unicode ••••••!",
		"_server|server says ••••••",
		"s|second batch ••••••",
	}
	if diff := cmp.Diff(want1, texts(t, fileOf(t, dir, "j1"))); diff != "" {
		t.Errorf("j1 (-want +got):\n%s", diff)
	}
	want2 := []string{"s|j1's hunter2 is not j2's ••••••"}
	if diff := cmp.Diff(want2, texts(t, fileOf(t, dir, "j2"))); diff != "" {
		t.Errorf("j2 (-want +got):\n%s", diff)
	}
	// Mask is asked once per writer open: again after Finish reopens it.
	if err := s.Finish("j1"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "j1", out("s", "late hunter2"))
	if diff := cmp.Diff(map[string]int{"j1": 2, "j2": 1}, calls); diff != "" {
		t.Errorf("Mask calls (-want +got):\n%s", diff)
	}
	if got := texts(t, fileOf(t, dir, "j1")); got[len(got)-1] != "s|late ••••••" {
		t.Errorf("after reopen: %q", got[len(got)-1])
	}
	if strings.Contains(fileOf(t, dir, "j1"), "hunter2 ") {
		t.Error("secret in file")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"short", "0123456789", "0123456789"},
		{"cut", "0123456789A", "0123456789 …[truncated]"},
		{"cut before a multibyte rune", "012345678é", "012345678 …[truncated]"},
		{"multibyte rune fits", "01234567é", "01234567é"},
		{"4-byte rune", "0123456😀xyz", "0123456 …[truncated]"},
		{"escapes do not count", strings.Repeat("\"", 12), strings.Repeat("\"", 10) + " …[truncated]"},
		{"masked then cut", "xx-secret-value", "xx-•• …[truncated]"},
	}
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, MaxLine: 10, Mask: func(string) []string { return []string{"secret-value"} }})
	for _, tc := range tests {
		mustAppend(t, s, "j", out("s", tc.text))
	}
	var want []string
	for _, tc := range tests {
		want = append(want, "s|"+tc.want)
	}
	if diff := cmp.Diff(want, texts(t, fileOf(t, dir, "j"))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStepCap(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		cap    int64
		notice string
	}{
		{"KiB", "0123456789", 1 << 10, "[logs] Step 'big' exceeded 1 KiB of output; further lines dropped"},
		{"bytes", "0123456789", 1000, "[logs] Step 'big' exceeded 1000 bytes of output; further lines dropped"},
		{"MiB", strings.Repeat("x", 4000), 2 << 20, "[logs] Step 'big' exceeded 2 MiB of output; further lines dropped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, logstore.Options{Dir: dir, MaxStepBytes: tc.cap})
			line := out("big", tc.text)
			// The cap counts output bytes: the text and its newline.
			fits := int(tc.cap / int64(len(tc.text)+1))
			for i := 0; i < fits+20; i += 7 {
				batch := []logstore.Line{out("small", "other steps keep going")}
				for k := i; k < i+7; k++ {
					batch = append(batch, line)
				}
				mustAppend(t, s, "j", batch...)
			}
			var big, small, notices int
			for _, l := range strings.SplitAfter(fileOf(t, dir, "j"), "\n") {
				if l == "" {
					continue
				}
				p, err := logstore.ParseLine([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				switch p.Step {
				case "big":
					big++
					if notices > 0 {
						t.Error("big line after the notice")
					}
				case "small":
					small++
				case logstore.ServerStep:
					notices++
					if p.Text != tc.notice || p.Stream != logstore.Stderr {
						t.Errorf("notice %+v, want text %q on stderr", p, tc.notice)
					}
				}
			}
			if big != fits || notices != 1 || small != (fits+20+6)/7 {
				t.Errorf("big=%d (want %d) notices=%d small=%d", big, fits, notices, small)
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	good := string(logstore.EncodeLine(out("s", "one"))) + string(logstore.EncodeLine(out("s", "two")))
	torn := `{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","li`
	path := filepath.Join(dir, "j.jsonl")
	if err := os.WriteFile(path, []byte(good+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, logstore.Options{Dir: dir})

	data, next, err := s.Read("j", 0, 0)
	if err != nil || string(data) != good || next != int64(len(good)) {
		t.Errorf("Read = %q, %d, %v; want the complete lines", data, next, err)
	}
	data, next, err = s.ReadStep("j", "s", 0, 0)
	if err != nil || string(data) != good || next != int64(len(good)) {
		t.Errorf("ReadStep = %q, %d, %v; want the complete lines", data, next, err)
	}
	if n, err := s.Size("j"); err != nil || n != int64(len(good)) {
		t.Errorf("Size = %d, %v", n, err)
	}
	// A follower of a job finished before a restart gets the complete lines.
	f, err := s.Follow("j", 0)
	if err != nil {
		t.Fatal(err)
	}
	f.EndAtCurrent()
	if got := drain(t, f); got != good {
		t.Errorf("follow = %q", got)
	}
	f.Close()

	// Reopening the writer cuts the torn line first.
	mustAppend(t, s, "j", out("s", "three"))
	want := good + string(logstore.EncodeLine(out("s", "three")))
	if diff := cmp.Diff(want, fileOf(t, dir, "j")); diff != "" {
		t.Errorf("file after reopen (-want +got):\n%s", diff)
	}

	// A file that is one torn line.
	if err := os.WriteFile(filepath.Join(dir, "k.jsonl"), []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, next, err := s.Read("k", 0, 0); err != nil || len(data) != 0 || next != 0 {
		t.Errorf("Read torn-only = %q, %d, %v", data, next, err)
	}
	mustAppend(t, s, "k", out("s", "fresh"))
	if diff := cmp.Diff(string(logstore.EncodeLine(out("s", "fresh"))), fileOf(t, dir, "k")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestInvalidJobID(t *testing.T) {
	s := open(t, logstore.Options{})
	for _, id := range []string{"", ".", "..", "a/b", `a\b`, "../x", "a\x00"} {
		if err := s.Append(id, out("s", "x")); !errors.Is(err, logstore.ErrInvalidJobID) {
			t.Errorf("Append(%q) = %v", id, err)
		}
		if _, _, err := s.Read(id, 0, 0); !errors.Is(err, logstore.ErrInvalidJobID) {
			t.Errorf("Read(%q) = %v", id, err)
		}
		if _, err := s.Follow(id, 0); !errors.Is(err, logstore.ErrInvalidJobID) {
			t.Errorf("Follow(%q) = %v", id, err)
		}
	}
}

func TestRemoveAndClose(t *testing.T) {
	dir := t.TempDir()
	s, err := logstore.Open(logstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "j", out("s", "x"))
	if err := s.Remove("j"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "j.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there: %v", err)
	}
	if err := s.Remove("never"); err != nil {
		t.Errorf("Remove of a missing job: %v", err)
	}
	if data, next, err := s.Read("j", 0, 0); err != nil || len(data) != 0 || next != 0 {
		t.Errorf("Read after Remove = %q, %d, %v", data, next, err)
	}
	mustAppend(t, s, "j", out("s", "y"))
	if got := texts(t, fileOf(t, dir, "j")); !cmp.Equal(got, []string{"s|y"}) {
		t.Errorf("after Remove and Append: %q", got)
	}
	if err := s.Sync("j"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Append("j", out("s", "z")); !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if _, err := s.Follow("j", 0); !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("Follow after Close = %v", err)
	}
	// Reads need no writer.
	if data, _, err := s.Read("j", 0, 0); err != nil || !bytes.Contains(data, []byte(`"line":"y"`)) {
		t.Errorf("Read after Close = %q, %v", data, err)
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{logstore.DefaultMaxStepBytes, "64 MiB"},
		{1 << 30, "1 GiB"},
		{3 << 29, "1536 MiB"},
		{512 << 10, "512 KiB"},
		{1<<20 + 1, "1.0 MiB"},
		{1000, "1000 bytes"},
	}
	for _, tc := range tests {
		if got := logstore.FormatSize(tc.n); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestWriting: a job's log is writing from its first line until Finish (also
// while its file is closed to free a slot), and not in a later Store.
func TestWriting(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, MaxOpen: 1})
	const a, b = "job-a", "job-b"
	if s.Writing(a) {
		t.Fatal("a job never written is writing")
	}
	if err := s.Append(a, logstore.Line{Stream: "stdout", Step: "s", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	// b takes the only open-file slot: a's file is closed, a still writes.
	if err := s.Append(b, logstore.Line{Stream: "stdout", Step: "s", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	if !s.Writing(a) || !s.Writing(b) {
		t.Fatalf("writing: a %v b %v", s.Writing(a), s.Writing(b))
	}
	if err := s.Finish(a); err != nil {
		t.Fatal(err)
	}
	if s.Writing(a) || !s.Writing(b) {
		t.Fatalf("after Finish(a): a %v b %v", s.Writing(a), s.Writing(b))
	}
	s.Close()
	again := open(t, logstore.Options{Dir: dir})
	if again.Writing(b) {
		t.Error("a job written by an earlier Store is writing")
	}
}
