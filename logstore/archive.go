package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CommittedLog is a job's log file cut at the end of its last complete
// line when it was opened: lines appended later are not part of it.
type CommittedLog struct {
	io.Reader
	// Size is the number of bytes the reader yields.
	Size int64
	f    *os.File
}

// Close closes the file.
func (c *CommittedLog) Close() error { return c.f.Close() }

// Export opens the job's log for copying (backups): its complete lines as
// they are now. A job without a file yields nil and no error.
func (s *Store) Export(jobID string) (*CommittedLog, error) {
	if err := checkJobID(jobID); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(jobID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export log: %w", err)
	}
	end, _, err := committedEnd(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("export log %q: %w", f.Name(), err)
	}
	return &CommittedLog{Reader: io.NewSectionReader(f, 0, end), Size: end, f: f}, nil
}

// Import writes a job's log file into dir from r, for restoring a backup
// into a data directory no Store has open. The file appears whole or not at
// all (written to a temporary name, synced, then renamed); an existing file
// is replaced.
func Import(dir, jobID string, r io.Reader) error {
	if err := checkJobID(jobID); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("import log: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".import-*")
	if err != nil {
		return fmt.Errorf("import log: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("import log %s: %w", jobID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("import log %s: %w", jobID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("import log %s: %w", jobID, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("import log %s: %w", jobID, err)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, jobID+".jsonl"))
}
