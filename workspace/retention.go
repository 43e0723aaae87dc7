package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// deletePrefix starts the name a pruned tree gets before it is deleted, so
// a half-deleted tree is never visible under its revision.
const deletePrefix = ".del-"

// defaultKeep is how many previous revisions are kept by default.
const defaultKeep = 3

// prune deletes the revision trees of w, and their tarballs, that are not
// kept (SPEC §6.2): the serving revision, the newest Keep previous ones (the
// order of swaps in this process first, then older trees by mtime), every
// revision opts.InUse returns, and those being read (pinned loads, tarball
// builds). It runs after a successful swap, inside w's load, so no fetch of
// w runs meanwhile.
func (m *Manager) prune(w *wsState) error {
	if m.opts.RevisionsDir == "" {
		return nil
	}
	cur := w.view.Load().snap
	if cur == nil {
		return nil
	}
	ws := w.src.Name
	keepN := m.opts.Keep
	if keepN == 0 {
		keepN = defaultKeep
	}
	keep := map[string]bool{cur.Revision: true}
	if m.opts.InUse != nil {
		for _, r := range m.opts.InUse(ws) {
			keep[r] = true
		}
	}
	dir := filepath.Join(m.opts.RevisionsDir, ws)
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("prune revisions: %w", err)
	}
	type tree struct {
		rev   string
		mtime time.Time
	}
	var trees []tree
	var stale []string
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, deletePrefix) {
			stale = append(stale, name)
			continue
		}
		if strings.HasPrefix(name, ".") || !de.IsDir() {
			continue // trees being written, stray files
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		trees = append(trees, tree{rev: name, mtime: fi.ModTime()})
	}

	w.mu.Lock()
	// Order the candidates newest first: this process's swaps, then the
	// rest by mtime.
	rank := map[string]int{}
	for i, r := range w.history {
		rank[r] = i + 1 // the newest swap ranks highest
	}
	sort.SliceStable(trees, func(i, j int) bool {
		a, b := trees[i], trees[j]
		if rank[a.rev] != rank[b.rev] {
			return rank[a.rev] > rank[b.rev]
		}
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.After(b.mtime)
		}
		return a.rev < b.rev
	})
	n := 0
	var doomed []string
	var firstErr error
	for _, t := range trees {
		switch {
		case keep[t.rev] || w.pins[t.rev] > 0:
			keep[t.rev] = true
			continue
		case n < keepN:
			n++
			keep[t.rev] = true
			continue
		}
		gone := fmt.Sprintf("%s%s-%d", deletePrefix, t.rev, time.Now().UnixNano())
		if err := os.Rename(filepath.Join(dir, t.rev), filepath.Join(dir, gone)); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("prune revision %s: %w", t.rev, err)
			}
			keep[t.rev] = true
			continue
		}
		doomed = append(doomed, t.rev)
		stale = append(stale, gone)
	}
	hist := w.history[:0]
	for _, r := range w.history {
		if keep[r] {
			hist = append(hist, r)
		}
	}
	w.history = hist
	w.mu.Unlock()

	for _, name := range stale {
		if err := removeReadOnlyTree(filepath.Join(dir, name)); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("prune revisions: %w", err)
		}
	}
	for _, r := range doomed {
		m.log.Info("revision pruned", "workspace", ws, "revision", r)
	}
	m.cache.retainOnly(ws, keep)
	if err := m.pruneTarballs(w, keep); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// pruneTarballs deletes the tarballs of w whose revision is not kept.
func (m *Manager) pruneTarballs(w *wsState, keep map[string]bool) error {
	if m.opts.TarballsDir == "" {
		return nil
	}
	dir := filepath.Join(m.opts.TarballsDir, w.src.Name)
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("prune tarballs: %w", err)
	}
	var firstErr error
	for _, de := range des {
		rev, ok := strings.CutSuffix(de.Name(), tarballSuffix)
		if !ok || strings.HasPrefix(rev, ".") || keep[rev] {
			continue // builds in progress start with "."
		}
		w.mu.Lock()
		busy := w.pins[rev] > 0
		w.mu.Unlock()
		if busy {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, os.ErrNotExist) && firstErr == nil {
			firstErr = fmt.Errorf("prune tarballs: %w", err)
		}
	}
	return firstErr
}
