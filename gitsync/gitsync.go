package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrRefNotFound means the remote has neither a branch nor a tag named like
// the configured ref.
var ErrRefNotFound = errors.New("no branch or tag of that name")

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

// Stats counts the remote operations a Repo has started (successful or
// not). An unchanged poll adds one List and nothing else.
type Stats struct {
	Lists   int64 // ref listings (RemoteHead, and every Sync)
	Clones  int64 // full clones, including re-clones of a damaged Dir
	Fetches int64 // object fetches into an existing clone
}

// Repo mirrors one ref of a remote. Its methods are safe for concurrent use
// (a mutex serialises go-git, which is not goroutine-safe).
type Repo struct {
	opts Options

	// sem is the mutex: a one-slot channel, so that waiting for it honours
	// the caller's context. Its holder owns repo and everything in opts.Dir.
	sem  chan struct{}
	repo *git.Repository // the open clone, or nil until opened

	lists, clones, fetches atomic.Int64
}

// New returns a Repo; it does no I/O.
func New(opts Options) *Repo { return &Repo{opts: opts, sem: make(chan struct{}, 1)} }

// Ref returns the configured ref (default applied).
func (r *Repo) Ref() string {
	if r.opts.Ref == "" {
		return "main"
	}
	return r.opts.Ref
}

// Stats returns the operation counters; safe to call at any time.
func (r *Repo) Stats() Stats {
	return Stats{Lists: r.lists.Load(), Clones: r.clones.Load(), Fetches: r.fetches.Load()}
}

// RemoteHead asks the remote for the commit the ref points to (a ref
// listing: no objects are fetched) and returns its 40-hex hash.
func (r *Repo) RemoteHead(ctx context.Context) (string, error) {
	ref, err := r.listRef(ctx)
	if err != nil {
		return "", err
	}
	return ref.commit.String(), nil
}

// Sync makes the clone match the remote ref: clone when missing; otherwise
// list the remote ref and, only if it moved from the local HEAD, fetch
// (force, so rewritten history works) and hard-reset. It returns the 40-hex
// commit checked out. Errors name the URL and the step that failed.
func (r *Repo) Sync(ctx context.Context) (string, error) {
	if err := r.lock(ctx); err != nil {
		return "", r.opError(ctx, "sync", err)
	}
	defer r.unlock()
	return r.syncLocked(ctx)
}

// Export writes the tree of commit rev (no .git) into dir: files 0444 or
// 0555 when executable, directories 0555, symlinks kept. It writes a
// temporary sibling and renames it, so dir appears complete or not at all;
// an existing dir is left as is.
func (r *Repo) Export(rev, dir string) error {
	r.sem <- struct{}{}
	defer r.unlock()
	return r.exportLocked(rev, dir)
}

// Fetch is Sync followed by Export into revisionsDir/<rev>; it returns the
// revision and its directory. This is the function runnel hands the
// workspace manager for git workspaces.
func (r *Repo) Fetch(ctx context.Context, revisionsDir string) (rev, dir string, err error) {
	if err := r.lock(ctx); err != nil {
		return "", "", r.opError(ctx, "sync", err)
	}
	defer r.unlock()
	rev, err = r.syncLocked(ctx)
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(revisionsDir, rev)
	err = r.exportLocked(rev, dir)
	var de *damagedError
	if errors.As(err, &de) && ctx.Err() == nil {
		// The clone is missing objects its HEAD names: replace it and retry.
		ref, lerr := r.listRef(ctx)
		if lerr != nil {
			return "", "", errors.Join(err, lerr)
		}
		if rev, err = r.cloneLocked(ctx, ref); err != nil {
			return "", "", err
		}
		dir = filepath.Join(revisionsDir, rev)
		err = r.exportLocked(rev, dir)
	}
	if err != nil {
		return "", "", err
	}
	return rev, dir, nil
}

// lock takes the mutex unless ctx ends first.
func (r *Repo) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Repo) unlock() { <-r.sem }

// remoteRef is the configured ref as the remote lists it.
type remoteRef struct {
	name   plumbing.ReferenceName // refs/heads/<ref> or refs/tags/<ref>
	commit plumbing.Hash          // the commit, annotated tags peeled
	// url is where to fetch it from: the configured URL, or for a local
	// repository its common git directory, whose HEAD go-git can resolve
	// (a linked worktree's detached HEAD, named by no branch, makes
	// go-git's fetch fail with "reference not found").
	url string
}

// listRef lists the remote's refs (no objects) and picks the branch named
// Ref, else the tag.
func (r *Repo) listRef(ctx context.Context) (remoteRef, error) {
	const op = "list remote"
	if r.opts.URL == "" {
		return remoteRef{}, errors.New("list remote: no url configured")
	}
	branch := plumbing.NewBranchReferenceName(r.Ref())
	tag := plumbing.NewTagReferenceName(r.Ref())
	r.lists.Add(1)
	var ref remoteRef
	var err error
	ep, perr := transport.NewEndpoint(r.opts.URL)
	local := perr == nil && ep.Protocol == "file"
	if local {
		ref, err = listLocal(ep, branch, tag)
	}
	if !local || errors.Is(err, transport.ErrRepositoryNotFound) {
		// Not local, or a form the shortcut does not know: git-upload-pack
		// decides (and words the error).
		ref, err = r.listRemote(ctx, branch, tag)
	}
	if err != nil {
		return remoteRef{}, r.opError(ctx, op, err)
	}
	if ref.name == "" {
		return remoteRef{}, r.opError(ctx, op, fmt.Errorf("ref %q: %w", r.Ref(), ErrRefNotFound))
	}
	if ref.url == "" {
		ref.url = r.opts.URL
	}
	return ref, nil
}

// listRemote asks the remote's transport for its advertised refs.
func (r *Repo) listRemote(ctx context.Context, branch, tag plumbing.ReferenceName) (remoteRef, error) {
	auth, err := r.authMethod()
	if err != nil {
		return remoteRef{}, err
	}
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{
		Name: git.DefaultRemoteName,
		URLs: []string{r.opts.URL},
	})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return remoteRef{}, err
	}
	peeled := plumbing.ReferenceName(tag.String() + "^{}")
	var branchHash, tagHash, peeledHash plumbing.Hash
	for _, ref := range refs {
		switch ref.Name() {
		case branch:
			branchHash = ref.Hash()
		case tag:
			tagHash = ref.Hash()
		case peeled:
			peeledHash = ref.Hash()
		}
	}
	switch {
	case !branchHash.IsZero():
		return remoteRef{name: branch, commit: branchHash}, nil
	case !peeledHash.IsZero():
		return remoteRef{name: tag, commit: peeledHash}, nil
	case !tagHash.IsZero():
		return remoteRef{name: tag, commit: tagHash}, nil
	}
	return remoteRef{}, nil
}

// listLocal reads the two refs straight from a repository on this machine.
// It answers what the file transport's ref advertisement would, in well
// under a millisecond instead of the several spent starting
// git-upload-pack, which keeps polls of local upstreams cheap. The ref's
// url is the repository's common git directory.
func listLocal(ep *transport.Endpoint, branch, tag plumbing.ReferenceName) (remoteRef, error) {
	repo, common, err := openLocal(ep.Path)
	if err != nil {
		return remoteRef{}, err
	}
	defer closeStorage(repo)
	for _, name := range []plumbing.ReferenceName{branch, tag} {
		ref, err := storer.ResolveReference(repo.Storer, name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return remoteRef{}, fmt.Errorf("read %s: %w", name, err)
		}
		h := ref.Hash()
		if name.IsTag() {
			if h, err = peel(repo, h); err != nil {
				return remoteRef{}, fmt.Errorf("read %s: %w", name, err)
			}
		}
		return remoteRef{name: name, commit: h, url: common}, nil
	}
	return remoteRef{}, nil
}

// openLocal opens the repository at path the way git-upload-pack finds it
// (git's enter_repo): path/.git (a directory, or a file naming the git
// directory of a linked worktree, whose refs live in its common
// directory), path itself (a bare repository or a git directory), then
// path.git. It returns the repository and its common git directory. A path
// that is none of these is transport.ErrRepositoryNotFound, never an empty
// repository.
func openLocal(path string) (*git.Repository, string, error) {
	if path == "" {
		return nil, "", transport.ErrRepositoryNotFound
	}
	for _, p := range []string{path, filepath.Clean(path) + ".git"} {
		gitDir, ok, err := findGitDir(p)
		if err != nil {
			return nil, "", fmt.Errorf("open repository %s: %w", p, err)
		}
		if !ok {
			continue
		}
		common := gitDir
		if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
			if common = strings.TrimSpace(string(b)); !filepath.IsAbs(common) {
				common = filepath.Join(gitDir, common)
			}
		}
		// gitDir holds no .git, so go-git opens it as a git directory
		// (with the common directory's refs and objects).
		repo, err := git.PlainOpenWithOptions(gitDir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		if errors.Is(err, git.ErrRepositoryNotExists) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("open repository %s: %w", p, err)
		}
		return repo, filepath.Clean(common), nil
	}
	return nil, "", transport.ErrRepositoryNotFound
}

// findGitDir returns the git directory of the repository at p: p/.git (a
// directory, or what a "gitdir: " file names) or p itself when it holds a
// HEAD file; ok is false when p is neither.
func findGitDir(p string) (dir string, ok bool, err error) {
	p, err = filepath.Abs(p)
	if err != nil {
		return "", false, err
	}
	dot := filepath.Join(p, git.GitDirName)
	fi, err := os.Stat(dot)
	switch {
	case err == nil && fi.IsDir():
		return dot, true, nil
	case err == nil && fi.Mode().IsRegular():
		b, err := os.ReadFile(dot)
		if err != nil {
			return "", false, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		target, found := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
		if !found {
			return "", false, fmt.Errorf("%s is not a gitdir file", dot)
		}
		if target = strings.TrimSpace(target); !filepath.IsAbs(target) {
			target = filepath.Join(p, target)
		}
		return target, true, nil
	}
	if fi, err := os.Stat(filepath.Join(p, "HEAD")); err == nil && fi.Mode().IsRegular() {
		return p, true, nil
	}
	return "", false, nil
}

// closeStorage releases the files an opened repository's storage holds.
func closeStorage(repo *git.Repository) {
	if c, ok := repo.Storer.(io.Closer); ok {
		_ = c.Close()
	}
}

// syncLocked is Sync with the mutex held.
func (r *Repo) syncLocked(ctx context.Context) (string, error) {
	if r.opts.Dir == "" {
		return "", errors.New("sync: no clone directory configured")
	}
	want, err := r.listRef(ctx)
	if err != nil {
		return "", err
	}
	repo, err := r.openLocked()
	if err != nil {
		// Missing or unreadable: (re-)clone.
		return r.cloneLocked(ctx, want)
	}
	if head, err := repo.Head(); err == nil && head.Hash() == want.commit {
		return head.Hash().String(), nil
	}
	rev, err := r.updateLocked(ctx, repo, want)
	if err == nil || ctx.Err() != nil {
		return rev, err
	}
	// The clone may be damaged. A fresh clone replaces it only if the
	// clone succeeds, so this cannot make things worse.
	rev, cerr := r.cloneLocked(ctx, want)
	if cerr != nil {
		return "", errors.Join(err, cerr)
	}
	return rev, nil
}

// objectCacheSize bounds the decoded-object cache of an open clone, which
// lives as long as the Repo (go-git's default is 96 MiB per repository).
const objectCacheSize = 8 * cache.MiByte

// openLocked returns the clone in Dir, opening it on first use.
func (r *Repo) openLocked() (*git.Repository, error) {
	if r.repo != nil {
		return r.repo, nil
	}
	dir, err := filepath.Abs(r.opts.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(dir, git.GitDirName)); err != nil || !fi.IsDir() {
		return nil, git.ErrRepositoryNotExists
	}
	wt := osfs.New(dir)
	dot, err := wt.Chroot(git.GitDirName)
	if err != nil {
		return nil, err
	}
	repo, err := git.Open(filesystem.NewStorage(dot, cache.NewObjectLRU(objectCacheSize)), wt)
	if err != nil {
		return nil, err
	}
	r.repo = repo
	return repo, nil
}

// updateLocked fetches the ref into the clone and hard-resets to it.
func (r *Repo) updateLocked(ctx context.Context, repo *git.Repository, want remoteRef) (string, error) {
	auth, err := r.authMethod()
	if err != nil {
		return "", r.opError(ctx, "fetch", err)
	}
	local := want.name // tags are kept under their own name
	if want.name.IsBranch() {
		local = plumbing.NewRemoteReferenceName(git.DefaultRemoteName, want.name.Short())
	}
	r.fetches.Add(1)
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: git.DefaultRemoteName,
		RemoteURL:  want.url,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + want.name.String() + ":" + local.String())},
		Tags:       git.NoTags,
		Force:      true,
		Auth:       auth,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", r.opError(ctx, "fetch", err)
	}
	// Reset to what was fetched, which is newer than want if the ref moved
	// again in between.
	ref, err := repo.Reference(local, true)
	if err != nil {
		return "", r.opError(ctx, "fetch", fmt.Errorf("read %s: %w", local, err))
	}
	commit, err := peel(repo, ref.Hash())
	if err != nil {
		return "", r.opError(ctx, "fetch", fmt.Errorf("read %s: %w", local, err))
	}
	if err := reset(repo, commit); err != nil {
		return "", r.opError(ctx, "reset", err)
	}
	return commit.String(), nil
}

// reset hard-resets the worktree and HEAD (or the branch HEAD names) to
// commit.
func reset(repo *git.Repository, commit plumbing.Hash) error {
	wt, err := repo.Worktree()
	if err == nil {
		err = wt.Reset(&git.ResetOptions{Commit: commit, Mode: git.HardReset})
	}
	if err != nil {
		return fmt.Errorf("check out %s: %w", commit, err)
	}
	return nil
}

// peel follows annotated tags from h to the commit they name.
func peel(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := object.GetObject(repo.Storer, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o.Hash, nil
		case *object.Tag:
			h = o.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: tag chain too long", h)
}

// cloneLocked clones want into a temporary sibling of Dir and swaps it in
// (replacing any old Dir) only when the clone is complete.
func (r *Repo) cloneLocked(ctx context.Context, want remoteRef) (rev string, err error) {
	const op = "clone"
	auth, err := r.authMethod()
	if err != nil {
		return "", r.opError(ctx, op, err)
	}
	dir := filepath.Clean(r.opts.Dir)
	parent, base := filepath.Split(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", r.opError(ctx, op, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".clone-*")
	if err != nil {
		return "", r.opError(ctx, op, err)
	}
	defer func() {
		if err != nil {
			_ = removeAll(tmp)
		}
	}()
	r.clones.Add(1)
	repo, err := git.PlainCloneContext(ctx, tmp, false, &git.CloneOptions{
		URL:           want.url,
		Auth:          auth,
		ReferenceName: want.name,
		SingleBranch:  true,
		Tags:          git.NoTags,
		NoCheckout:    true,
	})
	if err != nil {
		return "", r.opError(ctx, op, err)
	}
	// HEAD may name an annotated tag object; check out the commit it peels to.
	head, err := repo.Head()
	if err != nil {
		return "", r.opError(ctx, op, err)
	}
	commit, err := peel(repo, head.Hash())
	if err != nil {
		return "", r.opError(ctx, op, fmt.Errorf("read %s: %w", want.name, err))
	}
	if want.name.IsTag() {
		if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, commit)); err != nil {
			return "", r.opError(ctx, op, err)
		}
	}
	if err := reset(repo, commit); err != nil {
		return "", r.opError(ctx, op, err)
	}

	// Swap: move the old Dir aside into a fresh holder directory, move the
	// clone in, then delete the old one.
	r.repo = nil
	if _, serr := os.Lstat(dir); serr == nil {
		holder, err := os.MkdirTemp(parent, "."+base+".old-*")
		if err != nil {
			return "", r.opError(ctx, op, err)
		}
		defer func() { _ = removeAll(holder) }()
		if err := os.Rename(dir, filepath.Join(holder, base)); err != nil {
			return "", r.opError(ctx, op, fmt.Errorf("replace %s: %w", dir, err))
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", r.opError(ctx, op, fmt.Errorf("replace %s: %w", dir, err))
	}
	if _, err := r.openLocked(); err != nil {
		return "", r.opError(ctx, op, fmt.Errorf("open %s: %w", dir, err))
	}
	return commit.String(), nil
}
