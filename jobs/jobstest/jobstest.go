package jobstest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/jobs"
	"runnel/jobs/audit"
	"runnel/logstore"
	"runnel/workspace"
)

// Defs serves snapshots loaded from revision directories; it implements
// jobs.Definitions for one workspace.
type Defs struct {
	Name string

	mu      sync.Mutex
	snaps   map[string]*workspace.Snapshot
	current string
}

// Current returns the newest loaded revision.
func (d *Defs) Current(ws string) (*workspace.Snapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ws != d.Name {
		return nil, workspace.ErrNotFound
	}
	if d.current == "" {
		return nil, &workspace.NotLoadedError{Name: ws}
	}
	return d.snaps[d.current], nil
}

// Snapshot returns a loaded revision.
func (d *Defs) Snapshot(ws, rev string) (*workspace.Snapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.snaps[rev]; s != nil && ws == d.Name {
		return s, nil
	}
	return nil, &workspace.RevisionNotAvailableError{Name: ws, Revision: rev}
}

// Harness is a running engine over a temporary data directory.
type Harness struct {
	T      testing.TB
	Dir    string
	Defs   *Defs
	Store  *jobs.Store
	Logs   *logstore.Store
	Engine *jobs.Engine
	// Query, Audit and Pruner are the stack's services beside the engine.
	Query  *jobs.Query
	Audit  *audit.Log
	Pruner *jobs.Pruner
	// Stack holds them all (jobs.OpenStack).
	Stack   *jobs.Stack
	Options jobs.Options
	// Metrics, when set, instruments the store at the next Open (set it,
	// then Restart).
	Metrics jobs.Metrics
	revs    int
}

// New starts an engine with the workflow files (relative path → content,
// e.g. ".workflows/main.yaml") as the first revision. opts may adjust the
// engine options (Store, Logs and Defs are filled in).
func New(t testing.TB, files map[string]string, opts ...func(*jobs.Options)) *Harness {
	t.Helper()
	h := &Harness{T: t, Dir: t.TempDir(), Defs: &Defs{Name: "default", snaps: map[string]*workspace.Snapshot{}}}
	h.Options = jobs.Options{LocalWorkers: 4, KillGrace: 500 * time.Millisecond, ShutdownGrace: 2 * time.Second}
	for _, o := range opts {
		o(&h.Options)
	}
	h.Load(files)
	h.Open()
	t.Cleanup(h.Close)
	return h
}

// Load writes files as a new revision directory, loads it with the real
// loader and makes it current; it returns the revision id.
func (h *Harness) Load(files map[string]string) string {
	h.T.Helper()
	h.revs++
	rev := fmt.Sprintf("rev%03d", h.revs)
	dir := filepath.Join(h.Dir, "revisions", rev)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			h.T.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			h.T.Fatal(err)
		}
	}
	snap, err := workspace.Load(dir, workspace.LoadOptions{Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		h.T.Fatalf("load revision: %v", err)
	}
	snap.Name, snap.Revision = h.Defs.Name, rev
	h.Defs.mu.Lock()
	h.Defs.snaps[rev] = snap
	h.Defs.current = rev
	h.Defs.mu.Unlock()
	return rev
}

// Open opens the store, the logs and the engine (jobs.OpenStack) and
// starts the engine.
func (h *Harness) Open() {
	h.T.Helper()
	o := h.Options
	o.Defs = h.Defs
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.TempDir == "" {
		o.TempDir = os.Getenv("RUNNEL_BENCH_TMPDIR")
	}
	st, err := jobs.OpenStack(jobs.StackOptions{DataDir: h.Dir, LockWait: time.Second, Metrics: h.Metrics, Engine: o})
	if err != nil {
		h.T.Fatal(err)
	}
	h.Stack, h.Store, h.Logs, h.Engine = st, st.Store, st.Logs, st.Engine
	h.Query, h.Audit, h.Pruner = st.Query, st.Audit, st.Pruner
	if err := st.Start(context.Background()); err != nil {
		h.T.Fatal(err)
	}
}

// Close stops the engine and closes the logs and the store (idempotent).
func (h *Harness) Close() {
	if h.Stack != nil {
		h.Stack.Close()
	}
	h.Stack, h.Store, h.Logs, h.Engine = nil, nil, nil, nil
	h.Query, h.Audit, h.Pruner = nil, nil, nil
}

// Restart closes everything and opens it again on the same directory.
func (h *Harness) Restart() {
	h.T.Helper()
	h.Close()
	h.Open()
}

// Trigger starts a job of task with input and returns its id.
func (h *Harness) Trigger(task string, input map[string]any) string {
	h.T.Helper()
	j, err := h.Engine.Trigger(context.Background(), jobs.TriggerRequest{Workspace: h.Defs.Name, Task: task, Input: input})
	if err != nil {
		h.T.Fatalf("trigger %s: %v", task, err)
	}
	return j.ID
}

// Wait waits (Patience at most) for the job to be terminal and returns it.
func (h *Harness) Wait(id string) *jobs.Job {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience())
	defer cancel()
	j, err := h.Engine.Wait(ctx, id)
	if err != nil {
		h.T.Fatalf("wait %s: %v", id, err)
	}
	if !jobs.JobTerminal(j.Status) {
		h.T.Fatalf("job %s still %s after %s", id, j.Status, Patience())
	}
	return j
}

// WaitFor polls the job (Patience at most) until cond holds.
func (h *Harness) WaitFor(id string, what string, cond func(*jobs.Job) bool) *jobs.Job {
	h.T.Helper()
	deadline := time.Now().Add(Patience())
	for {
		j, err := h.Query.Get(id)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("job %s: timed out waiting for %s (last: %+v, err %v)", id, what, j, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Log returns the job's whole JSONL log.
func (h *Harness) Log(id string) string {
	h.T.Helper()
	data, _, err := h.Logs.Read(id, 0, 64<<20)
	if err != nil {
		h.T.Fatal(err)
	}
	return string(data)
}

// Step returns the named step of a job (fails the test if absent).
func Step(t testing.TB, j *jobs.Job, name string) *jobs.Step {
	t.Helper()
	for _, s := range j.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("job %s has no step %q", j.ID, name)
	return nil
}
