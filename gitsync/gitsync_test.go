package gitsync_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
)

// newRepo returns a Repo for url and ref with a clone directory (not yet
// created) in a fresh temporary directory.
func newRepo(t *testing.T, url, ref string) (*gitsync.Repo, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "git", "ws")
	return gitsync.New(gitsync.Options{URL: url, Ref: ref, Dir: dir}), dir
}

func mustSync(t *testing.T, r *gitsync.Repo) string {
	t.Helper()
	rev, err := r.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return rev
}

// statsDelta runs f and returns how r's counters moved.
func statsDelta(r *gitsync.Repo, f func()) gitsync.Stats {
	before := r.Stats()
	f()
	after := r.Stats()
	return gitsync.Stats{
		Lists:   after.Lists - before.Lists,
		Clones:  after.Clones - before.Clones,
		Fetches: after.Fetches - before.Fetches,
	}
}

// listTree describes every entry under root: "dir 0555", "file 0444 <content>",
// "file 0555 <content>" or "symlink -> <target>".
func listTree(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		perm := fmt.Sprintf("%04o", info.Mode().Perm())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "symlink -> " + target
		case info.IsDir():
			got[rel] = "dir " + perm
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = "file " + perm + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// worktree reads the regular files of a clone's worktree (not .git).
func worktree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSyncClonesThenFollowsNewCommits(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{"a.txt": "A1", "old.txt": "old"})
	r, dir := newRepo(t, u.URL(), "")

	var rev string
	d := statsDelta(r, func() { rev = mustSync(t, r) })
	if rev != first {
		t.Fatalf("first Sync = %s, want %s", rev, first)
	}
	if diff := cmp.Diff(gitsync.Stats{Lists: 1, Clones: 1}, d); diff != "" {
		t.Errorf("first Sync stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "A1", "old.txt": "old"}, worktree(t, dir)); diff != "" {
		t.Errorf("worktree after clone (-want +got):\n%s", diff)
	}

	// A file that is not in git is deleted by the hard reset (SPEC §2.4).
	if err := os.WriteFile(filepath.Join(dir, "untracked"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := u.Commit(t, "second", map[string]string{"a.txt": "A2", "old.txt": gittest.Delete, "new/b.txt": "B"})
	d = statsDelta(r, func() { rev = mustSync(t, r) })
	if rev != second {
		t.Fatalf("Sync after push = %s, want %s", rev, second)
	}
	if diff := cmp.Diff(gitsync.Stats{Lists: 1, Fetches: 1}, d); diff != "" {
		t.Errorf("Sync after push stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "A2", "new/b.txt": "B"}, worktree(t, dir)); diff != "" {
		t.Errorf("worktree after fetch (-want +got):\n%s", diff)
	}
}

func TestSyncUnchangedIsListingOnly(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	want := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	for i := range 3 {
		var rev string
		d := statsDelta(r, func() { rev = mustSync(t, r) })
		if rev != want {
			t.Fatalf("poll %d: Sync = %s, want %s", i, rev, want)
		}
		if diff := cmp.Diff(gitsync.Stats{Lists: 1}, d); diff != "" {
			t.Errorf("poll %d: unchanged Sync must only list (-want +got):\n%s", i, diff)
		}
	}
}

// TestSyncReusesClone: a new Repo over an existing clone (a restart) polls
// without cloning, and fetches from its own URL even if the clone was made
// from another.
func TestSyncReusesClone(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, dir := newRepo(t, u.URL(), "")
	mustSync(t, r)

	restarted := gitsync.New(gitsync.Options{URL: u.URL(), Dir: dir})
	var rev string
	d := statsDelta(restarted, func() { rev = mustSync(t, restarted) })
	if rev != first {
		t.Fatalf("Sync after restart = %s, want %s", rev, first)
	}
	if diff := cmp.Diff(gitsync.Stats{Lists: 1}, d); diff != "" {
		t.Errorf("Sync after restart (-want +got):\n%s", diff)
	}

	// The same upstream under another URL (a path), and a second upstream
	// with unrelated history: both are followed without re-cloning.
	second := u.Commit(t, "second", map[string]string{"a.txt": "A2"})
	byPath := gitsync.New(gitsync.Options{URL: u.Path(), Dir: dir})
	if got := mustSync(t, byPath); got != second {
		t.Fatalf("Sync by path = %s, want %s", got, second)
	}
	other := gittest.New(t)
	otherHead := other.Commit(t, "unrelated", map[string]string{"z.txt": "Z"})
	moved := gitsync.New(gitsync.Options{URL: other.URL(), Dir: dir})
	if got := mustSync(t, moved); got != otherHead {
		t.Fatalf("Sync after URL change = %s, want %s", got, otherHead)
	}
	if diff := cmp.Diff(map[string]string{"z.txt": "Z"}, worktree(t, dir)); diff != "" {
		t.Errorf("worktree after URL change (-want +got):\n%s", diff)
	}
	if s := byPath.Stats().Clones + moved.Stats().Clones; s != 0 {
		t.Errorf("URL changes re-cloned %d times", s)
	}
}

func TestRemoteHeadFetchesNothing(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	want := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, dir := newRepo(t, u.Path(), "")
	got, err := r.RemoteHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("RemoteHead = %s, want %s", got, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoteHead created the clone directory (stat: %v)", err)
	}
}

// TestSyncRef follows a ref that moves: a branch gets a commit, a tag is
// re-pointed.
func TestSyncRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ref  string
		// setup makes the ref and returns the commit it names.
		setup func(t *testing.T, u *gittest.Upstream) string
		// move moves the ref and returns the new commit.
		move func(t *testing.T, u *gittest.Upstream) string
	}{
		{
			name:  "default branch",
			ref:   "",
			setup: func(t *testing.T, u *gittest.Upstream) string { return u.Head(t, "main") },
			move: func(t *testing.T, u *gittest.Upstream) string {
				return u.Commit(t, "more", map[string]string{"f": "2"})
			},
		},
		{
			name: "other branch",
			ref:  "dev",
			setup: func(t *testing.T, u *gittest.Upstream) string {
				return u.CommitOn(t, "dev", "dev work", map[string]string{"f": "dev"})
			},
			move: func(t *testing.T, u *gittest.Upstream) string {
				u.Commit(t, "main moves too", map[string]string{"f": "main"})
				return u.CommitOn(t, "dev", "more dev", map[string]string{"f": "dev2"})
			},
		},
		{
			name: "lightweight tag",
			ref:  "v1",
			setup: func(t *testing.T, u *gittest.Upstream) string {
				u.Tag(t, "v1", "main")
				u.Commit(t, "after tag", map[string]string{"f": "2"})
				return u.Head(t, "v1")
			},
			move: func(t *testing.T, u *gittest.Upstream) string {
				u.Tag(t, "v1", "main")
				return u.Head(t, "main")
			},
		},
		{
			name: "annotated tag",
			ref:  "v2",
			setup: func(t *testing.T, u *gittest.Upstream) string {
				u.AnnotatedTag(t, "v2", "main", "release 2")
				u.Commit(t, "after tag", map[string]string{"f": "2"})
				return u.Head(t, "v2")
			},
			move: func(t *testing.T, u *gittest.Upstream) string {
				u.AnnotatedTag(t, "v2", "main", "release 2 again")
				return u.Head(t, "main")
			},
		},
		{
			name: "branch wins over tag of the same name",
			ref:  "both",
			setup: func(t *testing.T, u *gittest.Upstream) string {
				u.Tag(t, "both", "main")
				return u.CommitOn(t, "both", "branch", map[string]string{"f": "branch"})
			},
			move: func(t *testing.T, u *gittest.Upstream) string {
				return u.CommitOn(t, "both", "branch 2", map[string]string{"f": "branch2"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := gittest.New(t)
			u.Commit(t, "first", map[string]string{"f": "1"})
			want := tt.setup(t, u)
			r, dir := newRepo(t, u.URL(), tt.ref)
			if got := mustSync(t, r); got != want {
				t.Fatalf("Sync = %s, want %s", got, want)
			}
			if got := mustSync(t, r); got != want {
				t.Fatalf("second Sync = %s, want %s", got, want)
			}
			want = tt.move(t, u)
			if got := mustSync(t, r); got != want {
				t.Fatalf("Sync after move = %s, want %s", got, want)
			}
			if s := r.Stats(); s.Clones != 1 || s.Fetches != 1 {
				t.Errorf("stats = %+v, want 1 clone and 1 fetch", s)
			}
			// The worktree shows the new commit.
			if got, want := worktree(t, dir)["f"], u.Git(t, "show", want+":f"); got != want {
				t.Errorf("worktree f = %q, want %q", got, want)
			}
		})
	}
}

func TestSyncForcePush(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "one", map[string]string{"a.txt": "A"})
	u.Commit(t, "two", map[string]string{"b.txt": "B"})
	r, dir := newRepo(t, u.URL(), "")
	mustSync(t, r)

	rewritten := u.ForcePush(t, map[string]string{"c.txt": "C"})
	if got := mustSync(t, r); got != rewritten {
		t.Fatalf("Sync after force-push = %s, want %s", got, rewritten)
	}
	if diff := cmp.Diff(map[string]string{"c.txt": "C"}, worktree(t, dir)); diff != "" {
		t.Errorf("worktree after force-push (-want +got):\n%s", diff)
	}
	if s := r.Stats(); s.Clones != 1 {
		t.Errorf("force-push needed a re-clone: %+v", s)
	}
	// And history can move on from the rewritten root.
	next := u.Commit(t, "three", map[string]string{"d.txt": "D"})
	if got := mustSync(t, r); got != next {
		t.Fatalf("Sync after next commit = %s, want %s", got, next)
	}
}

func TestSyncErrors(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "first", map[string]string{"a.txt": "A"})
	empty := gittest.New(t)
	tests := []struct {
		name  string
		opts  gitsync.Options
		want  []string // substrings of the error
		is    error    // matched with errors.Is when set
		never []string // must not appear
		noDir bool     // leave Options.Dir empty
	}{
		{
			name: "missing path",
			opts: gitsync.Options{URL: "/nonexistent/repo"},
			want: []string{"list remote /nonexistent/repo: repository not found"},
		},
		{
			name: "missing file url",
			opts: gitsync.Options{URL: "file:///nonexistent/repo"},
			want: []string{"list remote file:///nonexistent/repo: repository not found"},
		},
		{
			name: "missing ref",
			opts: gitsync.Options{URL: u.URL(), Ref: "nope"},
			want: []string{"list remote " + u.URL() + ": ", `"nope"`, "no branch or tag"},
			is:   gitsync.ErrRefNotFound,
		},
		{
			name: "empty upstream",
			opts: gitsync.Options{URL: empty.URL()},
			want: []string{"list remote " + empty.URL() + ": ", `"main"`},
			is:   gitsync.ErrRefNotFound,
		},
		{
			name: "unknown auth type",
			opts: gitsync.Options{URL: "https://git.example.invalid/x.git", Auth: gitsync.Auth{Type: "kerberos"}},
			want: []string{"list remote https://git.example.invalid/x.git: ", `unknown auth type "kerberos"`},
		},
		{
			name: "token over ssh",
			opts: gitsync.Options{URL: "git@git.example.invalid:org/x.git", Auth: gitsync.Auth{Type: "token", Token: "tok-secret"}},
			want: []string{"list remote git@git.example.invalid:org/x.git: ", "needs an http(s) url"},
		},
		{
			name: "ssh key over https",
			opts: gitsync.Options{URL: "https://git.example.invalid/x.git", Auth: gitsync.Auth{Type: "ssh_key", KeyPath: "/k"}},
			want: []string{"needs an ssh url"},
		},
		{
			name: "ssh key missing",
			opts: gitsync.Options{URL: "ssh://git@git.example.invalid/x.git", Auth: gitsync.Auth{Type: "ssh_key"}},
			want: []string{"ssh key: set key_path or key"},
		},
		{
			name: "ssh key unreadable",
			opts: gitsync.Options{URL: "ssh://git@git.example.invalid/x.git", Auth: gitsync.Auth{Type: "ssh_key", KeyPath: "/nonexistent/id_ed25519"}},
			want: []string{"ssh key: ", "/nonexistent/id_ed25519"},
		},
		{
			name:  "ssh key not pem",
			opts:  gitsync.Options{URL: "ssh://git@git.example.invalid/x.git", Auth: gitsync.Auth{Type: "ssh_key", Key: "not a key", Password: "passphrase"}},
			want:  []string{"ssh key: "},
			never: []string{"passphrase"},
		},
		{
			name: "no url",
			opts: gitsync.Options{},
			want: []string{"list remote: no url configured"},
		},
		{
			name:  "no clone directory",
			opts:  gitsync.Options{URL: u.URL()},
			noDir: true,
			want:  []string{"sync: no clone directory configured"},
		},
		{
			name:  "credentials in url are scrubbed",
			opts:  gitsync.Options{URL: "http://user:hunter22@127.0.0.1:1/x.git"},
			want:  []string{"list remote http://127.0.0.1:1/x.git: "},
			never: []string{"hunter22", "user:"},
		},
		{
			name:  "token in url is scrubbed",
			opts:  gitsync.Options{URL: "http://ghp_tokenvalue@127.0.0.1:1/x.git"},
			want:  []string{"list remote http://127.0.0.1:1/x.git: "},
			never: []string{"ghp_tokenvalue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.noDir {
				tt.opts.Dir = filepath.Join(t.TempDir(), "clone")
			}
			r := gitsync.New(tt.opts)
			rev, err := r.Sync(context.Background())
			if err == nil {
				t.Fatalf("Sync = %s, want an error", rev)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(msg, n) {
					t.Errorf("error %q contains %q", msg, n)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			if _, err := os.Stat(tt.opts.Dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("failed Sync left a clone directory (stat: %v)", err)
			}
		})
	}
}

// TestSyncRepairsClone damages a clone in different ways; the next Sync
// repairs it (by a fetch and reset where that suffices, else a re-clone).
func TestSyncRepairsClone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		// moved pushes a new commit before the Sync that repairs.
		moved bool
	}{
		{
			name:   "clone directory removed",
			damage: func(t *testing.T, dir string) { removeAll(t, dir) },
		},
		{
			name: "not a repository",
			damage: func(t *testing.T, dir string) {
				removeAll(t, dir)
				writeFile(t, filepath.Join(dir, "junk"), "junk")
			},
		},
		{
			name:   "HEAD garbage",
			damage: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, ".git", "HEAD"), "garbage\n") },
		},
		{
			name:   "objects missing",
			damage: func(t *testing.T, dir string) { removeAll(t, filepath.Join(dir, ".git", "objects")) },
			moved:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := gittest.New(t)
			want := u.Commit(t, "first", map[string]string{"a.txt": "A"})
			r, dir := newRepo(t, u.URL(), "")
			mustSync(t, r)
			tt.damage(t, dir)
			if tt.moved {
				want = u.Commit(t, "second", map[string]string{"a.txt": "A2"})
			}
			if got := mustSync(t, r); got != want {
				t.Fatalf("Sync = %s, want %s", got, want)
			}
			if got := worktree(t, dir)["a.txt"]; got != u.Git(t, "show", want+":a.txt") {
				t.Errorf("worktree a.txt = %q after repair", got)
			}
			// The repaired clone holds the objects an export needs.
			revs := gittest.TempDir(t)
			if _, out, err := r.Fetch(context.Background(), revs); err != nil {
				t.Errorf("Fetch after repair: %v", err)
			} else if got := listTree(t, out)["a.txt"]; got != "file 0444 "+u.Git(t, "show", want+":a.txt") {
				t.Errorf("exported a.txt = %q after repair", got)
			}
			if entries := dirNames(t, filepath.Dir(dir)); !cmp.Equal(entries, []string{"ws"}) {
				t.Errorf("clone parent holds %v, want only the clone", entries)
			}
		})
	}
}

// TestFetchRepairsMissingObjects: HEAD still matches the remote, so Sync
// takes the fast path, but the export needs objects that are gone.
func TestFetchRepairsMissingObjects(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	want := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, dir := newRepo(t, u.URL(), "")
	mustSync(t, r)
	removeAll(t, filepath.Join(dir, ".git", "objects"))

	revs := gittest.TempDir(t)
	rev, out, err := r.Fetch(context.Background(), revs)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if rev != want || out != filepath.Join(revs, want) {
		t.Fatalf("Fetch = %s, %s; want %s in %s", rev, out, want, revs)
	}
	if diff := cmp.Diff(map[string]string{".": "dir 0555", "a.txt": "file 0444 A"}, listTree(t, out)); diff != "" {
		t.Errorf("export (-want +got):\n%s", diff)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, _ := newRepo(t, u.URL(), "")
	revs := filepath.Join(gittest.TempDir(t), "revisions", "ws")
	ctx := context.Background()

	rev, dir, err := r.Fetch(ctx, revs)
	if err != nil {
		t.Fatal(err)
	}
	if rev != first || dir != filepath.Join(revs, first) {
		t.Fatalf("Fetch = %s, %s; want %s in %s", rev, dir, first, revs)
	}
	// Unchanged: same answer, nothing fetched.
	d := statsDelta(r, func() {
		if rev2, dir2, err := r.Fetch(ctx, revs); err != nil || rev2 != rev || dir2 != dir {
			t.Fatalf("second Fetch = %s, %s, %v", rev2, dir2, err)
		}
	})
	if diff := cmp.Diff(gitsync.Stats{Lists: 1}, d); diff != "" {
		t.Errorf("unchanged Fetch stats (-want +got):\n%s", diff)
	}

	second := u.Commit(t, "second", map[string]string{"a.txt": "A2"})
	rev, dir, err = r.Fetch(ctx, revs)
	if err != nil {
		t.Fatal(err)
	}
	if rev != second {
		t.Fatalf("Fetch after push = %s, want %s", rev, second)
	}
	if diff := cmp.Diff(map[string]string{".": "dir 0555", "a.txt": "file 0444 A2"}, listTree(t, dir)); diff != "" {
		t.Errorf("new revision (-want +got):\n%s", diff)
	}
	// The old revision stays for running jobs.
	if diff := cmp.Diff(slices.Sorted(slices.Values([]string{first, second})), dirNames(t, revs)); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "first", map[string]string{"n": "0"})
	r, _ := newRepo(t, u.URL(), "")
	revs := gittest.TempDir(t)
	ctx := context.Background()

	// Readers race each other and the pushes; every answer must be a
	// commit the upstream had.
	pushed := sync.Map{}
	pushed.Store(u.Head(t, "main"), true)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				var rev string
				var err error
				switch g % 3 {
				case 0:
					rev, err = r.Sync(ctx)
				case 1:
					rev, _, err = r.Fetch(ctx, revs)
				default:
					rev, err = r.RemoteHead(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
				if len(rev) != 40 {
					errs <- fmt.Errorf("bad revision %q", rev)
				}
			}
		}()
	}
	for i := 1; i <= 5; i++ {
		pushed.Store(u.Commit(t, "next", map[string]string{"n": fmt.Sprint(i)}), true)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := mustSync(t, r), u.Head(t, "main"); got != want {
		t.Errorf("final Sync = %s, want %s", got, want)
	}
	for _, name := range dirNames(t, revs) {
		if _, ok := pushed.Load(name); !ok {
			t.Errorf("revision directory %q is not a pushed commit", name)
		}
	}
}

func TestSyncCancelled(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "first", map[string]string{"a.txt": "A"})
	r, dir := newRepo(t, u.URL(), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sync with a cancelled context = %v, want context.Canceled", err)
	}
	if _, _, err := r.Fetch(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cancelled Sync created the clone (stat: %v)", err)
	}
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
