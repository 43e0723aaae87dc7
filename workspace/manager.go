package workspace

// This file fixes the manager API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the manager implementation.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// (non-terminal jobs, unfired hooks); they are never pruned.
	InUse func(ws string) []string
	// Keep is how many previous revisions to keep besides the current and
	// the in-use ones (default 3).
	Keep int
	// Logger receives one line per load (workspace, revision, counts,
	// duration, errors).
	Logger *slog.Logger
}

// ErrNotFound is returned for a workspace name that is not configured.
var ErrNotFound = errors.New("workspace not found")

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
	Revision string
	Changed  bool
}

// Manager keeps every configured workspace's current snapshot (published
// through an atomic pointer), reloads on polls, watch events, refreshes and
// push webhooks, and prunes old revision trees.
type Manager struct {
	opts    ManagerOptions
	sources []Source
}

// NewManager returns a manager for sources; it does no I/O.
func NewManager(opts ManagerOptions, sources []Source) *Manager {
	return &Manager{opts: opts, sources: sources}
}

// OnSwap registers fn, called after every successful swap of a workspace's
// snapshot (old is nil on the first load), in swap order. Register before
// Start.
func (m *Manager) OnSwap(fn func(ws string, old, new *Snapshot)) {}

// Start loads every workspace in name order in the background and starts
// their pollers and watchers.
func (m *Manager) Start(ctx context.Context) error { return ErrNotImplemented }

// WaitLoaded blocks until every workspace's first load attempt has ended
// or ctx is done.
func (m *Manager) WaitLoaded(ctx context.Context) error { return ErrNotImplemented }

// Close stops pollers and watchers and waits for them.
func (m *Manager) Close() error { return nil }

// List returns every workspace's status, sorted by name.
func (m *Manager) List() []Status { return nil }

// Get returns one workspace's status and source.
func (m *Manager) Get(ws string) (Status, Source, error) {
	return Status{}, Source{}, ErrNotFound
}

// Current returns the serving snapshot: ErrNotFound or *NotLoadedError.
func (m *Manager) Current(ws string) (*Snapshot, error) { return nil, ErrNotFound }

// Snapshot returns the snapshot of a pinned revision (cached, else loaded
// again from its retained tree): ErrNotFound or *RevisionNotAvailableError.
func (m *Manager) Snapshot(ws, rev string) (*Snapshot, error) { return nil, ErrNotFound }

// Refresh fetches and loads now; concurrent refreshes of one workspace share
// one load. Errors: ErrNotFound, *FetchError, *RejectedError.
func (m *Manager) Refresh(ctx context.Context, ws string) (RefreshResult, error) {
	return RefreshResult{}, ErrNotImplemented
}

// Webhook finds the webhook trigger with that webhook name across all
// serving snapshots (enabled or not).
func (m *Manager) Webhook(name string) (*Snapshot, *Trigger, bool) { return nil, nil, false }

// Tarball returns the path of a gzip tar of the revision tree (rev "" =
// current), building it once under TarballsDir; errors ErrNotFound,
// *NotLoadedError, *RevisionNotAvailableError.
func (m *Manager) Tarball(ws, rev string) (path, revision string, err error) {
	return "", "", ErrNotImplemented
}
