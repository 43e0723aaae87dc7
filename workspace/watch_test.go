package workspace_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
	"runnel/workspace/waittest"
)

// watched is a running Folder.Watch with its observations.
type watched struct {
	changed chan struct{}      // one value per changed() call (buffered)
	events  chan observedEvent // every fsnotify event the watcher saw
}

type observedEvent struct {
	name    string
	op      fsnotify.Op
	changed bool
}

// startWatch runs f.Watch until the test ends. Call before Watch starts
// producing events of interest; the watch is established when it returns
// for the directories that exist.
func startWatch(t *testing.T, f *workspace.Folder, root string) *watched {
	t.Helper()
	w := &watched{changed: make(chan struct{}, 100), events: make(chan observedEvent, 1000)}
	workspace.ObserveWatch(f, func(ev fsnotify.Event, changed bool) {
		w.events <- observedEvent{ev.Name, ev.Op, changed}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx, func() { w.changed <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	// The watch is set up asynchronously: probe until an event arrives.
	probe := filepath.Join(root, "probe-watch")
	deadline := time.After(waittest.Patience())
	for i := 0; ; i++ {
		writeTreeFiles(t, root, map[string]string{"probe-watch": string(rune('a' + i%26))})
		select {
		case ev := <-w.events:
			if ev.name == probe {
				os.Remove(probe)
				w.waitEvent(t, probe, func(ev observedEvent) bool { return ev.op.Has(fsnotify.Remove) })
				w.drainChanged(t)
				return w
			}
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("watch not established within %s", waittest.Patience())
		}
	}
}

// waitEvent waits for an event on name that satisfies ok and returns it.
func (w *watched) waitEvent(t *testing.T, name string, ok func(observedEvent) bool) observedEvent {
	t.Helper()
	deadline := time.After(waittest.Patience())
	for {
		select {
		case ev := <-w.events:
			if ev.name == name && ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching event for %s within %s", name, waittest.Patience())
		}
	}
}

func (w *watched) waitChanged(t *testing.T) {
	t.Helper()
	select {
	case <-w.changed:
	case <-time.After(waittest.Patience()):
		t.Fatalf("changed not called within %s", waittest.Patience())
	}
}

// drainChanged waits for the debounced call of earlier events, then drops
// any left.
func (w *watched) drainChanged(t *testing.T) {
	t.Helper()
	w.waitChanged(t)
	for {
		select {
		case <-w.changed:
		default:
			return
		}
	}
}

func anyOp(observedEvent) bool { return true }

func TestWatchFileWrite(t *testing.T) {
	root := t.TempDir()
	writeTreeFiles(t, root, map[string]string{".workflows/a.yaml": "tasks: {}\n"})
	w := startWatch(t, workspace.NewFolder(root, t.TempDir()), root)
	p := filepath.Join(root, ".workflows", "a.yaml")
	writeTreeFiles(t, root, map[string]string{".workflows/a.yaml": "tasks: {x: 1}\n"})
	if ev := w.waitEvent(t, p, anyOp); !ev.changed {
		t.Errorf("write event %v not counted as a change", ev.op)
	}
	w.waitChanged(t)
}

func TestWatchNewSubdirectory(t *testing.T) {
	root := t.TempDir()
	w := startWatch(t, workspace.NewFolder(root, t.TempDir()), root)
	// mkdir -p and a file inside at once: the file may be written before
	// the new directories are watched, and the rescan after changed()
	// finds it.
	writeTreeFiles(t, root, map[string]string{"new/deep/x.yaml": "tasks: {}\n"})
	w.waitChanged(t)
	// The new directories are watched now.
	p := filepath.Join(root, "new", "deep", "y.yaml")
	writeTreeFiles(t, root, map[string]string{"new/deep/y.yaml": "tasks: {}\n"})
	if ev := w.waitEvent(t, p, anyOp); !ev.changed {
		t.Errorf("event %v in a new subdirectory not counted as a change", ev.op)
	}
	w.waitChanged(t)
}

func TestWatchChmod(t *testing.T) {
	root := t.TempDir()
	writeTreeFiles(t, root, map[string]string{"run.sh": "#!/bin/sh\n"})
	f := workspace.NewFolder(root, revisionsTempDir(t))
	fetchFolder(t, f) // the watcher compares with the last scan's modes
	w := startWatch(t, f, root)
	p := filepath.Join(root, "run.sh")

	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if ev := w.waitEvent(t, p, anyOp); ev.op != fsnotify.Chmod || ev.changed {
		t.Errorf("chmod 0600: event %v changed=%v, want a pure chmod that is ignored", ev.op, ev.changed)
	}
	if err := os.Chmod(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if ev := w.waitEvent(t, p, anyOp); ev.op != fsnotify.Chmod || !ev.changed {
		t.Errorf("chmod +x: event %v changed=%v, want a chmod counted as a change", ev.op, ev.changed)
	}
	w.waitChanged(t)
}

func TestWatchSkipsGit(t *testing.T) {
	root := t.TempDir()
	w := startWatch(t, workspace.NewFolder(root, t.TempDir()), root)
	if err := os.Mkdir(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ev := w.waitEvent(t, filepath.Join(root, ".git"), anyOp); ev.changed {
		t.Errorf("creating .git counted as a change")
	}
	// .git is not watched: a write there sends nothing, while a later
	// write elsewhere does.
	writeTreeFiles(t, root, map[string]string{".git/HEAD": "x", "after": "y"})
	ev := w.waitEvent(t, filepath.Join(root, "after"), anyOp)
	if !ev.changed {
		t.Errorf("write of 'after' not counted as a change")
	}
}

// TestDebounce feeds the pure debouncer in a synctest bubble (fake time).
func TestDebounce(t *testing.T) {
	const (
		delay    = 250 * time.Millisecond
		maxDelay = time.Second
		rescan   = 30 * time.Second
	)
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	every := func(from, to, step int) []time.Duration {
		var out []time.Duration
		for v := from; v <= to; v += step {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name  string
		kicks []time.Duration
		until time.Duration
		want  []time.Duration
	}{
		{"one event", ms(0), 2 * time.Second, ms(250)},
		{"burst coalesces", ms(0, 100, 200), 2 * time.Second, ms(450)},
		{"quiet gap splits", ms(0, 300), 2 * time.Second, ms(250, 550)},
		{"endless burst fires every maxDelay", every(0, 2400, 150), 3 * time.Second, ms(1000, 2050, 2650)},
		{"no events: periodic rescan", nil, 65 * time.Second, ms(30000, 60000)},
		{"a fire restarts the rescan period", ms(10000), 45 * time.Second, ms(10250, 40250)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				in := make(chan struct{})
				start := time.Now()
				var mu sync.Mutex
				var got []time.Duration
				go workspace.Debounce(ctx, in, delay, maxDelay, rescan, func() {
					mu.Lock()
					got = append(got, time.Since(start))
					mu.Unlock()
				})
				for _, k := range tt.kicks {
					time.Sleep(k - time.Since(start))
					in <- struct{}{}
				}
				time.Sleep(tt.until - time.Since(start))
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("fire times (-want +got):\n%s", diff)
				}
			})
		})
	}
}
