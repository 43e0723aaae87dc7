package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Folder is a local-folder workspace source (SPEC §6.2). Fetch hashes the
// tree into a revision and copies it once into an immutable revision
// directory; Watch reports changes. Its methods are safe for concurrent use.
type Folder struct {
	path         string
	revisionsDir string

	// mu serialises Fetch: it owns the writes under revisionsDir and the
	// digest cache.
	mu      sync.Mutex
	cleaned bool   // stale temporary trees removed (under mu)
	buf     []byte // copy buffer (under mu)

	// digests maps a slash-separated relative path to its last digest. The
	// map is replaced, never mutated, at the end of each scan (under mu) so
	// Watch can read it without waiting for a running Fetch.
	digests atomic.Pointer[map[string]fileDigest]

	// observe, when set (tests only), sees every watch event and whether it
	// counted as a change.
	observe func(ev fsnotify.Event, changed bool)
}

// fileDigest is one file's content digest, reused while (size, mtime, mode)
// stay the same and the digest is settled.
type fileDigest struct {
	size  int64
	mtime int64 // UnixNano
	mode  fs.FileMode
	sum   [sha256.Size]byte
	// settled is false when the file was modified within racyWindow of the
	// scan: its digest is then not reused.
	settled bool
}

// treeEntry is one file of a scanned tree.
type treeEntry struct {
	rel  string // slash-separated, relative to the root
	kind byte   // kindFile, kindExec or kindLink
	sum  [sha256.Size]byte
}

const (
	kindFile = 'f'
	kindExec = 'x'
	kindLink = 'l'
)

// racyWindow: digests of files modified this recently before a scan are not
// cached, since a second write within the file system's timestamp
// granularity could keep size and mtime unchanged.
const racyWindow = 2 * time.Second

// tmpPrefix starts the names of trees being written in a revisions
// directory; retention and revision listings skip names starting with ".".
const tmpPrefix = ".tmp-"

// NewFolder returns the source for the folder at path whose revision trees
// go to revisionsDir/<rev>/ (for the manager: <RevisionsDir>/<ws>). It does
// no I/O.
func NewFolder(path, revisionsDir string) *Folder {
	return &Folder{path: path, revisionsDir: revisionsDir}
}

// Fetch scans the folder and returns its revision (hex SHA-256 over every
// file's relative path, executable bit and bytes, or a symlink's target
// text; .git excluded) and the read-only copy of that tree under the
// revisions directory, made once. Only files whose size, mtime or mode
// changed since the previous scan are read. A missing folder is an error.
func (f *Folder) Fetch(ctx context.Context) (rev, dir string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	root, err := f.root()
	if err != nil {
		return "", "", err
	}
	entries, err := f.scanLocked(ctx, root)
	if err != nil {
		return "", "", err
	}
	rev = revisionOf(entries)
	dir = filepath.Join(f.revisionsDir, rev)
	if _, err := os.Lstat(dir); err == nil {
		return rev, dir, nil
	}
	if err := os.MkdirAll(f.revisionsDir, 0o755); err != nil {
		return "", "", fmt.Errorf("create revisions directory: %w", err)
	}
	if !f.cleaned {
		removeStale(f.revisionsDir, tmpPrefix)
		f.cleaned = true
	}
	return f.copyLocked(ctx, root, entries)
}

// root resolves the folder path (it may be a symlink) to an absolute path
// and checks that it is a directory. Absolute, because the scan cuts each
// file's relative path from what the walk reports, and a walk of "."
// reports "a/b", not "./a/b".
func (f *Folder) root() (string, error) {
	root, err := filepath.EvalSymlinks(f.path)
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(root); err == nil && !fi.IsDir() {
			return "", fmt.Errorf("folder %q is not a directory", f.path)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("folder %q does not exist", f.path)
	}
	if err != nil {
		return "", fmt.Errorf("open folder %q: %w", f.path, err)
	}
	return root, nil
}

// skipInRevision reports whether a directory entry is left out of revisions.
func skipInRevision(name string) bool { return name == ".git" }

// scanLocked lists and digests every file under root, sorted by path, and
// replaces the digest cache.
func (f *Folder) scanLocked(ctx context.Context, root string) ([]treeEntry, error) {
	start := time.Now()
	var old map[string]fileDigest
	if p := f.digests.Load(); p != nil {
		old = *p
	}
	next := make(map[string]fileDigest, len(old))
	var entries []treeEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while scanning; the watcher reports it
			}
			return err
		}
		if p == root {
			return nil
		}
		if skipInRevision(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return ctx.Err()
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			entries = append(entries, treeEntry{rel: rel, kind: kindLink, sum: sha256.Sum256([]byte(target))})
		case fi.Mode().IsRegular():
			key := fileDigest{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
			c, ok := old[rel]
			if ok && c.settled && c.size == key.size && c.mtime == key.mtime && c.mode == key.mode {
				key.sum = c.sum
			} else {
				sum, err := hashFile(p, f.bufferLocked())
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err != nil {
					return err
				}
				key.sum = sum
			}
			key.settled = fi.ModTime().Before(start.Add(-racyWindow))
			next[rel] = key
			entries = append(entries, treeEntry{rel: rel, kind: fileKind(fi.Mode()), sum: key.sum})
		}
		return nil // sockets, pipes and devices are not part of a revision
	})
	if err != nil {
		return nil, fmt.Errorf("scan folder %q: %w", f.path, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	f.digests.Store(&next)
	return entries, nil
}

// fileKind is kindExec when the owner may execute the file.
func fileKind(m fs.FileMode) byte {
	if m&0o100 != 0 {
		return kindExec
	}
	return kindFile
}

// bufferLocked returns the copy buffer.
func (f *Folder) bufferLocked() []byte {
	if f.buf == nil {
		f.buf = make([]byte, 32<<10)
	}
	return f.buf
}

// onlyReader hides io.WriterTo, so io.CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

func hashFile(p string, buf []byte) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	fh, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, onlyReader{fh}, buf); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// revisionOf hashes the sorted entries: per file its path, a NUL, its kind
// and its content digest.
func revisionOf(entries []treeEntry) string {
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e.rel))
		h.Write([]byte{0, e.kind})
		h.Write(e.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyLocked copies the scanned files into a temporary sibling, makes it
// read-only and renames it to its revision. Digests are taken again from
// the bytes actually copied, so a file edited after the scan yields the
// revision of the tree that was really written.
func (f *Folder) copyLocked(ctx context.Context, root string, entries []treeEntry) (rev, dir string, err error) {
	tmp, err := os.MkdirTemp(f.revisionsDir, tmpPrefix)
	if err != nil {
		return "", "", fmt.Errorf("create revision: %w", err)
	}
	defer func() {
		if err != nil {
			removeReadOnlyTree(tmp)
		}
	}()
	copied := entries[:0:0]
	stale := false
	made := map[string]bool{".": true}
	var dirs []string
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return "", "", err
		}
		src := filepath.Join(root, filepath.FromSlash(e.rel))
		dst := filepath.Join(tmp, filepath.FromSlash(e.rel))
		for d := filepath.Dir(filepath.FromSlash(e.rel)); !made[d]; d = filepath.Dir(d) {
			made[d] = true
			dirs = append(dirs, filepath.Join(tmp, d))
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", "", fmt.Errorf("create revision: %w", err)
		}
		got, ok, err := copyEntry(src, dst, f.bufferLocked())
		if err != nil {
			return "", "", fmt.Errorf("copy %q: %w", e.rel, err)
		}
		got.rel = e.rel
		if !ok || got != e {
			stale = true
		}
		if ok {
			copied = append(copied, got)
		}
	}
	if stale {
		// The folder changed while copying: forget the digests so the
		// next scan reads every file again.
		f.digests.Store(nil)
	}
	for _, d := range append(dirs, tmp) {
		if err := os.Chmod(d, 0o555); err != nil {
			return "", "", fmt.Errorf("create revision: %w", err)
		}
	}
	rev = revisionOf(copied)
	dir = filepath.Join(f.revisionsDir, rev)
	if _, err := os.Lstat(dir); err == nil {
		removeReadOnlyTree(tmp)
		return rev, dir, nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Lstat(dir); serr == nil { // made by someone else meanwhile
			removeReadOnlyTree(tmp)
			return rev, dir, nil
		}
		return "", "", fmt.Errorf("create revision: %w", err)
	}
	return rev, dir, nil
}

// copyEntry copies one file or symlink (symlinks as links, targets kept as
// written) and returns its treeEntry as copied; ok is false when src vanished.
func copyEntry(src, dst string, buf []byte) (e treeEntry, ok bool, err error) {
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return treeEntry{}, false, nil
	}
	if err != nil {
		return treeEntry{}, false, err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if errors.Is(err, fs.ErrNotExist) {
			return treeEntry{}, false, nil
		}
		if err != nil {
			return treeEntry{}, false, err
		}
		if err := os.Symlink(target, dst); err != nil {
			return treeEntry{}, false, err
		}
		return treeEntry{kind: kindLink, sum: sha256.Sum256([]byte(target))}, true, nil
	case fi.Mode().IsRegular():
		in, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			return treeEntry{}, false, nil
		}
		if err != nil {
			return treeEntry{}, false, err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return treeEntry{}, false, err
		}
		h := sha256.New()
		_, err = io.CopyBuffer(io.MultiWriter(out, h), onlyReader{in}, buf)
		kind := fileKind(fi.Mode())
		mode := fs.FileMode(0o444)
		if kind == kindExec {
			mode = 0o555
		}
		if err == nil {
			err = out.Chmod(mode)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return treeEntry{}, false, err
		}
		e := treeEntry{kind: kind}
		h.Sum(e.sum[:0])
		return e, true, nil
	}
	return treeEntry{}, false, nil // became something else: left out
}

// removeReadOnlyTree deletes a (possibly read-only) tree: directories are made
// writable first.
func removeReadOnlyTree(p string) error {
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o755)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// removeStale deletes the entries of dir whose names start with prefix
// (leftovers of an interrupted process).
func removeStale(dir, prefix string) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), prefix) {
			_ = removeReadOnlyTree(filepath.Join(dir, de.Name()))
		}
	}
}

// execChanged reports whether the file at p (absolute, under root) now has
// a different executable bit than at the last scan; unknown files report
// false.
func (f *Folder) execChanged(root, p string) bool {
	m := f.digests.Load()
	if m == nil || !strings.HasPrefix(p, root+string(filepath.Separator)) {
		return false
	}
	c, ok := (*m)[filepath.ToSlash(p[len(root)+1:])]
	if !ok {
		return false
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return fileKind(fi.Mode()) != fileKind(c.mode)
}
