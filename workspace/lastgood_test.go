package workspace_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"runnel/workspace"
)

// TestManagerLastGoodAcrossRestart: a revision holding a file nested
// 40,000 levels deep is rejected while the last good revision keeps
// serving, and a manager opened again on the same data directory (a
// restart) serves that revision at once, with the rejection shown, until a
// good revision arrives; for a folder and for a git workspace.
func TestManagerLastGoodAcrossRestart(t *testing.T) {
	deep := ".workflows/deep.yaml:1:65: lists and mappings are nested more than 64 levels deep"
	tests := []struct {
		name string
		// source returns a fresh source (as a new process would make) and
		// a function that changes its content.
		source func(t *testing.T, revsDir string) (src func() workspace.Source, write func(map[string]string))
	}{
		{"folder", func(t *testing.T, revsDir string) (func() workspace.Source, func(map[string]string)) {
			dir := t.TempDir()
			src := func() workspace.Source {
				f := workspace.NewFolder(dir, filepath.Join(revsDir, "ws"))
				return workspace.Source{Name: "ws", Kind: workspace.KindFolder, Fetch: f.Fetch}
			}
			return src, func(files map[string]string) { writeTreeFiles(t, dir, files) }
		}},
		{"git", func(t *testing.T, revsDir string) (func() workspace.Source, func(map[string]string)) {
			g := &gitRepo{t: t, dir: t.TempDir()}
			g.git("init", "-q", "-b", "main")
			src := func() workspace.Source {
				return workspace.Source{Name: "ws", Kind: workspace.KindGit, Ref: "main", Fetch: g.fetch(filepath.Join(revsDir, "ws"))}
			}
			return src, func(files map[string]string) { g.commit(files) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			revsDir := filepath.Join(revisionsTempDir(t), "revisions")
			opts := workspace.ManagerOptions{RevisionsDir: revsDir, Logger: slog.New(newLogRecorder())}
			source, write := tt.source(t, revsDir)
			open := func() *workspace.Manager {
				t.Helper()
				m := workspace.NewManager(opts, []workspace.Source{source()})
				if err := m.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := m.WaitLoaded(ctx); err != nil {
					t.Fatal(err)
				}
				return m
			}
			lastGood := func() string {
				t.Helper()
				b, err := os.ReadFile(filepath.Join(revsDir, "ws", workspace.LastGoodFile))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			status := func(m *workspace.Manager) workspace.Status {
				t.Helper()
				st, _, err := m.Get("ws")
				if err != nil {
					t.Fatal(err)
				}
				return st
			}

			write(map[string]string{".workflows/main.yaml": tasksYAML("hello")})
			m := open()
			good, err := m.Current("ws")
			if err != nil {
				t.Fatal(err)
			}
			if got := lastGood(); got != good.Revision+"\n" {
				t.Errorf("%s = %q, want the serving revision %s", workspace.LastGoodFile, got, good.Revision)
			}

			write(map[string]string{".workflows/deep.yaml": strings.Repeat("[", 40_000)})
			_, err = m.Refresh(context.Background(), "ws")
			var rej *workspace.RejectedError
			if !errors.As(err, &rej) || rej.Err.First() != deep {
				t.Fatalf("Refresh = %v, want the deep file rejected with %q", err, deep)
			}
			bad := rej.Revision
			if cur, _ := m.Current("ws"); cur != good {
				t.Fatalf("serving %v after the rejection, want %s", cur, good.Revision)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}

			// Restarted while the source's head is bad: the last good
			// revision serves, with the error.
			m = open()
			st := status(m)
			if st.Snapshot == nil || st.Snapshot.Revision != good.Revision || st.Snapshot.Tasks["hello"] == nil {
				t.Fatalf("after a restart serving %+v, want revision %s", st.Snapshot, good.Revision)
			}
			if st.Error != deep || st.ErrorRevision != bad {
				t.Errorf("after a restart error %q of %q, want %q of %s", st.Error, st.ErrorRevision, deep, bad)
			}
			if got := lastGood(); got != good.Revision+"\n" {
				t.Errorf("%s = %q after a rejected load, want %s", workspace.LastGoodFile, got, good.Revision)
			}

			// A good revision replaces it, and is what the next restart serves.
			write(map[string]string{".workflows/deep.yaml": "tasks: {}\n", ".workflows/main.yaml": tasksYAML("hello", "fixed")})
			res, err := m.Refresh(context.Background(), "ws")
			if err != nil || !res.Changed {
				t.Fatalf("Refresh after the fix = %+v, %v", res, err)
			}
			if got := lastGood(); got != res.Revision+"\n" {
				t.Errorf("%s = %q, want %s", workspace.LastGoodFile, got, res.Revision)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m = open()
			if st := status(m); st.Snapshot == nil || st.Snapshot.Revision != res.Revision || st.Error != "" {
				t.Errorf("after the second restart: %+v, want %s without error", st, res.Revision)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}

			// Without its tree the record is ignored: the bad head shows as
			// before (no snapshot, the error).
			write(map[string]string{".workflows/deep.yaml": strings.Repeat("{", 100)})
			if err := removeTree(filepath.Join(revsDir, "ws", res.Revision)); err != nil {
				t.Fatal(err)
			}
			m = open()
			if st := status(m); st.Snapshot != nil || !strings.Contains(st.Error, "nested more than 64 levels") {
				t.Errorf("with the last good tree gone: %+v, want no snapshot and the error", st)
			}
		})
	}
}

// removeTree deletes a read-only revision tree.
func removeTree(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
