package gitsync_test

// Transport tests run real git servers on 127.0.0.1: git http-backend behind
// net/http (basic and token auth) and an in-process ssh server that runs
// git-upload-pack (keys and known_hosts). Nothing leaves the machine.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
	"runnel/workspace/waittest"
)

// httpUpstream serves u over smart HTTP with git http-backend. Requests
// whose basic-auth credentials are not user:pass get 401 (user "" turns
// the check off). It returns the repository URL.
func httpUpstream(t *testing.T, u *gittest.Upstream, user, pass string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Root: "/git",
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(u.Path()),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/git/" + filepath.Base(u.Path())
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	tokenURL := httpUpstream(t, u, "x-access-token", "tok-0123456789")
	robotURL := httpUpstream(t, u, "robot", "tok-0123456789")
	basicURL := httpUpstream(t, u, "alice", "correct horse")
	tests := []struct {
		name    string
		url     string
		auth    gitsync.Auth
		wantErr string // empty: must succeed
		secret  string // must never appear in the error
	}{
		{name: "token", url: tokenURL, auth: gitsync.Auth{Type: "token", Token: "tok-0123456789"}},
		{name: "token with username", url: robotURL, auth: gitsync.Auth{Type: "token", Username: "robot", Token: "tok-0123456789"}},
		{name: "basic", url: basicURL, auth: gitsync.Auth{Type: "basic", Username: "alice", Password: "correct horse"}},
		{name: "no credentials", url: tokenURL, wantErr: "list remote " + tokenURL + ": authentication required"},
		{
			name:    "wrong token",
			url:     tokenURL,
			auth:    gitsync.Auth{Type: "token", Token: "tok-wrong-value"},
			wantErr: "list remote " + tokenURL + ": authentication required",
			secret:  "tok-wrong-value",
		},
		{
			name:    "wrong password",
			url:     basicURL,
			auth:    gitsync.Auth{Type: "basic", Username: "alice", Password: "battery staple"},
			wantErr: "authentication required",
			secret:  "battery staple",
		},
		{
			name:    "password in url",
			url:     strings.Replace(basicURL, "://", "://alice:wrong-password@", 1),
			wantErr: "list remote " + basicURL + ": authentication required",
			secret:  "wrong-password",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gitsync.New(gitsync.Options{URL: tt.url, Auth: tt.auth, Dir: filepath.Join(t.TempDir(), "clone")})
			rev, err := r.Sync(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Sync = %s, %v; want an error containing %q", rev, err, tt.wantErr)
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rev != first {
				t.Errorf("Sync = %s, want %s", rev, first)
			}
		})
	}
}

// TestHTTPFollowsUpstream runs the poll cycle over the network transport:
// ref listing with peeled annotated tags, fetch, force-push.
func TestHTTPFollowsUpstream(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	u.Commit(t, "first", map[string]string{"a.txt": "A"})
	url := httpUpstream(t, u, "", "")
	ctx := context.Background()

	r, _ := newRepo(t, url, "")
	mustSync(t, r)
	second := u.Commit(t, "second", map[string]string{"a.txt": "A2"})
	if got := mustSync(t, r); got != second {
		t.Fatalf("Sync after push = %s, want %s", got, second)
	}
	rewritten := u.ForcePush(t, map[string]string{"b.txt": "B"})
	revs := gittest.TempDir(t)
	rev, dir, err := r.Fetch(ctx, revs)
	if err != nil || rev != rewritten {
		t.Fatalf("Fetch after force-push = %s, %v; want %s", rev, err, rewritten)
	}
	if got := listTree(t, dir)["b.txt"]; got != "file 0444 B" {
		t.Errorf("exported b.txt = %q", got)
	}
	if s := r.Stats(); s.Clones != 1 || s.Fetches != 2 {
		t.Errorf("stats = %+v, want 1 clone and 2 fetches", s)
	}

	u.AnnotatedTag(t, "v1", "main", "release")
	tagged, _ := newRepo(t, url, "v1")
	head, err := tagged.RemoteHead(ctx)
	if err != nil || head != rewritten {
		t.Fatalf("RemoteHead of annotated tag = %s, %v; want the commit %s", head, err, rewritten)
	}
	if got := mustSync(t, tagged); got != rewritten {
		t.Fatalf("Sync of annotated tag = %s, want %s", got, rewritten)
	}
	if got := mustSync(t, tagged); got != rewritten || tagged.Stats().Fetches != 0 {
		t.Fatalf("unchanged tag Sync = %s (stats %+v)", got, tagged.Stats())
	}
}

// TestCancelWhileWaiting cancels a Sync stuck on a server that never
// answers, and a second Sync queued behind it on the Repo's mutex.
func TestCancelWhileWaiting(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: frees any handler still waiting

	r, dir := newRepo(t, srv.URL+"/stuck.git", "")
	type result struct {
		rev string
		err error
	}
	start := func(ctx context.Context) <-chan result {
		done := make(chan result, 1)
		go func() {
			rev, err := r.Sync(ctx)
			done <- result{rev, err}
		}()
		return done
	}
	wait := func(what string, done <-chan result) result {
		t.Helper()
		select {
		case res := <-done:
			return res
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return within 10s", what)
			return result{}
		}
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	first := start(ctx1)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first Sync never reached the server")
	}

	// The second Sync waits for the mutex the first holds; cancelling it
	// must not wait for the first.
	ctx2, cancel2 := context.WithCancel(context.Background())
	second := start(ctx2)
	waitForGoroutine(t, "gitsync.(*Repo).lock(")
	cancel2()
	if res := wait("queued Sync", second); !errors.Is(res.err, context.Canceled) {
		t.Errorf("queued Sync = %s, %v; want context.Canceled", res.rev, res.err)
	}

	cancel1()
	res := wait("stuck Sync", first)
	if !errors.Is(res.err, context.Canceled) {
		t.Errorf("stuck Sync = %s, %v; want context.Canceled", res.rev, res.err)
	}
	if res.err != nil && !strings.Contains(res.err.Error(), "list remote "+srv.URL+"/stuck.git: ") {
		t.Errorf("error %q does not name the step and URL", res.err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled Sync left a clone (stat: %v)", err)
	}
}

// waitForGoroutine waits (waittest.Patience at most) until some
// goroutine's stack contains frame: the only way to know a goroutine is
// blocked inside a call, since blocking sends no event.
func waitForGoroutine(t *testing.T, frame string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	waittest.Eventually(t, "a goroutine in "+frame, func() bool {
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), frame)
	})
}

// sshUpstream is an ssh server on 127.0.0.1 that lets user "git" with key
// authorized run git-upload-pack on the local filesystem.
type sshUpstream struct {
	addr    string // host:port
	hostKey ssh.PublicKey
}

func startSSH(t *testing.T, authorized ssh.PublicKey) *sshUpstream {
	t.Helper()
	hostSigner := newSigner(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == "git" && string(k.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveSSH(nc, cfg) })
		}
	})
	return &sshUpstream{addr: ln.Addr().String(), hostKey: hostSigner.PublicKey()}
}

// serveSSH handles one connection: session channels whose exec request is
// git-upload-pack.
func serveSSH(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				var payload struct{ Command string }
				if req.Type != "exec" || ssh.Unmarshal(req.Payload, &payload) != nil ||
					!strings.HasPrefix(payload.Command, "git-upload-pack ") {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				cmd := exec.Command("sh", "-c", payload.Command)
				cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
				stdin, err := cmd.StdinPipe()
				if err != nil {
					return
				}
				go func() {
					_, _ = io.Copy(stdin, ch)
					stdin.Close()
				}()
				status := 0
				if err := cmd.Run(); err != nil {
					status = 1
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						status = ee.ExitCode()
					}
				}
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
				return
			}
		}()
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyPEM encodes key in OpenSSH format, encrypted when passphrase is set.
func keyPEM(t *testing.T, key ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

func TestSSHAuth(t *testing.T) {
	u := gittest.New(t)
	first := u.Commit(t, "first", map[string]string{"a.txt": "A"})
	clientKey := newKey(t)
	clientPub, err := ssh.NewPublicKey(clientKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	srv := startSSH(t, clientPub)
	_, port, _ := net.SplitHostPort(srv.addr)
	url := "ssh://git@127.0.0.1:" + port + u.Path()

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	knownGood := write("known_hosts", knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, srv.hostKey)+"\n")
	otherHost, err := ssh.NewPublicKey(newKey(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	knownWrong := write("known_hosts_wrong", knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, otherHost)+"\n")
	knownOther := write("known_hosts_other", knownhosts.Line([]string{"[127.0.0.1]:1"}, srv.hostKey)+"\n")
	plainKey := write("id_plain", keyPEM(t, clientKey, ""))
	encKey := write("id_enc", keyPEM(t, clientKey, "open sesame"))

	tests := []struct {
		name       string
		knownHosts string
		auth       gitsync.Auth
		wantErr    string // empty: must succeed
	}{
		{name: "key file", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", KeyPath: plainKey}},
		{name: "inline key", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", Key: keyPEM(t, clientKey, "")}},
		{name: "key with passphrase", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", KeyPath: encKey, Password: "open sesame"}},
		{name: "wrong passphrase", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", KeyPath: encKey, Password: "wrong guess"}, wantErr: "ssh key: "},
		{name: "host key mismatch", knownHosts: knownWrong, auth: gitsync.Auth{Type: "ssh_key", KeyPath: plainKey}, wantErr: "key mismatch"},
		{name: "host not in known_hosts", knownHosts: knownOther, auth: gitsync.Auth{Type: "ssh_key", KeyPath: plainKey}, wantErr: "key is unknown"},
		{name: "no known_hosts file", knownHosts: filepath.Join(dir, "missing"), auth: gitsync.Auth{Type: "ssh_key", KeyPath: plainKey}, wantErr: "known_hosts: unable to find any valid known_hosts file"},
		{name: "key not authorized", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", Key: keyPEM(t, newKey(t), "")}, wantErr: "unable to authenticate"},
		{name: "user not authorized", knownHosts: knownGood, auth: gitsync.Auth{Type: "ssh_key", Username: "root", KeyPath: plainKey}, wantErr: "unable to authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SSH_KNOWN_HOSTS", tt.knownHosts)
			r := gitsync.New(gitsync.Options{URL: url, Auth: tt.auth, Dir: filepath.Join(t.TempDir(), "clone")})
			rev, err := r.Sync(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Sync = %s, %v; want an error containing %q", rev, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "list remote "+url+": ") {
					t.Errorf("error %q does not name the step and URL", err)
				}
				if tt.auth.Password != "" && strings.Contains(err.Error(), tt.auth.Password) {
					t.Errorf("error %q reveals the passphrase", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rev != first {
				t.Errorf("Sync = %s, want %s", rev, first)
			}
		})
	}

	// The whole cycle over ssh, including a fetch of a new commit.
	t.Run("fetch", func(t *testing.T) {
		t.Setenv("SSH_KNOWN_HOSTS", knownGood)
		r := gitsync.New(gitsync.Options{URL: url, Auth: gitsync.Auth{Type: "ssh_key", KeyPath: plainKey}, Dir: filepath.Join(t.TempDir(), "clone")})
		mustSync(t, r)
		next := u.Commit(t, "next "+strconv.Itoa(1), map[string]string{"a.txt": "A2"})
		if got := mustSync(t, r); got != next {
			t.Fatalf("Sync after push = %s, want %s", got, next)
		}
		if s := r.Stats(); s.Fetches != 1 {
			t.Errorf("stats = %+v, want 1 fetch", s)
		}
	})
}
