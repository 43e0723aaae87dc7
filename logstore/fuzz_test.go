package logstore_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/logstore"
)

// FuzzParseLine checks that ParseLine never panics, agrees exactly with
// the encoding/json fallback, accepts only valid JSON, and that what it
// returns encodes and parses back to itself. Seeds: testdata/fuzz/FuzzParseLine.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"say-hello","line":"Hello World"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := logstore.ParseLine(data)
		j, jerr := logstore.ParseLineJSON(bytes.TrimSuffix(data, []byte{'\n'}))
		if (err == nil) != (jerr == nil) {
			t.Fatalf("ParseLine err %v, json fallback err %v", err, jerr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff(j, l); diff != "" {
			t.Fatalf("fast path differs from encoding/json (-json +fast):\n%s", diff)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if y := l.TS.Year(); y < 0 || y > 9999 {
			return // the encoder replaces such times
		}
		enc := logstore.EncodeLine(l)
		back, err := logstore.ParseLine(enc)
		if err != nil {
			t.Fatalf("parse of encoded %q: %v", enc, err)
		}
		l.TS = l.TS.Truncate(time.Millisecond)
		if diff := cmp.Diff(l, back); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// FuzzRead writes arbitrary contents as a job's file (torn tails, garbage,
// odd JSON) and checks the readers: Read pages cover exactly the complete
// lines, ReadStep returns exactly the lines ParseLine accepts for the step,
// a follower gets the complete lines, and a reopened writer cuts the torn
// tail. Seeds: testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"s","line":"a"}`+"\n"+`{"ts":`), uint16(10))
	f.Fuzz(func(t *testing.T, content []byte, max uint16) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "j.jsonl"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := logstore.Open(logstore.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		complete := content[:bytes.LastIndexByte(content, '\n')+1]
		var wantStep, wantStderr []byte
		for rest := complete; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if l, err := logstore.ParseLine(rest[:i]); err == nil && l.Step == "s" {
				wantStep = append(wantStep, rest[:i+1]...)
				if l.Stream == logstore.Stderr {
					wantStderr = append(wantStderr, rest[:i+1]...)
				}
			}
			rest = rest[i+1:]
		}
		size := int64(len(complete))
		if n, err := s.Size("j"); err != nil || n != size {
			t.Fatalf("Size = %d, %v; want %d", n, err, size)
		}
		for _, read := range []struct {
			name string
			fn   func(off int64, max int) ([]byte, int64, error)
			want []byte
		}{
			{"Read", func(off int64, m int) ([]byte, int64, error) { return s.Read("j", off, m) }, complete},
			{"ReadStep", func(off int64, m int) ([]byte, int64, error) { return s.ReadStep("j", "s", off, m) }, wantStep},
			{"ReadStepStream", func(off int64, m int) ([]byte, int64, error) {
				return s.ReadStepStream("j", "s", logstore.Stderr, off, m)
			}, wantStderr},
		} {
			var got []byte
			var off int64
			for {
				data, next, err := read.fn(off, int(max))
				if err != nil {
					t.Fatalf("%s at %d: %v", read.name, off, err)
				}
				if next < off || next > size || (next == off) != (len(data) == 0) && read.name == "Read" {
					t.Fatalf("%s at %d: next %d with %d bytes", read.name, off, next, len(data))
				}
				got = append(got, data...)
				if next == off {
					break
				}
				off = next
			}
			if off != size || !bytes.Equal(got, read.want) {
				t.Fatalf("%s: got %q up to %d, want %q up to %d", read.name, got, off, read.want, size)
			}
		}
		fl, err := s.Follow("j", 0)
		if err != nil {
			t.Fatal(err)
		}
		fl.EndAtCurrent()
		got, err := drainErr(fl)
		fl.Close()
		if err != nil || got != string(complete) {
			t.Fatalf("follow = %q, %v; want %q", got, err, complete)
		}
		line := out("s", "appended")
		if err := s.Append("j", line); err != nil {
			t.Fatal(err)
		}
		want := string(complete) + string(logstore.EncodeLine(line))
		if got := fileOf(t, dir, "j"); got != want {
			t.Fatalf("after Append: %q, want %q", got, want)
		}
		if err := s.Remove("j"); err != nil { // closes without the fsync of Close
			t.Fatal(err)
		}
	})
}
