package shell

// This file fixes the package API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the shell implementation.

import (
	"context"
	"encoding/json"
	"time"
)

// Spec describes one process to run. Exactly one of Command and File is set.
type Spec struct {
	// Command is inline shell text, run as `sh -c Command` (no -e).
	Command string
	// File is a path relative to Dir, executed directly when executable,
	// else as `sh File`; no arguments.
	File string
	// Dir is the working directory (the revision tree).
	Dir string
	// Env is the complete environment of the process (see Environ).
	Env []string
	// Timeout (0 = none) counted from the process start; on expiry the
	// process group gets SIGTERM, then SIGKILL after KillGrace.
	Timeout time.Duration
	// KillGrace is the wait between SIGTERM and SIGKILL (default 10 s).
	KillGrace time.Duration
	// TempRoot is where the per-step TMPDIR is created (os.TempDir() if
	// empty); the directory is removed after the process ends.
	TempRoot string
}

// Line is one line of output. Text has its trailing "\r" dropped, invalid
// UTF-8 replaced by U+FFFD, and is cut to MaxLine bytes ending in
// " …[truncated]".
type Line struct {
	TS     time.Time
	Stream string // "stdout" or "stderr"
	Text   string
}

// MaxLine is the longest line text passed to the sink (64 KiB).
const MaxLine = 64 << 10

// MaxOutputLine is the longest stdout line examined for OUTPUT: (1 MiB).
const MaxOutputLine = 1 << 20

// Sink receives batches of lines in arrival order per stream (stdout and
// stderr batches may arrive from two goroutines). A Sink that blocks stops
// the reading of that pipe (back-pressure): no line is ever dropped.
type Sink func(lines []Line)

// Result is the outcome of Run.
type Result struct {
	// ExitCode is the process exit code; -1 for a signal or when the
	// process could not start.
	ExitCode int
	// Output is the last valid OUTPUT: value on stdout (nil if none).
	Output json.RawMessage
	// Error is "" on success, else the step's error_message:
	// "Exit code: N\nStderr: <last 4096 bytes of stderr lines joined by \n>",
	// or "Failed to start process: …" for start errors,
	// or "Step timed out after <d>" when Timeout expired.
	Error string
	// TimedOut is set when Timeout expired.
	TimedOut bool
	// Stopped is set when ctx ended the process (cancel, shutdown); the
	// caller words the error from context.Cause(ctx).
	Stopped bool
	// Started and Ended bound the process lifetime.
	Started, Ended time.Time
}

// Run starts the process and waits for it and its output to end. When ctx
// is done the whole process group gets SIGTERM, then SIGKILL after
// KillGrace; Run returns only when the process has ended.
func Run(ctx context.Context, spec Spec, sink Sink) Result {
	return Result{ExitCode: -1, Error: "Failed to start process: not implemented"}
}

// Environ builds a step environment (SPEC §5.5): base minus every variable
// whose name starts with "RUNNEL_", then env (rendered action env), then
// vars (RUNNEL_JOB_ID …, STROEM_… aliases); later entries override earlier
// ones with the same name. TMPDIR is added by Run.
func Environ(base []string, env map[string]string, vars map[string]string) []string {
	return nil
}

// FormatDuration formats d the way runnel's messages do: "3.2s", "45s",
// "5m", "1h30m", "2d" (used in "Step timed out after 5m").
func FormatDuration(d time.Duration) string {
	return d.String()
}
