package shell_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"runnel/jobs/jobstest"
	"runnel/jobs/shell"
)

// collector is a Sink that keeps every line.
type collector struct {
	mu    sync.Mutex
	lines []shell.Line
}

func (c *collector) sink(ls []shell.Line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, ls...)
}

// texts returns the texts of stream's lines in arrival order.
func (c *collector) texts(stream string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []string{}
	for _, l := range c.lines {
		if l.Stream == stream {
			out = append(out, l.Text)
		}
	}
	return out
}

// run runs spec with defaults filled in: Dir and TempRoot fresh temp dirs,
// Env the test's environment.
func run(t *testing.T, spec shell.Spec) (shell.Result, *collector) {
	t.Helper()
	fill(t, &spec)
	c := &collector{}
	res := runWithin(t, context.Background(), spec, c.sink)
	return res, c
}

func fill(t *testing.T, spec *shell.Spec) {
	t.Helper()
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	if spec.TempRoot == "" {
		spec.TempRoot = t.TempDir()
	}
	if spec.Env == nil {
		spec.Env = shell.Environ(os.Environ(), nil, nil)
	}
}

// runWithin runs spec and fails the test if Run does not return within
// 10 s (a hang would otherwise stall the whole package).
func runWithin(t *testing.T, ctx context.Context, spec shell.Spec, sink shell.Sink) shell.Result {
	t.Helper()
	done := make(chan shell.Result, 1)
	go func() { done <- shell.Run(ctx, spec, sink) }()
	select {
	case res := <-done:
		return res
	case <-time.After(10 * time.Second):
		t.Fatalf("Run(%+v) did not return within 10s", spec)
		return shell.Result{}
	}
}

// writeFile writes data to dir/name with mode, creating parents.
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

// procStat returns the state and process group of pid from /proc, or
// ok=false when the process no longer exists.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:]) // state ppid pgrp …
	if len(f) < 3 {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], pgrp, true
}

// dead reports whether pid has exited; a zombie counts as dead (this
// sandbox's PID 1 may reap orphans late, LIBRARIES §9).
func dead(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == 'Z' || state == 'X'
}

// waitDead waits (jobstest.Patience at most) for every pid to be dead.
func waitDead(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if !jobstest.Until(func() bool { return dead(pid) }) {
			state, pgrp, _ := procStat(pid)
			t.Fatalf("process %d still alive after %s (state %c, pgrp %d)", pid, jobstest.Patience(), state, pgrp)
		}
	}
}

// pids parses a line of space-separated process ids.
func pids(t *testing.T, line string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("parse pids %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// firstLine returns a sink that sends the first stdout line on ch.
func firstLine(ch chan<- string) shell.Sink {
	var once sync.Once
	return func(ls []shell.Line) {
		for _, l := range ls {
			if l.Stream == "stdout" {
				once.Do(func() { ch <- l.Text })
			}
		}
	}
}

// syscallKill kills a process the test started that escaped Run's group.
func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
