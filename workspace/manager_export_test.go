package workspace

import (
	"context"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce exposes the pure debouncer to the black-box tests.
func Debounce(ctx context.Context, in <-chan struct{}, delay, maxDelay, rescan time.Duration, fire func()) {
	debounce(ctx, in, delay, maxDelay, rescan, fire)
}

// ObserveWatch makes f's watcher report every fsnotify event and whether it
// counted as a change. Set it before Watch starts.
func ObserveWatch(f *Folder, fn func(ev fsnotify.Event, changed bool)) { f.observe = fn }

// RefreshWaiters is the number of refreshes of ws waiting on its load.
func RefreshWaiters(m *Manager, ws string) int {
	w := m.byName[ws]
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiters
}

// WaitRefreshWaiters waits until at least n refreshes of ws wait on its
// load, woken by each refresh that joins; false when ctx ends first.
func WaitRefreshWaiters(ctx context.Context, m *Manager, ws string, n int) bool {
	w := m.byName[ws]
	for {
		w.mu.Lock()
		got, joined := w.waiters, w.joined
		w.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-joined:
		case <-ctx.Done():
			return false
		}
	}
}
