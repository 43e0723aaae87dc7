package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/logstore"
	"runnel/workspace"
)

// localWorkspace is the workspace name of `runnel run` jobs.
const localWorkspace = "local"

func runLocal(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "run", usageText("run TASK [--dir DIR] [--input JSON | -i key=value ...] [--server-events]",
		"Runs a task of the workspace in DIR (default .) on this machine, without a",
		"server: the folder is loaded like a server loads it, the job runs on the",
		"same engine with built-in workers in a temporary data directory (removed",
		"afterwards), and its log lines are printed as they arrive. Exit code: 0",
		"completed, 1 failed, 2 the workspace or input was rejected, 3 cancelled",
		"(Ctrl-C cancels the job)."),
		"runnel run hello-world --dir ./my-workspace -i name=Ada")
	dir := fs.String("dir", ".", "workspace folder (with .workflows/)")
	in := addInputFlags(fs)
	serverEvents := fs.Bool("server-events", false, "also print the server's events (job created, step failed, …)")
	workers := fs.Int("workers", 4, "built-in worker slots")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "task name"); err != nil {
		return err
	}
	if *workers < 1 || *workers > 256 {
		return &usageError{msg: "--workers must be between 1 and 256"}
	}
	input, err := in.value()
	if err != nil {
		return err
	}
	r := &localRun{e: e, dir: *dir, workers: *workers}
	defer r.close()
	if err := r.open(ctx); err != nil {
		return err
	}
	return r.run(ctx, pos[0], input, *serverEvents)
}

// localRun is one `runnel run`: a store, logs and an engine over a
// temporary data directory and one snapshot of a folder.
type localRun struct {
	e       env
	dir     string
	workers int

	tmp    string
	stack  *jobs.Stack
	logs   *logstore.Store
	engine *jobs.Engine
	query  *jobs.Query
	snap   *workspace.Snapshot
}

// localDefs serves the one snapshot of a local run.
type localDefs struct{ snap *workspace.Snapshot }

func (d localDefs) Current(ws string) (*workspace.Snapshot, error) {
	if ws != d.snap.Name {
		return nil, workspace.ErrNotFound
	}
	return d.snap, nil
}

func (d localDefs) Snapshot(ws, rev string) (*workspace.Snapshot, error) {
	if ws != d.snap.Name || rev != d.snap.Revision {
		return nil, &workspace.RevisionNotAvailableError{Name: ws, Revision: rev}
	}
	return d.snap, nil
}

// open copies and loads the folder (printing its problems, exit 2) and
// starts the engine.
func (r *localRun) open(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "runnel-run-")
	if err != nil {
		return fmt.Errorf("create temporary data dir: %w", err)
	}
	r.tmp = tmp
	rev, revDir, err := workspace.NewFolder(r.dir, filepath.Join(tmp, "revisions")).Fetch(ctx)
	if err != nil {
		return &exitError{code: exitRequest, msg: fmt.Sprintf("error: read workspace %s: %v", r.dir, err)}
	}
	snap, err := workspace.Load(revDir, workspace.LoadOptions{Getenv: r.e.lookup})
	var le *workspace.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintln(r.e.stderr, p.String())
		}
		return &exitError{code: exitRequest, msg: fmt.Sprintf("error: workspace %s has %d problem%s", r.dir, len(le.Problems), plural(len(le.Problems)))}
	}
	if err != nil {
		return err
	}
	snap.Name, snap.Revision = localWorkspace, rev
	r.snap = snap

	stack, err := jobs.OpenStack(jobs.StackOptions{DataDir: tmp, LockWait: time.Second, Engine: jobs.Options{
		Defs:         localDefs{snap},
		LocalWorkers: r.workers, LocalTags: allTags(snap),
		Environ: r.e.environ, Version: version,
		KillGrace: 5 * time.Second, ShutdownGrace: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(r.e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}})
	if err != nil {
		return err
	}
	r.stack, r.logs, r.engine, r.query = stack, stack.Logs, stack.Engine, stack.Query
	return stack.Start(ctx)
}

// allTags are the tags that let the built-in worker run every action of
// the snapshot: "shell" and every action's extra tags.
func allTags(snap *workspace.Snapshot) []string {
	tags := []string{"shell"}
	for _, a := range snap.Actions {
		for _, t := range a.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	return tags
}

// run triggers the task, prints its log (and those of its child and hook
// jobs) as they grow, and waits for them; Ctrl-C (ctx) cancels the job.
func (r *localRun) run(ctx context.Context, task string, input map[string]any, serverEvents bool) error {
	if t := r.snap.Tasks[task]; t != nil {
		declared := make([]string, 0, len(t.Input))
		for _, f := range t.Input {
			declared = append(declared, f.Name)
		}
		warnUndeclared(r.e, task, declared, input)
	}
	j, err := r.engine.Trigger(ctx, jobs.TriggerRequest{Workspace: localWorkspace, Task: task, Input: input,
		SourceType: jobs.SourceAPI})
	var ie *jobs.InputError
	switch {
	case errors.Is(err, jobs.ErrTaskNotFound):
		return &exitError{code: exitRequest, msg: fmt.Sprintf("error: Task '%s' not found in folder %s", task, r.dir)}
	case errors.As(err, &ie):
		return &exitError{code: exitRequest, msg: "error: " + ie.Error()}
	case err != nil:
		return err
	}
	if cur, err := r.query.Get(j.ID); err == nil {
		j = cur
	}
	names := make([]string, 0, len(j.Steps))
	for _, s := range j.Steps {
		names = append(names, s.Name)
	}
	p := newLogPrinter(r.e, names, serverEvents, "", false)

	readCtx := context.WithoutCancel(ctx)
	var cancelled atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		cancelled.Store(true)
		_ = r.engine.Cancel(context.Background(), j.ID, "interrupt")
	})
	defer stop()
	if err := r.followAll(readCtx, j.ID, p); err != nil {
		return err
	}
	final, err := r.wait(readCtx, j.ID)
	if err != nil {
		return err
	}
	o := outcome{id: final.ID, status: final.Status}
	if !final.CompletedAt.IsZero() {
		o.took = final.CompletedAt.Sub(final.CreatedAt)
	}
	for _, s := range final.Steps {
		if s.Status == api.JobFailed && s.ErrorMessage != "" {
			o.problems = append(o.problems, s.Name+": "+firstLine(s.ErrorMessage))
		}
	}
	printOutcome(r.e.stderr, o)
	r.waitHooks(readCtx, j.ID)
	if cancelled.Load() && final.Status == jobs.JobCancelled {
		return &exitError{code: exitCancelled, msg: "interrupted"}
	}
	return exitWith(jobExitCode(final.Status))
}

// wait waits for a job to be terminal.
func (r *localRun) wait(ctx context.Context, id string) (*jobs.Job, error) {
	for {
		j, err := r.engine.Wait(ctx, id)
		if err != nil || jobs.JobTerminal(j.Status) {
			return j, err
		}
	}
}

// followAll prints the log of the job root and of every job it leads to
// — child jobs of its `type: task` steps (step names shown as
// "<step>/<child step>") and hook jobs ("on_error/<step>") — until all of
// them have ended. Related jobs are found by listing the run's store,
// which holds nothing else: a job's log ends only after its terminal
// actions, so once every followed log has ended, one more listing finds
// any job still to follow.
func (r *localRun) followAll(ctx context.Context, root string, p *logPrinter) error {
	prefixes := map[string]string{root: ""}
	var wg sync.WaitGroup
	var active atomic.Int32
	errc := make(chan error, 1)
	start := func(id, prefix string) {
		active.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer active.Add(-1)
			if err := r.followJob(ctx, id, prefix, p); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	start(root, "")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		idle := active.Load() == 0
		res, err := r.query.List(jobs.ListFilter{Limit: 1000})
		if err != nil {
			return err
		}
		found := false
		for i := len(res.Jobs) - 1; i >= 0; i-- { // oldest first: parents before children
			j := res.Jobs[i]
			if _, ok := prefixes[j.ID]; ok {
				continue
			}
			parent, label := j.ParentJobID, j.ParentStepName
			if j.HookEvent != "" {
				parent, label = j.SourceID, j.HookEvent
			}
			pp, ok := prefixes[parent]
			if !ok {
				continue
			}
			prefixes[j.ID] = pp + label + "/"
			start(j.ID, prefixes[j.ID])
			found = true
		}
		if idle && !found {
			break
		}
		select {
		case <-tick.C:
		case err := <-errc:
			return err
		}
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// followJob prints one job's log until it ends.
func (r *localRun) followJob(ctx context.Context, id, prefix string, p *logPrinter) error {
	f, err := r.logs.Follow(id, 0)
	if err != nil {
		return fmt.Errorf("follow log of job %s: %w", id, err)
	}
	defer f.Close()
	for {
		data, _, err := f.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow log of job %s: %w", id, err)
		}
		if err := p.chunkOf(prefix, data); err != nil {
			return err
		}
	}
}

// waitHooks waits for the hook jobs of a job and reports how they ended.
func (r *localRun) waitHooks(ctx context.Context, id string) {
	res, err := r.query.List(jobs.ListFilter{SourceType: jobs.SourceHook, Limit: 1000})
	if err != nil {
		return
	}
	for _, h := range res.Jobs {
		if h.SourceID != id {
			continue
		}
		done, err := r.wait(ctx, h.ID)
		if err != nil {
			continue
		}
		printHook(r.e.stderr, h.HookEvent, h.Task, h.ID, done.Status)
	}
}

// close stops the engine and removes the temporary data directory
// (revision trees are read-only, so they are made writable first).
func (r *localRun) close() {
	if r.stack != nil {
		r.stack.Close()
	}
	if r.tmp != "" {
		filepath.WalkDir(r.tmp, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(r.tmp)
	}
}
