package workspace_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// writeTreeFiles writes files (path → content) under dir. A content
// starting with "->" makes a symlink to the rest; a path ending in "*" is
// written executable; a path ending in "/" is an empty directory.
func writeTreeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		mode := os.FileMode(0o644)
		if q, ok := strings.CutSuffix(p, "*"); ok {
			p, mode = q, 0o755
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			os.Remove(full)
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// listRevisionTree describes every entry under dir as "path mode [-> target
// | content]", directories included.
func listRevisionTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fmt.Sprintf("%v", fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// revisionsTempDir is a t.TempDir that may hold read-only trees: they are
// made writable before the directory is removed.
func revisionsTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return dir
}

func fetchFolder(t testing.TB, f *workspace.Folder) (rev, dir string) {
	t.Helper()
	rev, dir, err := f.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev, dir
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestFolderRevision(t *testing.T) {
	base := map[string]string{
		".workflows/main.yaml": "tasks: {}\n",
		"bin/run.sh*":          "#!/bin/sh\necho hi\n",
		"notes.txt":            "hello\n",
		"link":                 "->notes.txt",
	}
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		same   bool
	}{
		{"identical copy", func(t *testing.T, dir string) {}, true},
		{"content edit", func(t *testing.T, dir string) {
			writeTreeFiles(t, dir, map[string]string{"notes.txt": "hellO\n"})
		}, false},
		{"rename", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "notes.txt"), filepath.Join(dir, "notes2.txt")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"new empty file", func(t *testing.T, dir string) {
			writeTreeFiles(t, dir, map[string]string{"empty": ""})
		}, false},
		{"executable bit", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "notes.txt"), 0o744); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"other mode bits", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "notes.txt"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"mtime only", func(t *testing.T, dir string) {
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "notes.txt"), old, old); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"symlink target", func(t *testing.T, dir string) {
			writeTreeFiles(t, dir, map[string]string{"link": "->bin/run.sh"})
		}, false},
		{"symlink replaced by its target's content", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "link"))
			writeTreeFiles(t, dir, map[string]string{"link": "notes.txt"})
		}, false},
		{".git ignored", func(t *testing.T, dir string) {
			writeTreeFiles(t, dir, map[string]string{".git/HEAD": "ref: x\n", "sub/.git": "gitdir: y\n"})
		}, true},
		{"empty directory ignored", func(t *testing.T, dir string) {
			writeTreeFiles(t, dir, map[string]string{"empty/": ""})
		}, true},
	}
	a := t.TempDir()
	writeTreeFiles(t, a, base)
	want, _ := fetchFolder(t, workspace.NewFolder(a, revisionsTempDir(t)))
	if !hex64.MatchString(want) {
		t.Fatalf("revision %q is not 64 hex digits", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := t.TempDir()
			writeTreeFiles(t, b, base)
			tt.change(t, b)
			got, _ := fetchFolder(t, workspace.NewFolder(b, revisionsTempDir(t)))
			if (got == want) != tt.same {
				t.Errorf("revision equal = %v, want %v", got == want, tt.same)
			}
		})
	}
}

func TestFolderFetchCopiesReadOnlyTree(t *testing.T) {
	src, revs := t.TempDir(), revisionsTempDir(t)
	writeTreeFiles(t, src, map[string]string{
		".workflows/main.yaml":       "tasks: {}\n",
		".workflows/ops/deploy.yaml": "tasks: {}\n",
		"bin/run.sh*":                "#!/bin/sh\n",
		"link":                       "->bin/run.sh",
		"escape":                     "->../../etc/passwd",
		".git/config":                "[core]\n",
		"empty/":                     "",
	})
	f := workspace.NewFolder(src, revs)
	rev, dir := fetchFolder(t, f)
	if dir != filepath.Join(revs, rev) {
		t.Errorf("dir = %q, want %q", dir, filepath.Join(revs, rev))
	}
	want := map[string]string{
		".":                          "dr-xr-xr-x",
		".workflows":                 "dr-xr-xr-x",
		".workflows/main.yaml":       "-r--r--r-- tasks: {}\n",
		".workflows/ops":             "dr-xr-xr-x",
		".workflows/ops/deploy.yaml": "-r--r--r-- tasks: {}\n",
		"bin":                        "dr-xr-xr-x",
		"bin/run.sh":                 "-r-xr-xr-x #!/bin/sh\n",
		"escape":                     "Lrwxrwxrwx -> ../../etc/passwd",
		"link":                       "Lrwxrwxrwx -> bin/run.sh",
	}
	if diff := cmp.Diff(want, listRevisionTree(t, dir)); diff != "" {
		t.Errorf("revision tree (-want +got):\n%s", diff)
	}
	if des, _ := os.ReadDir(revs); len(des) != 1 {
		t.Errorf("revisions dir holds %d entries, want 1 (no temporary trees left)", len(des))
	}

	// Unchanged: the same tree, not copied again.
	before, _ := os.Stat(dir)
	rev2, dir2 := fetchFolder(t, f)
	after, _ := os.Stat(dir2)
	if rev2 != rev || dir2 != dir || !os.SameFile(before, after) {
		t.Errorf("unchanged fetch gave %s %s (same dir %v), want %s", rev2, dir2, os.SameFile(before, after), rev)
	}

	// Changed: a new tree; the old one stays as it was.
	writeTreeFiles(t, src, map[string]string{"bin/run.sh*": "#!/bin/sh\necho changed\n"})
	rev3, dir3 := fetchFolder(t, f)
	if rev3 == rev {
		t.Fatal("edit did not change the revision")
	}
	if got := listRevisionTree(t, dir3)["bin/run.sh"]; got != "-r-xr-xr-x #!/bin/sh\necho changed\n" {
		t.Errorf("new tree has bin/run.sh %q", got)
	}
	if diff := cmp.Diff(want, listRevisionTree(t, dir)); diff != "" {
		t.Errorf("old revision tree changed (-want +got):\n%s", diff)
	}
}

func TestFolderFetchMissingFolder(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ws")
	f := workspace.NewFolder(src, revisionsTempDir(t))
	_, _, err := f.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Fetch of a missing folder: %v, want a 'does not exist' error", err)
	}
	writeTreeFiles(t, src, map[string]string{"a": "1"})
	if rev, _ := fetchFolder(t, f); !hex64.MatchString(rev) {
		t.Errorf("revision %q after the folder appeared", rev)
	}
}

// TestFolderFetchDigestCache shows that a rescan reads only files whose
// size, mtime or mode changed: a content edit that keeps all three is not
// seen by the same Folder, but is by a fresh one.
func TestFolderFetchDigestCache(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{"a.txt": "aaaa", "b.txt": "bbbb"})
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, n := range []string{"a.txt", "b.txt"} {
		if err := os.Chtimes(filepath.Join(src, n), old, old); err != nil {
			t.Fatal(err)
		}
	}
	f := workspace.NewFolder(src, revisionsTempDir(t))
	rev1, _ := fetchFolder(t, f)

	writeTreeFiles(t, src, map[string]string{"a.txt": "AAAA"})
	if err := os.Chtimes(filepath.Join(src, "a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	if rev2, _ := fetchFolder(t, f); rev2 != rev1 {
		t.Errorf("same size, mtime and mode: revision changed, so the file was read again")
	}
	if fresh, _ := fetchFolder(t, workspace.NewFolder(src, revisionsTempDir(t))); fresh == rev1 {
		t.Errorf("a fresh Folder did not see the edit")
	}
}

// TestFolderFetchRecentFileNotCached: a file modified just before a scan
// may be modified again within the same timestamp, so its digest is not
// reused.
func TestFolderFetchRecentFileNotCached(t *testing.T) {
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{"a.txt": "aaaa"})
	fi, err := os.Stat(filepath.Join(src, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := workspace.NewFolder(src, revisionsTempDir(t))
	rev1, _ := fetchFolder(t, f)
	writeTreeFiles(t, src, map[string]string{"a.txt": "AAAA"})
	if err := os.Chtimes(filepath.Join(src, "a.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if rev2, _ := fetchFolder(t, f); rev2 == rev1 {
		t.Errorf("edit within the racy window was missed")
	}
}

func TestFolderFetchRemovesStaleTemporaryTrees(t *testing.T) {
	src, revs := t.TempDir(), revisionsTempDir(t)
	writeTreeFiles(t, src, map[string]string{"a": "1"})
	writeTreeFiles(t, revs, map[string]string{".tmp-123/x": "partial"})
	if err := os.Chmod(filepath.Join(revs, ".tmp-123"), 0o555); err != nil {
		t.Fatal(err)
	}
	rev, _ := fetchFolder(t, workspace.NewFolder(src, revs))
	var names []string
	des, _ := os.ReadDir(revs)
	for _, de := range des {
		names = append(names, de.Name())
	}
	if diff := cmp.Diff([]string{rev}, names); diff != "" {
		t.Errorf("revisions dir (-want +got):\n%s", diff)
	}
}

// makeBenchFolder writes 200 files (20 directories × 10) of ~2 KiB with
// mtimes an hour old, as an unchanged workspace looks.
func makeBenchFolder(b *testing.B) string {
	src := b.TempDir()
	files := map[string]string{}
	body := strings.Repeat("echo line of a script\n", 100)
	for d := range 20 {
		for i := range 10 {
			files[fmt.Sprintf("dir%02d/file%02d.yaml", d, i)] = body
		}
	}
	writeTreeFiles(b, src, files)
	old := time.Now().Add(-time.Hour)
	for p := range files {
		if err := os.Chtimes(filepath.Join(src, p), old, old); err != nil {
			b.Fatal(err)
		}
	}
	return src
}

func BenchmarkFolderFetchUnchanged(b *testing.B) {
	f := workspace.NewFolder(makeBenchFolder(b), revisionsTempDir(b))
	fetchFolder(b, f)
	b.ReportAllocs()
	for b.Loop() {
		fetchFolder(b, f)
	}
}

func BenchmarkFolderRevisionCopy(b *testing.B) {
	src := makeBenchFolder(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		revs := revisionsTempDir(b)
		b.StartTimer()
		fetchFolder(b, workspace.NewFolder(src, revs))
	}
}

// TestFolderFetchRelativePath fetches one tree through every form of a
// relative path, from a real working directory, and gets the revision of
// its absolute path each time (a root of "." once lost the first
// characters of every file name).
func TestFolderFetchRelativePath(t *testing.T) {
	root := t.TempDir()
	ws := filepath.Join(root, "x")
	writeTreeFiles(t, ws, map[string]string{".workflows/a.yaml": "tasks: {}\n", "s/run.sh*": "echo\n"})
	if err := os.MkdirAll(filepath.Join(root, "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	want, _ := fetchFolder(t, workspace.NewFolder(ws, revisionsTempDir(t)))
	tests := []struct{ cwd, path string }{
		{"x", "."}, {"x", "./"}, {"y", "../x"}, {"y", "../x/"}, {".", "x"}, {".", "x/"}, {"x/s", ".."},
	}
	for _, tt := range tests {
		t.Run(tt.cwd+"|"+tt.path, func(t *testing.T) {
			t.Chdir(filepath.Join(root, tt.cwd))
			rev, dir := fetchFolder(t, workspace.NewFolder(tt.path, revisionsTempDir(t)))
			if rev != want {
				t.Errorf("revision %s, want %s", rev, want)
			}
			if _, err := os.Stat(filepath.Join(dir, ".workflows", "a.yaml")); err != nil {
				t.Errorf("revision tree lacks .workflows/a.yaml: %v", err)
			}
		})
	}
}
