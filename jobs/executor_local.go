package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"runnel/jobs/shell"
	"runnel/logstore"
)

// localWorker is one built-in worker slot: it claims steps the built-in
// tags cover and runs them with the shell runner until the queue closes.
// Its steps pass an empty TMPDIR on to the next one (shell.Scratch).
func (e *Engine) localWorker() {
	defer e.wg.Done()
	scratch := &shell.Scratch{Root: e.opts.TempDir}
	defer scratch.Close()
	w := workerRef{id: e.builtinID, name: builtinName, builtin: true}
	var next *Assignment
	for {
		a := next
		if a == nil {
			var err error
			a, err = e.claim(e.ctx, w, e.opts.LocalTags)
			if err != nil {
				if !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
					e.log.Error("claim step", "err", err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				return
			}
		}
		// The report of a may hand this slot the next step (handoff).
		next = e.runLocal(a, scratch, &handoff{w: w, tags: e.opts.LocalTags})
	}
}

// StepEnv returns the RUNNEL_* and STROEM_* variables of a step (SPEC §5.5).
func StepEnv(a *Assignment) map[string]string { return a.StepEnv() }

// Result converts a shell result to a step report; cause words a stop.
func Result(r shell.Result, cause error) StepResult {
	res := StepResult{Error: r.Failure(cause), TimedOut: r.TimedOut, ExitCode: r.ExitCode}
	if r.Stopped {
		res.ExitCode = -1
	}
	if res.Error == "" && len(r.Output) > 0 {
		var v any
		if err := json.Unmarshal(r.Output, &v); err == nil {
			res.Output = v
		}
	}
	return res
}

// runLocal runs one assignment on this server and reports it; scratch
// supplies its TMPDIR. The report may hand the slot (h) the next step, which
// is returned: it is recorded running on the slot and must be run.
func (e *Engine) runLocal(a *Assignment, scratch *shell.Scratch, h *handoff) *Assignment {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e.mu.Lock()
	if e.running[a.JobID] == nil {
		e.running[a.JobID] = make(map[string]context.CancelCauseFunc)
	}
	e.running[a.JobID][a.Step] = cancel
	if cause := e.killed[a.JobID]; cause != nil {
		cancel(cause)
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running[a.JobID], a.Step)
		if len(e.running[a.JobID]) == 0 {
			delete(e.running, a.JobID)
		}
		e.mu.Unlock()
	}()

	spec := shell.Spec{
		Command: a.Command, File: a.File, Dir: a.Dir,
		Env:     shell.Environ(e.opts.Environ, a.Env, StepEnv(a)),
		Timeout: a.Timeout, KillGrace: e.opts.KillGrace, Scratch: scratch,
	}
	r := shell.Run(ctx, spec, func(lines []shell.Line) {
		out := make([]logstore.Line, len(lines))
		for i, l := range lines {
			out[i] = logstore.Line{TS: l.TS, Stream: l.Stream, Step: a.Step, Text: l.Text, Attempt: a.Attempt}
		}
		if err := e.logs.Append(a.JobID, out...); err != nil {
			e.log.Error("write step output", "job", a.JobID, "step", a.Step, "err", err)
		}
	})
	if strings.HasPrefix(r.Error, "Failed to ") {
		// Infrastructure errors are also logged as a stderr line.
		_ = e.logs.Append(a.JobID, logstore.Line{TS: time.Now(), Stream: logstore.Stderr, Step: a.Step, Text: r.Error, Attempt: a.Attempt})
	}
	res := Result(r, context.Cause(ctx))
	next, err := e.complete(context.Background(), a.JobID, a.Step, e.builtinID, res, h)
	if err != nil {
		e.log.Error("report step", "job", a.JobID, "step", a.Step, "err", err)
	}
	return next
}
