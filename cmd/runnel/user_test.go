package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/httpd/client"
	"runnel/jobs"
)

// The user command tests live in package main like the other command
// tests; their names start with user/User to stay clear of other files.

const (
	userTestAdmin    = "root@example.com"
	userTestPassword = "initial-admin-password"
)

// userSyncBuffer collects the server log from many goroutines.
type userSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *userSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *userSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// userTestConfig is a server config on a free port with auth on and an
// initial admin.
func userTestConfig(dataDir, initialPassword string) config.Server {
	cfg := config.DefaultServer()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.LogStorage.LocalDir = filepath.Join(dataDir, "logs")
	cfg.LocalWorkers = 1
	cfg.Auth = &config.Auth{
		JWTSecret:     "cli-test-jwt-secret-0123456789abcdef",
		RefreshSecret: "cli-test-refresh-secret-0123456789abc",
		InitialUser:   &config.InitialUser{Email: userTestAdmin, Password: initialPassword},
	}
	return cfg
}

// userStartMain runs the real Main wiring and returns its URL.
func userStartMain(t *testing.T, cfg config.Server, logs io.Writer) (*Main, string) {
	t.Helper()
	m := NewMain(cfg, env{stdout: io.Discard, stderr: logs, environ: []string{}})
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, "http://" + m.Addr()
}

// userLogin logs in through the API and returns the access token.
func userLogin(t *testing.T, url, email, password string) (string, error) {
	t.Helper()
	var p struct {
		AccessToken string `json:"access_token"`
	}
	err := client.New(url, "").Do(context.Background(), "POST", "/api/auth/login",
		map[string]string{"email": email, "password": password}, &p)
	return p.AccessToken, err
}

// userRun runs `runnel args…` in-process.
func userRun(t *testing.T, stdin string, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestUserCommandsAgainstServer(t *testing.T) {
	logs := &userSyncBuffer{}
	m, url := userStartMain(t, userTestConfig(t.TempDir(), userTestPassword), logs)
	defer m.Close()
	admin, err := userLogin(t, url, userTestAdmin, userTestPassword)
	if err != nil {
		t.Fatalf("initial admin cannot log in: %v", err)
	}
	env := []string{"RUNNEL_URL=" + url, "RUNNEL_TOKEN=" + admin}

	code, out, errOut := userRun(t, "dev-password-1\n", env, "user", "add", "dev@example.com", "--name", "Dev", "--password-stdin")
	if code != 0 || !strings.HasPrefix(out, "Created user dev@example.com (") {
		t.Fatalf("user add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := userLogin(t, url, "dev@example.com", "dev-password-1"); err != nil {
		t.Errorf("new user cannot log in: %v", err)
	}
	// Without --password-stdin and without a terminal, the prompt reads a
	// line silently (the question is only asked on a terminal).
	code, out, errOut = userRun(t, "ops-password-1\n", env, "user", "add", "--admin", "ops@example.com")
	if code != 0 || !strings.HasPrefix(out, "Created admin ops@example.com") || errOut != "" {
		t.Fatalf("user add with prompt: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	opsToken, err := userLogin(t, url, "ops@example.com", "ops-password-1")
	if err != nil {
		t.Fatalf("prompted user cannot log in: %v", err)
	}

	code, out, errOut = userRun(t, "dev-password-2\n", env, "user", "passwd", "DEV@example.com", "--password-stdin")
	if code != 0 || out != "Password changed for dev@example.com\n" {
		t.Fatalf("user passwd: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := userLogin(t, url, "dev@example.com", "dev-password-1"); err == nil {
		t.Error("old password still works")
	}
	devToken, err := userLogin(t, url, "dev@example.com", "dev-password-2")
	if err != nil {
		t.Errorf("new password does not work: %v", err)
	}

	// --server and --token override the environment.
	code, out, errOut = userRun(t, "", []string{"RUNNEL_URL=http://127.0.0.1:1", "RUNNEL_TOKEN=bogus"},
		"user", "list", "--server", url, "--token", opsToken)
	if code != 0 {
		t.Fatalf("user list: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "EMAIL") {
		t.Fatalf("user list output:\n%s", out)
	}
	for i, want := range []struct{ email, admin string }{
		{"ops@example.com", "yes"}, {"dev@example.com", "no"}, {userTestAdmin, "yes"},
	} {
		f := strings.Fields(lines[i+1])
		if f[0] != want.email || f[2] != want.admin || f[3] != "password" {
			t.Errorf("row %d = %q, want %s admin=%s", i+1, lines[i+1], want.email, want.admin)
		}
	}

	for _, tc := range []struct {
		name    string
		stdin   string
		environ []string
		args    []string
		code    int
		stderr  string
	}{
		{"duplicate", "another-password\n", env, []string{"user", "add", "dev@example.com", "--password-stdin"}, 1,
			"A user with email 'dev@example.com' already exists"},
		{"not admin", "x-password-1\n", []string{"RUNNEL_URL=" + url, "RUNNEL_TOKEN=" + devToken},
			[]string{"user", "add", "x@example.com", "--password-stdin"}, 1, "Admin access required"},
		{"no token", "", []string{"RUNNEL_URL=" + url}, []string{"user", "list"}, 1,
			"Authentication required: sign in as an admin ('runnel login') or pass an admin's token with --token or RUNNEL_TOKEN"},
		{"unknown user", "x-password-1\n", env, []string{"user", "passwd", "nobody@example.com", "--password-stdin"}, 1,
			"no user with email nobody@example.com"},
		{"short password", "short\n", env, []string{"user", "add", "y@example.com", "--password-stdin"}, 1,
			"Password must be at least 8 characters"},
		{"empty password", "\n", env, []string{"user", "add", "y@example.com", "--password-stdin"}, 1, "empty password"},
		{"unreachable", "", []string{"RUNNEL_URL=http://127.0.0.1:1"}, []string{"user", "list"}, 1, "cannot reach runnel at http://127.0.0.1:1"},
		{"no email", "", env, []string{"user", "add"}, 2, "missing EMAIL"},
		{"no command", "", env, []string{"user"}, 2, "missing command"},
		{"bad command", "", env, []string{"user", "frob"}, 2, `unknown command "frob"`},
		{"bad server", "", []string{"RUNNEL_URL=ftp://x"}, []string{"user", "list"}, 2, "invalid server URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := userRun(t, tc.stdin, tc.environ, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errOut, tc.code, tc.stderr)
			}
		})
	}
	// Help exits 0.
	if code, out, _ := userRun(t, "", nil, "user", "-h"); code != 0 || !strings.Contains(out, "reset-admin") {
		t.Errorf("user -h: exit %d, %q", code, out)
	}
	for _, pw := range []string{userTestPassword, "dev-password-1", "dev-password-2", "ops-password-1"} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("server log holds password %q", pw)
		}
	}
}

func TestInitialUserCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	logs := &userSyncBuffer{}
	m, url := userStartMain(t, userTestConfig(dir, userTestPassword), logs)
	var cfg struct {
		AuthRequired    bool `json:"auth_required"`
		HasInternalAuth bool `json:"has_internal_auth"`
	}
	if err := client.New(url, "").Do(context.Background(), "GET", "/api/config", nil, &cfg); err != nil || !cfg.AuthRequired || !cfg.HasInternalAuth {
		t.Errorf("config = %+v, %v", cfg, err)
	}
	var apiErr *client.APIError
	if err := client.New(url, "").Do(context.Background(), "GET", "/api/jobs", nil, nil); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Errorf("GET /api/jobs without a token: %v", err)
	}
	tok, err := userLogin(t, url, userTestAdmin, userTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		IsAdmin bool `json:"is_admin"`
	}
	if err := client.New(url, tok).Do(context.Background(), "GET", "/api/auth/me", nil, &me); err != nil || !me.IsAdmin {
		t.Errorf("initial user: %+v, %v", me, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "created initial admin user") {
		t.Errorf("no log line for the initial user:\n%s", logs.String())
	}

	// A restart with another configured password keeps the stored one.
	m2, url2 := userStartMain(t, userTestConfig(dir, "changed-in-config"), io.Discard)
	defer m2.Close()
	if _, err := userLogin(t, url2, userTestAdmin, "changed-in-config"); err == nil {
		t.Error("initial_user's password was updated on restart")
	}
	if _, err := userLogin(t, url2, userTestAdmin, userTestPassword); err != nil {
		t.Errorf("original password no longer works: %v", err)
	}
	if strings.Contains(logs.String(), userTestPassword) {
		t.Error("server log holds the initial password")
	}
}

// userSeedStore makes a data dir whose store holds the given users
// (email → admin) with password "old-password-1"; it returns the dir.
func userSeedStore(t *testing.T, users ...userSeed) string {
	t.Helper()
	dir := t.TempDir()
	s := jobs.NewStore(filepath.Join(dir, "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accts, err := accounts.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("old-password-1")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, u := range users {
		if err := accts.CreateUser(&accounts.User{Email: u.email, PasswordHash: hash, IsAdmin: u.admin, CreatedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// userCheckPassword opens the store and reports whether email has
// password and is an admin.
func userCheckPassword(t *testing.T, dir, email, password string) (ok, admin bool) {
	t.Helper()
	s := jobs.NewStore(filepath.Join(dir, "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	users, err := accounts.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	u, err := users.UserByEmail(email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	ok, err = auth.VerifyPassword(u.PasswordHash, password)
	if err != nil {
		t.Fatal(err)
	}
	return ok, u.IsAdmin
}

type userSeed = struct {
	email string
	admin bool
}

func TestResetAdmin(t *testing.T) {
	t.Run("oldest admin, generated password", func(t *testing.T) {
		dir := userSeedStore(t, userSeed{"first@example.com", true}, userSeed{"second@example.com", true}, userSeed{"dev@example.com", false})
		code, out, errOut := userRun(t, "", nil, "user", "reset-admin", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || lines[0] != "New password for admin first@example.com (shown once):" || len(lines[1]) != 24 {
			t.Fatalf("output %q", out)
		}
		if ok, admin := userCheckPassword(t, dir, "first@example.com", lines[1]); !ok || !admin {
			t.Errorf("printed password works: %v, admin %v", ok, admin)
		}
		if ok, _ := userCheckPassword(t, dir, "second@example.com", "old-password-1"); !ok {
			t.Error("another admin's password changed")
		}
	})
	t.Run("named user from stdin becomes admin", func(t *testing.T) {
		dir := userSeedStore(t, userSeed{"dev@example.com", false})
		code, out, errOut := userRun(t, "picked-password\n", nil, "user", "reset-admin", "--data-dir", dir, "--email", "DEV@example.com", "--password-stdin")
		if code != 0 || out != "Password set for admin dev@example.com\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if ok, admin := userCheckPassword(t, dir, "dev@example.com", "picked-password"); !ok || !admin {
			t.Errorf("password works %v, admin %v", ok, admin)
		}
	})
	t.Run("unknown email is created", func(t *testing.T) {
		dir := userSeedStore(t)
		code, out, errOut := userRun(t, "", nil, "user", "reset-admin", "--email", "new@example.com", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		pw := strings.TrimSpace(strings.Split(out, "\n")[1])
		if ok, admin := userCheckPassword(t, dir, "new@example.com", pw); !ok || !admin {
			t.Errorf("created user: password works %v, admin %v", ok, admin)
		}
	})
	t.Run("locked while a server holds the store", func(t *testing.T) {
		dir := userSeedStore(t, userSeed{"first@example.com", true})
		s := jobs.NewStore(filepath.Join(dir, "runnel.db"), time.Second)
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		code, out, errOut := userRun(t, "", nil, "user", "reset-admin", "--data-dir", dir)
		if code != 1 || out != "" || !strings.Contains(errOut, "is in use by a running runnel server: stop it first") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	for _, tc := range []struct {
		name   string
		seed   []userSeed
		args   []string
		code   int
		stderr string
	}{
		{"no admin", []userSeed{{"dev@example.com", false}}, nil, 1, "no admin user in the store: pass --email to create one"},
		{"no data dir flag", nil, []string{"--data-dir", ""}, 2, "--data-dir is required"},
		{"no database", nil, []string{"--data-dir", "/nonexistent/runnel"}, 1, "no runnel database in /nonexistent/runnel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"user", "reset-admin"}
			if tc.args != nil {
				args = append(args, tc.args...)
			} else {
				args = append(args, "--data-dir", userSeedStore(t, tc.seed...))
			}
			code, _, errOut := userRun(t, "", nil, args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errOut, tc.code, tc.stderr)
			}
		})
	}
}
