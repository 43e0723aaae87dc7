package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit describes one commit of the clone.
type Commit struct {
	Hash    string
	Message string // full message, trailing newlines trimmed
	Author  string // "Name <email>"
	Time    time.Time
}

// Commit reads commit rev from the clone (old commits too, as long as the
// clone has them).
func (r *Repo) Commit(ctx context.Context, rev string) (Commit, error) {
	if err := r.lock(ctx); err != nil {
		return Commit{}, err
	}
	defer r.unlock()
	c, err := r.commitLocked(rev)
	if err != nil {
		return Commit{}, err
	}
	return Commit{Hash: c.Hash.String(), Message: strings.TrimRight(c.Message, "\n"),
		Author: fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email), Time: c.Author.When}, nil
}

func (r *Repo) commitLocked(rev string) (*object.Commit, error) {
	if len(rev) != 40 || strings.Trim(rev, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("revision %q is not a 40-hex commit hash", rev)
	}
	repo, err := r.openLocked()
	if err != nil {
		return nil, fmt.Errorf("open clone %s: %w", r.opts.Dir, err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", rev, err)
	}
	return c, nil
}

// ErrTooManyChanges is returned by Changes when more than maxFiles files
// differ.
var ErrTooManyChanges = errors.New("too many changed files")

// FileChange is one file that differs between two commits. Old and New
// hold the contents (nil for the missing side) unless Omitted.
type FileChange struct {
	Path   string
	Status string // "added", "modified" or "deleted"
	Old    []byte
	New    []byte
	// Omitted is set when a side is larger than the size limit or not a
	// regular file (a symlink or submodule): the contents are left out.
	Omitted bool
}

// Changes lists the files (not symlinks' targets or submodules' contents)
// that differ between commits from and to, sorted by path, reading at most
// maxFiles changes (more is an error) and contents up to maxSize bytes per
// side.
func (r *Repo) Changes(ctx context.Context, from, to string, maxFiles int, maxSize int64) ([]FileChange, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	trees := make([]*object.Tree, 2)
	for i, rev := range []string{from, to} {
		c, err := r.commitLocked(rev)
		if err != nil {
			return nil, err
		}
		if trees[i], err = c.Tree(); err != nil {
			return nil, fmt.Errorf("read tree of %s: %w", rev, err)
		}
	}
	diff, err := object.DiffTreeWithOptions(ctx, trees[0], trees[1], &object.DiffTreeOptions{})
	if err != nil {
		return nil, fmt.Errorf("compare %s and %s: %w", from, to, err)
	}
	if len(diff) > maxFiles {
		return nil, fmt.Errorf("%d files changed, more than %d: %w", len(diff), maxFiles, ErrTooManyChanges)
	}
	out := make([]FileChange, 0, len(diff))
	for _, ch := range diff {
		fc := FileChange{Path: ch.To.Name, Status: "modified"}
		switch {
		case ch.From.Name == "":
			fc.Status = "added"
		case ch.To.Name == "":
			fc.Path, fc.Status = ch.From.Name, "deleted"
		}
		for i, e := range []object.ChangeEntry{ch.From, ch.To} {
			if e.Name == "" {
				continue
			}
			data, ok, err := r.readSmall(e, maxSize)
			if err != nil {
				return nil, err
			}
			if !ok {
				fc.Omitted = true
				continue
			}
			if i == 0 {
				fc.Old = data
			} else {
				fc.New = data
			}
		}
		if fc.Omitted {
			fc.Old, fc.New = nil, nil
		}
		out = append(out, fc)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out, nil
}

// readSmall reads a regular file's blob if it is at most maxSize bytes.
func (r *Repo) readSmall(e object.ChangeEntry, maxSize int64) ([]byte, bool, error) {
	if !e.TreeEntry.Mode.IsFile() || e.TreeEntry.Mode == filemode.Symlink {
		return nil, false, nil
	}
	blob, err := r.repo.BlobObject(e.TreeEntry.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", e.Name, err)
	}
	if blob.Size > maxSize {
		return nil, false, nil
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", e.Name, err)
	}
	defer rd.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rd, maxSize+1)); err != nil {
		return nil, false, fmt.Errorf("read %s: %w", e.Name, err)
	}
	return buf.Bytes(), true, nil
}
