package workspace

// This file remembers each workspace's last good revision across restarts,
// so a server restarted while its source's head is invalid serves that
// revision (with the error shown) instead of nothing (SPEC §6.3).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LastGoodFile is the name of the file, in <RevisionsDir>/<ws>/ next to
// the revision trees, that holds the revision the workspace last served
// after a successful load: one line, the revision followed by "\n". It is
// replaced atomically (written to LastGoodFile+".new", synced, renamed)
// after every swap to a new revision. Retention skips it: names starting
// with "." are never revision trees.
const LastGoodFile = ".last-good"

// lastGoodPath is where ws's last good revision is recorded ("" when the
// manager keeps no revision trees).
func (m *Manager) lastGoodPath(ws string) string {
	if m.opts.RevisionsDir == "" {
		return ""
	}
	return filepath.Join(m.opts.RevisionsDir, ws, LastGoodFile)
}

// saveLastGood records rev as ws's last good revision, durably: the file
// is synced before it replaces the old one, and the directory after.
func (m *Manager) saveLastGood(ws, rev string) error {
	p := m.lastGoodPath(ws)
	if p == "" {
		return nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record last good revision: %w", err)
	}
	tmp := p + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("record last good revision: %w", err)
	}
	_, err = f.WriteString(rev + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("record last good revision: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// readLastGood returns ws's recorded last good revision ("" when none is
// recorded or the record is not a plain revision name).
func (m *Manager) readLastGood(ws string) (string, error) {
	p := m.lastGoodPath(ws)
	if p == "" {
		return "", nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read last good revision: %w", err)
	}
	rev := strings.TrimSpace(string(b))
	if !validRevision(rev) {
		return "", fmt.Errorf("read last good revision: %s holds no revision", p)
	}
	return rev, nil
}

// restore serves w's last good revision from an earlier run, before the
// first fetch: if its tree is still under RevisionsDir and loads, it is
// swapped in, so the workspace serves even while the source's head is
// rejected or the source cannot be reached. The first load then replaces
// it or records its error next to it.
func (m *Manager) restore(w *wsState) {
	name := w.src.Name
	rev, err := m.readLastGood(name)
	if err != nil {
		m.log.Warn("workspace last good revision unreadable", "workspace", name, "error", err)
		return
	}
	if rev == "" {
		return
	}
	dir := filepath.Join(m.opts.RevisionsDir, name, rev)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		m.log.Warn("workspace last good revision is gone", "workspace", name, "revision", rev)
		return
	}
	start := time.Now()
	snap, err := Load(dir, m.opts.Load)
	if err != nil {
		m.log.Warn("workspace last good revision no longer loads", "workspace", name, "revision", rev, "error", err)
		return
	}
	snap.Name, snap.Revision, snap.LoadedAt = name, rev, time.Now()
	if lerr := m.swap(w, snap); lerr != nil {
		m.log.Warn("workspace last good revision rejected", "workspace", name, "revision", rev, "error", lerr.Error())
		return
	}
	m.log.Info("workspace serving its last good revision until the source loads", "workspace", name,
		"revision", rev, "duration", time.Since(start))
}
