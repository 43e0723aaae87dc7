package workspace_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"runnel/workspace"
)

// TestManagerStartContext: Start's ctx bounds the start only, as for the
// job engine and the scheduler. A cancelled ctx fails it; a ctx that ends
// after the start leaves the manager serving and loading until Close.
func TestManagerStartContext(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello")})

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	e := newEnv(t)
	e.addFolder("w", src, true)
	m := workspace.NewManager(e.opts, e.sources)
	t.Cleanup(func() { m.Close() })
	if err := m.Start(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled ctx: %v, want context.Canceled", err)
	}

	e = newEnv(t)
	e.addFolder("w", src, true)
	ctx, cancel := context.WithCancel(context.Background())
	m = workspace.NewManager(e.opts, e.sources)
	t.Cleanup(func() { m.Close() })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if err := m.WaitLoaded(wctx); err != nil {
		t.Fatalf("WaitLoaded after the start ctx ended: %v", err)
	}
	if _, err := m.Current("w"); err != nil {
		t.Fatalf("first load after the start ctx ended: %v", err)
	}
	// Still loading: a refresh after the start ctx ended finds the change.
	writeTreeFiles(t, src, map[string]string{".workflows/a.yaml": tasksYAML("hello", "bye")})
	res, err := m.Refresh(context.Background(), "w")
	if err != nil {
		t.Fatalf("refresh after the start ctx ended: %v", err)
	}
	snap, err := m.Current("w")
	if err != nil || snap.Revision != res.Revision || snap.Tasks["bye"] == nil {
		t.Fatalf("after the refresh: %v, %v; want revision %s with task bye", snap, err, res.Revision)
	}
	if _, err := os.Stat(filepath.Join(e.revsDir, "w", res.Revision)); err != nil {
		t.Errorf("revision tree of the refresh: %v", err)
	}
}
