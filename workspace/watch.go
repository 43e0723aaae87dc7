package workspace

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Folder watch timing (SPEC §6.2).
const (
	// debounceDelay is how long a folder must be quiet after an event
	// before changed is called.
	debounceDelay = 250 * time.Millisecond
	// debounceMax bounds the wait of a burst of events that never goes
	// quiet (a file written continuously).
	debounceMax = 2 * time.Second
	// rescanInterval is how often changed is called without any event, as a
	// fallback for missed events and a way to retry a missing folder.
	rescanInterval = 30 * time.Second
)

// Watch calls changed whenever the folder may have changed, until ctx ends:
// after fsnotify events (recursive, .git skipped, pure chmod ignored unless
// it flips a file's executable bit) debounced by 250 ms (at most 2 s for a
// burst that never goes quiet), and every 30 s without events. changed runs
// on the watch goroutine and must not block. It is also called once the
// watches are in place (changes before that sent no event). A missing
// folder is watched once it appears. Watch returns nil when ctx ends, or an error if no
// watcher can be created.
func (f *Folder) Watch(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch folder %q: %w", f.path, err)
	}
	defer w.Close()

	kicks := make(chan struct{}, 1)
	kick := func() {
		select {
		case kicks <- struct{}{}:
		default:
		}
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounce(dctx, kicks, debounceDelay, debounceMax, rescanInterval, changed)
	}()
	defer func() { stop(); <-done }()

	root, _ := f.root()
	if root != "" {
		addTree(w, root)
	}
	// Changes made before the watches existed send no event: rescan once
	// they do.
	kick()
	recheck := time.NewTicker(rescanInterval)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-recheck.C:
			// The folder was missing, or removed and made again: its
			// watch is gone.
			if r, _ := f.root(); r != "" && (r != root || !slices.Contains(w.WatchList(), r)) {
				root = r
				addTree(w, root)
				kick()
			}
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			c := f.event(w, root, ev)
			if c {
				kick()
			}
			if f.observe != nil {
				f.observe(ev, c)
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			kick() // an overflow lost events: rescan
		}
	}
}

// event handles one fsnotify event and reports whether it may have changed
// the revision.
func (f *Folder) event(w *fsnotify.Watcher, root string, ev fsnotify.Event) bool {
	if ev.Name == root {
		return ev.Op != fsnotify.Chmod // the folder itself went away
	}
	rel, err := filepath.Rel(root, ev.Name)
	if err != nil || slices.Contains(strings.Split(filepath.ToSlash(rel), "/"), ".git") {
		return false
	}
	if ev.Op == fsnotify.Chmod {
		return f.execChanged(root, ev.Name)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			// Files made in it before its watch exists send no event;
			// the rescan that follows this kick sees them.
			addTree(w, ev.Name)
		}
	}
	return true
}

// addTree watches dir and every directory below it except .git; errors
// (a directory removed meanwhile, the watch limit) are left to the
// periodic rescan.
func addTree(w *fsnotify.Watcher, dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if skipInRevision(d.Name()) {
			return filepath.SkipDir
		}
		_ = w.Add(p)
		return nil
	})
}

// debounce calls fire when in has been quiet for delay after a value
// (trailing edge), at most maxDelay after the first value of a burst, and
// every rescan (> 0) since the last call otherwise. It returns when ctx
// ends.
func debounce(ctx context.Context, in <-chan struct{}, delay, maxDelay, rescan time.Duration, fire func()) {
	timer := time.NewTimer(delay)
	timer.Stop()
	defer timer.Stop()
	tick := time.NewTicker(rescan)
	defer tick.Stop()
	var first time.Time
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-in:
			now := time.Now()
			if !pending {
				pending, first = true, now
			}
			timer.Reset(min(delay, max(0, maxDelay-now.Sub(first))))
		case <-timer.C:
			pending = false
			fire()
			tick.Reset(rescan)
		case <-tick.C:
			if !pending {
				fire()
			}
		}
	}
}
