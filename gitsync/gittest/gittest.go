package gittest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Markers recognised as values of the files map given to Commit, CommitOn and
// ForcePush. A plain value is the content of a regular 0644 file.
const (
	// Delete as a value removes the path (a file, a symlink or a whole
	// directory) from the next commit.
	Delete = "\x00gittest:delete\x00"

	execPrefix    = "\x00gittest:exec\x00"
	symlinkPrefix = "\x00gittest:symlink\x00"
)

// Exec marks content as an executable file (committed with mode 100755).
func Exec(content string) string { return execPrefix + content }

// Symlink marks a value as a symbolic link to target (committed with mode
// 120000; target is stored verbatim, so it may dangle or be absolute).
func Symlink(target string) string { return symlinkPrefix + target }

// epoch is the author and committer date of the first commit; every commit
// after it is one second later, so hashes are reproducible run to run.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Layout is the shape of the repository an Upstream shows its clients.
type Layout int

const (
	// Bare is a bare repository (upstream.git) fed by pushes from a private
	// work clone: the usual server-side remote.
	Bare Layout = iota
	// NonBare is an ordinary repository made with `git init` (work/, its
	// git directory work/.git): commits land in it directly.
	NonBare
	// LinkedWorktree is a linked worktree of a NonBare repository (made by
	// `git worktree add --detach`; its .git is a file naming the git
	// directory). It exists only from the first commit on.
	LinkedWorktree
)

// String names the layout ("bare", "non-bare", "linked-worktree").
func (l Layout) String() string {
	switch l {
	case Bare:
		return "bare"
	case NonBare:
		return "non-bare"
	case LinkedWorktree:
		return "linked-worktree"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Upstream is a repository in a test's temporary directory plus the work
// clone used to make commits (for Bare, a private clone that pushes at
// once; otherwise the repository itself). Path is always what a client
// sees. Methods are safe for concurrent use (they serialise on a mutex) but
// are meant for the test goroutine.
type Upstream struct {
	root   string // t.TempDir(): upstream.git/, work/, linked/, home/
	layout Layout
	gitDir string // the git directory holding the refs clients see
	path   string // what Path returns
	work   string

	mu      sync.Mutex // guards the fields below and the work clone
	commits int        // commits made so far; drives the commit dates
	current string     // the work clone's checked-out branch, "" at first
	linked  bool       // the linked worktree exists
}

// New creates an empty bare upstream (default branch main) and its work
// clone. It needs the git CLI; it fails the test when git is missing. The
// git commands run with a private HOME and no system or global config.
func New(t testing.TB) *Upstream {
	t.Helper()
	return NewLayout(t, Bare)
}

// NewLayout is New for any layout (default branch main in each).
func NewLayout(t testing.TB, layout Layout) *Upstream {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("gittest: the git CLI is required: %v", err)
	}
	root := t.TempDir()
	u := &Upstream{root: root, layout: layout, work: filepath.Join(root, "work")}
	if err := os.Mkdir(filepath.Join(root, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	u.run(t, root, "init", "-q", u.work)
	switch layout {
	case Bare:
		u.gitDir = filepath.Join(root, "upstream.git")
		u.path = u.gitDir
		u.run(t, root, "init", "-q", "--bare", u.gitDir)
		u.git(t, "remote", "add", "origin", u.gitDir)
	case NonBare:
		u.gitDir = filepath.Join(u.work, ".git")
		u.path = u.work
	case LinkedWorktree:
		u.gitDir = filepath.Join(u.work, ".git")
		u.path = filepath.Join(root, "linked")
	default:
		t.Fatalf("gittest: unknown layout %v", layout)
	}
	return u
}

// Layout returns the layout the upstream was made with.
func (u *Upstream) Layout() Layout { return u.layout }

// URL is the file:// URL of Path.
func (u *Upstream) URL() string { return "file://" + filepath.ToSlash(u.path) }

// Path is the filesystem path clients use as the remote: the bare
// repository, the non-bare repository's work tree, or the linked worktree.
func (u *Upstream) Path() string { return u.path }

// Commit applies files on top of branch main (see Exec, Symlink, Delete),
// commits with msg, pushes, and returns the 40-hex commit hash. The first
// commit creates main. An empty or nil map makes an empty commit.
func (u *Upstream) Commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	return u.CommitOn(t, "main", msg, files)
}

// CommitOn is Commit on branch; a new branch starts from main (or as a root
// commit when main does not exist yet).
func (u *Upstream) CommitOn(t testing.TB, branch, msg string, files map[string]string) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.checkout(t, branch)
	u.apply(t, files)
	u.commit(t, msg)
	if u.layout == Bare {
		u.git(t, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	}
	return u.git(t, "rev-parse", "HEAD")
}

// ForcePush rewrites the history of main: it makes a new root commit whose
// tree is exactly files (nothing of the old tree survives), force-pushes it
// and returns its hash. The old commits become unreachable.
func (u *Upstream) ForcePush(t testing.TB, files map[string]string) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.git(t, "checkout", "-q", "--orphan", "gittest-rewrite")
	u.git(t, "rm", "-r", "-q", "-f", "--ignore-unmatch", ".")
	u.git(t, "clean", "-q", "-f", "-d", "-x")
	u.apply(t, files)
	u.commit(t, "rewrite history")
	u.git(t, "branch", "-M", "main")
	u.current = "main"
	if u.layout == Bare {
		u.git(t, "push", "-q", "-f", "origin", "HEAD:refs/heads/main")
	}
	return u.git(t, "rev-parse", "HEAD")
}

// Tag points the lightweight tag name at rev (any revision git accepts, such
// as a hash or "main"), moving it if it exists.
func (u *Upstream) Tag(t testing.TB, name, rev string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	hash := u.revParse(t, rev)
	u.run(t, u.root, "--git-dir", u.gitDir, "update-ref", "refs/tags/"+name, hash)
}

// AnnotatedTag points the annotated tag name (a tag object with message
// msg) at rev, moving it if it exists. Remotes list the tag object; its
// commit is the peeled value.
func (u *Upstream) AnnotatedTag(t testing.TB, name, rev, msg string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	hash := u.revParse(t, rev)
	u.commits++
	u.run(t, u.root, "--git-dir", u.gitDir, "tag", "-f", "-a", "-m", msg, name, hash)
}

// DeleteRef removes a branch or tag (a full name such as "refs/tags/v1").
func (u *Upstream) DeleteRef(t testing.TB, ref string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.run(t, u.root, "--git-dir", u.gitDir, "update-ref", "-d", ref)
}

// Head returns the commit that ref (a branch, a tag, or any revision) names
// in the upstream, peeling annotated tags.
func (u *Upstream) Head(t testing.TB, ref string) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.revParse(t, ref)
}

// Git runs a git command against the upstream's git directory (GIT_DIR set) with the
// same isolated environment and returns its trimmed stdout; an escape hatch
// for cases the other methods do not cover.
func (u *Upstream) Git(t testing.TB, args ...string) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.run(t, u.root, append([]string{"--git-dir", u.gitDir}, args...)...)
}

// TempDir is t.TempDir for trees that hold read-only directories, such as
// exported revisions: before the directory is removed at cleanup, every
// directory under it is made writable again so the removal also works for
// non-root users.
func TempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// Cleanups run last-registered first, so this runs before TempDir's own
	// removal.
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return dir
}

// revParse resolves rev in the upstream to a commit hash.
func (u *Upstream) revParse(t testing.TB, rev string) string {
	t.Helper()
	return u.run(t, u.root, "--git-dir", u.gitDir, "rev-parse", "--verify", "-q", rev+"^{commit}")
}

// checkout makes branch the work clone's current branch, creating it from
// main, or as an orphan when there is nothing to start from.
func (u *Upstream) checkout(t testing.TB, branch string) {
	t.Helper()
	if branch == u.current {
		return // the work clone is always clean after a commit
	}
	u.current = branch
	switch {
	case u.hasRef("refs/heads/" + branch):
		u.git(t, "checkout", "-q", "-f", branch)
	case u.hasRef("refs/heads/main"):
		u.git(t, "checkout", "-q", "-f", "-b", branch, "main")
	case u.hasRef("HEAD"):
		u.git(t, "checkout", "-q", "--orphan", branch)
		u.git(t, "rm", "-r", "-q", "-f", "--ignore-unmatch", ".")
	default: // a fresh clone: HEAD is unborn
		u.git(t, "symbolic-ref", "HEAD", "refs/heads/"+branch)
	}
}

func (u *Upstream) hasRef(ref string) bool {
	cmd := exec.Command("git", "rev-parse", "--verify", "-q", ref)
	cmd.Dir = u.work
	cmd.Env = u.env(0)
	return cmd.Run() == nil
}

// apply writes files into the work clone.
func (u *Upstream) apply(t testing.TB, files map[string]string) {
	t.Helper()
	for name, value := range files {
		if name == "" || filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
			t.Fatalf("gittest: file name %q must be relative and inside the repository", name)
		}
		p := filepath.Join(u.work, filepath.FromSlash(name))
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if value == Delete {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(value, symlinkPrefix):
			err = os.Symlink(strings.TrimPrefix(value, symlinkPrefix), p)
		case strings.HasPrefix(value, execPrefix):
			err = writeFile(p, strings.TrimPrefix(value, execPrefix), 0o755)
		default:
			err = writeFile(p, value, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile writes content with exactly mode (umask does not apply).
func writeFile(p, content string, mode os.FileMode) error {
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// commit commits everything in the work clone.
func (u *Upstream) commit(t testing.TB, msg string) {
	t.Helper()
	u.git(t, "add", "-A", ".")
	u.commits++
	u.git(t, "commit", "-q", "--allow-empty", "--no-verify", "-m", msg)
	if u.layout == LinkedWorktree && !u.linked {
		u.linked = true
		u.git(t, "worktree", "add", "-q", "--detach", u.path, "HEAD")
	}
}

// git runs a git command in the work clone.
func (u *Upstream) git(t testing.TB, args ...string) string {
	t.Helper()
	return u.run(t, u.work, args...)
}

// run runs git in dir with the isolated environment and returns the trimmed
// stdout, failing the test on error.
func (u *Upstream) run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	full := append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
		"-c", "tag.gpgsign=false", "-c", "core.autocrlf=false"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = u.env(u.commits)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gittest: git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// env is the process environment minus anything that could make git read
// the user's configuration, plus a fixed identity and date for commit n.
func (u *Upstream) env(n int) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || k == "HOME" || k == "XDG_CONFIG_HOME" || k == "EMAIL" {
			continue
		}
		env = append(env, kv)
	}
	date := fmt.Sprintf("%d +0000", epoch.Add(time.Duration(n)*time.Second).Unix())
	return append(env,
		"HOME="+filepath.Join(u.root, "home"),
		"XDG_CONFIG_HOME="+filepath.Join(u.root, "home", ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=gittest",
		"GIT_AUTHOR_EMAIL=gittest@example.invalid",
		"GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME=gittest",
		"GIT_COMMITTER_EMAIL=gittest@example.invalid",
		"GIT_COMMITTER_DATE="+date,
	)
}
