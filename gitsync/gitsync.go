package gitsync

// This file fixes the package API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the gitsync implementation.

import (
	"context"
	"errors"
)

// Auth holds the credentials of one remote (SPEC §2.2). The zero value means
// no credentials (ssh falls back to SSH_AUTH_SOCK).
type Auth struct {
	// Type is "", "token", "basic" or "ssh_key".
	Type string
	// Username for token (default "x-access-token") and basic auth; the ssh
	// user for ssh_key (default "git").
	Username string
	// Password for basic auth, passphrase for ssh_key.
	Password string
	// Token for type token (sent as the HTTP basic-auth password).
	Token string
	// KeyPath or Key (PEM text) for ssh_key.
	KeyPath string
	Key     string
}

// Options configure a Repo.
type Options struct {
	// URL is https, ssh, scp-style user@host:path, file:// or a local path.
	URL string
	// Ref is a branch or tag name; default "main".
	Ref string
	// Auth holds the credentials.
	Auth Auth
	// Dir is the clone directory, owned exclusively by the Repo
	// (<data_dir>/git/<ws>); a hard reset deletes untracked files in it.
	Dir string
}

// Repo mirrors one ref of a remote. Its methods are safe for concurrent use
// (a mutex serialises go-git, which is not goroutine-safe).
type Repo struct {
	opts Options
}

// New returns a Repo; it does no I/O.
func New(opts Options) *Repo { return &Repo{opts: opts} }

// Ref returns the configured ref (default applied).
func (r *Repo) Ref() string {
	if r.opts.Ref == "" {
		return "main"
	}
	return r.opts.Ref
}

// RemoteHead asks the remote for the commit the ref points to (a ref
// listing: no objects are fetched) and returns its 40-hex hash.
func (r *Repo) RemoteHead(ctx context.Context) (string, error) {
	return "", errors.New("gitsync: not implemented")
}

// Sync makes the clone match the remote ref: clone when missing; otherwise
// list the remote ref and, only if it moved from the local HEAD, fetch
// (force, so rewritten history works) and hard-reset. It returns the 40-hex
// commit checked out. Errors name the URL and the step that failed.
func (r *Repo) Sync(ctx context.Context) (string, error) {
	return "", errors.New("gitsync: not implemented")
}

// Export writes the tree of commit rev (no .git) into dir: files 0444 or
// 0555 when executable, directories 0555, symlinks kept. It writes a
// temporary sibling and renames it, so dir appears complete or not at all;
// an existing dir is left as is.
func (r *Repo) Export(rev, dir string) error {
	return errors.New("gitsync: not implemented")
}

// Fetch is Sync followed by Export into revisionsDir/<rev>; it returns the
// revision and its directory. This is the function runnel hands the
// workspace manager for git workspaces.
func (r *Repo) Fetch(ctx context.Context, revisionsDir string) (rev, dir string, err error) {
	return "", "", errors.New("gitsync: not implemented")
}
