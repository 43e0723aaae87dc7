package workspace

// This file holds the loads of a workspace: refreshes and polls sharing one
// load per workspace, the load itself (fetch, then Load), and the swap
// that makes a new snapshot serve, keeping its history and releasing the
// old one. manager.go holds the manager's lifecycle and lookups.

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
)

// Refresh fetches and loads now; concurrent refreshes of one workspace, and
// a refresh arriving during a poll, share one load. Errors: ErrNotFound,
// *FetchError, *RejectedError, ctx.Err() (the load goes on), or an error
// when the manager is not running.
func (m *Manager) Refresh(ctx context.Context, ws string) (RefreshResult, error) {
	w := m.byName[ws]
	if w == nil {
		return RefreshResult{}, ErrNotFound
	}
	f, err := m.joinFresh(w)
	if err != nil {
		return RefreshResult{}, err
	}
	defer func() {
		w.mu.Lock()
		w.waiters--
		w.mu.Unlock()
	}()
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return RefreshResult{}, ctx.Err()
	}
}

// join returns w's running load, starting one if none runs. The load runs
// in the manager's lifetime, not the caller's.
func (m *Manager) join(w *wsState) (*flight, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.closed {
		return nil, errNotRunning
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flight == nil {
		m.startLocked(w, &flight{done: make(chan struct{})})
	}
	return w.flight, nil
}

// joinFresh returns a load that starts after this call: a running load (a
// poll, another refresh) may have read the source already, and a push just
// before a refresh must be seen. Refreshes arriving during one load share
// the next one, which starts when it ends.
func (m *Manager) joinFresh(w *wsState) (*flight, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.closed {
		return nil, errNotRunning
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters++ // counted while joined, for tests
	close(w.joined)
	w.joined = make(chan struct{})
	if w.flight == nil {
		m.startLocked(w, &flight{done: make(chan struct{})})
		return w.flight, nil
	}
	if w.next == nil {
		w.next = &flight{done: make(chan struct{})}
	}
	return w.next, nil
}

// startLocked runs f as w's load (m.mu and w.mu held); when it ends, a
// queued next load starts, unless the manager is closing.
func (m *Manager) startLocked(w *wsState, f *flight) {
	w.flight = f
	m.wg.Add(1)
	go func(ctx context.Context) {
		defer m.wg.Done()
		start := time.Now()
		f.res, f.err = m.load(ctx, w)
		if m.opts.Metrics != nil && ctx.Err() == nil {
			m.opts.Metrics.WorkspaceLoaded(w.src.Name, time.Since(start), f.err)
		}
		if fn := m.onLoad.Load(); fn != nil && ctx.Err() == nil {
			(*fn)(w.status())
		}
		m.mu.Lock()
		w.mu.Lock()
		w.flight = nil
		if next := w.next; next != nil {
			w.next = nil
			if m.closed {
				next.err = errNotRunning
				close(next.done)
			} else {
				m.startLocked(w, next)
			}
		}
		w.mu.Unlock()
		m.mu.Unlock()
		close(f.done)
	}(m.ctx)
}

// load is one load attempt of w: fetch, load unless the revision is already
// serving, check webhook names, swap, prune.
func (m *Manager) load(ctx context.Context, w *wsState) (RefreshResult, error) {
	start := time.Now()
	name := w.src.Name
	cur := w.view.Load()
	var serving string
	if cur.snap != nil {
		serving = cur.snap.Revision
	}
	rev, dir, err := w.src.Fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return RefreshResult{Revision: serving}, ctx.Err()
		}
		m.fail(w, "", err.Error(), nil)
		m.log.Warn("workspace fetch failed", "workspace", name, "duration", time.Since(start), "error", err)
		return RefreshResult{Revision: serving}, &FetchError{Err: err}
	}
	if cur.snap != nil && rev == serving {
		if cur.err != "" {
			m.fail(w, "", "", nil) // back at the serving revision
		}
		m.log.Debug("workspace unchanged", "workspace", name, "revision", rev, "duration", time.Since(start))
		return RefreshResult{Revision: rev}, nil
	}
	snap, err := Load(dir, m.opts.Load)
	var lerr *LoadError
	if err != nil {
		if !errors.As(err, &lerr) {
			lerr = &LoadError{Problems: []Problem{{Message: err.Error()}}}
		}
	} else {
		snap.Name, snap.Revision, snap.LoadedAt = name, rev, time.Now()
		snap.Commit = m.describe(ctx, w, rev)
		lerr = m.swap(w, snap)
	}
	if lerr != nil {
		if err != nil {
			m.fail(w, rev, lerr.Error(), nil)
		}
		m.log.Warn("workspace load failed", "workspace", name, "revision", rev,
			"duration", time.Since(start), "error", lerr.Error())
		return RefreshResult{Revision: serving}, &RejectedError{Revision: rev, Err: lerr}
	}
	m.log.Info("workspace loaded", "workspace", name, "revision", rev,
		"tasks", len(snap.Tasks), "actions", countActions(snap), "triggers", len(snap.Triggers),
		"duration", time.Since(start))
	for _, p := range snap.Warnings {
		m.log.Warn("workspace warning", "workspace", name, "revision", rev, "warning", p.String())
	}
	if err := m.saveLastGood(name, rev); err != nil {
		m.log.Warn("workspace last good revision not recorded", "workspace", name, "error", err)
	}
	if err := m.prune(w); err != nil {
		m.log.Warn("workspace prune failed", "workspace", name, "error", err)
	}
	return RefreshResult{Revision: rev, Changed: true}, nil
}

// countActions counts named actions (inline step actions left out).
func countActions(s *Snapshot) int {
	n := 0
	for k := range s.Actions {
		if !strings.HasPrefix(k, InlinePrefix) {
			n++
		}
	}
	return n
}

// fail records a failed attempt of w (msg "" clears the error) while the
// serving snapshot stays; wanted lists webhook names held elsewhere.
func (m *Manager) fail(w *wsState, errRev, msg string, wanted []string) {
	m.swapMu.Lock()
	defer m.swapMu.Unlock()
	m.failLocked(w, errRev, msg, wanted)
}

func (m *Manager) failLocked(w *wsState, errRev, msg string, wanted []string) {
	w.wanted = wanted
	w.view.Store(&wsView{snap: w.view.Load().snap, err: msg, errRev: errRev})
}

// swap publishes snap as w's serving snapshot unless one of its webhook
// names is served by another workspace; then it records and returns the
// rejection.
func (m *Manager) swap(w *wsState, snap *Snapshot) *LoadError {
	m.swapMu.Lock()
	defer m.swapMu.Unlock()
	table := *m.webhooks.Load()
	var problems []Problem
	var wanted []string
	for _, t := range webhookTriggers(snap) {
		if e, ok := table[t.WebhookName]; ok && e.snap.Name != w.src.Name {
			wanted = append(wanted, t.WebhookName)
			problems = append(problems, webhookConflict(snap.Dir, t, e.snap.Name))
		}
	}
	if len(problems) > 0 {
		sortConflicts(problems)
		lerr := &LoadError{Problems: problems}
		m.failLocked(w, snap.Revision, lerr.Error(), wanted)
		return lerr
	}
	old := w.view.Load().snap
	w.wanted = nil
	w.view.Store(&wsView{snap: snap})
	m.rebuildWebhooksLocked()
	if old != nil {
		m.releaseLocked(w, old, snap)
		m.cache.keep(w.src.Name, old.Revision, old, m.opts.RevisionsDir != "")
		w.mu.Lock()
		w.history = appendHistory(w.history, old.Revision, snap.Revision)
		w.mu.Unlock()
	}
	for _, fn := range m.onSwap {
		fn(w.src.Name, old, snap)
	}
	return nil
}

// appendHistory records prev as the newest previous revision; cur (serving
// again) leaves the history.
func appendHistory(h []string, prev, cur string) []string {
	out := h[:0]
	for _, r := range h {
		if r != prev && r != cur {
			out = append(out, r)
		}
	}
	if prev != cur {
		out = append(out, prev)
	}
	return out
}

// releaseLocked kicks every other workspace whose rejected revision wanted
// a webhook name that old had and new dropped.
func (m *Manager) releaseLocked(w *wsState, old, new *Snapshot) {
	kept := map[string]bool{}
	for _, t := range webhookTriggers(new) {
		kept[t.WebhookName] = true
	}
	released := map[string]bool{}
	for _, t := range webhookTriggers(old) {
		if !kept[t.WebhookName] {
			released[t.WebhookName] = true
		}
	}
	if len(released) == 0 {
		return
	}
	for _, o := range m.states {
		if o == w {
			continue
		}
		for _, n := range o.wanted {
			if released[n] {
				o.poke()
				break
			}
		}
	}
}

// sortConflicts orders problems as LoadError requires.
func sortConflicts(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
}
