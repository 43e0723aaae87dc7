package workspace

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// tarballSuffix ends every tarball name: <TarballsDir>/<ws>/<rev>.tar.gz.
const tarballSuffix = ".tar.gz"

// Tarball returns the path of a gzip tar of the revision tree (rev "" =
// current) and the revision it holds, building it once under
// <TarballsDir>/<ws>/<rev>.tar.gz (concurrent callers share the build).
// Errors: ErrNotFound, *NotLoadedError, *RevisionNotAvailableError, or the
// build's I/O error. The file is replaced atomically and may be pruned
// once its revision is no longer kept.
func (m *Manager) Tarball(ws, rev string) (path, revision string, err error) {
	w := m.byName[ws]
	if w == nil {
		return "", "", ErrNotFound
	}
	src := ""
	if cur := w.view.Load().snap; rev == "" || (cur != nil && cur.Revision == rev) {
		if cur == nil {
			_, err := m.Current(ws)
			return "", "", err
		}
		rev, src = cur.Revision, cur.Dir
	}
	if !validRevision(rev) {
		return "", "", &RevisionNotAvailableError{Name: ws, Revision: rev}
	}
	if src == "" {
		if m.opts.RevisionsDir == "" {
			return "", "", &RevisionNotAvailableError{Name: ws, Revision: rev}
		}
		src = filepath.Join(m.opts.RevisionsDir, ws, rev)
	}
	if m.opts.TarballsDir == "" {
		return "", "", errors.New("no tarballs directory configured")
	}
	path = filepath.Join(m.opts.TarballsDir, ws, rev+tarballSuffix)
	if _, err := os.Stat(path); err == nil {
		return path, rev, nil
	}

	w.mu.Lock()
	c := w.tarballs[rev]
	if c != nil {
		w.mu.Unlock()
		<-c.done
		return c.val, rev, c.err
	}
	if _, err := os.Stat(path); err == nil { // built meanwhile
		w.mu.Unlock()
		return path, rev, nil
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		w.mu.Unlock()
		return "", "", &RevisionNotAvailableError{Name: ws, Revision: rev}
	}
	c = &sharedCall[string]{done: make(chan struct{})}
	w.tarballs[rev] = c
	w.pins[rev]++
	w.mu.Unlock()

	c.err = WriteTarball(src, path)
	if c.err == nil {
		c.val = path
	}
	w.mu.Lock()
	delete(w.tarballs, rev)
	w.unpinLocked(rev)
	w.mu.Unlock()
	close(c.done)
	return c.val, rev, c.err
}

// tarballTime is the mtime of every tarball entry, so a tree always gives
// the same bytes.
var tarballTime = time.Unix(0, 0).UTC()

// WriteTarball writes a gzip tar of the tree at dir to dst (through a
// temporary sibling and a rename): entries "./" and "./<path>" in sorted
// order, .git left out, symlinks as symlinks, directories 0755, files 0644
// or 0755 when executable (the tree itself is read-only, which would keep a
// simple extractor from filling directories), owner 0 and a fixed mtime,
// so the bytes depend only on the tree.
func WriteTarball(dir, dst string) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*"+tarballSuffix)
	if err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := gzip.NewWriter(tmp)
	tw := tar.NewWriter(zw)
	if err := writeTree(tw, dir); err != nil {
		return fmt.Errorf("write tarball of %q: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	return nil
}

// writeTree adds the entries of the tree at root to tw.
func writeTree(tw *tar.Writer, root string) error {
	type item struct {
		name string // "./…"
		path string
		fi   fs.FileInfo
	}
	var items []item
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && skipInRevision(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		name := "./"
		if p != root {
			name += filepath.ToSlash(p[len(root)+1:])
		}
		if d.IsDir() && p != root {
			name += "/"
		}
		items = append(items, item{name: name, path: p, fi: fi})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	for _, it := range items {
		h := &tar.Header{Name: it.name, ModTime: tarballTime, Format: tar.FormatPAX}
		mode := it.fi.Mode()
		switch {
		case mode.IsDir():
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(it.path)
			if err != nil {
				return err
			}
			h.Typeflag, h.Mode, h.Linkname = tar.TypeSymlink, 0o777, target
		case mode.IsRegular():
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, it.fi.Size()
			if mode&0o100 != 0 {
				h.Mode = 0o755
			}
		default:
			continue // sockets, pipes, devices
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if err := copyTarEntry(tw, it.path, h.Size); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTarEntry writes exactly size bytes of the file at p (the tree is
// immutable, so a different size is an error).
func copyTarEntry(w io.Writer, p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s: file changed while archiving", p)
	}
	return err
}
