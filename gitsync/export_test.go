package gitsync_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/google/go-cmp/cmp"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
)

func TestExport(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	rev := u.Commit(t, "tree", map[string]string{
		"README.md":            "hello\n",
		"empty":                "",
		"bin/run.sh":           gittest.Exec("#!/bin/sh\necho run\n"),
		"deep/a/b/c.yaml":      "k: v\n",
		"link-to-readme":       gittest.Symlink("README.md"),
		"bin/link-up":          gittest.Symlink("../deep/a"),
		"dangling":             gittest.Symlink("does/not/exist"),
		"absolute":             gittest.Symlink("/etc/hostname"),
		"spaces in name/x.txt": "x",
	})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	out := filepath.Join(gittest.TempDir(t), "revisions", rev)
	if err := r.Export(rev, out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".":                    "dir 0555",
		"README.md":            "file 0444 hello\n",
		"empty":                "file 0444 ",
		"bin":                  "dir 0555",
		"bin/run.sh":           "file 0555 #!/bin/sh\necho run\n",
		"bin/link-up":          "symlink -> ../deep/a",
		"deep":                 "dir 0555",
		"deep/a":               "dir 0555",
		"deep/a/b":             "dir 0555",
		"deep/a/b/c.yaml":      "file 0444 k: v\n",
		"link-to-readme":       "symlink -> README.md",
		"dangling":             "symlink -> does/not/exist",
		"absolute":             "symlink -> /etc/hostname",
		"spaces in name":       "dir 0555",
		"spaces in name/x.txt": "file 0444 x",
	}
	if diff := cmp.Diff(want, listTree(t, out)); diff != "" {
		t.Errorf("export (-want +got):\n%s", diff)
	}
	// Nothing but the revision is left in the parent (no temporaries).
	if diff := cmp.Diff([]string{rev}, dirNames(t, filepath.Dir(out))); diff != "" {
		t.Errorf("revisions dir (-want +got):\n%s", diff)
	}
}

func TestExportOldRevision(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	old := u.Commit(t, "old", map[string]string{"a.txt": "old"})
	u.Commit(t, "new", map[string]string{"a.txt": "new"})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	out := filepath.Join(gittest.TempDir(t), old)
	if err := r.Export(old, out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{".": "dir 0555", "a.txt": "file 0444 old"}, listTree(t, out)); diff != "" {
		t.Errorf("export of an older commit (-want +got):\n%s", diff)
	}
}

func TestExportExistingDirIsLeftAlone(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	rev := u.Commit(t, "c", map[string]string{"a.txt": "A"})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	out := filepath.Join(gittest.TempDir(t), rev)
	writeFile(t, filepath.Join(out, "marker"), "already here")
	for range 2 {
		if err := r.Export(rev, out); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]string{".": "dir 0755", "marker": "file 0644 already here"}, listTree(t, out)); diff != "" {
		t.Errorf("existing dir changed (-want +got):\n%s", diff)
	}
}

func TestExportIdempotent(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	rev := u.Commit(t, "c", map[string]string{"a.txt": "A", "d/b.txt": "B"})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	out := filepath.Join(gittest.TempDir(t), rev)
	if err := r.Export(rev, out); err != nil {
		t.Fatal(err)
	}
	first := listTree(t, out)
	info, err := os.Stat(filepath.Join(out, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Export(rev, out); err != nil {
		t.Fatalf("second Export: %v", err)
	}
	if diff := cmp.Diff(first, listTree(t, out)); diff != "" {
		t.Errorf("second Export changed the tree (-want +got):\n%s", diff)
	}
	again, err := os.Stat(filepath.Join(out, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(info, again) {
		t.Error("second Export rewrote the files")
	}
}

func TestExportErrors(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	rev := u.Commit(t, "c", map[string]string{"a.txt": "A"})
	synced, _ := newRepo(t, u.URL(), "")
	mustSync(t, synced)
	unsynced, _ := newRepo(t, u.URL(), "")
	tests := []struct {
		name string
		repo *gitsync.Repo
		rev  string
		want []string
	}{
		{"short hash", synced, rev[:12], []string{"export " + rev[:12] + ":", "not a 40-hex commit hash"}},
		{"upper case", synced, strings.ToUpper(rev), []string{"not a 40-hex commit hash"}},
		{"path in rev", synced, "../../../../../../../../../../../../etc/xx", []string{"not a 40-hex commit hash"}},
		{"unknown commit", synced, strings.Repeat("ab", 20), []string{"export abab", "read commit"}},
		{"no clone yet", unsynced, rev, []string{"export " + rev + ": open clone "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := gittest.TempDir(t)
			err := tt.repo.Export(tt.rev, filepath.Join(parent, "out"))
			if err == nil {
				t.Fatal("Export succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Errorf("failed Export left %v behind", names)
			}
		})
	}
}

// TestExportHostileTrees exports commits git's own tools would not make:
// entries that try to leave the export directory, a .git entry, a
// submodule, and a name the filesystem refuses half-way through.
func TestExportHostileTrees(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []entry
		want    map[string]string // nil: Export must fail
		wantErr string
	}{
		{
			name:    "dot-dot entry",
			entries: []entry{{name: "a.txt", content: "A"}, {name: "..", content: "escape"}},
			wantErr: `unsafe entry name ".."`,
		},
		{
			name:    "slash in name",
			entries: []entry{{name: "x/../../y", content: "escape"}},
			wantErr: "unsafe entry name",
		},
		{
			name:    "name too long fails mid-way and cleans up",
			entries: []entry{{name: "a", sub: []entry{{name: "b.txt", content: "B"}}}, {name: strings.Repeat("z", 300), content: "Z"}},
			wantErr: "file name too long",
		},
		{
			name: ".git entry is skipped",
			entries: []entry{
				{name: ".git", sub: []entry{{name: "config", content: "[core]\n"}}},
				{name: "a.txt", content: "A"},
			},
			want: map[string]string{".": "dir 0555", "a.txt": "file 0444 A"},
		},
		{
			name: "submodule becomes an empty directory",
			entries: []entry{
				{name: "a.txt", content: "A"},
				{name: "vendor", submodule: plumbing.NewHash(strings.Repeat("12", 20))},
			},
			want: map[string]string{".": "dir 0555", "a.txt": "file 0444 A", "vendor": "dir 0555"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := gittest.New(t)
			u.Commit(t, "ordinary", map[string]string{"ok": "ok"})
			r, clone := newRepo(t, u.URL(), "")
			mustSync(t, r)
			// go-git refuses to check such trees out (see
			// TestSyncRefusesHostileTree), so put the commit straight into
			// the clone's object store, where Export reads it.
			rev := commitEntries(t, clone, tt.entries)
			parent := gittest.TempDir(t)
			out := filepath.Join(parent, rev)
			err := r.Export(rev, out)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Export = %v, want an error containing %q", err, tt.wantErr)
				}
				if names := dirNames(t, parent); len(names) != 0 {
					t.Errorf("failed export left %v behind", names)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, listTree(t, out)); diff != "" {
				t.Errorf("export (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSyncRefusesHostileTree: an upstream commit whose tree tries to leave
// the worktree fails the Sync and leaves no clone behind.
func TestSyncRefusesHostileTree(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "ordinary", map[string]string{"ok": "ok"})
	rev := commitEntries(t, u.Path(), []entry{{name: "x/../../y", content: "escape"}})
	u.Git(t, "update-ref", "refs/heads/main", rev)
	r, dir := newRepo(t, u.URL(), "")
	_, err := r.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "clone "+u.URL()+": ") {
		t.Fatalf("Sync = %v, want a clone error", err)
	}
	if names := dirNames(t, filepath.Dir(dir)); len(names) != 0 {
		t.Errorf("failed clone left %v behind", names)
	}
}

// entry is a tree entry for commitEntries: a file with content, a
// directory with sub, or a submodule commit.
type entry struct {
	name      string
	content   string
	sub       []entry
	submodule plumbing.Hash
}

// commitEntries writes the tree with go-git straight into the repository
// at path, bypassing git's name checks, and commits it on top of main
// without moving any ref. It returns the commit hash.
func commitEntries(t *testing.T, path string, entries []entry) string {
	t.Helper()
	repo, err := git.PlainOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	tree := writeEntries(t, repo.Storer, entries)
	main, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "test", Email: "test@example.invalid", When: time.Unix(1767225600, 0).UTC()}
	commit := &object.Commit{Author: sig, Committer: sig, Message: "hostile\n", TreeHash: tree, ParentHashes: []plumbing.Hash{main.Hash()}}
	return store(t, repo.Storer, commit).String()
}

func writeEntries(t *testing.T, s storer.EncodedObjectStorer, entries []entry) plumbing.Hash {
	t.Helper()
	tree := &object.Tree{}
	for _, e := range entries {
		switch {
		case e.sub != nil:
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: e.name, Mode: filemode.Dir, Hash: writeEntries(t, s, e.sub)})
		case !e.submodule.IsZero():
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: e.name, Mode: filemode.Submodule, Hash: e.submodule})
		default:
			blob := s.NewEncodedObject()
			blob.SetType(plumbing.BlobObject)
			w, err := blob.Writer()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			h, err := s.SetEncodedObject(blob)
			if err != nil {
				t.Fatal(err)
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: e.name, Mode: filemode.Regular, Hash: h})
		}
	}
	// git orders entries by name, directories compared as "name/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(tree.Entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	return store(t, s, tree)
}

func store(t *testing.T, s storer.EncodedObjectStorer, o interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	t.Helper()
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
