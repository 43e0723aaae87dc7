package workspace

import (
	"runnel/workspace/tmpl"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source kinds.
const (
	KindFolder = "folder"
	KindGit    = "git"
)

// FetchFunc brings a source up to date and returns its current revision and
// the immutable directory holding that revision's tree. cmd hands the
// manager gitsync's Repo.Fetch for git workspaces; folders use Folder.Fetch.
type FetchFunc func(ctx context.Context) (rev, dir string, err error)

// Source describes one configured workspace.
type Source struct {
	Name string
	Kind string
	// Fetch produces revisions.
	Fetch FetchFunc
	// Watch, when set, calls changed whenever the source may have changed,
	// until ctx ends (folders: fsnotify with debounce plus a slow rescan).
	Watch func(ctx context.Context, changed func()) error
	// PollInterval between fetches (git); 0 disables polling.
	PollInterval time.Duration
	// Ref is the git branch or tag (push webhooks compare against it).
	Ref string
	// WebhookSecret enables POST /push/{ws} for git workspaces.
	WebhookSecret string
	// URL is the git remote as configured (may hold credentials: strip
	// them before showing it); Path is a folder workspace's directory.
	URL, Path string
	// Describe, when set, describes a revision's commit; it is called
	// once per loaded revision. cmd hands gitsync's Repo.Commit.
	Describe func(ctx context.Context, rev string) (Commit, error)
	// Changes, when set, lists the files that differ between two
	// revisions (cmd hands gitsync's Repo.Changes, bounded by
	// MaxChangedFiles and MaxDiffFileSize); otherwise the retained
	// revision trees are compared.
	Changes func(ctx context.Context, from, to string) ([]FileChange, error)
	// Restore, when set, writes the tree of revision rev into dir when it
	// is no longer retained, so pinned lookups (a re-run on an old
	// revision) still load it; cmd hands gitsync's Repo.Export (the clone
	// holds the history). An error leaves the revision unavailable.
	Restore func(rev, dir string) error
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// RevisionsDir holds <ws>/<rev>/ trees (the FetchFuncs write there).
	RevisionsDir string
	// TarballsDir holds <ws>/<rev>.tar.gz files for remote workers.
	TarballsDir string
	// Load is passed to Load for every revision.
	Load LoadOptions
	// InUse returns the revisions of a workspace that jobs still need
	// (non-terminal jobs, unfired hooks); they are never pruned. It is
	// called after each successful swap (so only after Start), outside the
	// manager's locks. It is a function, not an interface value, because
	// the job store that answers it (jobs.Query.RevisionsInUse) is opened
	// after the manager, whose snapshots the engine reads: the caller binds
	// it to the store once that is open, and the manager imports nothing of
	// jobs.
	InUse func(ws string) []string
	// Keep is how many previous revisions to keep besides the current and
	// the in-use ones (0 = default 3; negative keeps none).
	Keep int
	// Logger receives one line per load (workspace, revision, counts,
	// duration, errors); nil = slog.Default().
	Logger *slog.Logger
	// Metrics receives every load attempt's outcome; nil records nothing.
	Metrics LoadObserver
}

// LoadObserver receives load attempts (implemented by runnel/metrics).
type LoadObserver interface {
	// WorkspaceLoaded: an attempt of ws (fetch, load unless the revision
	// is serving, swap) took took; err nil is a success. Attempts cut
	// short by shutdown are not reported.
	WorkspaceLoaded(ws string, took time.Duration, err error)
}

// ErrNotFound is returned for a workspace name that is not configured.
var ErrNotFound = errors.New("workspace not found")

// errNotRunning answers refreshes outside Start…Close.
var errNotRunning = errors.New("workspace manager is not running")

// NotLoadedError is returned by lookups on a workspace that has no good
// revision yet (still loading, or every load failed).
type NotLoadedError struct {
	Name string
	// Err is the first error line; "" while the first load is running.
	Err string
}

func (e *NotLoadedError) Error() string {
	if e.Err == "" {
		return fmt.Sprintf("Workspace '%s' is still loading", e.Name)
	}
	return fmt.Sprintf("Workspace '%s' failed to load: %s", e.Name, e.Err)
}

// FetchError is a refresh whose fetch failed (HTTP 502); the last good
// revision keeps serving.
type FetchError struct{ Err error }

func (e *FetchError) Error() string { return "Fetch failed: " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// RejectedError is a refresh whose new revision failed to load (HTTP 422);
// the last good revision keeps serving.
type RejectedError struct {
	Revision string
	Err      *LoadError
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("Revision %s rejected: %s", e.Revision, e.Err.First())
}
func (e *RejectedError) Unwrap() error { return e.Err }

// RevisionNotAvailableError is returned for a pinned revision whose tree is
// gone.
type RevisionNotAvailableError struct{ Name, Revision string }

func (e *RevisionNotAvailableError) Error() string {
	return fmt.Sprintf("Revision '%s' of workspace '%s' is not available", e.Revision, e.Name)
}

// Status is the public state of one workspace.
type Status struct {
	Name string
	Kind string
	// Snapshot is the serving revision; nil until a load succeeds.
	Snapshot *Snapshot
	// Error is the newest failed attempt's message ("" when it succeeded).
	Error string
	// ErrorRevision is the rejected revision ("" when the fetch itself
	// failed or there is no error).
	ErrorRevision string
	// Loading is true until the first load attempt ends.
	Loading bool
}

// RefreshResult answers a refresh.
type RefreshResult struct {
	// Revision is the serving revision after the refresh.
	Revision string
	// Changed is true when the refresh swapped in a new revision.
	Changed bool
}

// Manager keeps every configured workspace's current snapshot (published
// through an atomic pointer), reloads on polls, watch events, refreshes and
// push webhooks, and prunes old revision trees.
//
// Loads of one workspace never overlap: each runs as the workspace's single
// flight, which refreshes join. Swaps of all workspaces are serialised by
// swapMu, so webhook names stay unique across workspaces and listeners see
// swaps in order.
type Manager struct {
	opts    ManagerOptions
	sources []Source // sorted by name
	log     *slog.Logger
	states  []*wsState // sorted by name
	byName  map[string]*wsState
	cache   snapCache

	// swapMu serialises swaps and error updates of every workspace: the
	// webhook-name check, publishing views, rebuilding the webhook table
	// and calling listeners.
	swapMu sync.Mutex
	onSwap []func(ws string, old, new *Snapshot)
	// onLoad is told every load attempt's outcome (OnLoad).
	onLoad   atomic.Pointer[func(Status)]
	webhooks atomic.Pointer[map[string]webhookEntry]

	// mu guards the run state below.
	mu      sync.Mutex
	started bool
	closed  bool
	ctx     context.Context // the manager's own lifetime, ended by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine the manager starts
	loaded  chan struct{}  // closed when every first load attempt ended
	closing chan struct{}  // closed when Close is done
}

// wsState is one workspace's runtime state.
type wsState struct {
	src Source
	// view is the published state; stored only under Manager.swapMu.
	view atomic.Pointer[wsView]
	// kick asks the workspace's loop for a load (watch events, released
	// webhook names).
	kick chan struct{}
	// wanted lists the webhook names held by other workspaces that the
	// rejected revision needs (under Manager.swapMu).
	wanted []string

	// mu guards the fields below.
	mu     sync.Mutex
	flight *flight
	// next is the load refreshes wait for when they arrive during flight:
	// it starts as soon as flight ends (see Refresh).
	next     *flight
	waiters  int            // refreshes waiting on a load (tests)
	joined   chan struct{}  // closed and replaced when a refresh joins (tests wait on it)
	pins     map[string]int // revisions being read (pinned loads, tarballs): never pruned
	history  []string       // previous serving revisions of this process, oldest first
	pinLoads map[string]*sharedCall[*Snapshot]
	tarballs map[string]*sharedCall[string]
}

// wsView is what readers see of a workspace; it is replaced, never mutated.
type wsView struct {
	snap    *Snapshot
	err     string
	errRev  string
	loading bool
}

// flight is one running load of a workspace; res and err are set before
// done is closed.
type flight struct {
	done chan struct{}
	res  RefreshResult
	err  error
}

// sharedCall is one running computation that concurrent callers share.
type sharedCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// NewManager returns a manager for sources; it does no I/O.
func NewManager(opts ManagerOptions, sources []Source) *Manager {
	srcs := append([]Source(nil), sources...)
	sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	m := &Manager{
		opts:    opts,
		sources: srcs,
		log:     opts.Logger,
		byName:  make(map[string]*wsState, len(srcs)),
		loaded:  make(chan struct{}),
		closing: make(chan struct{}),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.opts.Load.Templates == nil {
		// One template cache for every load: a reload re-parses only the
		// templates whose text changed.
		m.opts.Load.Templates = tmpl.NewCache(0)
	}
	m.cache.init()
	for _, s := range srcs {
		w := &wsState{
			src:      s,
			kick:     make(chan struct{}, 1),
			joined:   make(chan struct{}),
			pins:     map[string]int{},
			pinLoads: map[string]*sharedCall[*Snapshot]{},
			tarballs: map[string]*sharedCall[string]{},
		}
		w.view.Store(&wsView{loading: true})
		m.states = append(m.states, w)
		if _, dup := m.byName[s.Name]; !dup {
			m.byName[s.Name] = w
		}
	}
	empty := map[string]webhookEntry{}
	m.webhooks.Store(&empty)
	return m
}

// OnSwap registers fn, called after every successful swap of a workspace's
// snapshot (old is nil on the first load), in swap order. Register before
// Start. fn runs while swaps are held: it must return quickly and must not
// wait for a refresh.
func (m *Manager) OnSwap(fn func(ws string, old, new *Snapshot)) {
	m.swapMu.Lock()
	defer m.swapMu.Unlock()
	m.onSwap = append(m.onSwap, fn)
}

// OnLoad sets fn (nil clears it), called with the workspace's status after
// every load attempt (a poll, watch event, refresh or push), whether it
// swapped, found nothing new or failed. It may be set while the manager
// runs; fn must return quickly.
func (m *Manager) OnLoad(fn func(Status)) {
	if fn == nil {
		m.onLoad.Store(nil)
		return
	}
	m.onLoad.Store(&fn)
}

// Start loads every workspace in name order in the background and starts
// their pollers and watchers. It fails on a misconfigured source (no Fetch,
// a duplicate name), when the data directories cannot be created, or when
// called twice. ctx bounds the start only (as for the job engine and the
// scheduler): a cancelled ctx fails it; once started, the manager runs until
// Close (ctx's values are kept, its cancellation is not).
func (m *Manager) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start workspaces: %w", err)
	}
	for i, s := range m.sources {
		if s.Fetch == nil {
			return fmt.Errorf("workspace %q has no fetch function", s.Name)
		}
		if i > 0 && m.sources[i-1].Name == s.Name {
			return fmt.Errorf("workspace %q is configured twice", s.Name)
		}
	}
	for _, d := range []string{m.opts.RevisionsDir, m.opts.TarballsDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %q: %w", d, err)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return errors.New("workspace manager already started")
	}
	if m.opts.TarballsDir != "" {
		for _, s := range m.sources { // builds interrupted by a crash
			removeStale(filepath.Join(m.opts.TarballsDir, s.Name), tmpPrefix)
		}
	}
	m.started = true
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, w := range m.states {
		if w.src.Watch != nil {
			m.wg.Add(1)
			go m.watch(m.ctx, w)
		}
	}
	m.wg.Add(1)
	go m.run(m.ctx)
	return nil
}

// run serves every workspace's last good revision of an earlier run, makes
// every first load attempt in name order, then runs the per-workspace
// loops.
func (m *Manager) run(ctx context.Context) {
	defer m.wg.Done()
	for _, w := range m.states {
		if ctx.Err() == nil {
			m.restore(w)
		}
	}
	for _, w := range m.states {
		f, err := m.join(w)
		if err != nil {
			break
		}
		select {
		case <-f.done:
		case <-ctx.Done():
		}
	}
	close(m.loaded)
	for _, w := range m.states {
		m.wg.Add(1)
		go m.loop(ctx, w)
	}
}

// loop reloads w on every poll tick and kick until ctx ends.
func (m *Manager) loop(ctx context.Context, w *wsState) {
	defer m.wg.Done()
	var tick <-chan time.Time
	if w.src.PollInterval > 0 {
		t := time.NewTicker(w.src.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-w.kick:
		}
		f, err := m.join(w)
		if err != nil {
			return
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
	}
}

// watch runs the source's watcher until ctx ends, starting it again after a
// pause if it fails.
func (m *Manager) watch(ctx context.Context, w *wsState) {
	defer m.wg.Done()
	for {
		err := w.src.Watch(ctx, w.poke)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("workspace watch failed", "workspace", w.src.Name, "error", err)
		t := time.NewTimer(rescanInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		w.poke()
	}
}

// poke asks w's loop for a load without blocking.
func (w *wsState) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// WaitLoaded blocks until every workspace's first load attempt has ended
// or ctx is done.
func (m *Manager) WaitLoaded(ctx context.Context) error {
	select {
	case <-m.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops pollers, watchers and loads and waits for them. It is
// idempotent and safe to call concurrently.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.closing
		return nil
	}
	m.closed = true
	cancel := m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
	close(m.closing)
	return nil
}

// List returns every workspace's status, sorted by name.
func (m *Manager) List() []Status {
	out := make([]Status, 0, len(m.states))
	for _, w := range m.states {
		out = append(out, w.status())
	}
	return out
}

func (w *wsState) status() Status {
	v := w.view.Load()
	return Status{
		Name:          w.src.Name,
		Kind:          w.src.Kind,
		Snapshot:      v.snap,
		Error:         v.err,
		ErrorRevision: v.errRev,
		Loading:       v.loading,
	}
}

// Get returns one workspace's status and source.
func (m *Manager) Get(ws string) (Status, Source, error) {
	w := m.byName[ws]
	if w == nil {
		return Status{}, Source{}, ErrNotFound
	}
	return w.status(), w.src, nil
}

// Current returns the serving snapshot: ErrNotFound or *NotLoadedError.
func (m *Manager) Current(ws string) (*Snapshot, error) {
	w := m.byName[ws]
	if w == nil {
		return nil, ErrNotFound
	}
	v := w.view.Load()
	if v.snap == nil {
		first, _, _ := strings.Cut(v.err, "\n")
		return nil, &NotLoadedError{Name: ws, Err: first}
	}
	return v.snap, nil
}

// Snapshot returns the snapshot of a pinned revision: the current one, a
// recently used one, else one loaded again from its retained tree under
// RevisionsDir, written again by Source.Restore when it is gone
// (concurrent callers share that load; it never changes the current
// snapshot or errors). Errors: ErrNotFound,
// *RevisionNotAvailableError, or the load error of a tree that no longer
// loads (a *LoadError, wrapped).
func (m *Manager) Snapshot(ws, rev string) (*Snapshot, error) {
	w := m.byName[ws]
	if w == nil {
		return nil, ErrNotFound
	}
	if s := w.view.Load().snap; s != nil && s.Revision == rev {
		return s, nil
	}
	if s := m.cache.get(ws, rev); s != nil {
		return s, nil
	}
	if !validRevision(rev) || m.opts.RevisionsDir == "" {
		return nil, &RevisionNotAvailableError{Name: ws, Revision: rev}
	}
	dir := filepath.Join(m.opts.RevisionsDir, ws, rev)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && w.src.Restore != nil {
		if err := w.src.Restore(rev, dir); err != nil {
			m.log.Info("restore revision", "workspace", ws, "revision", rev, "err", err)
		}
	}
	w.mu.Lock()
	c := w.pinLoads[rev]
	if c == nil {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			w.mu.Unlock()
			return nil, &RevisionNotAvailableError{Name: ws, Revision: rev}
		}
		c = &sharedCall[*Snapshot]{done: make(chan struct{})}
		w.pinLoads[rev] = c
		w.pins[rev]++
		w.mu.Unlock()
		c.val, c.err = Load(dir, m.opts.Load)
		if c.err != nil {
			c.err = fmt.Errorf("load revision %s of workspace %q: %w", rev, ws, c.err)
		} else {
			c.val.Name, c.val.Revision, c.val.LoadedAt = ws, rev, time.Now()
			c.val.Commit = m.describe(context.Background(), w, rev)
			m.cache.add(ws, rev, c.val)
		}
		w.mu.Lock()
		delete(w.pinLoads, rev)
		w.unpinLocked(rev)
		w.mu.Unlock()
		close(c.done)
	} else {
		w.mu.Unlock()
		<-c.done
	}
	return c.val, c.err
}

func (w *wsState) unpinLocked(rev string) {
	if w.pins[rev]--; w.pins[rev] <= 0 {
		delete(w.pins, rev)
	}
}

// validRevision rejects revision strings that are not a plain directory
// name.
func validRevision(rev string) bool {
	return rev != "" && rev[0] != '.' && !strings.ContainsAny(rev, `/\`) && !strings.ContainsRune(rev, 0)
}

// Webhook finds the webhook trigger with that webhook name across all
// serving snapshots (enabled or not), in a table rebuilt on every swap.
func (m *Manager) Webhook(name string) (*Snapshot, *Trigger, bool) {
	e, ok := (*m.webhooks.Load())[name]
	return e.snap, e.trig, ok
}
