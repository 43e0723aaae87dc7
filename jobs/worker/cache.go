package worker

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Cache keeps extracted revision trees at <dir>/<ws>/<rev>/, written
// read-only (directories 0555, files 0444, executables 0555). A tree is
// extracted into a temporary directory and renamed into place, so a
// <rev> directory is always complete. Per workspace the Keep most
// recently used revisions and every revision in use are kept. Safe for
// concurrent use; one download per revision at a time.
type Cache struct {
	dir  string
	keep int
	log  *slog.Logger

	mu      sync.Mutex
	inUse   map[string]int           // "ws/rev" → holders
	loading map[string]chan struct{} // "ws/rev" → closed when the download ends
}

// NewCache returns a cache in dir keeping keep revisions per workspace; it
// does no I/O.
func NewCache(dir string, keep int, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.Default()
	}
	return &Cache{dir: dir, keep: keep, log: log, inUse: map[string]int{}, loading: map[string]chan struct{}{}}
}

// tmpPrefix starts the names of half-extracted trees.
const tmpPrefix = ".tmp-"

// Open creates the cache directory and removes half-extracted trees left
// by a previous process.
func (c *Cache) Open() error {
	if c.dir == "" {
		return errors.New("workspace cache directory is not set")
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("create workspace cache: %w", err)
	}
	wss, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("read workspace cache: %w", err)
	}
	for _, ws := range wss {
		if !ws.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(c.dir, ws.Name()))
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				removeTree(filepath.Join(c.dir, ws.Name(), e.Name()))
			}
		}
	}
	return nil
}

var (
	wsName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	revName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// Fetch downloads the gzip tarball of a revision.
type Fetch func(ctx context.Context) (io.ReadCloser, error)

// Acquire returns the tree of ws at rev, downloading and extracting it
// with fetch unless it is cached. The tree is kept until release is
// called.
func (c *Cache) Acquire(ctx context.Context, ws, rev string, fetch Fetch) (dir string, release func(), err error) {
	if !wsName.MatchString(ws) {
		return "", nil, fmt.Errorf("invalid workspace name %q", ws)
	}
	if !revName.MatchString(rev) {
		return "", nil, fmt.Errorf("invalid revision %q", rev)
	}
	key := ws + "/" + rev
	dir = filepath.Join(c.dir, ws, rev)
	c.mu.Lock()
	c.inUse[key]++
	for {
		ch := c.loading[key]
		if ch == nil {
			break
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.unuse(key, ws)
			return "", nil, ctx.Err()
		}
		c.mu.Lock()
	}
	if _, err := os.Stat(dir); err == nil {
		c.mu.Unlock()
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // recently used
		return dir, func() { c.unuse(key, ws) }, nil
	}
	ch := make(chan struct{})
	c.loading[key] = ch
	c.mu.Unlock()

	err = c.download(ctx, ws, rev, dir, fetch)
	c.mu.Lock()
	delete(c.loading, key)
	close(ch)
	c.mu.Unlock()
	if err != nil {
		c.unuse(key, ws)
		return "", nil, err
	}
	c.prune(ws)
	return dir, func() { c.unuse(key, ws) }, nil
}

func (c *Cache) unuse(key, ws string) {
	c.mu.Lock()
	c.inUse[key]--
	if c.inUse[key] <= 0 {
		delete(c.inUse, key)
	}
	c.mu.Unlock()
	c.prune(ws)
}

// download extracts the tarball into a temporary directory and renames it
// to dir.
func (c *Cache) download(ctx context.Context, ws, rev, dir string, fetch Fetch) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, tmpPrefix+rev+"-")
	if err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	body, err := fetch(ctx)
	if err != nil {
		removeTree(tmp)
		return err
	}
	err = Extract(body, tmp)
	body.Close()
	if err != nil {
		removeTree(tmp)
		return fmt.Errorf("extract revision %s: %w", rev, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		removeTree(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return nil // put there meanwhile (another process on the same cache)
		}
		return fmt.Errorf("move revision %s into the cache: %w", rev, err)
	}
	c.log.Info("workspace revision cached", "workspace", ws, "revision", rev)
	return nil
}

// prune removes the revisions of ws beyond the keep most recently used
// that are not in use.
func (c *Cache) prune(ws string) {
	parent := filepath.Join(c.dir, ws)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	type rev struct {
		name string
		used time.Time
	}
	var revs []rev
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		revs = append(revs, rev{e.Name(), fi.ModTime()})
	}
	if len(revs) <= c.keep {
		return
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].used.After(revs[j].used) })
	for _, r := range revs[c.keep:] {
		c.mu.Lock()
		busy := c.inUse[ws+"/"+r.name] > 0 || c.loading[ws+"/"+r.name] != nil
		c.mu.Unlock()
		if busy {
			continue
		}
		removeTree(filepath.Join(parent, r.name))
		c.log.Info("workspace revision pruned from the cache", "workspace", ws, "revision", r.name)
	}
}

// removeTree removes a read-only tree (directories are made writable
// first). Best effort.
func removeTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// Extract unpacks a gzip tar stream into dir (which must exist) read-only:
// directories 0555, files 0444, or 0555 when any execute bit is set.
// Entry names are relative ("./a/b" or "a/b"); an absolute name, a ".."
// component, or a path through a symlink that leaves dir is an error.
// Symlinks are kept as they are; hard links and special files are errors.
func Extract(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("read gzip: %w", err)
	}
	defer zr.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if p := path.Dir(name); p != "." {
			if err := root.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			mode := os.FileMode(0o444)
			if h.Mode&0o111 != 0 {
				mode = 0o555
			}
			if err := root.Chmod(name, mode); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		default:
			return fmt.Errorf("entry %q: unsupported type %q", h.Name, h.Typeflag)
		}
	}
	// Directories last, so files could be written into them.
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return nil
	})
}

// entryName validates and cleans a tar entry name.
func entryName(n string) (string, error) {
	if n == "" || strings.HasPrefix(n, "/") || strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("entry %q: absolute or empty path", n)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q: path leaves the tree", n)
		}
	}
	return path.Clean(n), nil
}
