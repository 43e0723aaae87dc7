package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Commit describes the git commit of a revision.
type Commit struct {
	Hash    string
	Message string
	Author  string // "Name <email>"
	Time    time.Time
}

// FileChange is one file that differs between two revisions. Old and New
// hold the contents (nil for the missing side) unless Omitted.
type FileChange struct {
	Path   string // slash-separated, relative to the workspace root
	Status string // "added", "modified" or "deleted"
	Old    []byte
	New    []byte
	// Omitted is set for a file larger than MaxDiffFileSize or not a
	// regular file: its contents are left out.
	Omitted bool
}

// Bounds of a revision comparison.
const (
	// MaxChangedFiles is the most changed files a comparison reports
	// (more is an error).
	MaxChangedFiles = 500
	// MaxDiffFileSize is the largest file whose contents are compared
	// line by line.
	MaxDiffFileSize = 256 << 10
	// maxTreeFiles bounds the files walked in one revision tree.
	maxTreeFiles = 20000
)

// ErrTooManyChanges is returned when two revisions differ in more than
// MaxChangedFiles files.
var ErrTooManyChanges = errors.New("too many changed files")

// describe asks the source for rev's commit (nil without Describe or on
// error, which is logged).
func (m *Manager) describe(ctx context.Context, w *wsState, rev string) *Commit {
	if w.src.Describe == nil {
		return nil
	}
	c, err := w.src.Describe(ctx, rev)
	if err != nil {
		m.log.Warn("describe revision", "workspace", w.src.Name, "revision", rev, "error", err)
		return nil
	}
	return &c
}

// Commit describes revision rev of workspace ws: nil for folder
// workspaces or an unknown commit; ErrNotFound for an unknown workspace.
func (m *Manager) Commit(ctx context.Context, ws, rev string) (*Commit, error) {
	w := m.byName[ws]
	if w == nil {
		return nil, ErrNotFound
	}
	if s := w.view.Load().snap; s != nil && s.Revision == rev && s.Commit != nil {
		return s.Commit, nil
	}
	if s := m.cache.get(ws, rev); s != nil && s.Commit != nil {
		return s.Commit, nil
	}
	return m.describe(ctx, w, rev), nil
}

// Changes lists the files that differ between revisions from and to of
// workspace ws, sorted by path: from the source's history when it has one
// (git), else (or when that fails) by comparing the retained revision
// trees. Errors: ErrNotFound, *RevisionNotAvailableError when neither
// can answer, ErrTooManyChanges.
func (m *Manager) Changes(ctx context.Context, ws, from, to string) ([]FileChange, error) {
	w := m.byName[ws]
	if w == nil {
		return nil, ErrNotFound
	}
	if from == to {
		return []FileChange{}, nil
	}
	if w.src.Changes != nil {
		cs, err := w.src.Changes(ctx, from, to)
		if err == nil {
			sort.Slice(cs, func(a, b int) bool { return cs[a].Path < cs[b].Path })
			return cs, nil
		}
		if errors.Is(err, ErrTooManyChanges) {
			return nil, err
		}
		m.log.Debug("compare revisions in git", "workspace", ws, "error", err)
	}
	dirs := make([]string, 2)
	for i, rev := range []string{from, to} {
		dirs[i] = filepath.Join(m.opts.RevisionsDir, ws, rev)
		if fi, err := os.Stat(dirs[i]); !validRevision(rev) || m.opts.RevisionsDir == "" || err != nil || !fi.IsDir() {
			return nil, &RevisionNotAvailableError{Name: ws, Revision: rev}
		}
	}
	// Keep both trees from being pruned while they are read.
	w.mu.Lock()
	w.pins[from]++
	w.pins[to]++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.unpinLocked(from)
		w.unpinLocked(to)
		w.mu.Unlock()
	}()
	return compareTrees(ctx, dirs[0], dirs[1])
}

// treeFile is one entry of a revision tree.
type treeFile struct {
	size    int64
	regular bool
}

// listTree returns the files (not directories) under dir by slash path.
func listTree(dir string) (map[string]treeFile, error) {
	out := map[string]treeFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if len(out) >= maxTreeFiles {
			return fmt.Errorf("more than %d files", maxTreeFiles)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = treeFile{size: fi.Size(), regular: fi.Mode().IsRegular()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

// compareTrees compares two revision trees file by file.
func compareTrees(ctx context.Context, from, to string) ([]FileChange, error) {
	a, err := listTree(from)
	if err != nil {
		return nil, err
	}
	b, err := listTree(to)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(b))
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	out := []FileChange{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fa, inA := a[p]
		fb, inB := b[p]
		fc := FileChange{Path: p, Status: "modified"}
		switch {
		case !inA:
			fc.Status = "added"
		case !inB:
			fc.Status = "deleted"
		default:
			same, err := sameFile(filepath.Join(from, p), filepath.Join(to, p), fa, fb)
			if err != nil {
				return nil, err
			}
			if same {
				continue
			}
		}
		if len(out) >= MaxChangedFiles {
			return nil, ErrTooManyChanges
		}
		if (inA && (!fa.regular || fa.size > MaxDiffFileSize)) || (inB && (!fb.regular || fb.size > MaxDiffFileSize)) {
			fc.Omitted = true
		} else {
			if inA {
				if fc.Old, err = os.ReadFile(filepath.Join(from, p)); err != nil {
					return nil, err
				}
			}
			if inB {
				if fc.New, err = os.ReadFile(filepath.Join(to, p)); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, fc)
	}
	return out, nil
}

// sameFile compares two files in bounded memory (symlinks by target).
func sameFile(pa, pb string, fa, fb treeFile) (bool, error) {
	if fa.regular != fb.regular {
		return false, nil
	}
	if !fa.regular {
		ta, errA := os.Readlink(pa)
		tb, errB := os.Readlink(pb)
		return errA == nil && errB == nil && ta == tb, nil
	}
	if fa.size != fb.size {
		return false, nil
	}
	ra, err := os.Open(pa)
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rb, err := os.Open(pb)
	if err != nil {
		return false, err
	}
	defer rb.Close()
	bufA, bufB := make([]byte, 32<<10), make([]byte, 32<<10)
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}
