package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"runnel/httpd/client"
	"runnel/jobs/api"
	"runnel/jobs/shell"
	"runnel/logstore"
	"runnel/workspace"
)

// inputFlags are --input JSON and repeated -i key=value.
type inputFlags struct {
	json  *string
	pairs *kvFlag
}

func addInputFlags(fs *flag.FlagSet) inputFlags {
	in := inputFlags{json: fs.String("input", "", "task input as a JSON object (or @FILE to read it from a file)"), pairs: &kvFlag{}}
	fs.Var(in.pairs, "i", "one input value as key=value (repeatable; the value is parsed as JSON when valid, else taken as a string)")
	return in
}

// kvFlag collects repeated key=value flags.
type kvFlag []string

func (k *kvFlag) String() string { return strings.Join(*k, " ") }

func (k *kvFlag) Set(v string) error {
	if i := strings.IndexByte(v, '='); i <= 0 {
		return fmt.Errorf("want key=value, got %q", v)
	}
	*k = append(*k, v)
	return nil
}

// value builds the input object: --input first, then each -i on top (a
// later key wins).
func (in inputFlags) value() (map[string]any, error) {
	out := map[string]any{}
	if text := *in.json; text != "" {
		data := []byte(text)
		if name, ok := strings.CutPrefix(text, "@"); ok {
			var err error
			if data, err = os.ReadFile(name); err != nil {
				return nil, &usageError{msg: fmt.Sprintf("--input: %v", err)}
			}
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
			return nil, &usageError{msg: "--input must be a JSON object, e.g. '{\"name\": \"World\"}'"}
		}
		out = obj
	}
	for _, kv := range *in.pairs {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = inputValue(v)
	}
	return out, nil
}

// inputValue is v parsed as JSON when it is valid JSON (numbers kept
// exact), else v as a string.
func inputValue(v string) any {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return v
	}
	if _, err := dec.Token(); err != io.EOF {
		return v
	}
	return x
}

func runTrigger(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "trigger", usageText("trigger TASK [--workspace W] [--input JSON | -i key=value ...] [-f | --wait]",
		"Starts a job of TASK and prints its id. With -f the job's logs follow live",
		"until it ends, with those of its child jobs ('step/child-step') and hook",
		"jobs ('on_error/step') interleaved; with --wait the command waits",
		"silently. Either way the exit code is the job's: 0 completed, 1 failed, 3",
		"cancelled. 2 means the request was refused (unknown task, bad input), 4",
		"that the server could not be reached or refused the credentials. An -i",
		"key the task does not declare is passed through with a warning."),
		"runnel trigger hello-world -i name=Ada -f")
	cf := addConnFlags(fs, true)
	in := addInputFlags(fs)
	follow := fs.Bool("follow", false, "follow the job's logs until it ends (same as -f)")
	fs.BoolVar(follow, "f", false, "follow the job's logs until it ends")
	wait := fs.Bool("wait", false, "wait for the job to end without printing its logs")
	serverEvents := fs.Bool("server-events", false, "with -f, also print the server's events (job created, step failed, …)")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "task name"); err != nil {
		return err
	}
	input, err := in.value()
	if err != nil {
		return err
	}
	a, err := cf.open(e)
	if err != nil {
		return err
	}
	ws, err := a.workspace(ctx)
	if err != nil {
		return err
	}
	if len(input) > 0 {
		if task, err := a.client.Task(ctx, ws, pos[0]); err == nil {
			declared := make([]string, 0, len(task.Input))
			for name := range task.Input {
				declared = append(declared, name)
			}
			warnUndeclared(e, pos[0], declared, input)
		}
	}
	id, err := a.client.Execute(ctx, ws, pos[0], input)
	if err != nil {
		return taskNotFound(err, pos[0], ws)
	}
	fmt.Fprintln(e.stdout, id)
	switch {
	case *follow:
		return followNewJob(ctx, e, a.client, id, *serverEvents)
	case *wait:
		j, err := waitJob(ctx, e, a.client, id)
		if err != nil {
			return err
		}
		return exitWith(jobExitCode(j.Status))
	}
	return nil
}

// followNewJob follows a job just started (trigger, rerun, restart -f):
// its log and those of its child and hook jobs until it ends, then how it
// and its hooks ended; the error carries the job's exit code.
func followNewJob(ctx context.Context, e env, cl *client.Client, id string, serverEvents bool) error {
	j, err := cl.Job(ctx, id)
	if err != nil {
		return err
	}
	p := newLogPrinter(e, stepNames(j), serverEvents, "", false)
	hooks, err := followTree(ctx, e, cl, id, p)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, msg: fmt.Sprintf("interrupted; job %s keeps running ('runnel cancel %s' stops it)", id, id)}
		}
		return err
	}
	if j, err = waitJob(ctx, e, cl, id); err != nil {
		return err
	}
	printOutcome(e.stderr, jobOutcome(j))
	for _, h := range hooks {
		if hj, err := waitJob(ctx, e, cl, h.JobID); err == nil {
			printHook(e.stderr, string(h.HookEvent), h.TaskName, h.JobID, hj.Status)
		}
	}
	return exitWith(jobExitCode(j.Status))
}

// warnUndeclared warns on stderr about input keys a task that declares
// inputs does not declare: they still pass through (the seed's
// behaviour), but are most likely typos.
func warnUndeclared(e env, task string, declared []string, input map[string]any) {
	if len(declared) == 0 {
		return
	}
	sort.Strings(declared)
	for _, k := range sortedKeys(input) {
		if slices.Contains(declared, k) {
			continue
		}
		hint := ""
		if s := workspace.Suggest(k, declared); s != "" {
			hint = fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		fmt.Fprintf(e.stderr, "warning: task '%s' declares no input '%s'%s; it is passed through anyway (declared: %s)\n",
			task, k, hint, strings.Join(declared, ", "))
	}
}

// taskNotFound names the task and workspace in the API's 404 "Task not
// found"; other errors pass through.
func taskNotFound(err error, task, ws string) error {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Message == "Task not found" {
		return &exitError{code: exitRequest, msg: fmt.Sprintf("error: Task '%s' not found in workspace '%s'", task, ws)}
	}
	return err
}

// printHook reports how a hook job ended: "hook on_error (notify): job
// <id> completed", naming the hook's action (its job's task name is
// "_hook:<action>").
func printHook(w io.Writer, event, task, id, status string) {
	fmt.Fprintf(w, "hook %s (%s): job %s %s\n", event, strings.TrimPrefix(task, "_hook:"), id, status)
}

// exitWith is nil for 0, else a silent exit with that code.
func exitWith(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// waitJob waits until the job is terminal with the server's long wait (up
// to 300 s per request), retrying through connection and server errors.
func waitJob(ctx context.Context, e env, cl *client.Client, id string) (api.Job, error) {
	backoff := time.Second
	for {
		j, err := cl.WaitJob(ctx, id, 300*time.Second)
		var ae *client.APIError
		var ce *client.ConnError
		switch {
		case err == nil:
			if api.Terminal(j.Status) {
				return j, nil
			}
			backoff = time.Second
			continue
		case errors.As(err, &ce), errors.As(err, &ae) && ae.Status >= 500:
			fmt.Fprintf(e.stderr, "runnel: waiting for job %s: %v; retrying in %s\n", id, err, backoff)
		default:
			return j, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return j, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// outcome is how a finished job ended, for the line printed after its
// logs.
type outcome struct {
	id, status string
	took       time.Duration
	// problems are "step: first error line" of failed steps.
	problems []string
}

func jobOutcome(j api.Job) outcome {
	o := outcome{id: j.JobID, status: j.Status}
	if !j.CompletedAt.IsZero() {
		o.took = j.CompletedAt.Sub(j.CreatedAt.Time)
	}
	for _, s := range j.Steps {
		if s.Status == api.JobFailed && s.ErrorMessage != "" {
			o.problems = append(o.problems, s.StepName+": "+firstLine(string(s.ErrorMessage)))
		}
	}
	return o
}

// printOutcome writes "job <id> <status> in <d>" and the failed steps.
func printOutcome(w io.Writer, o outcome) {
	fmt.Fprintf(w, "job %s %s in %s\n", o.id, o.status, shell.FormatDuration(o.took))
	for _, p := range o.problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func runLogs(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "logs", usageText("logs JOB [-f] [--tail N] [--step STEP] [--server-events] [--json]",
		"Prints a job's log lines as 'HH:MM:SS step | text' in local time; stderr",
		"lines use '!' (red on a terminal), server events '*' (cyan). Server events",
		"(job created, step started/failed, job finished) are shown only with",
		"--server-events or --step _server. With -f the log follows live over a",
		"WebSocket until the job ends, resuming where it left off if the",
		"connection drops, then prints how the job ended and exits like trigger -f:",
		"0 completed, 1 failed, 3 cancelled. --json prints the raw JSONL lines (all",
		"of them, or those of --step)."),
		"runnel logs -f 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a")
	cf := addConnFlags(fs, false)
	follow := fs.Bool("follow", false, "follow the log until the job ends (same as -f)")
	fs.BoolVar(follow, "f", false, "follow the log until the job ends")
	step := fs.String("step", "", "only this step's lines (_server for server events)")
	serverEvents := fs.Bool("server-events", false, "also print the server's events")
	raw := fs.Bool("json", false, "print raw JSONL lines")
	tail := fs.Int("tail", 0, "only the last N lines (then follow with -f); reads the log backwards, so it is quick on huge logs")
	a, pos, err := openWith(e, fs, cf, args, 1, 1, "job id")
	if err != nil {
		return err
	}
	id := pos[0]
	j, err := a.client.Job(ctx, id)
	if err != nil {
		return err
	}
	if *tail < 0 {
		return &usageError{msg: "--tail must be a positive number of lines"}
	}
	p := newLogPrinter(e, stepNames(j), *serverEvents, *step, *raw)
	var from int64
	if *tail > 0 {
		if from, err = printTail(ctx, a.client, j.JobID, *tail, p); err != nil {
			return err
		}
		if !*follow {
			return nil
		}
	}
	if *follow {
		if err := checkStep(j, *step); err != nil {
			return err
		}
		if err := followLogs(ctx, e, a.client, j.JobID, from, p); err != nil {
			return err
		}
		if j, err = waitJob(ctx, e, a.client, j.JobID); err != nil {
			return err
		}
		printOutcome(e.stderr, jobOutcome(j))
		return exitWith(jobExitCode(j.Status))
	}
	return printLogs(ctx, a.client, j.JobID, p)
}

func runStatus(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "status", usageText("status JOB [--json]",
		"Shows a job (task, status, source, times, input, output) and a table of",
		"its steps with status, duration, worker and the first line of any error",
		"(or why a step still waits). Exit code by the job's state: 0 completed or",
		"still running, 1 failed, 3 cancelled."),
		"runnel status 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a", false, 1, 1, "job id")
	var j api.Job
	r, err := g.run(ctx, e, args, func(_ string, pos []string) string { return client.JobPath(pos[0]) }, &j)
	if err != nil {
		return err
	}
	if r.printed {
		var st struct{ Status string }
		if json.Unmarshal(r.raw, &st) == nil && api.Terminal(st.Status) {
			return exitWith(jobExitCode(st.Status))
		}
		return nil
	}
	if err := printStatus(ctx, e, r.api, j); err != nil {
		return err
	}
	if api.Terminal(j.Status) {
		return exitWith(jobExitCode(j.Status))
	}
	return nil
}

// printStatus prints a job's header and its steps' table; a step still
// waiting for a worker shows the server's notice about it.
func printStatus(ctx context.Context, e env, a *apiConn, j api.Job) error {
	names := map[string]string{}
	if ws, err := a.client.Workers(ctx); err == nil {
		for _, w := range ws {
			names[w.WorkerID] = w.Name
		}
	}
	var waiting map[string]string
	if !api.Terminal(j.Status) {
		waiting = workerNotices(ctx, a.client, j.JobID)
	}
	now := time.Now()
	t := newTable(e.stdout)
	row(t, "Job", j.JobID)
	row(t, "Task", j.Workspace+"/"+j.TaskName)
	status := j.Status
	if api.Terminal(j.Status) && !j.CompletedAt.IsZero() {
		status += " in " + span(j.CreatedAt.Time, j.CompletedAt.Time, now)
	} else if j.Status == api.JobRunning {
		status += " for " + span(j.CreatedAt.Time, time.Time{}, now)
	}
	row(t, "Status", status)
	if j.Queue != "" {
		row(t, "Queue", queueNote(string(j.Queue), j.QueuePosition))
	}
	row(t, "Source", source(j.Item()))
	row(t, "Created", stamp(j.CreatedAt.Time)+" ("+ago(j.CreatedAt.Time, now)+")")
	row(t, "Revision", shortRev(j.Revision))
	if j.HookEvent != "" {
		row(t, "Hook", string(j.HookEvent+" of job "+j.SourceID))
	} else if j.ParentJobID != "" {
		row(t, "Parent", string("job "+j.ParentJobID+" step "+j.ParentStepName))
	}
	if from := secondChance(j.Item()); from != "" {
		row(t, "From", from)
	}
	row(t, "Input", compactJSON(orEmpty(j.Input)))
	if j.Output != nil {
		row(t, "Output", compactJSON(j.Output))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	t = newTable(e.stdout)
	row(t, "STEP", "STATUS", "DURATION", "WORKER", "ERROR")
	for _, s := range j.Steps {
		worker := "-"
		switch {
		case s.ChildJobID != "":
			worker = string("job " + s.ChildJobID)
		case s.WorkerID != "":
			worker = names[string(s.WorkerID)]
			if worker == "" {
				worker = shortRev(string(s.WorkerID))
			}
		}
		note := firstLine(string(s.ErrorMessage))
		if note == "" && s.SkipReason != "" {
			note = "skipped: " + firstLine(string(s.SkipReason))
		}
		if note == "" && s.CarriedOver {
			note = "carried over from job " + string(s.CarriedFrom)
		}
		if note == "" && s.QueuePosition != nil {
			note = queueNote(string(s.Queue), s.QueuePosition)
		}
		if note == "" && s.StartedAt.IsZero() {
			note = waiting[s.StepName]
		}
		if note == "" && s.Approval != nil {
			note = approvalNote(s.Approval)
		}
		note = retryNote(s, note, now)
		row(t, s.StepName, s.Status, span(s.StartedAt.Time, s.CompletedAt.Time, now), worker, note)
	}
	return t.Flush()
}

// retryNote adds a step's retry state to its note: "attempt 1/3 failed,
// next at 15:04:05: <note>" while it waits for its next attempt, "<note>
// (attempt 2/3)" after a later attempt; a step without retries keeps note.
func retryNote(s api.Step, note string, now time.Time) string {
	switch {
	case s.MaxAttempts <= 1 || s.Attempt == 0:
		return note
	case !s.RetryAt.IsZero():
		next := s.RetryAt.Local().Format(time.TimeOnly)
		if s.RetryAt.Sub(now) > 24*time.Hour {
			next = s.RetryAt.Local().Format(time.DateTime)
		}
		out := fmt.Sprintf("attempt %d/%d failed, next at %s", s.Attempt, s.MaxAttempts, next)
		if note != "" {
			out += ": " + note
		}
		return out
	case s.Attempt > 1:
		return strings.TrimSpace(note + fmt.Sprintf(" (attempt %d/%d)", s.Attempt, s.MaxAttempts))
	}
	return note
}

// queueNote words a queue and a position in it: "deploys", or "waiting in
// queue deploys at position 2".
func queueNote(q string, pos *int) string {
	if pos == nil {
		return q
	}
	return fmt.Sprintf("waiting in queue %s at position %d", q, *pos)
}

// workerNotices maps the steps of a running job that the server said are
// waiting for a worker (a _server notice) to that notice, shortened to
// "waiting for a worker with tags […]; active workers: …". Errors leave
// it empty: the notice is a hint.
func workerNotices(ctx context.Context, cl *client.Client, id string) map[string]string {
	page, err := cl.StepLogs(ctx, id, logstore.ServerStep, 0)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, raw := range strings.SplitAfter(page.Logs, "\n") {
		l, err := logstore.ParseLine([]byte(raw))
		if err != nil {
			continue
		}
		rest, ok := strings.CutPrefix(l.Text, "Step '")
		if !ok {
			continue
		}
		step, notice, ok := strings.Cut(rest, "' is waiting for a worker")
		if ok {
			out[step] = "waiting for a worker" + notice
		}
	}
	return out
}

// source is who started a job: the source type, with the trigger, webhook
// or user name (hook and child jobs name their parent elsewhere).
func source(j api.JobItem) string {
	switch j.SourceType {
	case "hook", "task":
		return j.SourceType
	}
	return strings.TrimSpace(j.SourceType + " " + string(j.SourceID))
}

// orEmpty keeps a nil input printing as {}.
func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// jobStatuses are the statuses `jobs --status` accepts (SPEC §5.1).
var jobStatuses = []string{api.JobPending, api.JobRunning, api.JobCompleted, api.JobFailed, api.JobCancelled, api.JobSkipped}

func runJobs(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "jobs", usageText("jobs [--workspace W] [--task T] [--status S] [--limit N] [--json]",
		"Lists jobs, newest first. Without --workspace (or RUNNEL_WORKSPACE) jobs of",
		"every workspace are listed; --task needs a workspace (the default one is",
		"used when none is named). Statuses: pending, running, completed, failed,",
		"cancelled, skipped."),
		"runnel jobs --task hello-world --status failed --limit 5")
	cf := addConnFlags(fs, true)
	task := fs.String("task", "", "only jobs of this task")
	status := fs.String("status", "", "only jobs with this status")
	limit := fs.Int("limit", 20, "at most this many jobs (1–1000)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return &usageError{msg: "--limit must be between 1 and 1000"}
	}
	if *status != "" && !slices.Contains(jobStatuses, *status) {
		msg := fmt.Sprintf("Invalid status '%s' (one of %s)", *status, strings.Join(jobStatuses, ", "))
		if s := workspace.Suggest(*status, jobStatuses); s != "" {
			msg += fmt.Sprintf("; did you mean '%s'?", s)
		}
		return &exitError{code: exitRequest, msg: "error: " + msg}
	}
	a, err := cf.open(e)
	if err != nil {
		return err
	}
	f := client.JobFilter{Workspace: a.workspaceFilter(), Task: *task, Status: *status, Limit: *limit}
	if f.Task != "" && f.Workspace == "" {
		if f.Workspace, err = a.workspace(ctx); err != nil {
			return err
		}
	}
	list, done, err := getList[api.JobItem](ctx, e, a, client.JobsPath(f), *asJSON, "no jobs")
	if done {
		return err
	}
	now := time.Now()
	t := newTable(e.stdout)
	row(t, "JOB", "TASK", "STATUS", "SOURCE", "CREATED", "DURATION")
	for _, j := range list {
		task := j.TaskName
		if f.Workspace == "" {
			task = j.Workspace + "/" + task
		}
		if j.HookEvent != "" {
			task += " (" + string(j.HookEvent) + ")"
		}
		dur := "-"
		if !j.CompletedAt.IsZero() {
			dur = span(j.CreatedAt.Time, j.CompletedAt.Time, now)
		} else if j.Status == api.JobRunning {
			dur = span(j.CreatedAt.Time, time.Time{}, now) + "…"
		}
		row(t, j.JobID, task, j.Status, source(j)+sourceLink(j), ago(j.CreatedAt.Time, now), dur)
	}
	return t.Flush()
}

func runCancel(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "cancel", usageText("cancel JOB",
		"Cancels a pending or running job: running steps are stopped and the job",
		"ends 'cancelled'. A job that has already ended is a request error (exit 2)."),
		"runnel cancel 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a")
	cf := addConnFlags(fs, false)
	a, pos, err := openWith(e, fs, cf, args, 1, 1, "job id")
	if err != nil {
		return err
	}
	if err := a.client.Cancel(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "job %s cancelled\n", pos[0])
	return nil
}
