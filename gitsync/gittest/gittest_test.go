package gittest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/gitsync/gittest"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// lsTree returns "mode path" lines of rev's tree, recursively.
func lsTree(t *testing.T, u *gittest.Upstream, rev string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(u.Git(t, "ls-tree", "-r", rev), "\n") {
		if line == "" {
			continue
		}
		meta, path, _ := strings.Cut(line, "\t")
		out = append(out, strings.Fields(meta)[0]+" "+path)
	}
	return out
}

func TestCommitModesAndMarkers(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{
		"a.txt":      "A",
		"gone.txt":   "soon deleted",
		"bin/run.sh": gittest.Exec("#!/bin/sh\n"),
		"link":       gittest.Symlink("a.txt"),
	})
	if !hex40.MatchString(first) {
		t.Fatalf("Commit returned %q, want a 40-hex hash", first)
	}
	want := []string{"100644 a.txt", "100755 bin/run.sh", "100644 gone.txt", "120000 link"}
	if diff := cmp.Diff(want, lsTree(t, u, first)); diff != "" {
		t.Errorf("first tree (-want +got):\n%s", diff)
	}
	if got := u.Git(t, "cat-file", "blob", first+":link"); got != "a.txt" {
		t.Errorf("symlink blob = %q, want the target", got)
	}

	second := u.Commit(t, "second", map[string]string{"gone.txt": gittest.Delete, "bin/run.sh": "not executable now"})
	want = []string{"100644 a.txt", "100644 bin/run.sh", "120000 link"}
	if diff := cmp.Diff(want, lsTree(t, u, second)); diff != "" {
		t.Errorf("second tree (-want +got):\n%s", diff)
	}
	if got := u.Head(t, "main"); got != second {
		t.Errorf("Head(main) = %s, want %s", got, second)
	}
	if got := u.Git(t, "rev-parse", second+"^"); got != first {
		t.Errorf("parent of second = %s, want %s", got, first)
	}
}

func TestBranchesTagsAndRewrite(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	base := u.Commit(t, "base", map[string]string{"f": "base"})
	dev := u.CommitOn(t, "dev", "dev", map[string]string{"g": "dev"})
	if got := u.Git(t, "rev-parse", dev+"^"); got != base {
		t.Errorf("new branch does not start from main: parent %s, want %s", got, base)
	}
	if got := u.Head(t, "main"); got != base {
		t.Errorf("CommitOn moved main to %s", got)
	}
	// Back on main, dev's file is not there.
	next := u.Commit(t, "next", map[string]string{"h": "main"})
	if diff := cmp.Diff([]string{"100644 f", "100644 h"}, lsTree(t, u, next)); diff != "" {
		t.Errorf("main tree (-want +got):\n%s", diff)
	}

	u.Tag(t, "v1", base)
	u.AnnotatedTag(t, "v2", "dev", "release 2")
	if got := u.Head(t, "v1"); got != base {
		t.Errorf("Head(v1) = %s, want %s", got, base)
	}
	if got := u.Head(t, "v2"); got != dev {
		t.Errorf("Head(v2) = %s, want the peeled commit %s", got, dev)
	}
	u.Tag(t, "v1", "main")
	if got := u.Head(t, "v1"); got != next {
		t.Errorf("moved Head(v1) = %s, want %s", got, next)
	}

	root := u.ForcePush(t, map[string]string{"only": "this"})
	if got := u.Head(t, "main"); got != root {
		t.Errorf("Head(main) after ForcePush = %s, want %s", got, root)
	}
	if parents := u.Git(t, "rev-list", "--parents", "-n1", root); parents != root {
		t.Errorf("ForcePush made a commit with parents: %q", parents)
	}
	if diff := cmp.Diff([]string{"100644 only"}, lsTree(t, u, root)); diff != "" {
		t.Errorf("rewritten tree (-want +got):\n%s", diff)
	}
	after := u.Commit(t, "after rewrite", map[string]string{"more": "x"})
	if got := u.Git(t, "rev-parse", after+"^"); got != root {
		t.Errorf("commit after ForcePush has parent %s, want %s", got, root)
	}
	u.DeleteRef(t, "refs/heads/dev")
	if refs := u.Git(t, "for-each-ref", "--format=%(refname)", "refs/heads"); refs != "refs/heads/main" {
		t.Errorf("branches after DeleteRef = %q", refs)
	}
}

func TestHashesAreReproducible(t *testing.T) {
	t.Parallel()
	files := map[string]string{"a": "A", "b/c": gittest.Exec("C")}
	a, b := gittest.New(t), gittest.New(t)
	if ha, hb := a.Commit(t, "same", files), b.Commit(t, "same", files); ha != hb {
		t.Errorf("same commits in two upstreams: %s != %s", ha, hb)
	}
}

func TestURLAndPath(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	if !strings.HasPrefix(u.URL(), "file:///") || !strings.HasSuffix(u.URL(), filepath.ToSlash(u.Path())) {
		t.Errorf("URL %q does not name Path %q", u.URL(), u.Path())
	}
	if _, err := os.Stat(filepath.Join(u.Path(), "HEAD")); err != nil {
		t.Errorf("Path is not a bare repository: %v", err)
	}
	if got := u.Git(t, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("is-bare-repository = %q", got)
	}
}

func TestTempDirRemovesReadOnlyTrees(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = gittest.TempDir(t)
		sub := filepath.Join(dir, "rev", "sub")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "f"), []byte("x"), 0o444); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{sub, filepath.Dir(sub)} {
			if err := os.Chmod(d, 0o555); err != nil {
				t.Fatal(err)
			}
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s still exists after the test (stat: %v)", dir, err)
	}
}
