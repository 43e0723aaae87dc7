package worker_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs/worker"
)

// entry is one tar entry to write.
type entry struct {
	name string
	typ  byte
	mode int64
	body string
	link string
}

func tarball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tree lists a directory as "path mode [-> target]" lines.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := rel + " " + fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// tempDir is t.TempDir made writable again before its removal (trees
// extracted read-only would defeat the cleanup of unprivileged users).
func tempDir(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if d != nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return dir
}

func TestExtract(t *testing.T) {
	data := tarball(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./.workflows/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./.workflows/main.yaml", typ: tar.TypeReg, mode: 0o644, body: "tasks: {}\n"},
		entry{name: "./bin/run.sh", typ: tar.TypeReg, mode: 0o744, body: "#!/bin/sh\necho hi\n"},
		entry{name: "./bin/run", typ: tar.TypeSymlink, link: "run.sh"},
		entry{name: "./etc-link", typ: tar.TypeSymlink, link: "/etc"},
		entry{name: "plain.txt", typ: tar.TypeReg, mode: 0o600, body: "x"},
	)
	dir := filepath.Join(tempDir(t), "x")
	os.Mkdir(dir, 0o755)
	if err := worker.Extract(bytes.NewReader(data), dir); err != nil {
		t.Fatal(err)
	}
	want := []string{
		". dr-xr-xr-x",
		".workflows dr-xr-xr-x",
		".workflows/main.yaml -r--r--r--",
		"bin dr-xr-xr-x",
		"bin/run Lrwxrwxrwx -> run.sh",
		"bin/run.sh -r-xr-xr-x",
		"etc-link Lrwxrwxrwx -> /etc",
		"plain.txt -r--r--r--",
	}
	if diff := cmp.Diff(want, tree(t, dir)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bin", "run")); string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("through the symlink: %q", b)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	cases := []struct {
		name    string
		entries []entry
	}{
		{"absolute", []entry{{name: "/etc/passwd", typ: tar.TypeReg, body: "x"}}},
		{"dotdot", []entry{{name: "../evil", typ: tar.TypeReg, body: "x"}}},
		{"inner dotdot", []entry{{name: "./a/../../evil", typ: tar.TypeReg, body: "x"}}},
		{"through symlink", []entry{
			{name: "out", typ: tar.TypeSymlink, link: "../outside"},
			{name: "out/evil", typ: tar.TypeReg, body: "x"},
		}},
		{"through absolute symlink", []entry{
			{name: "out", typ: tar.TypeSymlink, link: "/tmp"},
			{name: "out/evil", typ: tar.TypeReg, body: "x"},
		}},
		{"hard link", []entry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}},
		{"device", []entry{{name: "d", typ: tar.TypeChar}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := tempDir(t)
			dir := filepath.Join(base, "tree")
			os.Mkdir(dir, 0o755)
			os.Mkdir(filepath.Join(base, "outside"), 0o755)
			err := worker.Extract(bytes.NewReader(tarball(t, c.entries...)), dir)
			if err == nil {
				t.Fatalf("extracted %v", c.entries)
			}
			for _, p := range []string{filepath.Join(base, "evil"), filepath.Join(base, "outside", "evil"), "/tmp/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
	if err := worker.Extract(strings.NewReader("not gzip"), tempDir(t)); err == nil {
		t.Error("garbage extracted")
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fetcher serves tarballs and counts downloads.
type fetcher struct {
	t     *testing.T
	count atomic.Int32
	body  []byte
	err   error
	gate  chan struct{} // if set, downloads wait for it
}

func (f *fetcher) fetch(ctx context.Context) (io.ReadCloser, error) {
	f.count.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if f.err != nil {
		return nil, f.err
	}
	return io.NopCloser(bytes.NewReader(f.body)), nil
}

func TestCacheDownloadsOncePerRevision(t *testing.T) {
	dir := tempDir(t)
	c := worker.NewCache(dir, 3, quiet())
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	f := &fetcher{t: t, body: tarball(t, entry{name: "./a.txt", typ: tar.TypeReg, mode: 0o644, body: "A"}), gate: make(chan struct{})}
	const n = 5
	var wg sync.WaitGroup
	dirs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, release, err := c.Acquire(t.Context(), "ws", "rev1", f.fetch)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			dirs[i] = d
		}()
	}
	close(f.gate)
	wg.Wait()
	if f.count.Load() != 1 {
		t.Errorf("%d downloads for one revision", f.count.Load())
	}
	for _, d := range dirs {
		if d != filepath.Join(dir, "ws", "rev1") {
			t.Errorf("dir %q", d)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ws", "rev1", "a.txt")); err != nil || string(b) != "A" {
		t.Errorf("cached file: %q %v", b, err)
	}
	// A new process reuses the cache.
	c2 := worker.NewCache(dir, 3, quiet())
	c2.Open()
	_, release, err := c2.Acquire(t.Context(), "ws", "rev1", f.fetch)
	if err != nil || f.count.Load() != 1 {
		t.Errorf("reuse: %v, %d downloads", err, f.count.Load())
	}
	release()
}

func TestCachePrunesKeepingInUse(t *testing.T) {
	dir := tempDir(t)
	c := worker.NewCache(dir, 2, quiet())
	c.Open()
	f := &fetcher{t: t, body: tarball(t, entry{name: "./x", typ: tar.TypeReg, mode: 0o644, body: "x"})}
	// rev0 stays in use throughout; the others are released at once.
	_, hold, err := c.Acquire(t.Context(), "ws", "rev0", f.fetch)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "ws", "rev0"), old, old) // the least recently used
	for i, rev := range []string{"rev1", "rev2", "rev3"} {
		_, release, err := c.Acquire(t.Context(), "ws", rev, f.fetch)
		if err != nil {
			t.Fatal(err)
		}
		release()
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(filepath.Join(dir, "ws", rev), at, at)
	}
	// Another workspace is pruned on its own.
	_, release, _ := c.Acquire(t.Context(), "other", "r", f.fetch)
	release()
	list := func() []string {
		var names []string
		for _, ws := range []string{"ws", "other"} {
			es, _ := os.ReadDir(filepath.Join(dir, ws))
			for _, e := range es {
				names = append(names, ws+"/"+e.Name())
			}
		}
		return names
	}
	// rev1 was the oldest released one when rev3 came: pruned. rev0 is in use.
	if diff := cmp.Diff([]string{"ws/rev0", "ws/rev2", "ws/rev3", "other/r"}, list()); diff != "" {
		t.Errorf("after pruning (-want +got):\n%s", diff)
	}
	hold()
	if diff := cmp.Diff([]string{"ws/rev2", "ws/rev3", "other/r"}, list()); diff != "" {
		t.Errorf("after releasing rev0 (-want +got):\n%s", diff)
	}
}

func TestCacheFailures(t *testing.T) {
	dir := tempDir(t)
	c := worker.NewCache(dir, 3, quiet())
	c.Open()
	boom := errors.New("connection refused")
	if _, _, err := c.Acquire(t.Context(), "ws", "rev", (&fetcher{t: t, err: boom}).fetch); !errors.Is(err, boom) {
		t.Errorf("fetch error: %v", err)
	}
	bad := &fetcher{t: t, body: tarball(t, entry{name: "../x", typ: tar.TypeReg, body: "x"})}
	if _, _, err := c.Acquire(t.Context(), "ws", "rev", bad.fetch); err == nil || !strings.Contains(err.Error(), "leaves the tree") {
		t.Errorf("unsafe tarball: %v", err)
	}
	for _, name := range [][2]string{{"../ws", "rev"}, {"ws", "../rev"}, {"ws", ""}, {"", "rev"}} {
		if _, _, err := c.Acquire(t.Context(), name[0], name[1], bad.fetch); err == nil {
			t.Errorf("Acquire(%q, %q) accepted", name[0], name[1])
		}
	}
	// Nothing half-extracted is left, and a failed revision is retried.
	es, _ := os.ReadDir(filepath.Join(dir, "ws"))
	if len(es) != 0 {
		t.Errorf("left behind: %v", es)
	}
	good := &fetcher{t: t, body: tarball(t, entry{name: "./ok", typ: tar.TypeReg, body: "ok"})}
	if _, release, err := c.Acquire(t.Context(), "ws", "rev", good.fetch); err != nil {
		t.Errorf("retry: %v", err)
	} else {
		release()
	}
	// A temporary directory of a crashed process is removed by Open.
	stale := filepath.Join(dir, "ws", ".tmp-rev9-123")
	os.MkdirAll(filepath.Join(stale, "sub"), 0o755)
	os.Chmod(filepath.Join(stale, "sub"), 0o555)
	if err := worker.NewCache(dir, 3, quiet()).Open(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp dir kept: %v", err)
	}
}
