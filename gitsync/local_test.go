package gitsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
)

// TestLocalUpstreamForms follows a local upstream in every form git accepts
// as a remote: a bare repository, an ordinary (non-bare) one, a linked
// worktree (whose .git is a file), each by path, with a trailing slash and
// as a file:// URL. The ref listing (RemoteHead), the clone, the fetch of a
// new commit and a tag all work in each.
func TestLocalUpstreamForms(t *testing.T) {
	t.Parallel()
	type form struct {
		name string
		url  func(u *gittest.Upstream) string
	}
	forms := []form{
		{"path", func(u *gittest.Upstream) string { return u.Path() }},
		{"path with trailing slash", func(u *gittest.Upstream) string { return u.Path() + "/" }},
		{"file url", func(u *gittest.Upstream) string { return u.URL() }},
		{"file url with trailing slash", func(u *gittest.Upstream) string { return u.URL() + "/" }},
	}
	layouts := map[gittest.Layout][]form{
		gittest.Bare: forms,
		gittest.NonBare: append(forms[:len(forms):len(forms)],
			form{"git dir", func(u *gittest.Upstream) string { return filepath.Join(u.Path(), ".git") }},
			form{"relative path", func(u *gittest.Upstream) string { return relative(t, u.Path()) }}),
		gittest.LinkedWorktree: forms,
	}
	for layout, forms := range layouts {
		for _, f := range forms {
			t.Run(layout.String()+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				u := gittest.NewLayout(t, layout)
				first := u.Commit(t, "first", map[string]string{"a.txt": "A1"})
				url := f.url(u)

				r, dir := newRepo(t, url, "")
				head, err := r.RemoteHead(context.Background())
				if err != nil || head != first {
					t.Fatalf("RemoteHead = %s, %v; want %s", head, err, first)
				}
				if got := mustSync(t, r); got != first {
					t.Fatalf("Sync = %s, want %s", got, first)
				}
				second := u.Commit(t, "second", map[string]string{"a.txt": "A2", "b.txt": "B"})
				revs := gittest.TempDir(t)
				rev, tree, err := r.Fetch(context.Background(), revs)
				if err != nil || rev != second {
					t.Fatalf("Fetch = %s, %v; want %s", rev, err, second)
				}
				want := map[string]string{"a.txt": "A2", "b.txt": "B"}
				if diff := cmp.Diff(want, worktree(t, dir)); diff != "" {
					t.Errorf("clone after fetch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(want, worktree(t, tree)); diff != "" {
					t.Errorf("exported tree (-want +got):\n%s", diff)
				}
				if s := r.Stats(); s.Clones != 1 || s.Fetches != 1 {
					t.Errorf("stats = %+v, want 1 clone and 1 fetch", s)
				}

				u.AnnotatedTag(t, "v1", first, "release 1")
				tagged, _ := newRepo(t, url, "v1")
				if got := mustSync(t, tagged); got != first {
					t.Errorf("Sync of tag v1 = %s, want %s", got, first)
				}
				missing, _ := newRepo(t, url, "nope")
				if _, err := missing.RemoteHead(context.Background()); !errors.Is(err, gitsync.ErrRefNotFound) {
					t.Errorf("RemoteHead of a missing branch = %v, want ErrRefNotFound", err)
				}
			})
		}
	}
}

// relative returns p relative to the working directory.
func relative(t *testing.T, p string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestLocalNotARepository: a local path that is no repository is reported
// as such, never as a missing branch.
func TestLocalNotARepository(t *testing.T) {
	t.Parallel()
	u := gittest.NewLayout(t, gittest.NonBare)
	u.Commit(t, "first", map[string]string{"sub/a.txt": "A"})
	plain := t.TempDir()
	if err := os.WriteFile(filepath.Join(plain, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	brokenGitFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(brokenGitFile, ".git"), []byte("gitdir: /nonexistent/worktrees/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// want is what git-upload-pack (or the in-process listing) says.
	tests := []struct{ name, url, want string }{
		{"empty directory", t.TempDir(), "repository not found"},
		{"directory with files", plain, "repository not found"},
		{"regular file", filepath.Join(plain, "file"), "invalid gitfile format"},
		{"subdirectory of a work tree", filepath.Join(u.Path(), "sub"), "repository not found"},
		{".git file naming nothing", brokenGitFile, "not a git repository: /nonexistent/worktrees/x"},
		{"missing file url", "file://" + filepath.Join(plain, "missing"), "repository not found"},
	}
	for _, tt := range tests {
		url := tt.url
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRepo(t, url, "main")
			_, err := r.Sync(context.Background())
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			if errors.Is(err, gitsync.ErrRefNotFound) || strings.Contains(err.Error(), "no branch or tag") {
				t.Errorf("error %q claims the branch is missing", err)
			}
			if !strings.Contains(err.Error(), "list remote "+url+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
