package gitsync

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Modes of exported revision trees (SPEC §6.2: revisions are read-only).
const (
	fileMode = 0o444
	execMode = 0o555
	dirMode  = 0o555
)

// damagedError is a failure to read an object the clone should hold; Fetch
// answers it with a re-clone.
type damagedError struct{ err error }

func (e *damagedError) Error() string { return e.err.Error() }
func (e *damagedError) Unwrap() error { return e.err }

// exportLocked is Export with the mutex held.
func (r *Repo) exportLocked(rev, dir string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("export %s: %w", rev, err)
		}
	}()
	if len(rev) != 40 || strings.Trim(rev, "0123456789abcdef") != "" {
		return errors.New("revision is not a 40-hex commit hash")
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if r.opts.Dir == "" {
		return errors.New("no clone directory configured")
	}
	repo, err := r.openLocked()
	if err != nil {
		return fmt.Errorf("open clone %s: %w", r.opts.Dir, err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		return &damagedError{fmt.Errorf("read commit: %w", err)}
	}
	tree, err := commit.Tree()
	if err != nil {
		return &damagedError{fmt.Errorf("read tree: %w", err)}
	}

	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = removeAll(tmp)
		}
	}()
	if err := writeTree(repo, tree, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, dirMode); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Lstat(dir); serr == nil {
			// Another writer (another process sharing the revisions
			// directory) finished first; its tree is the same.
			_ = removeAll(tmp)
			return nil
		}
		return err
	}
	return nil
}

// writeTree writes the entries of tree into the existing directory dst,
// children first, then makes each subdirectory read-only. Entry names that
// could escape dst are refused; .git entries are skipped.
func writeTree(repo *git.Repository, tree *object.Tree, dst string) error {
	for _, e := range tree.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			return fmt.Errorf("tree %s: unsafe entry name %q", tree.Hash, e.Name)
		}
		if strings.EqualFold(e.Name, ".git") {
			continue
		}
		p := filepath.Join(dst, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := repo.TreeObject(e.Hash)
			if err != nil {
				return &damagedError{fmt.Errorf("read tree %s: %w", e.Hash, err)}
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			if err := writeTree(repo, sub, p); err != nil {
				return err
			}
			if err := os.Chmod(p, dirMode); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated:
			if err := writeBlob(repo, e.Hash, p, fileMode); err != nil {
				return err
			}
		case filemode.Executable:
			if err := writeBlob(repo, e.Hash, p, execMode); err != nil {
				return err
			}
		case filemode.Symlink:
			target, err := readBlob(repo, e.Hash)
			if err != nil {
				return err
			}
			if err := os.Symlink(string(target), p); err != nil {
				return err
			}
		case filemode.Submodule:
			// Not fetched; an empty directory marks it, as git archive does.
			if err := os.Mkdir(p, dirMode); err != nil {
				return err
			}
			if err := os.Chmod(p, dirMode); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tree %s: entry %q has unsupported mode %s", tree.Hash, e.Name, e.Mode)
		}
	}
	return nil
}

// writeBlob creates p (which must not exist) with the blob's bytes and
// exactly mode, whatever the umask.
func writeBlob(repo *git.Repository, h plumbing.Hash, p string, mode os.FileMode) (err error) {
	blob, err := repo.BlobObject(h)
	if err != nil {
		return &damagedError{fmt.Errorf("read blob %s: %w", h, err)}
	}
	src, err := blob.Reader()
	if err != nil {
		return &damagedError{fmt.Errorf("read blob %s: %w", h, err)}
	}
	defer src.Close()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, src); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return f.Chmod(mode)
}

// readBlob returns a small blob's content (a symlink target).
func readBlob(repo *git.Repository, h plumbing.Hash) ([]byte, error) {
	blob, err := repo.BlobObject(h)
	if err != nil {
		return nil, &damagedError{fmt.Errorf("read blob %s: %w", h, err)}
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, &damagedError{fmt.Errorf("read blob %s: %w", h, err)}
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, 64<<10))
}

// removeAll deletes path even when it holds read-only directories (as
// exported revisions do) by making every directory writable first.
func removeAll(path string) error {
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(path)
}
