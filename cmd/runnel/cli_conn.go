package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"runnel/httpd/client"
)

// This file decides which server a client command talks to, with which
// credentials, and in which workspace — the one place these rules live:
//
//   - server: --server, else RUNNEL_URL, else http://127.0.0.1:8080;
//   - token: --token, else RUNNEL_TOKEN (an API key or access token), else
//     the session `runnel login` stored for that server, whose access
//     token is refreshed on a 401 (so long follows survive expiry);
//   - workspace: --workspace, else RUNNEL_WORKSPACE, else the only
//     workspace of the server, else "default".

// defaultServer is the server of a client command when none is named.
const defaultServer = "http://127.0.0.1:8080"

// connFlags are the flags every client command shares.
type connFlags struct {
	server, token, workspace *string
}

// addConnFlags adds --server and --token, and --workspace when the
// command works inside one workspace.
func addConnFlags(fs *flag.FlagSet, withWorkspace bool) *connFlags {
	cf := &connFlags{
		server: fs.String("server", "", "server URL (default $RUNNEL_URL, else "+defaultServer+")"),
		token:  fs.String("token", "", "API key or access token (default $RUNNEL_TOKEN, else the stored login)"),
	}
	if withWorkspace {
		cf.workspace = fs.String("workspace", "", "workspace (default $RUNNEL_WORKSPACE, else the only one, else 'default')")
	}
	return cf
}

// apiConn is a resolved connection to a server.
type apiConn struct {
	e env
	// server is the normalised base URL; it keys the stored login.
	server string
	client *client.Client
	// wsFlag is --workspace ("" when not given or not offered).
	wsFlag string

	mu sync.Mutex // serialises refreshes of the stored login
}

// open resolves the flags of a client command into a connection.
func (cf *connFlags) open(e env) (*apiConn, error) {
	a, err := openAPI(e, *cf.server, *cf.token)
	if err != nil {
		return nil, err
	}
	if cf.workspace != nil {
		a.wsFlag = *cf.workspace
	}
	return a, nil
}

// openAPI resolves the server and token from flags (which may be empty),
// the environment and the stored login, and returns a client for them.
// A stored login also installs the refresh hook.
func openAPI(e env, serverFlag, tokenFlag string) (*apiConn, error) {
	a, err := anonymousAPI(e, serverFlag)
	if err != nil {
		return nil, err
	}
	token := tokenFlag
	if token == "" {
		token = e.getenv("RUNNEL_TOKEN")
	}
	a.client.SetToken(token)
	if token == "" {
		if s, _ := loadSessions(e); s != nil {
			if l := s.Servers[a.server]; l != nil {
				a.client.SetToken(l.AccessToken)
				a.client.Refresh = a.refresh
			}
		}
	}
	return a, nil
}

// anonymousAPI resolves only the server: a client without credentials
// (for login and logout).
func anonymousAPI(e env, serverFlag string) (*apiConn, error) {
	raw := serverFlag
	if raw == "" {
		raw = e.getenv("RUNNEL_URL")
	}
	if raw == "" {
		raw = defaultServer
	}
	server, err := normalizeServer(raw)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	c := client.New(server, "")
	c.UserAgent = "runnel-cli/" + version
	return &apiConn{e: e, server: server, client: c}, nil
}

// normalizeServer checks a server URL and returns it without a trailing
// slash; a bare host:port means http.
func normalizeServer(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid server URL %q (want http://host:port)", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// workspace resolves the workspace of a command: the flag, the
// environment, the server's only workspace, else "default".
func (a *apiConn) workspace(ctx context.Context) (string, error) {
	if a.wsFlag != "" {
		return a.wsFlag, nil
	}
	if ws := a.e.getenv("RUNNEL_WORKSPACE"); ws != "" {
		return ws, nil
	}
	list, err := a.client.Workspaces(ctx)
	if err != nil {
		return "", err
	}
	if len(list) == 1 {
		return list[0].Name, nil
	}
	return "default", nil
}

// workspaceFilter is the workspace a listing is limited to: the flag or
// RUNNEL_WORKSPACE, "" for all.
func (a *apiConn) workspaceFilter() string {
	if a.wsFlag != "" {
		return a.wsFlag
	}
	return a.e.getenv("RUNNEL_WORKSPACE")
}

// refresh is the client's 401 hook for a stored login: it trades the
// stored refresh token (single use) for a new pair and stores it. If
// another process has already rotated the pair, its access token is
// taken instead.
func (a *apiConn) refresh(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := loadSessions(a.e)
	if err != nil {
		return "", err
	}
	l := s.Servers[a.server]
	if l == nil || l.RefreshToken == "" {
		return "", &client.APIError{Status: http.StatusUnauthorized, Message: "Not logged in to " + a.server + "; run 'runnel login'"}
	}
	if l.AccessToken != a.client.Token() && tokenFresh(l.AccessToken, time.Now()) {
		return l.AccessToken, nil
	}
	rc := client.New(a.server, "")
	rc.HTTP, rc.UserAgent = a.client.HTTP, a.client.UserAgent
	toks, err := rc.RefreshTokens(ctx, l.RefreshToken)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return "", &client.APIError{Status: ae.Status, Message: ae.Message + "; run 'runnel login' again", Body: ae.Body}
	}
	if err != nil {
		return "", err
	}
	l.AccessToken, l.RefreshToken = toks.AccessToken, toks.RefreshToken
	if err := s.save(a.e); err != nil {
		return "", err
	}
	return toks.AccessToken, nil
}

// tokenFresh reports whether a JWT's exp claim is more than a minute
// after now (the signature is the server's business).
func tokenFresh(jwt string, now time.Time) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return false
	}
	return time.Unix(claims.Exp, 0).After(now.Add(time.Minute))
}

// sessions is the stored logins file, <config dir>/runnel/credentials.json
// (mode 0600), keyed by normalised server URL.
type sessions struct {
	Servers map[string]*session `json:"servers"`
}

// session is one stored login.
type session struct {
	Email        string `json:"email"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// sessionsPath is where logins are stored.
func sessionsPath(e env) (string, error) {
	dir, err := userConfigDir(e)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "runnel", "credentials.json"), nil
}

// userConfigDir is os.UserConfigDir read from the command's environment.
func userConfigDir(e env) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := e.getenv("AppData"); d != "" {
			return d, nil
		}
		return "", errors.New("%AppData% is not set")
	case "darwin", "ios":
		if h := e.getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support"), nil
		}
		return "", errors.New("$HOME is not set")
	}
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config"), nil
	}
	return "", errors.New("neither $XDG_CONFIG_HOME nor $HOME is set")
}

// loadSessions reads the stored logins; a missing file is empty.
func loadSessions(e env) (*sessions, error) {
	p, err := sessionsPath(e)
	if err != nil {
		return nil, err
	}
	s := &sessions{Servers: map[string]*session{}}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored logins: %w", err)
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("read stored logins %s: %w", p, err)
	}
	if s.Servers == nil {
		s.Servers = map[string]*session{}
	}
	return s, nil
}

// save writes the stored logins atomically with mode 0600 (directory 0700).
func (s *sessions) save(e env) error {
	p, err := sessionsPath(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("store login: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".credentials-*")
	if err != nil {
		return fmt.Errorf("store login: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("store login: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("store login: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store login: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("store login: %w", err)
	}
	return nil
}
