package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"runnel/httpd/client"
	"runnel/jobs/api"
)

// decodeOrPrint prints raw with --json, else decodes it into out; printed
// reports that the caller is done.
func decodeOrPrint(e env, asJSON bool, raw json.RawMessage, out any) (printed bool, err error) {
	if asJSON {
		return true, printJSON(e.stdout, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("decode answer: %w", err)
	}
	return false, nil
}

// getList GETs a JSON list: printed as is with --json, else decoded; an
// empty list says none on stderr. done reports that the caller has nothing
// left to print.
func getList[T any](ctx context.Context, e env, a *apiConn, path string, asJSON bool, none string) (list []T, done bool, err error) {
	raw, err := a.client.GetJSON(ctx, path)
	if err != nil {
		return nil, true, err
	}
	if printed, err := decodeOrPrint(e, asJSON, raw, &list); printed || err != nil {
		return nil, true, err
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, none)
		return nil, true, nil
	}
	return list, false, nil
}

// getCmd is the shared body of a read-only client command: it parses the
// arguments (flags anywhere, a bounded number of positional ones), opens the
// connection, resolves the workspace when the command has --workspace, then
// GETs one API path and prints it as is (--json) or decodes it.
type getCmd struct {
	fs     *flag.FlagSet
	conn   *connFlags
	asJSON *bool
	// min, max and what bound and name the positional arguments.
	min, max int
	what     string
}

// newGetCmd declares the flags of a read-only command.
func newGetCmd(e env, name, usage, example string, withWorkspace bool, min, max int, what string) *getCmd {
	fs := newFlags(e, name, usage, example)
	g := &getCmd{fs: fs, conn: addConnFlags(fs, withWorkspace), min: min, max: max, what: what}
	g.asJSON = fs.Bool("json", false, "print the API's JSON")
	return g
}

// getResult is what a read-only command got.
type getResult struct {
	api *apiConn
	ws  string
	pos []string
	// printed is set when --json printed the answer: nothing is left to do.
	printed bool
	// raw is the answer as the server sent it.
	raw json.RawMessage
}

// run parses args and GETs path(ws, pos), decoding into out.
func (g *getCmd) run(ctx context.Context, e env, args []string, path func(ws string, pos []string) string, out any) (getResult, error) {
	var r getResult
	var err error
	if r.api, r.pos, err = openWith(e, g.fs, g.conn, args, g.min, g.max, g.what); err != nil {
		return r, err
	}
	if g.conn.workspace != nil {
		if r.ws, err = r.api.workspace(ctx); err != nil {
			return r, err
		}
	}
	raw, err := r.api.client.GetJSON(ctx, path(r.ws, r.pos))
	if err != nil {
		return r, err
	}
	r.raw = raw
	r.printed, err = decodeOrPrint(e, *g.asJSON, raw, out)
	return r, err
}

func runWorkspaces(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "workspaces", usageText("workspaces [--json]",
		"Lists the server's workspaces: the serving revision (short), the numbers of",
		"tasks, actions and triggers, and the state: ok, loading, or ERROR with the",
		"problem of the newest revision (the last good one keeps serving)."),
		"runnel workspaces --server http://runnel.internal:8080", false, 0, 0, "")
	var list []api.Workspace
	if r, err := g.run(ctx, e, args, func(string, []string) string { return client.WorkspacesPath() }, &list); r.printed || err != nil {
		return err
	}
	t := newTable(e.stdout)
	row(t, "NAME", "REVISION", "TASKS", "ACTIONS", "TRIGGERS", "STATE")
	for _, w := range list {
		rev, state := "-", "ok"
		if w.Revision != "" {
			rev = shortRev(string(w.Revision))
		} else if w.Error == "" {
			state = "loading"
		}
		if w.Error != "" {
			state = "ERROR " + firstLine(w.Error)
			if w.ErrorRevision != nil {
				state = "ERROR in " + shortRev(string(*w.ErrorRevision)) + ": " + firstLine(w.Error)
			}
		}
		row(t, w.Name, rev, fmt.Sprint(w.TasksCount), fmt.Sprint(w.ActionsCount), fmt.Sprint(w.TriggersCount), state)
	}
	return t.Flush()
}

func runTasks(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "tasks", usageText("tasks [--workspace W] [--json]",
		"Lists a workspace's tasks with their description; tasks in folders are",
		"shown as a tree. TRIGGERS is 'yes' when an enabled trigger starts the task."),
		"runnel tasks --workspace ops", true, 0, 0, "")
	var list []api.TaskItem
	r, err := g.run(ctx, e, args, func(ws string, _ []string) string { return client.TasksPath(ws) }, &list)
	if r.printed || err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stderr, "workspace %s has no tasks\n", r.ws)
		return nil
	}
	printTaskTree(e.stdout, list)
	return nil
}

// printTaskTree prints tasks sorted by folder then name: tasks without a
// folder first, then each folder as a "name/" line with its tasks (and
// sub-folders) indented below it.
func printTaskTree(w io.Writer, list []api.TaskItem) {
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Folder != list[j].Folder {
			return list[i].Folder < list[j].Folder
		}
		return list[i].Name < list[j].Name
	})
	t := newTable(w)
	row(t, "NAME", "TRIGGERS", "DESCRIPTION")
	var open []string // folder path segments already printed
	for _, task := range list {
		var segs []string
		if task.Folder != "" {
			segs = strings.Split(task.Folder, "/")
		}
		common := 0
		for common < len(open) && common < len(segs) && open[common] == segs[common] {
			common++
		}
		for d := common; d < len(segs); d++ {
			row(t, strings.Repeat("  ", d)+segs[d]+"/", "", "")
		}
		open = segs
		trig := "-"
		if task.HasTriggers {
			trig = "yes"
		}
		desc := task.DisplayName
		if task.Description != "" {
			if desc != "" {
				desc += " — "
			}
			desc += firstLine(task.Description)
		}
		row(t, strings.Repeat("  ", len(segs))+task.Name, trig, desc)
	}
	t.Flush()
}

func runTask(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "task", usageText("task NAME [--workspace W] [--json]",
		"Shows a task: its inputs (type, required or default), its steps in",
		"dependency order (action, what they wait for) and the triggers that start",
		"it with their next runs."),
		"runnel task hello-world", true, 1, 1, "task name")
	var task api.Task
	r, err := g.run(ctx, e, args, func(ws string, pos []string) string { return client.TaskPath(ws, pos[0]) }, &task)
	if err != nil && len(r.pos) == 1 {
		return taskNotFound(err, r.pos[0], r.ws)
	}
	if r.printed || err != nil {
		return err
	}
	printTask(e.stdout, r.ws, task, time.Now())
	return nil
}

func printTask(w io.Writer, ws string, task api.Task, now time.Time) {
	title := task.Name
	if task.DisplayName != "" {
		title += " (" + task.DisplayName + ")"
	}
	fmt.Fprintf(w, "Task %s in workspace %s\n", title, ws)
	if task.Description != "" {
		for _, l := range strings.Split(strings.TrimSpace(task.Description), "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	t := newTable(w)
	if task.Folder != "" {
		row(t, "Folder", task.Folder)
	}
	row(t, "Mode", task.Mode)
	if task.TimeoutSecs > 0 {
		row(t, "Timeout", secondsText(task.TimeoutSecs))
	}
	t.Flush()

	fmt.Fprintln(w, "\nInput:")
	if len(task.Input) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	t = newTable(w)
	for _, name := range sortedKeys(task.Input) {
		f := task.Input[name]
		need := "optional"
		switch {
		case f.Required:
			need = "required"
		case f.HasDefault():
			need = "default " + string(f.Default)
		}
		var notes []string
		if f.Secret {
			notes = append(notes, "secret")
		}
		if f.Name != "" {
			notes = append(notes, f.Name)
		}
		if f.Description != "" {
			notes = append(notes, firstLine(f.Description))
		}
		row(t, "  "+name, f.Type, need, strings.Join(notes, " — "))
	}
	t.Flush()

	fmt.Fprintln(w, "\nSteps:")
	t = newTable(w)
	for _, name := range flowOrder(task.Flow) {
		s := task.Flow[name]
		action := s.Action
		if strings.HasPrefix(action, "_inline:") {
			action = "(inline)"
		}
		var notes []string
		if len(s.DependsOn) > 0 {
			notes = append(notes, "after "+strings.Join(s.DependsOn, ", "))
		}
		if s.ContinueOnFailure {
			notes = append(notes, "runs even if they fail")
		}
		if s.TimeoutSecs > 0 {
			notes = append(notes, "timeout "+secondsText(s.TimeoutSecs))
		}
		if s.Name != "" {
			notes = append(notes, s.Name)
		}
		row(t, "  "+name, action, strings.Join(notes, "; "))
	}
	t.Flush()

	fmt.Fprintln(w, "\nTriggers:")
	if len(task.Triggers) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	t = newTable(w)
	for _, tr := range task.Triggers {
		row(t, "  "+tr.Name, tr.Type, triggerWhat(tr), nextRun(tr, now))
	}
	t.Flush()
}

// flowOrder sorts steps by dependency depth (steps without dependencies
// first), then by name.
func flowOrder(flow map[string]api.FlowStep) []string {
	depth := map[string]int{}
	var visit func(name string, seen map[string]bool) int
	visit = func(name string, seen map[string]bool) int {
		if d, ok := depth[name]; ok {
			return d
		}
		if seen[name] {
			return 0 // a cycle cannot load; be safe anyway
		}
		seen[name] = true
		d := 0
		for _, dep := range flow[name].DependsOn {
			if _, ok := flow[dep]; ok {
				d = max(d, visit(dep, seen)+1)
			}
		}
		depth[name] = d
		return d
	}
	names := sortedKeys(flow)
	for _, n := range names {
		visit(n, map[string]bool{})
	}
	sort.SliceStable(names, func(i, j int) bool { return depth[names[i]] < depth[names[j]] })
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// triggerWhat is a trigger's schedule or webhook route.
func triggerWhat(tr api.Trigger) string {
	switch tr.Type {
	case "scheduler":
		s := tr.Cron
		if tr.Timezone != "" && tr.Timezone != "UTC" {
			s += " " + tr.Timezone
		}
		if tr.Concurrency != "" && tr.Concurrency != "allow" {
			s += " (" + tr.Concurrency + ")"
		}
		return s
	case "webhook":
		s := "POST " + tr.Path
		if tr.Mode == "sync" {
			s += " (sync)"
		}
		return s
	}
	return "-"
}

// nextRun is a trigger's next fire time with its distance, "disabled", or
// "-" for webhooks.
func nextRun(tr api.Trigger, now time.Time) string {
	if !tr.Enabled {
		return "disabled"
	}
	if len(tr.NextRuns) == 0 {
		return "-"
	}
	t, err := time.Parse(api.NextRunLayout, tr.NextRuns[0])
	if err != nil {
		return tr.NextRuns[0]
	}
	return "next " + t.Format("2006-01-02 15:04 -07:00") + " (" + ago(t, now) + ")"
}

func runTriggers(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "triggers", usageText("triggers [--workspace W] [--json]",
		"Lists a workspace's triggers: scheduler triggers with their cron, zone and",
		"next run (in the trigger's zone), webhooks with their route."),
		"runnel triggers --workspace default", true, 0, 0, "")
	var list []api.Trigger
	r, err := g.run(ctx, e, args, func(ws string, _ []string) string { return client.TriggersPath(ws) }, &list)
	if r.printed || err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stderr, "workspace %s has no triggers\n", r.ws)
		return nil
	}
	now := time.Now()
	t := newTable(e.stdout)
	row(t, "NAME", "TYPE", "TASK", "WHEN", "NEXT")
	for _, tr := range list {
		row(t, tr.Name, tr.Type, tr.Task, triggerWhat(tr), nextRun(tr, now))
	}
	return t.Flush()
}

func runWorkers(ctx context.Context, e env, args []string) error {
	g := newGetCmd(e, "workers", usageText("workers [--json]",
		"Lists workers, active first: the server's built-in worker and remote",
		"`runnel worker` processes, with their tags and last heartbeat."),
		"runnel workers", false, 0, 0, "")
	var list []api.Worker
	if r, err := g.run(ctx, e, args, func(string, []string) string { return client.WorkersPath() }, &list); r.printed || err != nil {
		return err
	}
	now := time.Now()
	t := newTable(e.stdout)
	row(t, "NAME", "KIND", "STATUS", "TAGS", "HEARTBEAT", "VERSION", "ID")
	for _, w := range list {
		kind := "remote"
		if w.Builtin {
			kind = "built-in"
		}
		row(t, w.Name, kind, w.Status, orDash(strings.Join(w.Tags, ",")), ago(w.LastHeartbeat.Time, now), orDash(string(w.Version)), w.WorkerID)
	}
	return t.Flush()
}

func runRefresh(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "refresh", usageText("refresh [WORKSPACE] [--json]",
		"Fetches and loads a workspace's newest revision now instead of waiting for",
		"the next poll or file change. A revision with errors is rejected (exit 2)",
		"and the last good one keeps serving. WORKSPACE defaults like --workspace."),
		"runnel refresh default")
	cf := addConnFlags(fs, true)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	a, pos, err := openWith(e, fs, cf, args, 0, 1, "")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		a.wsFlag = pos[0]
	}
	ws, err := a.workspace(ctx)
	if err != nil {
		return err
	}
	res, err := a.client.RefreshWorkspace(ctx, ws)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, json.RawMessage(compactJSON(res)))
	}
	change := "unchanged"
	if res.Changed {
		change = "changed"
	}
	fmt.Fprintf(e.stdout, "workspace %s: revision %s (%s)\n", res.Workspace, shortRev(res.Revision), change)
	return nil
}
