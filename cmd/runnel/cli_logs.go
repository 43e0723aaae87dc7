package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"runnel/httpd/client"
	"runnel/jobs/api"
	"runnel/logstore"
)

// Log lines are printed as
//
//	12:00:01 say-hello | Hello World        (stdout)
//	12:00:01 fail      ! about to fail      (stderr)
//	12:00:02 _server   * Job failed in 0.3s (server event)
//
// in local time, the step column as wide as the job's longest step name.
// On a terminal (and unless NO_COLOR is set) stderr text is red and server
// events cyan; the separators keep them distinct without colour too.
// Server events are hidden unless asked for (--server-events): they repeat
// what the step lines and the exit code already say, and `status` shows
// the same facts as a table. --json prints the raw JSONL lines instead.

// logPrinter formats JSONL log chunks for a terminal or a pipe; it may
// be shared by goroutines (one per followed job).
type logPrinter struct {
	mu sync.Mutex // serialises chunks and guards width
	w  io.Writer
	// color enables ANSI styles.
	color bool
	// serverEvents shows "_server" lines.
	serverEvents bool
	// step, when set, shows only that step's lines ("_server" included).
	step string
	// raw prints the selected JSONL lines unchanged.
	raw bool
	// width is the step column width; it grows for longer names.
	width int
}

// newLogPrinter prints to e.stdout, sizing the step column for steps.
func newLogPrinter(e env, steps []string, serverEvents bool, step string, raw bool) *logPrinter {
	p := &logPrinter{w: e.stdout, color: useColor(e, e.stdout), serverEvents: serverEvents || step == logstore.ServerStep,
		step: step, raw: raw}
	if step != "" {
		steps = []string{step}
	} else if p.serverEvents {
		steps = append(steps, logstore.ServerStep)
	}
	for _, s := range steps {
		p.width = max(p.width, len(s))
	}
	return p
}

// chunk prints every selected line of data (complete JSONL lines; lines
// that are not JSON are skipped, as the SPEC asks of readers).
func (p *logPrinter) chunk(data []byte) error { return p.chunkOf("", data) }

// chunkOf is chunk for a related job (a child or hook job) whose step
// names are shown after prefix, e.g. "first/" for the child job of step
// first.
func (p *logPrinter) chunkOf(prefix string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out bytes.Buffer
	forEachLine(data, func(raw []byte) {
		l, err := logstore.ParseLine(raw)
		if err != nil || !p.selected(l) {
			return
		}
		if p.raw {
			out.Write(raw)
			if raw[len(raw)-1] != '\n' {
				out.WriteByte('\n')
			}
			return
		}
		p.format(&out, prefix, l)
	})
	_, err := p.w.Write(out.Bytes())
	return err
}

// forEachLine calls fn with each line of data, newline included (a last
// line without one as it is).
func forEachLine(data []byte, fn func(raw []byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data) - 1
		}
		fn(data[:i+1])
		data = data[i+1:]
	}
}

func (p *logPrinter) selected(l logstore.Line) bool {
	if p.step != "" {
		return l.Step == p.step
	}
	return p.raw || p.serverEvents || l.Step != logstore.ServerStep
}

func (p *logPrinter) format(out *bytes.Buffer, prefix string, l logstore.Line) {
	name := prefix + l.Step
	p.width = max(p.width, len(name))
	sep, style := "|", ""
	switch {
	case l.Step == logstore.ServerStep:
		sep, style = "*", ansiCyan
	case l.Stream == "stderr":
		sep, style = "!", ansiRed
	}
	pad := strings.Repeat(" ", p.width-len(name))
	if !p.color {
		fmt.Fprintf(out, "%s %s%s %s %s\n", clock(l.TS), name, pad, sep, l.Text)
		return
	}
	end := ""
	if style != "" {
		end = ansiReset
	}
	fmt.Fprintf(out, "%s%s%s %s%s %s%s %s%s\n", ansiDim, clock(l.TS), ansiReset, name, pad, style, sep, l.Text, end)
}

// stepNames are the step names of a job, for the column width.
func stepNames(j api.Job) []string {
	out := make([]string, 0, len(j.Steps))
	for _, s := range j.Steps {
		out = append(out, s.StepName)
	}
	return out
}

// printLogs prints a finished or running job's log up to now over REST,
// paging by offset; with a step it asks the step route, which checks the
// step name.
func printLogs(ctx context.Context, cl *client.Client, id string, p *logPrinter) error {
	var off int64
	for {
		var page api.LogPage
		var err error
		if p.step != "" {
			page, err = cl.StepLogs(ctx, id, p.step, off)
		} else {
			page, err = cl.Logs(ctx, id, off)
		}
		if err != nil {
			return err
		}
		if err := p.chunk([]byte(page.Logs)); err != nil {
			return err
		}
		if page.NextOffset <= off {
			return nil
		}
		off = page.NextOffset
	}
}

// tailPage is how many bytes printTail asks for at a time.
const tailPage = 256 << 10

// printTail prints the last n selected lines of a job's log (of p.step when
// set), reading backwards from the end a page at a time so that only those
// lines are held, whatever the log's size. It returns the offset the log
// ended at, where a follow resumes.
func printTail(ctx context.Context, cl *client.Client, id string, n int, p *logPrinter) (int64, error) {
	var lines [][]byte // selected lines, newest last
	before, end := int64(-1), int64(-1)
	for len(lines) < n {
		page, err := cl.TailLogs(ctx, id, p.step, tailPage, before)
		if err != nil {
			return 0, err
		}
		if end < 0 {
			end = page.NextOffset
		}
		var got [][]byte
		forEachLine([]byte(page.Logs), func(raw []byte) {
			if l, err := logstore.ParseLine(raw); err == nil && p.selected(l) {
				got = append(got, raw)
			}
		})
		lines = append(got, lines...)
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		if page.StartOffset == nil || *page.StartOffset <= 0 || page.Logs == "" {
			break
		}
		before = *page.StartOffset
	}
	return end, p.chunk(bytes.Join(lines, nil))
}

// followLogs prints a job's log live over the WebSocket until the job has
// finished, resuming by offset after dropped connections (reported on
// stderr).
func followLogs(ctx context.Context, e env, cl *client.Client, id string, from int64, p *logPrinter) error {
	_, err := cl.Follow(ctx, id, client.FollowOptions{
		Offset: from,
		OnRetry: func(err error, wait time.Duration) {
			if wait > 0 {
				fmt.Fprintf(e.stderr, "runnel: log stream interrupted (%v); retrying in %s\n", err, wait)
			}
		},
	}, func(chunk []byte, _ int64) error { return p.chunk(chunk) })
	return err
}

// checkStep fails with a request error when a job has no such step.
func checkStep(j api.Job, step string) error {
	if step == "" || step == logstore.ServerStep {
		return nil
	}
	for _, s := range j.Steps {
		if s.StepName == step {
			return nil
		}
	}
	return &exitError{code: exitRequest, msg: fmt.Sprintf("error: job %s has no step %q", j.JobID, step)}
}

// followTree is followLogs for a job and every job it leads to, as
// `runnel run` prints them: child jobs of its `type: task` steps (step
// names shown as "<step>/<child step>") and hook jobs ("on_error/<step>"),
// interleaved live, until all of them have ended. Related jobs are found
// by polling: a followed job's steps name their child jobs, and hook jobs
// exist once the job that fires them has ended (they are created in the
// transaction that ends it). It returns the hook jobs it followed.
func followTree(ctx context.Context, e env, cl *client.Client, root string, p *logPrinter) ([]api.JobItem, error) {
	type followed struct {
		prefix string
		done   bool // ended and searched for related jobs
	}
	jobs := map[string]*followed{}
	var order []string
	var hooks []api.JobItem
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	start := func(id, prefix string) {
		jobs[id] = &followed{prefix: prefix}
		order = append(order, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cl.Follow(ctx, id, client.FollowOptions{
				OnRetry: func(err error, wait time.Duration) {
					if wait > 0 {
						fmt.Fprintf(e.stderr, "runnel: log stream interrupted (%v); retrying in %s\n", err, wait)
					}
				},
			}, func(chunk []byte, _ int64) error { return p.chunkOf(prefix, chunk) })
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	start(root, "")
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := false
		for _, id := range order {
			f := jobs[id]
			if f.done {
				continue
			}
			j, err := cl.Job(ctx, id)
			if err != nil {
				return hooks, err
			}
			for _, s := range j.Steps {
				if s.ChildJobID != "" && jobs[string(s.ChildJobID)] == nil {
					start(string(s.ChildJobID), f.prefix+s.StepName+"/")
				}
			}
			if !api.Terminal(j.Status) {
				pending = true
				continue
			}
			list, err := cl.Jobs(ctx, client.JobFilter{SourceType: "hook", Limit: 1000})
			if err != nil {
				return hooks, err
			}
			for _, h := range list {
				if string(h.SourceID) == id && jobs[h.JobID] == nil {
					start(h.JobID, f.prefix+string(h.HookEvent)+"/")
					hooks = append(hooks, h)
				}
			}
			f.done = true
			pending = true // the jobs just found are searched next round
		}
		if !pending {
			break
		}
		select {
		case <-tick.C:
		case err := <-errc:
			return hooks, err
		case <-ctx.Done():
			return hooks, ctx.Err()
		}
	}
	wg.Wait()
	select {
	case err := <-errc:
		return hooks, err
	default:
		return hooks, nil
	}
}
