package shell_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs/jobstest"
	"runnel/jobs/shell"
)

func TestEnviron(t *testing.T) {
	tests := []struct {
		name string
		base []string
		env  map[string]string
		vars map[string]string
		want []string
	}{
		{"empty", nil, nil, nil, []string{}},
		{
			name: "RUNNEL_ variables removed from base only",
			base: []string{"PATH=/bin", "RUNNEL__WORKER_TOKEN=secret", "RUNNEL_SERVER=http://x", "RUNNELX=kept", "runnel_lower=kept"},
			env:  map[string]string{"RUNNEL_FROM_ACTION": "a"},
			vars: map[string]string{"RUNNEL_JOB_ID": "j"},
			want: []string{"PATH=/bin", "RUNNELX=kept", "runnel_lower=kept", "RUNNEL_FROM_ACTION=a", "RUNNEL_JOB_ID=j"},
		},
		{
			name: "later wins in place",
			base: []string{"A=base", "B=base", "C=base"},
			env:  map[string]string{"B": "env", "D": "env", "E": "env"},
			vars: map[string]string{"A": "vars", "E": "vars", "F": "vars"},
			want: []string{"A=vars", "B=env", "C=base", "D=env", "E=vars", "F=vars"},
		},
		{
			name: "duplicates in base collapse",
			base: []string{"A=1", "B=x", "A=2"},
			want: []string{"A=2", "B=x"},
		},
		{
			name: "new names sorted",
			env:  map[string]string{"Z": "1", "M": "2", "A": "3"},
			vars: map[string]string{"STROEM_TASK_NAME": "t", "RUNNEL_TASK": "t", "STROEM_JOB_ID": "j"},
			want: []string{"A=3", "M=2", "Z=1", "RUNNEL_TASK=t", "STROEM_JOB_ID=j", "STROEM_TASK_NAME=t"},
		},
		{
			name: "values with = and empty values",
			base: []string{"OPTS=a=b=c", "EMPTY=", "NOEQUALS"},
			env:  map[string]string{"X": ""},
			want: []string{"OPTS=a=b=c", "EMPTY=", "X="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shell.Environ(tt.base, tt.env, tt.vars)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Environ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{40 * time.Millisecond, "0s"},
		{400 * time.Millisecond, "0.4s"},
		{1 * time.Second, "1s"},
		{3200 * time.Millisecond, "3.2s"},
		{3249 * time.Millisecond, "3.2s"},
		{3250 * time.Millisecond, "3.3s"},
		{45 * time.Second, "45s"},
		{59940 * time.Millisecond, "59.9s"},
		{59960 * time.Millisecond, "1m"},
		{90 * time.Second, "1m30s"},
		{90400 * time.Millisecond, "1m30s"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 5*time.Second, "1h5s"},
		{48 * time.Hour, "2d"},
		{36 * time.Hour, "1d12h"},
		{24*time.Hour + 2*time.Minute + 3*time.Second, "1d2m3s"},
		{365 * 24 * time.Hour, "365d"},
		{-3 * time.Second, "-3s"},
	}
	for _, tt := range tests {
		if got := shell.FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestRunNoGoroutineLeak runs every way a step can end and checks that the
// goroutine count comes back to where it was.
func TestRunNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	specs := []shell.Spec{
		{Command: "echo out; echo err >&2"},
		{Command: "exit 3"},
		{Command: "sleep 100 & echo orphan"},
		{Command: "sleep 100", Timeout: 100 * time.Millisecond},
		{Command: `trap "" TERM; sleep 100`, Timeout: 100 * time.Millisecond, KillGrace: 100 * time.Millisecond},
		{File: "../escape.sh"},
		{Command: "true", Dir: "/nonexistent/runnel-test"},
	}
	for _, spec := range specs {
		fill(t, &spec)
		runWithin(t, context.Background(), spec, func([]shell.Line) {})
	}
	// Cancelled mid-run.
	spec := shell.Spec{Command: "echo ready; sleep 100"}
	fill(t, &spec)
	ctx, cancel := context.WithCancel(context.Background())
	runWithin(t, ctx, spec, func(ls []shell.Line) { cancel() })
	cancel()

	if !jobstest.Until(func() bool { return runtime.NumGoroutine() <= before }) {
		var b bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, b.String())
	}
}

// BenchmarkRunTrue compares Run's overhead for `sh -c true` (TMPDIR, pipes,
// readers, group kill) with a bare exec of the same command.
func BenchmarkRunTrue(b *testing.B) {
	b.Run("Run", func(b *testing.B) {
		spec := shell.Spec{Command: "true", Dir: b.TempDir(), TempRoot: b.TempDir(), Env: os.Environ()}
		for b.Loop() {
			if res := shell.Run(context.Background(), spec, nil); res.ExitCode != 0 {
				b.Fatal(res)
			}
		}
	})
	b.Run("exec.Command", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("sh", "-c", "true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutputLines measures line throughput: `seq 1 1000000` through a
// sink that only counts.
func BenchmarkOutputLines(b *testing.B) {
	const n = 1000000
	spec := shell.Spec{Command: "seq 1 1000000", Dir: b.TempDir(), TempRoot: b.TempDir(), Env: os.Environ()}
	var lines int
	for b.Loop() {
		lines = 0
		res := shell.Run(context.Background(), spec, func(ls []shell.Line) { lines += len(ls) })
		if res.ExitCode != 0 || lines != n {
			b.Fatalf("%+v, %d lines", res, lines)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
