package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/httpd/client"
)

const (
	cliEmail    = "ada@example.com"
	cliPassword = "correct horse battery"
)

// cliAuthServer serves cliGatedWorkflow with authentication on and one
// admin user.
func cliAuthServer(t *testing.T) *cliServer {
	return cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, func(c *config.Server) {
		c.Auth = &config.Auth{
			JWTSecret:     strings.Repeat("j", 32),
			RefreshSecret: strings.Repeat("r", 32),
			InitialUser:   &config.InitialUser{Email: cliEmail, Password: cliPassword},
		}
	})
}

// cliStoredLogin reads the stored login of server from the environ's
// config dir (nil if none).
func cliStoredLogin(t *testing.T, environ []string, server string) *session {
	t.Helper()
	s, err := loadSessions(env{environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return s.Servers[server]
}

var (
	cliAPIKey    = regexp.MustCompile(`runnel_[0-9a-f]{32}`)
	cliKeyPrefix = regexp.MustCompile(`runnel_[0-9a-f]{8}\b`)
)

// TestCLILogin signs in, uses and renews the stored session, manages API
// keys and signs out, against a server with authentication on.
func TestCLILogin(t *testing.T) {
	s := cliAuthServer(t)
	environ := cliEnv(t, s.url)
	norm := cliNormFor(t, s)
	step := func(name, stdin string, code int, args ...string) cliResult {
		t.Helper()
		r := cliRun(t, environ, stdin, args...)
		if r.code != code {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, r.code, code, r.stdout, r.stderr)
		}
		got := cliAPIKey.ReplaceAllString(norm.apply(transcript(args, r)), "<api-key>")
		cliGolden(t, name, cliKeyPrefix.ReplaceAllString(got, "<prefix>"))
		return r
	}

	step("auth-required", "", 4, "workspaces")
	step("auth-login-wrong-password", "not it\n", 4, "login", "--email", cliEmail)
	if cliStoredLogin(t, environ, s.url) != nil {
		t.Fatal("a failed login stored a session")
	}
	step("auth-login", cliEmail+"\n"+cliPassword+"\n", 0, "login")
	first := cliStoredLogin(t, environ, s.url)
	if first == nil || first.Email != cliEmail || first.AccessToken == "" || first.RefreshToken == "" {
		t.Fatalf("stored login: %+v", first)
	}
	p, _ := sessionsPath(env{environ: environ})
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	step("auth-workspaces", "", 0, "workspaces")

	// An access token the server refuses is renewed with the refresh
	// token, which rotates.
	sessions, _ := loadSessions(env{environ: environ})
	sessions.Servers[s.url].AccessToken = "expired"
	if err := sessions.save(env{environ: environ}); err != nil {
		t.Fatal(err)
	}
	open := t.TempDir()
	if err := os.WriteFile(filepath.Join(open, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	norm.add(open, "<gate>")
	r := step("auth-trigger-after-renewal", "", 0, "trigger", "gated", "--wait", "-i", "dir="+open)
	renewed := cliStoredLogin(t, environ, s.url)
	if renewed.AccessToken == "expired" || renewed.RefreshToken == first.RefreshToken {
		t.Fatalf("session not renewed: %+v", renewed)
	}
	id := strings.TrimSpace(r.stdout)
	j, err := client.New(s.url, renewed.AccessToken).Job(t.Context(), id)
	if err != nil || j.SourceType != "user" || j.SourceID != cliEmail {
		t.Fatalf("job source %q %q, %v; want user %s", j.SourceType, j.SourceID, err, cliEmail)
	}

	// API keys: create, list, use, delete.
	r = step("auth-api-key-create", "", 0, "api-key", "create", "ci", "--expires-in-days", "30")
	key := strings.TrimSpace(r.stdout)
	if !cliAPIKey.MatchString(key) {
		t.Fatalf("created key %q", key)
	}
	step("auth-api-key-list", "", 0, "api-key", "list")
	withKey := append(append([]string{}, environ...), "RUNNEL_TOKEN="+key)
	if r := cliRun(t, withKey, "", "jobs"); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Fatalf("jobs with the API key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cliRun(t, withKey, "", "api-key", "list"); r.code != 4 || !strings.Contains(r.stderr, "API keys cannot manage API keys (HTTP 403)") {
		t.Fatalf("api-key list with an API key: exit %d\n%s", r.code, r.stderr)
	}
	step("auth-api-key-delete", "", 0, "api-key", "delete", key[:15])
	if r := cliRun(t, environ, "", "api-key", "delete", key[:15]); r.code != 2 || !strings.Contains(r.stderr, "(HTTP 404)") {
		t.Fatalf("second delete: exit %d\n%s", r.code, r.stderr)
	}
	if r := cliRun(t, withKey, "", "jobs"); r.code != 4 {
		t.Fatalf("jobs with a deleted key: exit %d\n%s", r.code, r.stderr)
	}

	step("auth-logout", "", 0, "logout")
	if cliStoredLogin(t, environ, s.url) != nil {
		t.Fatal("logout left the session stored")
	}
	step("auth-after-logout", "", 4, "workspaces")
}

// TestCLIStaleLogin: when the stored refresh token is no longer valid the
// command fails with a hint to log in again.
func TestCLIStaleLogin(t *testing.T) {
	s := cliAuthServer(t)
	environ := cliEnv(t, s.url)
	st := &sessions{Servers: map[string]*session{s.url: {Email: cliEmail, AccessToken: "expired", RefreshToken: "0190aaaa-0000-4000-8000-000000000000"}}}
	if err := st.save(env{environ: environ}); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, environ, "", "jobs")
	if r.code != 4 || !strings.Contains(r.stderr, "run 'runnel login' again (HTTP 401)") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestCLIFollowRenewsLogin: the log stream's handshake is refused with an
// expired token; the follower renews the stored login and carries on.
func TestCLIFollowRenewsLogin(t *testing.T) {
	s := cliAuthServer(t)
	environ := cliEnv(t, s.url)
	if r := cliRun(t, environ, cliEmail+"\n"+cliPassword+"\n", "login"); r.code != 0 {
		t.Fatalf("login: %d %s", r.code, r.stderr)
	}
	a, err := openAPI(env{environ: environ}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gate := t.TempDir()
	id, err := a.client.Execute(ctx, "default", "gated", map[string]any{"dir": gate})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gate, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.client.SetToken("expired")
	var got bytes.Buffer
	if _, err := a.client.Follow(ctx, id, client.FollowOptions{}, func(b []byte, _ int64) error { got.Write(b); return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.String(), "through the gate") || a.client.Token() == "expired" {
		t.Fatalf("followed %q with token %q", got.String(), a.client.Token())
	}

	// Without a stored login there is nothing to renew: the 401 ends it.
	plain := client.New(s.url, "expired")
	_, err = plain.Follow(ctx, id, client.FollowOptions{}, func([]byte, int64) error { return nil })
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("follow with a bad token: %v", err)
	}
}
