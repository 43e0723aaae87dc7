package jobs

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"runnel/logstore"
)

// A backup archive is a gzip'd tar holding, in order: backupManifest
// (manifest.json), the database as of one read transaction (runnel.db), and
// logs/<job_id>.jsonl for every job in that database, each cut at its last
// complete line. Restore accepts exactly these names.
const (
	backupManifest = "manifest.json"
	backupDB       = "runnel.db"
	backupLogs     = "logs/"
	backupFormat   = 1
)

// manifest describes a backup archive.
type manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Store     int       `json:"store_version"`
}

// BackupStats says what a backup or restore copied.
type BackupStats struct {
	// DBBytes is the size of the database snapshot.
	DBBytes int64
	// Jobs counts the jobs in the snapshot; Logs the log files copied and
	// LogBytes their bytes.
	Jobs, Logs int
	LogBytes   int64
}

// Backup writes a consistent snapshot of the store and the logs of the jobs
// it holds to w as a gzip'd tar, while the server runs: the database comes
// from one read transaction (writers go on), then each job's log is copied
// up to its last complete line. Jobs created after the snapshot are not in
// it; lines a running job writes later may or may not be.
func (s *Store) Backup(w io.Writer, logs *logstore.Store) (BackupStats, error) {
	var st BackupStats
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	now := time.Now().UTC()
	m, err := json.Marshal(manifest{Format: backupFormat, CreatedAt: now, Store: StoreVersion})
	if err != nil {
		return st, err
	}
	if err := writeTarFile(tw, backupManifest, int64(len(m)), now, strings.NewReader(string(m))); err != nil {
		return st, err
	}
	var ids []string
	err = s.db.View(func(tx *bolt.Tx) error {
		st.DBBytes = tx.Size()
		if err := tw.WriteHeader(&tar.Header{Name: backupDB, Mode: 0o600, Size: st.DBBytes, ModTime: now}); err != nil {
			return err
		}
		if _, err := tx.WriteTo(tw); err != nil {
			return err
		}
		return tx.Bucket(bucketJobs).ForEach(func(k, _ []byte) error {
			ids = append(ids, keyString(k))
			return nil
		})
	})
	if err != nil {
		return st, fmt.Errorf("back up database: %w", err)
	}
	st.Jobs = len(ids)
	for _, id := range ids {
		n, err := backupLog(tw, logs, id, now)
		if err != nil {
			return st, err
		}
		if n >= 0 {
			st.Logs++
			st.LogBytes += n
		}
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("back up: %w", err)
	}
	if err := zw.Close(); err != nil {
		return st, fmt.Errorf("back up: %w", err)
	}
	return st, nil
}

// backupLog copies one job's log into the archive; -1 when it has none.
func backupLog(tw *tar.Writer, logs *logstore.Store, id string, now time.Time) (int64, error) {
	l, err := logs.Export(id)
	if err != nil || l == nil {
		return -1, err
	}
	defer l.Close()
	if err := writeTarFile(tw, backupLogs+id+".jsonl", l.Size, now, l); err != nil {
		return -1, err
	}
	return l.Size, nil
}

func writeTarFile(tw *tar.Writer, name string, size int64, mod time.Time, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: mod}); err != nil {
		return fmt.Errorf("back up %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("back up %s: %w", name, err)
	}
	return nil
}

// ErrDataDirInUse is returned by Restore when the target already has a
// database: restoring never overwrites one.
var ErrDataDirInUse = errors.New("target already has a runnel database")

// Restore unpacks a backup archive made by Backup into a data directory no
// server is using: the database to dbPath and the logs into logDir. It
// refuses a dbPath that exists (ErrDataDirInUse), checks that the database
// opens with a known store version before moving it into place, and
// accepts only the archive's own entry names.
func Restore(r io.Reader, dbPath, logDir string) (BackupStats, error) {
	var st BackupStats
	if _, err := os.Stat(dbPath); err == nil {
		return st, fmt.Errorf("restore to %s: %w", dbPath, ErrDataDirInUse)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("restore: %w", err)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return st, fmt.Errorf("restore: not a runnel backup (gzip): %w", err)
	}
	tr := tar.NewReader(zr)
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return st, fmt.Errorf("restore: %w", err)
	}
	tmpDB := dbPath + ".restore"
	defer os.Remove(tmpDB)
	sawManifest, sawDB := false, false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("restore: read archive: %w", err)
		}
		switch name := path.Clean(h.Name); {
		case name == backupManifest:
			var m manifest
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
				return st, fmt.Errorf("restore: manifest: %w", err)
			}
			if m.Format != backupFormat {
				return st, fmt.Errorf("restore: backup format %d is not supported (want %d)", m.Format, backupFormat)
			}
			sawManifest = true
		case name == backupDB:
			n, err := writeFileSynced(tmpDB, tr)
			if err != nil {
				return st, fmt.Errorf("restore database: %w", err)
			}
			st.DBBytes, sawDB = n, true
		case strings.HasPrefix(name, backupLogs) && strings.HasSuffix(name, ".jsonl"):
			id := strings.TrimSuffix(strings.TrimPrefix(name, backupLogs), ".jsonl")
			if _, err := uuid.Parse(id); err != nil || strings.Contains(id, "/") {
				return st, fmt.Errorf("restore: unexpected entry %q", h.Name)
			}
			if err := logstore.Import(logDir, id, tr); err != nil {
				return st, fmt.Errorf("restore: %w", err)
			}
			st.Logs++
			st.LogBytes += h.Size
		default:
			return st, fmt.Errorf("restore: unexpected entry %q", h.Name)
		}
	}
	if !sawManifest || !sawDB {
		return st, errors.New("restore: not a runnel backup (manifest.json or runnel.db missing)")
	}
	// The database must open and be of a version this runnel knows.
	check := NewStore(tmpDB, time.Second)
	if err := check.Open(); err != nil {
		return st, fmt.Errorf("restore: the backed-up database does not open: %w", err)
	}
	err = check.view(func(t *txn) error {
		st.Jobs = t.Bucket(bucketJobs).Stats().KeyN
		return nil
	})
	if cerr := check.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmpDB, dbPath); err != nil {
		return st, fmt.Errorf("restore: %w", err)
	}
	return st, nil
}

// writeFileSynced writes r to a new file at p (0600) and syncs it.
func writeFileSynced(p string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// CompactStats gives a compaction's file sizes in bytes.
type CompactStats struct {
	Before, After int64
}

// Compact rewrites the database file at path without its free pages (bbolt
// never shrinks a file by itself), with no server using it: ErrLocked when
// one is. The copy is written beside the file, synced, then renamed over it,
// so a crash leaves either the old file or the new one.
func Compact(dbPath string) (CompactStats, error) {
	var st CompactStats
	fi, err := os.Stat(dbPath)
	if err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	st.Before = fi.Size()
	src := NewStore(dbPath, time.Second)
	if err := src.Open(); err != nil {
		return st, err
	}
	defer src.Close()
	tmp := dbPath + ".compact"
	os.Remove(tmp)
	defer os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	// One sync at the end instead of one per copy transaction: until the
	// rename the copy is disposable.
	dst.NoSync = true
	if err := bolt.Compact(dst, src.db, 64<<20); err != nil {
		dst.Close()
		return st, fmt.Errorf("compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return st, fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	if fi, err := os.Stat(tmp); err == nil {
		st.After = fi.Size()
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	return st, nil
}
