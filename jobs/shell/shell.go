package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Spec describes one process to run. Exactly one of Command and File is set.
type Spec struct {
	// Command is inline shell text, run as `sh -c Command` (no -e).
	Command string
	// File is a path relative to Dir, executed directly when executable,
	// else as `sh File`; no arguments. It must name a regular file inside
	// Dir (symlinks included): absolute paths and ".." escapes fail the run
	// as an infrastructure error. An executable file the kernel refuses to
	// exec (ENOEXEC: no "#!" line) is run as `sh File`, as shells do.
	File string
	// Dir is the working directory (the revision tree).
	Dir string
	// Env is the complete environment of the process (see Environ); TMPDIR
	// in it is replaced by the per-step directory.
	Env []string
	// Timeout (0 = none) counted from the process start; on expiry the
	// process group gets SIGTERM, then SIGKILL after KillGrace.
	Timeout time.Duration
	// KillGrace is the wait between SIGTERM and SIGKILL (default 10 s).
	KillGrace time.Duration
	// TempRoot is where the per-step TMPDIR is created (os.TempDir() if
	// empty; created 0700 if missing); the directory is removed after the
	// process ends, whatever modes the step left inside it.
	TempRoot string
	// Scratch, when set, supplies the TMPDIR instead (TempRoot is then
	// unused): the directory of the slot's previous step if that step left
	// it empty. The directory is handed back after the process ends.
	Scratch *Scratch
}

// Line is one line of output. Text has its trailing "\r" dropped, invalid
// UTF-8 replaced by U+FFFD (one per invalid byte, as encoding/json does),
// and is cut to at most MaxLine bytes ending in " …[truncated]". Texts of
// one batch may share memory.
type Line struct {
	TS     time.Time // when the chunk holding the line's end was read
	Stream string    // "stdout" or "stderr"
	Text   string
}

// MaxLine is the longest line text passed to the sink (64 KiB), the
// truncation marker included.
const MaxLine = 64 << 10

// MaxOutputLine is the longest stdout line examined for OUTPUT: (1 MiB).
const MaxOutputLine = 1 << 20

// DefaultKillGrace is the SIGTERM → SIGKILL wait when Spec.KillGrace is 0.
const DefaultKillGrace = 10 * time.Second

// Sink receives batches of lines in arrival order per stream (stdout and
// stderr batches may arrive from two goroutines). A Sink that blocks stops
// the reading of that pipe (back-pressure): no line is ever dropped. Each
// batch is a fresh slice the sink may keep. Run never calls the sink after
// it has returned. A nil Sink discards the lines.
type Sink func(lines []Line)

// Result is the outcome of Run.
type Result struct {
	// ExitCode is the process exit code; -1 for a signal or when the
	// process could not start.
	ExitCode int
	// Output is the last valid OUTPUT: value on stdout, compacted (nil if
	// none, or when the step did not succeed).
	Output json.RawMessage
	// Error is "" on success, else the step's error_message:
	// "Exit code: N\nStderr: <last 4096 bytes of stderr lines joined by \n>",
	// or "Failed to start process: …" for start errors,
	// or "Step timed out after <d>" when Timeout expired.
	// It is "" when Stopped.
	Error string
	// TimedOut is set when Timeout expired.
	TimedOut bool
	// Stopped is set when ctx ended the process (cancel, shutdown); the
	// caller words the error from context.Cause(ctx).
	Stopped bool
	// Started and Ended bound the process lifetime (Ended = when the
	// leader exited); both are the same instant when nothing started.
	Started, Ended time.Time
}

// stderrTail is the size of the stderr excerpt in Result.Error.
const stderrTail = 4096

// drainIdle bounds reading after the process group is gone: a pipe still
// held open by a process that escaped the group (setsid) is abandoned once
// it has been idle this long, or after drainMax more bytes.
const (
	drainIdle = time.Second
	drainMax  = 16 << 20
)

// Run starts the process and waits for it and its output to end. When ctx
// is done the whole process group gets SIGTERM, then SIGKILL after
// KillGrace; Run returns only when the process has ended.
//
// Termination in detail: when the leader (sh or the script) exits — by
// itself, on timeout or on ctx — Run first SIGKILLs whatever is left of its
// process group (background children such as `sleep 100 &`) while the
// leader is still an unreaped zombie, so the group id cannot have been
// reused, then reaps the leader. It then reads both pipes to their end:
// data already in a pipe is always delivered, however slow the sink. Only a
// process that left the group (setsid) can keep a pipe open after that; such
// a pipe is abandoned after drainIdle (1 s) without data or drainMax
// (16 MiB) more bytes. Run returns after both readers have stopped and the
// TMPDIR is removed (or handed back to Spec.Scratch), leaving no goroutine
// behind.
//
// If ctx is already done, nothing is started and the result is Stopped.
func Run(ctx context.Context, spec Spec, sink Sink) Result {
	if sink == nil {
		sink = func([]Line) {}
	}
	if ctx.Err() != nil {
		now := time.Now()
		return Result{ExitCode: -1, Stopped: true, Started: now, Ended: now}
	}
	prog, err := resolve(spec)
	if err != nil {
		return startFailure(err)
	}
	tmp, err := takeTempDir(spec)
	if err != nil {
		return startFailure(err)
	}
	defer giveTempDir(spec, tmp)

	outR, outW, err := os.Pipe()
	if err != nil {
		return startFailure(fmt.Errorf("create stdout pipe: %w", err))
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return startFailure(fmt.Errorf("create stderr pipe: %w", err))
	}
	env := withTMPDIR(spec.Env, tmp)
	started := time.Now()
	cmd := command(prog.path, prog.args, prog.dir, env, outW, errW)
	err = cmd.Start()
	if err != nil && prog.script != "" && errors.Is(err, syscall.ENOEXEC) {
		// No "#!" line: run it with sh, as execvp and shells do.
		cmd = command("/bin/sh", []string{"sh", prog.script}, prog.dir, env, outW, errW)
		err = cmd.Start()
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return startFailure(err)
	}

	// Readers own their stream until wg.Wait returns.
	var draining atomic.Bool
	stdout := &stream{name: "stdout", f: outR, sink: sink, parseOutput: true, draining: &draining}
	stderr := &stream{name: "stderr", f: errR, sink: sink, keepTail: true, draining: &draining}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); stdout.read() }()
	go func() { defer wg.Done(); stderr.read() }()

	res := Result{Started: started}
	pid := cmd.Process.Pid // also the process group id (Setpgid)
	exited := make(chan struct{})
	var reaped bool
	var waitErr error
	go func() {
		defer close(exited)
		if errors.Is(waitExited(pid), errNoWaitUnsupported) {
			waitErr, reaped = cmd.Wait(), true
		}
	}()

	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout - time.Since(started))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-exited:
	case <-ctx.Done():
		res.Stopped = true
	case <-timeout:
		res.TimedOut = true
	}
	if res.Stopped || res.TimedOut {
		select {
		case <-exited: // ended by itself at the same moment: report that
			res.Stopped, res.TimedOut = false, false
		default:
			terminate(pid, spec.KillGrace, exited)
		}
	}
	res.Ended = time.Now()
	// Leftovers of the group (orphaned background jobs) die with the leader.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if !reaped {
		waitErr = cmd.Wait()
	}

	draining.Store(true)
	deadline := time.Now().Add(drainIdle)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	wg.Wait()
	outR.Close()
	errR.Close()

	res.ExitCode = -1
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case res.TimedOut:
		res.Error = "Step timed out after " + FormatDuration(spec.Timeout)
	case res.Stopped:
	case cmd.ProcessState == nil:
		res.Error = fmt.Sprintf("Exit code: -1\nStderr: %s (wait: %v)", stderr.tailText(), waitErr)
	case res.ExitCode != 0:
		res.Error = fmt.Sprintf("Exit code: %d\nStderr: %s", res.ExitCode, stderr.tailText())
	default:
		res.Output = stdout.output
	}
	return res
}

// terminate sends SIGTERM to the group, then SIGKILL after grace, and
// returns once the leader has exited.
func terminate(pgid int, grace time.Duration, exited <-chan struct{}) {
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
}

func command(path string, args []string, dir string, env []string, stdout, stderr *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path:        path,
		Args:        args,
		Dir:         dir,
		Env:         env,
		Stdin:       nil, // /dev/null
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
}

func startFailure(err error) Result {
	now := time.Now()
	return Result{ExitCode: -1, Error: "Failed to start process: " + err.Error(), Started: now, Ended: now}
}

// program is what resolve found to run.
type program struct {
	path   string   // executable
	args   []string // argv, argv[0] included
	dir    string   // absolute working directory
	script string   // Spec.File cleaned, relative to dir ("" for Command)
}

// resolve checks spec and returns the program to run. A script must be a
// regular file whose real path (symlinks resolved) lies inside Dir.
func resolve(spec Spec) (program, error) {
	if (spec.Command == "") == (spec.File == "") {
		return program{}, errors.New("exactly one of command and script file must be set")
	}
	dir := spec.Dir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return program{}, fmt.Errorf("working directory %q: %w", spec.Dir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return program{}, fmt.Errorf("working directory: %w", err)
	} else if !fi.IsDir() {
		return program{}, fmt.Errorf("working directory %q: not a directory", dir)
	}
	if spec.Command != "" {
		return program{path: "/bin/sh", args: []string{"sh", "-c", spec.Command}, dir: dir}, nil
	}
	rel := filepath.Clean(filepath.FromSlash(spec.File))
	if !filepath.IsLocal(rel) {
		return program{}, fmt.Errorf("script %q: path escapes the working directory", spec.File)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, rel))
	if err != nil {
		return program{}, fmt.Errorf("script %q: %w", spec.File, err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return program{}, fmt.Errorf("working directory: %w", err)
	}
	if inside, err := filepath.Rel(realDir, real); err != nil || !filepath.IsLocal(inside) {
		return program{}, fmt.Errorf("script %q: path escapes the working directory", spec.File)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return program{}, fmt.Errorf("script %q: %w", spec.File, err)
	}
	if !fi.Mode().IsRegular() {
		return program{}, fmt.Errorf("script %q: not a regular file", spec.File)
	}
	if fi.Mode().Perm()&0o111 != 0 {
		abs := filepath.Join(dir, rel)
		return program{path: abs, args: []string{abs}, dir: dir, script: rel}, nil
	}
	return program{path: "/bin/sh", args: []string{"sh", rel}, dir: dir, script: rel}, nil
}

// withTMPDIR returns env without any TMPDIR entry, plus TMPDIR=tmp.
func withTMPDIR(env []string, tmp string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TMPDIR=") {
			out = append(out, kv)
		}
	}
	return append(out, "TMPDIR="+tmp)
}

// takeTempDir returns the step's TMPDIR: from spec.Scratch, else fresh.
func takeTempDir(spec Spec) (string, error) {
	if spec.Scratch != nil {
		return spec.Scratch.take()
	}
	return makeTempDir(spec.TempRoot)
}

// giveTempDir hands tmp back to spec.Scratch, or removes it.
func giveTempDir(spec Spec, tmp string) {
	if spec.Scratch != nil {
		spec.Scratch.give(tmp)
		return
	}
	removeTree(tmp)
}

// makeTempDir creates a fresh per-step directory under root.
func makeTempDir(root string) (string, error) {
	if root == "" {
		root = os.TempDir()
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("create TMPDIR root: %w", err)
	}
	dir, err := os.MkdirTemp(root, "runnel-step-")
	if err != nil {
		return "", fmt.Errorf("create TMPDIR: %w", err)
	}
	return dir, nil
}

// removeTree removes dir even when the step left directories without write
// or search permission inside it. Errors are ignored: it is best effort
// cleanup of scratch space.
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700) // before WalkDir reads it
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
