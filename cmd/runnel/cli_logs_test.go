package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCLILogPrinter(t *testing.T) {
	data := []byte(`{"ts":"2026-02-10T12:00:00.123Z","stream":"stderr","step":"_server","line":"Job created"}
{"ts":"2026-02-10T12:00:01.000Z","stream":"stdout","step":"say-hello","line":"Hello"}
not json
{"ts":"2026-02-10T12:00:02.000Z","stream":"stderr","step":"x","line":"oops"}
`)
	clock := func(s string) string {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts.Local().Format("15:04:05")
	}
	t0, t1, t2 := clock("2026-02-10T12:00:00Z"), clock("2026-02-10T12:00:01Z"), clock("2026-02-10T12:00:02Z")
	tests := []struct {
		name         string
		color, raw   bool
		serverEvents bool
		step         string
		want         string
	}{
		{name: "plain", want: t1 + " say-hello | Hello\n" + t2 + " x         ! oops\n"},
		{name: "server events", serverEvents: true,
			want: t0 + " _server   * Job created\n" + t1 + " say-hello | Hello\n" + t2 + " x         ! oops\n"},
		{name: "one step", step: "x", want: t2 + " x ! oops\n"},
		{name: "colour", color: true,
			want: "\x1b[2m" + t1 + "\x1b[0m say-hello | Hello\n\x1b[2m" + t2 + "\x1b[0m x         \x1b[31m! oops\x1b[0m\n"},
		{name: "raw", raw: true, want: string(data[:bytes.Index(data, []byte("not json"))]) + string(data[bytes.LastIndex(data, []byte("{")):])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			p := newLogPrinter(env{stdout: &out}, []string{"say-hello", "x"}, tt.serverEvents, tt.step, tt.raw)
			p.color = tt.color
			if err := p.chunk(data); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, out.String()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	// Colour needs a terminal: never for a buffer or with NO_COLOR.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if useColor(env{}, &strings.Builder{}) || useColor(env{environ: []string{"NO_COLOR=1"}}, f) || useColor(env{environ: []string{"TERM=dumb"}}, f) {
		t.Error("useColor without a terminal, with NO_COLOR or TERM=dumb")
	}
}

// BenchmarkLogPrinter formats 1 MiB chunks of JSONL as terminal lines.
func BenchmarkLogPrinter(b *testing.B) {
	var chunk bytes.Buffer
	for i := 0; chunk.Len() < 1<<20; i++ {
		fmt.Fprintf(&chunk, `{"ts":"2026-02-10T12:00:00.123Z","stream":"stdout","step":"build","line":"compiling module %d of the project"}`+"\n", i)
	}
	p := newLogPrinter(env{stdout: io.Discard}, []string{"build"}, false, "", false)
	b.SetBytes(int64(chunk.Len()))
	for b.Loop() {
		if err := p.chunk(chunk.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
