package workspace_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// readTarball lists a gzip tar as "name type mode [-> link | content]
// mtime" lines in archive order.
func readTarball(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%s %c %o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink:
			line += " -> " + h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			line += fmt.Sprintf(" %q", b)
		}
		out = append(out, line+" "+h.ModTime.UTC().Format(time.RFC3339))
	}
	return out
}

// tarballEnv is an unstarted manager with one revision tree of workspace w.
func tarballEnv(t *testing.T) (*testEnv, *workspace.Manager, string) {
	t.Helper()
	e := newEnv(t)
	src := t.TempDir()
	writeTreeFiles(t, src, map[string]string{
		".workflows/main.yaml": "tasks: {}\n",
		"bin/run.sh*":          "#!/bin/sh\necho hi\n",
		"notes.txt":            "hello\n",
		"link":                 "->bin/run.sh",
		"a/b/c/deep.txt":       "deep\n",
	})
	rev, dir := fetchFolder(t, workspace.NewFolder(src, filepath.Join(e.revsDir, "w")))
	// A .git inside a revision tree (an export that kept one) stays out.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTreeFiles(t, dir, map[string]string{".git/HEAD": "ref: refs/heads/main\n"})
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	e.sources = []workspace.Source{{Name: "w", Kind: workspace.KindGit}}
	return e, workspace.NewManager(e.opts, e.sources), rev
}

func TestTarballContent(t *testing.T) {
	e, m, rev := tarballEnv(t)
	path, got, err := m.Tarball("w", rev)
	if err != nil || got != rev || path != filepath.Join(e.tarsDir, "w", rev+".tar.gz") {
		t.Fatalf("Tarball = %q, %q, %v", path, got, err)
	}
	const epoch = "1970-01-01T00:00:00Z"
	want := []string{
		"./ 5 755 " + epoch,
		"./.workflows/ 5 755 " + epoch,
		`./.workflows/main.yaml 0 644 "tasks: {}\n" ` + epoch,
		"./a/ 5 755 " + epoch,
		"./a/b/ 5 755 " + epoch,
		"./a/b/c/ 5 755 " + epoch,
		`./a/b/c/deep.txt 0 644 "deep\n" ` + epoch,
		"./bin/ 5 755 " + epoch,
		`./bin/run.sh 0 755 "#!/bin/sh\necho hi\n" ` + epoch,
		"./link 2 777 -> bin/run.sh " + epoch,
		`./notes.txt 0 644 "hello\n" ` + epoch,
	}
	if diff := cmp.Diff(want, readTarball(t, path)); diff != "" {
		t.Errorf("tarball (-want +got):\n%s", diff)
	}

	// Built once: a second call returns the same file.
	before, _ := os.Stat(path)
	if p2, _, err := m.Tarball("w", rev); err != nil || p2 != path {
		t.Fatalf("second Tarball = %q, %v", p2, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("second Tarball rebuilt the file")
	}

	// Deterministic: the same tree with other mtimes gives the same bytes.
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.revsDir, "w", rev)
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{"notes.txt", "bin/run.sh", "bin", "."} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	again := filepath.Join(t.TempDir(), "again.tar.gz")
	if err := workspace.WriteTarball(dir, again); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("tarballs of the same tree differ")
	}
}

func TestTarballConcurrentBuild(t *testing.T) {
	e, m, rev := tarballEnv(t)
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], _, errs[i] = m.Tarball("w", rev)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("caller %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if diff := cmp.Diff([]string{rev + ".tar.gz"}, listNames(t, filepath.Join(e.tarsDir, "w"))); diff != "" {
		t.Errorf("tarballs dir (-want +got):\n%s", diff)
	}
	if len(readTarball(t, paths[0])) != 11 {
		t.Errorf("tarball has %d entries, want 11", len(readTarball(t, paths[0])))
	}
}

func TestTarballErrors(t *testing.T) {
	_, m, _ := tarballEnv(t)
	var nle *workspace.NotLoadedError
	var rna *workspace.RevisionNotAvailableError
	tests := []struct {
		ws, rev string
		is      func(error) bool
	}{
		{"nope", "", func(err error) bool { return errors.Is(err, workspace.ErrNotFound) }},
		{"w", "", func(err error) bool { return errors.As(err, &nle) }},
		{"w", "0123", func(err error) bool { return errors.As(err, &rna) }},
		{"w", "../w", func(err error) bool { return errors.As(err, &rna) }},
		{"w", ".", func(err error) bool { return errors.As(err, &rna) }},
	}
	for _, tt := range tests {
		if _, _, err := m.Tarball(tt.ws, tt.rev); !tt.is(err) {
			t.Errorf("Tarball(%q, %q): %v", tt.ws, tt.rev, err)
		}
	}
}
