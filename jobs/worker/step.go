package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"runnel/jobs/api"
	"runnel/jobs/shell"
)

// runStep carries one claimed step to its report (SPEC §9.5): revision
// tree, /start, the process with its log pushes and cancellation checks,
// then /complete. runCtx ends the process (with the shutdown cause); life
// bounds deliveries. id is the worker id the step was claimed with.
func (w *Worker) runStep(runCtx, life context.Context, id string, a *api.Assignment) {
	log := w.log.With("job", a.JobID, "step", a.Step)
	stepCtx, stop := context.WithCancelCause(runCtx)
	defer stop(nil)

	logs := NewLogBuffer(w.opts.LogBuffer)
	pumped := make(chan error, 1)
	go func() {
		pumped <- logs.Pump(life, w.opts.LogFlush, func(ctx context.Context, lines []shell.Line) error {
			err := w.deliver(ctx, "log push", func(ctx context.Context) error {
				return w.srv.PushLogs(ctx, id, a, lines)
			})
			switch s := httpStatus(err); {
			case err == nil:
				return nil
			case s == statusBadRequest || s == statusTooLarge:
				log.Error("server cannot take a log batch; skipping it", "lines", len(lines), "err", err)
				return errDropBatch
			case s == statusNotFound || s == statusConflict:
				stop(errTakenBack) // no longer ours: do not waste the machine
			}
			return err
		})
	}()
	finish := func(r Report) {
		logs.Close()
		if err := <-pumped; err != nil && life.Err() == nil {
			log.Warn("log lines not delivered", "err", err)
		}
		err := w.deliver(life, "complete", func(ctx context.Context) error {
			return w.srv.Complete(ctx, id, a, r)
		})
		switch {
		case err == nil:
			if r.Error != "" {
				log.Info("step failed", "error", firstLine(r.Error))
			} else {
				log.Info("step completed")
			}
		case httpStatus(err) == statusConflict || httpStatus(err) == statusNotFound:
			log.Warn("server refused the step's result (the step is no longer this worker's)", "err", err)
		default:
			log.Error("step result not delivered", "err", err)
		}
	}
	infra := func(msg string) {
		logs.Add([]shell.Line{{TS: time.Now(), Stream: "stderr", Text: msg}})
		finish(Report{ExitCode: -1, Error: msg})
	}

	if a.ActionType != "" && a.ActionType != "shell" && a.ActionType != "script" {
		infra(fmt.Sprintf("Failed to start process: action type '%s' is not supported by this worker", a.ActionType))
		return
	}
	log.Info("step claimed", "revision", a.Revision)
	dir, release, err := w.cache.Acquire(stepCtx, a.Workspace, a.Revision, func(ctx context.Context) (io.ReadCloser, error) {
		body, served, err := w.srv.Download(ctx, a.Workspace, a.Revision)
		if err == nil && served != "" && a.Revision != "" && served != a.Revision {
			body.Close()
			return nil, fmt.Errorf("server sent revision %s instead of %s", served, a.Revision)
		}
		return body, err
	})
	if err != nil {
		infra("Failed to download workspace: " + err.Error())
		return
	}
	defer release()

	err = w.deliver(life, "start", func(ctx context.Context) error { return w.srv.Start(ctx, id, a) })
	if err != nil {
		logs.Abandon()
		<-pumped
		log.Warn("step not started: the server refused it", "err", err)
		return
	}

	ran := make(chan struct{})
	var polls sync.WaitGroup
	polls.Add(1)
	go func() { defer polls.Done(); w.pollCancel(stepCtx, ran, a.JobID, stop) }()
	spec := shell.Spec{
		Command: a.Command, File: a.File, Dir: dir,
		Env:     shell.Environ(w.opts.Environ, a.Env, a.StepEnv()),
		Timeout: a.Timeout, KillGrace: w.opts.KillGrace, TempRoot: w.opts.TempDir,
	}
	r := shell.Run(stepCtx, spec, logs.Add)
	close(ran)
	polls.Wait()
	if strings.HasPrefix(r.Error, "Failed to ") {
		logs.Add([]shell.Line{{TS: time.Now(), Stream: "stderr", Text: r.Error}})
	}
	rep := Report{ExitCode: r.ExitCode, Error: r.Failure(context.Cause(stepCtx))}
	if rep.Error == "" {
		rep.Output = r.Output
	}
	if errors.Is(context.Cause(stepCtx), errTakenBack) {
		logs.Abandon()
	}
	finish(rep)
}

// pollCancel asks the server every CancelPoll whether the job was
// cancelled (or timed out) and stops the step when it was.
func (w *Worker) pollCancel(ctx context.Context, ran <-chan struct{}, jobID string, stop context.CancelCauseFunc) {
	t := time.NewTicker(w.opts.CancelPoll)
	defer t.Stop()
	for {
		select {
		case <-ran:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		yes, err := w.srv.Cancelled(rctx, jobID)
		cancel()
		if err == nil && yes {
			w.log.Info("job cancelled: stopping step", "job", jobID)
			stop(errCancelled)
			return
		}
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
