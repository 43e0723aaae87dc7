package workspace_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
	"runnel/workspace/waittest"
)

// tasksYAML is a workflow file with one single-step shell task per name.
func tasksYAML(names ...string) string {
	var b strings.Builder
	b.WriteString("tasks:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    flow:\n      say:\n        type: shell\n        cmd: echo hi\n", n)
	}
	return b.String()
}

// webhookYAML is a workflow file with task hello and webhook trigger
// trigger named hook (its name value is at line 10, column 11).
func webhookYAML(trigger, hook string) string {
	return tasksYAML("hello") + fmt.Sprintf("triggers:\n  %s:\n    type: webhook\n    name: %s\n    task: hello\n", trigger, hook)
}

// logRecorder is a slog handler that keeps every record and streams it.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
	ch      chan logRecord
}

type logRecord struct {
	msg   string
	level slog.Level
	attrs map[string]any
}

func newLogRecorder() *logRecorder { return &logRecorder{ch: make(chan logRecord, 10000)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, level: r.Level, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, rec)
	h.mu.Unlock()
	select {
	case h.ch <- rec:
	default:
	}
	return nil
}

// testEnv is a started Manager with its observations.
type testEnv struct {
	m        *workspace.Manager
	opts     workspace.ManagerOptions
	sources  []workspace.Source
	logs     *logRecorder
	swaps    chan swapEvent
	revsDir  string
	tarsDir  string
	folders  map[string]*workspace.Folder
	dataRoot string
}

type swapEvent struct {
	ws       string
	old, new *workspace.Snapshot
}

// newEnv returns an unstarted environment with data directories.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	root := revisionsTempDir(t)
	e := &testEnv{
		logs:     newLogRecorder(),
		swaps:    make(chan swapEvent, 1000),
		revsDir:  filepath.Join(root, "revisions"),
		tarsDir:  filepath.Join(root, "tarballs"),
		folders:  map[string]*workspace.Folder{},
		dataRoot: root,
	}
	e.opts = workspace.ManagerOptions{
		RevisionsDir: e.revsDir,
		TarballsDir:  e.tarsDir,
		Logger:       slog.New(e.logs),
	}
	return e
}

// addFolder configures a folder workspace (watched unless noWatch).
func (e *testEnv) addFolder(name, path string, noWatch bool) *workspace.Folder {
	f := workspace.NewFolder(path, filepath.Join(e.revsDir, name))
	src := workspace.Source{Name: name, Kind: workspace.KindFolder, Fetch: f.Fetch}
	if !noWatch {
		src.Watch = f.Watch
	}
	e.sources = append(e.sources, src)
	e.folders[name] = f
	return f
}

// start starts the manager and waits for the first loads.
func (e *testEnv) start(t *testing.T) *workspace.Manager {
	t.Helper()
	e.m = workspace.NewManager(e.opts, e.sources)
	e.m.OnSwap(func(ws string, old, new *workspace.Snapshot) { e.swaps <- swapEvent{ws, old, new} })
	if err := e.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.m.WaitLoaded(ctx); err != nil {
		t.Fatalf("WaitLoaded: %v", err)
	}
	return e.m
}

// waitSwap waits for a swap of ws whose new snapshot satisfies ok.
func (e *testEnv) waitSwap(t *testing.T, ws string, ok func(s *workspace.Snapshot) bool) swapEvent {
	t.Helper()
	deadline := time.After(waittest.Patience())
	for {
		select {
		case ev := <-e.swaps:
			if ev.ws == ws && ok(ev.new) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching swap of %s within %s", ws, waittest.Patience())
		}
	}
}

// waitLog waits for a log record with that message about ws.
func (e *testEnv) waitLog(t *testing.T, msg, ws string) logRecord {
	t.Helper()
	deadline := time.After(waittest.Patience())
	for {
		select {
		case r := <-e.logs.ch:
			if r.msg == msg && r.attrs["workspace"] == ws {
				return r
			}
		case <-deadline:
			t.Fatalf("no %q log line for %s within %s", msg, ws, waittest.Patience())
		}
	}
}

func (e *testEnv) status(t *testing.T, ws string) workspace.Status {
	t.Helper()
	st, _, err := e.m.Get(ws)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func hasTask(name string) func(*workspace.Snapshot) bool {
	return func(s *workspace.Snapshot) bool { return s.Tasks[name] != nil }
}

// folderRevision computes the revision of the folder at path independently.
func folderRevision(t *testing.T, path string) string {
	t.Helper()
	rev, _ := fetchFolder(t, workspace.NewFolder(path, revisionsTempDir(t)))
	return rev
}

func taskNames(s *workspace.Snapshot) []string {
	var out []string
	for n := range s.Tasks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestManagerFolderReload(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.addFolder("default", src, false)
	m := e.start(t)

	first := e.waitSwap(t, "default", hasTask("hello"))
	if first.old != nil {
		t.Errorf("first swap has old revision %s", first.old.Revision)
	}
	cur, err := m.Current("default")
	if err != nil {
		t.Fatal(err)
	}
	rev := folderRevision(t, src)
	if cur != first.new || cur.Name != "default" || cur.Revision != rev ||
		cur.Dir != filepath.Join(e.revsDir, "default", rev) || cur.LoadedAt.IsZero() {
		t.Errorf("current = {%s %s %s %v}, want default %s under %s", cur.Name, cur.Revision, cur.Dir, cur.LoadedAt, rev, e.revsDir)
	}
	loaded := e.waitLog(t, "workspace loaded", "default")
	for k, want := range map[string]any{"revision": rev, "tasks": int64(1), "actions": int64(0), "triggers": int64(0)} {
		if got := loaded.attrs[k]; got != want {
			t.Errorf("log attr %s = %v (%T), want %v", k, got, got, want)
		}
	}
	if _, ok := loaded.attrs["duration"]; !ok {
		t.Errorf("log line has no duration: %v", loaded.attrs)
	}

	var lat []time.Duration
	prev := cur
	for i := range 5 {
		name := fmt.Sprintf("t%d", i)
		start := time.Now()
		writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello", name)})
		ev := e.waitSwap(t, "default", hasTask(name))
		lat = append(lat, time.Since(start))
		if ev.old != prev {
			t.Errorf("swap %d: old is not the previous snapshot", i)
		}
		if got, _ := m.Current("default"); got != ev.new {
			t.Errorf("swap %d: Current is not the swapped-in snapshot", i)
		}
		prev = ev.new
	}
	t.Logf("write → new revision visible: %v", lat)
	if st := e.status(t, "default"); st.Error != "" || st.Loading {
		t.Errorf("status %+v", st)
	}
}

func TestManagerFolderNewSubdirectory(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.addFolder("default", src, false)
	e.start(t)
	writeTreeFiles(t, src, map[string]string{".workflows/sub/deep/more.yaml": tasksYAML("deep")})
	ev := e.waitSwap(t, "default", hasTask("deep"))
	if diff := cmp.Diff([]string{"deep", "hello"}, taskNames(ev.new)); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	// Later writes in the new directory are seen too.
	writeTreeFiles(t, src, map[string]string{".workflows/sub/deep/more.yaml": tasksYAML("deeper")})
	e.waitSwap(t, "default", hasTask("deeper"))
}

func TestManagerFolderExecBit(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{
		".workflows/main.yaml": tasksYAML("hello"),
		"bin/run.sh":           "#!/bin/sh\necho hi\n",
	})
	e := newEnv(t)
	e.addFolder("default", src, false)
	m := e.start(t)
	cur, err := m.Current("default")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "bin", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	ev := e.waitSwap(t, "default", func(s *workspace.Snapshot) bool { return s.Revision != cur.Revision })
	fi, err := os.Stat(filepath.Join(ev.new.Dir, "bin", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("bin/run.sh in the new revision: %v %v, want mode 0555", fi.Mode(), err)
	}
}

func TestManagerRejectedRevision(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.addFolder("default", src, false)
	m := e.start(t)
	good, err := m.Current("default")
	if err != nil {
		t.Fatal(err)
	}

	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": "tasks: [\n"})
	badRev := folderRevision(t, src)
	e.waitLog(t, "workspace load failed", "default")
	st := e.status(t, "default")
	if st.Snapshot != good || st.Error == "" || st.ErrorRevision != badRev {
		t.Errorf("after a broken edit: serving %v, error %q, error revision %q; want the old snapshot, an error, %s",
			st.Snapshot.Revision, st.Error, st.ErrorRevision, badRev)
	}
	if cur, _ := m.Current("default"); cur != good {
		t.Errorf("Current changed after a rejected revision")
	}

	// A refresh retries the rejected revision and reports it.
	res, err := m.Refresh(context.Background(), "default")
	var rej *workspace.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Refresh: %v, want *RejectedError", err)
	}
	if rej.Revision != badRev || len(rej.Err.Problems) == 0 || res.Revision != good.Revision || res.Changed {
		t.Errorf("Refresh = %+v, %v", res, err)
	}
	if want := fmt.Sprintf("Revision %s rejected: %s", badRev, rej.Err.First()); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if st := e.status(t, "default"); st.Error != rej.Err.Error() {
		t.Errorf("status error %q, want the load error %q", st.Error, rej.Err.Error())
	}

	// Back to the serving content: the error clears without a swap.
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello")})
	e.waitLog(t, "workspace unchanged", "default")
	if st := e.status(t, "default"); st.Snapshot != good || st.Error != "" || st.ErrorRevision != "" {
		t.Errorf("after reverting: %+v", st)
	}

	// Broken again, then fixed with new content: swapped in, error cleared.
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": "tasks: [\n"})
	e.waitLog(t, "workspace load failed", "default")
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("fixed")})
	ev := e.waitSwap(t, "default", hasTask("fixed"))
	if st := e.status(t, "default"); st.Snapshot != ev.new || st.Error != "" || st.ErrorRevision != "" {
		t.Errorf("after the fix: error %q, error revision %q", st.Error, st.ErrorRevision)
	}
}

func TestManagerFirstLoadFails(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, src string)
		fix      func(t *testing.T, src string)
		errorRev bool
		errText  string
	}{
		{
			name:  "missing folder",
			setup: func(t *testing.T, src string) {},
			fix: func(t *testing.T, src string) {
				writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})
			},
			errText: "does not exist",
		},
		{
			name: "broken yaml",
			setup: func(t *testing.T, src string) {
				writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": "tasks: [\n"})
			},
			fix: func(t *testing.T, src string) {
				writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})
			},
			errorRev: true,
			errText:  ".workflows/a.yaml",
		},
		{
			name:  "no .workflows directory",
			setup: func(t *testing.T, src string) { writeTreeFiles(t, src, map[string]string{"README": "x"}) },
			fix: func(t *testing.T, src string) {
				writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})
			},
			errorRev: true,
			errText:  "no .workflows/ directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "ws")
			tt.setup(t, src)
			e := newEnv(t)
			e.addFolder("w", src, true)
			m := e.start(t)

			st := e.status(t, "w")
			if st.Snapshot != nil || st.Loading || !strings.Contains(st.Error, tt.errText) {
				t.Errorf("status %+v, want no snapshot, not loading, an error containing %q", st, tt.errText)
			}
			if (st.ErrorRevision != "") != tt.errorRev {
				t.Errorf("error revision %q, want set = %v", st.ErrorRevision, tt.errorRev)
			}
			if diff := cmp.Diff([]workspace.Status{st}, m.List()); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			first, _, _ := strings.Cut(st.Error, "\n")
			_, err := m.Current("w")
			var nle *workspace.NotLoadedError
			if !errors.As(err, &nle) || nle.Name != "w" || nle.Err != first {
				t.Errorf("Current: %v, want NotLoadedError with %q", err, first)
			}
			if want := "Workspace 'w' failed to load: " + first; err.Error() != want {
				t.Errorf("Current error %q, want %q", err, want)
			}
			if _, _, err := m.Tarball("w", ""); !errors.As(err, &nle) {
				t.Errorf("Tarball: %v, want NotLoadedError", err)
			}
			if _, _, ok := m.Webhook("x"); ok {
				t.Error("Webhook found in an unloaded workspace")
			}

			tt.fix(t, src)
			res, err := m.Refresh(context.Background(), "w")
			if err != nil || !res.Changed || res.Revision != folderRevision(t, src) {
				t.Fatalf("Refresh after the fix = %+v, %v", res, err)
			}
			if st := e.status(t, "w"); st.Snapshot == nil || st.Error != "" || st.ErrorRevision != "" {
				t.Errorf("status after the fix %+v", st)
			}
		})
	}
}

func TestManagerRefreshErrors(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.addFolder("w", src, true)
	m := e.start(t)
	if _, err := m.Refresh(context.Background(), "nope"); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("Refresh of an unknown workspace: %v", err)
	}
	res, err := m.Refresh(context.Background(), "w")
	if err != nil || res.Changed || res.Revision != folderRevision(t, src) {
		t.Errorf("unchanged Refresh = %+v, %v", res, err)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	_, err = m.Refresh(context.Background(), "w")
	var fe *workspace.FetchError
	if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "Fetch failed: ") {
		t.Fatalf("Refresh of a removed folder: %v, want *FetchError", err)
	}
	st := e.status(t, "w")
	if st.Snapshot == nil || st.Error != fe.Err.Error() || st.ErrorRevision != "" {
		t.Errorf("status %+v, want the old snapshot and the fetch error", st)
	}
}

// gatedFetch serves one prepared revision; after the first call every call
// announces itself and waits for the gate.
type gatedFetch struct {
	rev, dir string
	calls    atomic.Int32
	entered  chan struct{}
	gate     chan struct{}
	gated    atomic.Bool
}

func (g *gatedFetch) Fetch(ctx context.Context) (string, string, error) {
	g.calls.Add(1)
	if g.gated.Load() {
		g.entered <- struct{}{}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
	return g.rev, g.dir, nil
}

// makeRevision writes a revision tree for ws under the revisions dir.
func (e *testEnv) makeRevision(t *testing.T, ws, rev string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(e.revsDir, ws, rev)
	writeTreeFiles(t, dir, files)
	return dir
}

func TestManagerRefreshSingleFlight(t *testing.T) {
	e := newEnv(t)
	g := &gatedFetch{rev: "r1", entered: make(chan struct{}, 10), gate: make(chan struct{})}
	g.dir = e.makeRevision(t, "w", "r1", map[string]string{".workflows/a.yaml": tasksYAML("hello")})
	g.gated.Store(true)
	e.sources = append(e.sources, workspace.Source{Name: "w", Kind: workspace.KindGit, Fetch: g.Fetch})
	e.m = workspace.NewManager(e.opts, e.sources)

	// Still loading: lookups say so.
	if _, err := e.m.Current("w"); err == nil || err.Error() != "Workspace 'w' is still loading" {
		t.Errorf("Current before Start: %v", err)
	}
	if err := e.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	<-g.entered
	if st := e.status(t, "w"); !st.Loading || st.Snapshot != nil {
		t.Errorf("status during the first load %+v", st)
	}
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	if err := e.m.WaitLoaded(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitLoaded during the first load: %v", err)
	}
	cancel()
	g.gate <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.m.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}

	const n = 8
	type result struct {
		res workspace.RefreshResult
		err error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			res, err := e.m.Refresh(context.Background(), "w")
			results <- result{res, err}
		}()
	}
	<-g.entered
	joinCtx, joinCancel := context.WithTimeout(context.Background(), waittest.Patience())
	defer joinCancel()
	if !workspace.WaitRefreshWaiters(joinCtx, e.m, "w", n) {
		t.Fatalf("%d of %d refreshes joined the load", workspace.RefreshWaiters(e.m, "w"), n)
	}
	close(g.gate)
	for range n {
		r := <-results
		if r.err != nil || r.res != (workspace.RefreshResult{Revision: "r1"}) {
			t.Errorf("Refresh = %+v, %v", r.res, r.err)
		}
	}
	// The first refresh starts a load; the seven arriving while it runs
	// (it may have read the source before them) share one more.
	if got := g.calls.Load(); got != 3 {
		t.Errorf("%d fetches, want 3 (first load, the load the first refresh started, one shared follow-up)", got)
	}
}

func TestManagerWebhookConflict(t *testing.T) {
	alpha, beta := t.TempDir(), t.TempDir()
	writeTreeFiles(t, alpha, map[string]string{".workflows/main.yaml": webhookYAML("hook", "deploy")})
	writeTreeFiles(t, beta, map[string]string{".workflows/main.yaml": webhookYAML("ship", "deploy")})
	e := newEnv(t)
	e.addFolder("alpha", alpha, false)
	e.addFolder("beta", beta, true) // no watch, no poll: only a released name reloads it
	m := e.start(t)

	st := e.status(t, "beta")
	want := ".workflows/main.yaml:10:11: webhook name 'deploy' is already used by workspace 'alpha'"
	if st.Snapshot != nil || st.Error != want || st.ErrorRevision != folderRevision(t, beta) {
		t.Errorf("beta: snapshot %v, error %q, error revision %q; want nil, %q, its revision", st.Snapshot, st.Error, st.ErrorRevision, want)
	}
	snap, trig, ok := m.Webhook("deploy")
	if !ok || snap.Name != "alpha" || trig.Name != "hook" {
		t.Fatalf("Webhook(deploy) = %v %v %v, want alpha's hook", snap, trig, ok)
	}
	_, err := m.Refresh(context.Background(), "beta")
	var rej *workspace.RejectedError
	if !errors.As(err, &rej) || rej.Err.Error() != want {
		t.Errorf("Refresh(beta): %v", err)
	}

	// alpha releases the name: beta is retried at once.
	writeTreeFiles(t, alpha, map[string]string{".workflows/main.yaml": webhookYAML("hook", "deploy2")})
	e.waitSwap(t, "beta", hasTask("hello"))
	for name, want := range map[string]string{"deploy": "beta/ship", "deploy2": "alpha/hook"} {
		snap, trig, ok := m.Webhook(name)
		if !ok || snap.Name+"/"+trig.Name != want {
			t.Errorf("Webhook(%s) = %v, want %s", name, ok, want)
		}
	}
	if _, _, ok := m.Webhook("nope"); ok {
		t.Error("Webhook(nope) found")
	}
	if st := e.status(t, "beta"); st.Error != "" {
		t.Errorf("beta error after the retry: %q", st.Error)
	}
}

func TestTriggerPosition(t *testing.T) {
	dir := t.TempDir()
	writeTreeFiles(t, dir, map[string]string{
		".workflows/a.yaml":         tasksYAML("x"),
		".workflows/ops/hooks.yaml": "# hooks\ntriggers:\n  nightly: {type: scheduler, cron: '* * * * *', task: x}\n  ship:\n    type: webhook\n    task: x\n    name: deploy\n",
		".workflows/.hidden.yaml":   "triggers:\n  hidden: {}\n",
	})
	tests := []struct {
		trigger string
		want    workspace.Problem
	}{
		{"ship", workspace.Problem{File: ".workflows/ops/hooks.yaml", Line: 7, Col: 11}},
		{"nightly", workspace.Problem{File: ".workflows/ops/hooks.yaml", Line: 3, Col: 3}},
		{"hidden", workspace.Problem{}},
		{"absent", workspace.Problem{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, workspace.TriggerPosition(dir, tt.trigger)); diff != "" {
			t.Errorf("TriggerPosition(%s) (-want +got):\n%s", tt.trigger, diff)
		}
	}
}

func TestManagerPinnedSnapshot(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.addFolder("w", src, false)
	m := e.start(t)
	old, _ := m.Current("w")
	writeTreeFiles(t, src, map[string]string{".workflows/main.yaml": tasksYAML("hello", "bye")})
	cur := e.waitSwap(t, "w", hasTask("bye")).new

	got, err := m.Snapshot("w", old.Revision)
	if err != nil || got != old {
		t.Errorf("Snapshot(old) = %v, %v; want the old snapshot", got, err)
	}
	if got, err := m.Snapshot("w", cur.Revision); err != nil || got != cur {
		t.Errorf("Snapshot(current) = %v, %v", got, err)
	}

	// Another manager over the same data loads the old tree again, once,
	// without touching its current state.
	m2 := workspace.NewManager(e.opts, e.sources)
	var wg sync.WaitGroup
	snaps := make([]*workspace.Snapshot, 4)
	errs := make([]error, 4)
	for i := range snaps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i], errs[i] = m2.Snapshot("w", old.Revision)
		}()
	}
	wg.Wait()
	for i := range snaps {
		if errs[i] != nil || snaps[i] != snaps[0] {
			t.Fatalf("pinned load %d = %p, %v; want one shared snapshot", i, snaps[i], errs[i])
		}
	}
	p := snaps[0]
	if p.Name != "w" || p.Revision != old.Revision || p.Dir != old.Dir || p.LoadedAt.IsZero() {
		t.Errorf("pinned snapshot {%s %s %s}, want w %s %s", p.Name, p.Revision, p.Dir, old.Revision, old.Dir)
	}
	if diff := cmp.Diff([]string{"hello"}, taskNames(p)); diff != "" {
		t.Errorf("pinned tasks (-want +got):\n%s", diff)
	}
	if _, err := m2.Current("w"); err == nil {
		t.Errorf("a pinned load set the current snapshot")
	}
	if st, _, _ := m2.Get("w"); st.Error != "" || !st.Loading {
		t.Errorf("a pinned load changed the status: %+v", st)
	}

	var rna *workspace.RevisionNotAvailableError
	for _, rev := range []string{"0000", "../w", ".", ""} {
		if _, err := m.Snapshot("w", rev); !errors.As(err, &rna) {
			t.Errorf("Snapshot(%q): %v, want RevisionNotAvailableError", rev, err)
		}
	}
	if _, err := m.Snapshot("w", "0000"); err.Error() != "Revision '0000' of workspace 'w' is not available" {
		t.Errorf("message %q", err)
	}
	if _, err := m.Snapshot("nope", old.Revision); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("Snapshot of an unknown workspace: %v", err)
	}
}

// switchFetch serves whichever revision is current, writing its tree (a
// task named after it) when missing, as a real fetch does.
type switchFetch struct {
	t           *testing.T
	revsDir, ws string
	cur         atomic.Value // string
}

func (s *switchFetch) Fetch(context.Context) (string, string, error) {
	r := s.cur.Load().(string)
	dir := filepath.Join(s.revsDir, s.ws, r)
	if _, err := os.Stat(dir); err != nil {
		writeTreeFiles(s.t, dir, map[string]string{".workflows/a.yaml": tasksYAML("t" + strings.TrimPrefix(r, "r"))})
	}
	return r, dir, nil
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestManagerRetention(t *testing.T) {
	e := newEnv(t)
	sw := &switchFetch{t: t, revsDir: e.revsDir, ws: "w"}
	sw.cur.Store("r1")
	var inUse atomic.Value
	inUse.Store([]string{"r1"})
	e.opts.InUse = func(ws string) []string { return inUse.Load().([]string) }
	e.sources = []workspace.Source{{Name: "w", Kind: workspace.KindGit, Fetch: sw.Fetch}}
	m := e.start(t)
	if _, _, err := m.Tarball("w", ""); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 7; i++ {
		if i == 7 {
			// Swaps of this process rank above directory mtimes.
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(e.revsDir, "w", "r3"), future, future); err != nil {
				t.Fatal(err)
			}
		}
		sw.cur.Store(fmt.Sprintf("r%d", i))
		if res, err := m.Refresh(context.Background(), "w"); err != nil || !res.Changed {
			t.Fatalf("Refresh to r%d = %+v, %v", i, res, err)
		}
		if _, rev, err := m.Tarball("w", ""); err != nil || rev != fmt.Sprintf("r%d", i) {
			t.Fatalf("Tarball = %s, %v", rev, err)
		}
	}
	// Kept: current r7, the last 3 (r6 r5 r4), r1 in use; next to them
	// the record of the last good revision.
	wantTrees := []string{workspace.LastGoodFile, "r1", "r4", "r5", "r6", "r7"}
	if diff := cmp.Diff(wantTrees, listNames(t, filepath.Join(e.revsDir, "w"))); diff != "" {
		t.Errorf("revision trees (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r1.tar.gz", "r4.tar.gz", "r5.tar.gz", "r6.tar.gz", "r7.tar.gz"}, listNames(t, filepath.Join(e.tarsDir, "w"))); diff != "" {
		t.Errorf("tarballs (-want +got):\n%s", diff)
	}
	var rna *workspace.RevisionNotAvailableError
	if _, err := m.Snapshot("w", "r2"); !errors.As(err, &rna) {
		t.Errorf("Snapshot of a pruned revision: %v", err)
	}
	if _, _, err := m.Tarball("w", "r2"); !errors.As(err, &rna) {
		t.Errorf("Tarball of a pruned revision: %v", err)
	}
	if s, err := m.Snapshot("w", "r4"); err != nil || s.Tasks["t4"] == nil {
		t.Errorf("Snapshot of a kept revision: %v", err)
	}
	m.Close()

	// After a restart the order comes from directory mtimes.
	now := time.Now()
	for rev, age := range map[string]time.Duration{"r1": 5 * time.Hour, "r4": 4 * time.Hour, "r5": time.Hour, "r6": 3 * time.Hour, "r7": 2 * time.Hour} {
		mt := now.Add(-age)
		if err := os.Chtimes(filepath.Join(e.revsDir, "w", rev), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	inUse.Store([]string(nil))
	e.opts.Keep = 2
	sw.cur.Store("r8")
	e.start(t)
	if diff := cmp.Diff([]string{workspace.LastGoodFile, "r5", "r7", "r8"}, listNames(t, filepath.Join(e.revsDir, "w"))); diff != "" {
		t.Errorf("revision trees after the restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r5.tar.gz", "r7.tar.gz"}, listNames(t, filepath.Join(e.tarsDir, "w"))); diff != "" {
		t.Errorf("tarballs after the restart (-want +got):\n%s", diff)
	}
}

func TestManagerRetentionReadOnlyTrees(t *testing.T) {
	src := t.TempDir()
	e := newEnv(t)
	e.addFolder("w", src, true)
	e.opts.Keep = 1
	writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("v0"), "bin/x.sh*": "#!/bin/sh\n"})
	m := e.start(t)
	var revs []string
	for i := 1; i <= 3; i++ {
		writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML(fmt.Sprintf("v%d", i))})
		res, err := m.Refresh(context.Background(), "w")
		if err != nil || !res.Changed {
			t.Fatalf("Refresh = %+v, %v", res, err)
		}
		revs = append(revs, res.Revision)
	}
	got := listNames(t, filepath.Join(e.revsDir, "w"))
	want := []string{revs[1], revs[2]}
	slices.Sort(want)
	want = append([]string{workspace.LastGoodFile}, want...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read-only revision trees after pruning (-want +got):\n%s", diff)
	}
}

func TestManagerClose(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		unstarted := workspace.NewManager(workspace.ManagerOptions{}, nil)
		if err := unstarted.Close(); err != nil {
			t.Errorf("Close before Start: %v", err)
		}
		if err := unstarted.Start(context.Background()); err == nil {
			t.Error("Start after Close succeeded")
		}

		src := t.TempDir()
		writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})
		e := newEnv(t)
		e.addFolder("w", src, false)
		e.sources = append(e.sources, workspace.Source{Name: "g", Kind: workspace.KindGit, PollInterval: time.Millisecond,
			Fetch: func(context.Context) (string, string, error) { return "", "", errors.New("unreachable") }})
		m := e.start(t)
		if err := m.Start(context.Background()); err == nil {
			t.Error("second Start succeeded")
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
		}
		wg.Wait()
		if _, err := m.Refresh(context.Background(), "w"); err == nil {
			t.Error("Refresh after Close succeeded")
		}
		if _, err := m.Current("w"); err != nil {
			t.Errorf("Current after Close: %v", err)
		}
	}()
	// Goroutines that have ended send no event: poll, with the tests' one
	// deadline.
	if !waittest.Until(func() bool { return runtime.NumGoroutine() <= base }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
	}
}

func TestManagerStartErrors(t *testing.T) {
	fetch := func(context.Context) (string, string, error) { return "", "", nil }
	tests := []struct {
		name    string
		sources []workspace.Source
	}{
		{"no fetch", []workspace.Source{{Name: "a"}}},
		{"duplicate", []workspace.Source{{Name: "a", Fetch: fetch}, {Name: "a", Fetch: fetch}}},
	}
	for _, tt := range tests {
		m := workspace.NewManager(workspace.ManagerOptions{}, tt.sources)
		if err := m.Start(context.Background()); err == nil {
			t.Errorf("%s: Start succeeded", tt.name)
			m.Close()
		}
	}
}

// gitRepo is an upstream made with the git CLI.
type gitRepo struct {
	t   *testing.T
	dir string
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", g.dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(out.String())
}

func (g *gitRepo) commit(files map[string]string) string {
	g.t.Helper()
	writeTreeFiles(g.t, g.dir, files)
	g.git("add", "-A")
	g.git("commit", "-q", "-m", "change")
	return g.git("rev-parse", "HEAD")
}

// fetch is a git FetchFunc: the HEAD commit, exported with git archive
// into revsDir/<rev> (temporary sibling + rename).
func (g *gitRepo) fetch(revsDir string) workspace.FetchFunc {
	return func(ctx context.Context) (string, string, error) {
		out, err := exec.CommandContext(ctx, "git", "-C", g.dir, "rev-parse", "HEAD").Output()
		if err != nil {
			return "", "", err
		}
		rev := strings.TrimSpace(string(out))
		dir := filepath.Join(revsDir, rev)
		if _, err := os.Stat(dir); err == nil {
			return rev, dir, nil
		}
		if err := os.MkdirAll(revsDir, 0o755); err != nil {
			return "", "", err
		}
		tmp, err := os.MkdirTemp(revsDir, ".tmp-")
		if err != nil {
			return "", "", err
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive HEAD | tar -x -C "$2"`, "sh", g.dir, tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("export: %v: %s", err, out)
		}
		return rev, dir, os.Rename(tmp, dir)
	}
}

func TestManagerGitPoll(t *testing.T) {
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	rev1 := g.commit(map[string]string{".workflows/a.yaml": tasksYAML("hello")})
	e := newEnv(t)
	e.sources = []workspace.Source{{Name: "repo", Kind: workspace.KindGit, Ref: "main", PollInterval: 20 * time.Millisecond,
		Fetch: g.fetch(filepath.Join(e.revsDir, "repo"))}}
	m := e.start(t)
	if cur, err := m.Current("repo"); err != nil || cur.Revision != rev1 {
		t.Fatalf("Current = %v, %v; want %s", cur, err, rev1)
	}

	rev2 := g.commit(map[string]string{".workflows/a.yaml": tasksYAML("hello", "second")})
	if ev := e.waitSwap(t, "repo", hasTask("second")); ev.new.Revision != rev2 {
		t.Errorf("polled revision %s, want %s", ev.new.Revision, rev2)
	}

	// A rejected commit is loaded again at every poll although HEAD stays.
	rev3 := g.commit(map[string]string{".workflows/a.yaml": "tasks: [\n"})
	for range 3 {
		if r := e.waitLog(t, "workspace load failed", "repo"); r.attrs["revision"] != rev3 {
			t.Errorf("failed load of %v, want %s", r.attrs["revision"], rev3)
		}
	}
	if st := e.status(t, "repo"); st.Snapshot.Revision != rev2 || st.ErrorRevision != rev3 {
		t.Errorf("status: serving %s, error revision %s; want %s, %s", st.Snapshot.Revision, st.ErrorRevision, rev2, rev3)
	}
}

// TestManagerLogsLoadWarnings checks that a revision with warnings is served
// and that each warning is logged with its position.
func TestManagerLogsLoadWarnings(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{
		"s/x.sh":             "echo x\n",
		".workflows/ci.yaml": "tasks:\n  ci: { flow: { s: { type: script, script: s/x.sh } } }\n",
	})
	e := newEnv(t)
	e.addFolder("default", src, true)
	e.start(t)
	e.waitSwap(t, "default", hasTask("ci"))
	rec := e.waitLog(t, "workspace warning", "default")
	want := ".workflows/ci.yaml:2:44: task 'ci' step 's': 'script: s/x.sh' runs that text as an inline shell command"
	if w, _ := rec.attrs["warning"].(string); !strings.HasPrefix(w, want) || rec.level != slog.LevelWarn {
		t.Errorf("warning log = %v %v, want level WARN and a warning starting %q", rec.level, rec.attrs, want)
	}
}
