package httpd_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/httpd/httpdtest"
	"runnel/jobs"
)

const (
	testJWTSecret     = "jwt-secret-0123456789abcdef-0123456789"
	testRefreshSecret = "refresh-secret-0123456789abcdef-012345"
	adminEmail        = "admin@example.com"
	adminPassword     = "admin-password-1"
)

// authWorkflow is the workspace the auth tests run: a quick task and one
// that waits to be cancelled.
const authWorkflow = `
tasks:
  quick:
    input:
      name: { type: string, default: World }
    flow:
      hello:
        type: shell
        input: { name: "{{ input.name }}" }
        cmd: echo "hello {{ input.name }}"
  slow:
    flow:
      wait:
        type: shell
        cmd: sleep 60
`

// testClock is the auth clock of a test server; tests move it forward to
// expire tokens and refill rate limits.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// authEnv is a real server (store, logs, folder workspace, engine with
// built-in workers, httpd) on 127.0.0.1 for the auth and users tests.
type authEnv struct {
	dbPath   string
	store    *jobs.Store
	accounts *accounts.Store
	engine   *jobs.Engine
	srv      *httpdtest.Server
	clock    *testClock
	logs     *syncBuffer
	// adminID is the id of the admin created at start (auth on).
	adminID string
}

type envConfig struct {
	auth    bool
	options func(*httpd.Options)
	// workflow replaces authWorkflow.
	workflow string
}

func withAuth(c *envConfig)  { c.auth = true }
func withoutAuth(*envConfig) {}
func withOptions(f func(*httpd.Options)) func(*envConfig) {
	return func(c *envConfig) { c.options = f }
}

func startAuthServer(t *testing.T, opts ...func(*envConfig)) *authEnv {
	t.Helper()
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	e := &authEnv{clock: &testClock{now: time.Now().UTC()}, logs: &syncBuffer{}}
	if cfg.workflow == "" {
		cfg.workflow = authWorkflow
	}
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": cfg.workflow}, func(c *httpdtest.Config) {
		c.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Engine.LocalWorkers = 2
		c.HTTP.Version, c.HTTP.PingInterval = "test", time.Second
		if cfg.auth {
			c.HTTP.Auth = &httpd.AuthOptions{JWTSecret: testJWTSecret, RefreshSecret: testRefreshSecret, Now: e.clock.Now}
		}
		if cfg.options != nil {
			cfg.options(&c.HTTP)
		}
	})
	e.dbPath, e.store, e.accounts, e.engine, e.srv = filepath.Join(s.DataDir, "runnel.db"), s.Store, s.Accounts, s.Engine, s
	if cfg.auth {
		hash, err := auth.HashPassword(adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		u := &accounts.User{Email: adminEmail, Name: "Admin", PasswordHash: hash, IsAdmin: true, CreatedAt: e.clock.Now()}
		if err := e.accounts.CreateUser(u); err != nil {
			t.Fatal(err)
		}
		e.adminID = u.ID
		e.clock.Advance(time.Second)
	}
	return e
}

// response is an HTTP answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) errorMsg(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.json(t, &e)
	return e.Error
}

// do sends a request with an optional bearer token and JSON body.
func (e *authEnv) do(t *testing.T, method, path, token string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			raw = string(b)
		}
		rd = strings.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want checks status and, when msg is set, the error message.
func (r response) want(t *testing.T, what string, status int, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d (body %s), want %d", what, r.status, r.body, status)
	}
	if msg != "" {
		if got := r.errorMsg(t); got != msg {
			t.Fatalf("%s: error %q, want %q", what, got, msg)
		}
	}
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (e *authEnv) login(t *testing.T, email, password string) pair {
	t.Helper()
	r := e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": email, "password": password})
	r.want(t, "login "+email, http.StatusOK, "")
	var p pair
	r.json(t, &p)
	if p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("login answer %s lacks tokens", r.body)
	}
	return p
}

// addUser creates a user through the API as the admin and returns its id.
func (e *authEnv) addUser(t *testing.T, adminToken, email, password string, admin bool) string {
	t.Helper()
	e.clock.Advance(time.Second) // distinct created_at, so list order is by creation
	r := e.do(t, "POST", "/api/users", adminToken, map[string]any{"email": email, "password": password, "is_admin": admin})
	r.want(t, "create "+email, http.StatusOK, "")
	var u struct {
		UserID string `json:"user_id"`
	}
	r.json(t, &u)
	return u.UserID
}

// runJob executes task and waits for it to end; it returns the job id.
func (e *authEnv) runJob(t *testing.T, token, task string) string {
	t.Helper()
	r := e.do(t, "POST", "/api/workspaces/default/tasks/"+task+"/execute", token, map[string]any{})
	r.want(t, "execute "+task, http.StatusOK, "")
	var out struct {
		JobID string `json:"job_id"`
	}
	r.json(t, &out)
	if task == "quick" {
		e.do(t, "GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", token, nil).want(t, "wait", http.StatusOK, "")
	}
	return out.JobID
}

func (e *authEnv) createKey(t *testing.T, token string, body any) (key, prefix string) {
	t.Helper()
	r := e.do(t, "POST", "/api/auth/api-keys", token, body)
	r.want(t, "create api key", http.StatusOK, "")
	var k struct {
		Key    string `json:"key"`
		Prefix string `json:"prefix"`
	}
	r.json(t, &k)
	return k.Key, k.Prefix
}

type route struct {
	method, path string
	body         any
	// status with a valid admin token (auth on) and with auth off.
	on, off int
}

// apiRoutes lists every /api route with a request that succeeds for an
// admin; {job}, {worker}, {user}, {prefix} are filled in by the caller.
func apiRoutes() []route {
	return []route{
		{"GET", "/api/workspaces", nil, 200, 200},
		{"POST", "/api/workspaces/default/refresh", nil, 200, 200},
		{"GET", "/api/workspaces/default/tasks", nil, 200, 200},
		{"GET", "/api/workspaces/default/tasks/quick", nil, 200, 200},
		{"POST", "/api/workspaces/default/tasks/quick/execute", map[string]any{}, 200, 200},
		{"GET", "/api/workspaces/default/triggers", nil, 200, 200},
		{"GET", "/api/jobs", nil, 200, 200},
		{"GET", "/api/jobs/{job}", nil, 200, 200},
		{"POST", "/api/jobs/{job}/cancel", nil, 409, 409},
		{"GET", "/api/jobs/{job}/logs", nil, 200, 200},
		{"GET", "/api/jobs/{job}/steps/hello/logs", nil, 200, 200},
		{"GET", "/api/workers", nil, 200, 200},
		{"GET", "/api/workers/{worker}", nil, 200, 200},
		{"GET", "/api/backup", nil, 200, 200},
		{"GET", "/api/audit", nil, 200, 200},
		{"GET", "/api/users", nil, 200, 200},
		{"GET", "/api/users/{user}", nil, 200, 404},
		{"POST", "/api/users", map[string]any{"email": "new@example.com", "password": "new-password"}, 200, 404},
		{"PUT", "/api/users/{user}/password", map[string]any{"password": "another-password"}, 200, 404},
		{"DELETE", "/api/users/{user}", nil, 200, 404},
		{"GET", "/api/auth/me", nil, 200, 404},
		{"GET", "/api/auth/api-keys", nil, 200, 404},
		{"POST", "/api/auth/api-keys", map[string]any{"name": "ci"}, 200, 404},
		{"DELETE", "/api/auth/api-keys/{prefix}", nil, 200, 404},
	}
}

// fill replaces the placeholders of a route path.
func fill(path string, vals map[string]string) string {
	for k, v := range vals {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

func (e *authEnv) builtinWorker(t *testing.T, token string) string {
	t.Helper()
	var ws []struct {
		WorkerID string `json:"worker_id"`
	}
	e.do(t, "GET", "/api/workers", token, nil).json(t, &ws)
	if len(ws) == 0 {
		t.Fatal("no workers")
	}
	return ws[0].WorkerID
}

func TestRoutesWithAuth(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	job := e.runJob(t, admin.AccessToken, "quick")
	worker := e.builtinWorker(t, admin.AccessToken)
	for _, rt := range apiRoutes() {
		vals := map[string]string{"job": job, "worker": worker}
		// Routes that consume their target get a fresh one.
		if strings.Contains(rt.path, "{user}") {
			vals["user"] = e.addUser(t, admin.AccessToken, fmt.Sprintf("u%d@example.com", time.Now().UnixNano()), "user-password", false)
		}
		if strings.Contains(rt.path, "{prefix}") {
			_, vals["prefix"] = e.createKey(t, admin.AccessToken, map[string]any{"name": "doomed"})
		}
		path := fill(rt.path, vals)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			e.do(t, rt.method, path, "", rt.body).want(t, "no token", http.StatusUnauthorized, "Authentication required")
			e.do(t, rt.method, path, "", rt.body, "Authorization", "Basic YWRtaW46eA==").
				want(t, "basic auth", http.StatusUnauthorized, "Authentication required")
			e.do(t, rt.method, path, "not-a-jwt", rt.body).want(t, "bad token", http.StatusUnauthorized, "Invalid or expired token")
			r := e.do(t, rt.method, path, admin.AccessToken, rt.body)
			r.want(t, "admin token", rt.on, "")
			if r.status == http.StatusUnauthorized {
				t.Fatalf("authorised request got 401")
			}
		})
	}
	// The public routes answer without a token.
	for _, rt := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/api/config", nil, 200},
		{"POST", "/api/auth/login", map[string]string{"email": "x@example.com", "password": "x"}, 401},
		{"POST", "/api/auth/refresh", map[string]string{"refresh_token": "nope"}, 401},
		{"POST", "/api/auth/logout", map[string]string{"refresh_token": "nope"}, 200},
	} {
		r := e.do(t, rt.method, rt.path, "", rt.body)
		if r.status != rt.status {
			t.Errorf("%s %s without token: %d %s, want %d", rt.method, rt.path, r.status, r.body, rt.status)
		}
	}
	// Unknown /api routes need a token too; /healthz does not.
	e.do(t, "GET", "/api/nope", "", nil).want(t, "unknown route", http.StatusUnauthorized, "Authentication required")
	e.do(t, "GET", "/api/nope", admin.AccessToken, nil).want(t, "unknown route with token", http.StatusNotFound, "Not found")
	e.do(t, "GET", "/healthz", "", nil).want(t, "healthz", http.StatusOK, "")
}

func TestRoutesWithoutAuth(t *testing.T) {
	e := startAuthServer(t, withoutAuth)
	job := e.runJob(t, "", "quick")
	worker := e.builtinWorker(t, "")
	for _, rt := range apiRoutes() {
		path := fill(rt.path, map[string]string{"job": job, "worker": worker,
			"user": "6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", "prefix": "runnel_00000000"})
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			r := e.do(t, rt.method, path, "", rt.body)
			msg := ""
			if rt.off == http.StatusNotFound {
				msg = "Authentication not configured"
				if rt.path == "/api/users/{user}" && rt.method == "GET" {
					msg = "User not found"
				}
			}
			r.want(t, "auth off", rt.off, msg)
		})
	}
	for _, p := range []string{"/api/auth/login", "/api/auth/refresh", "/api/auth/logout"} {
		e.do(t, "POST", p, "", map[string]string{}).want(t, p, http.StatusNotFound, "Authentication not configured")
	}
	// A token is ignored, not rejected, with auth off.
	e.do(t, "GET", "/api/jobs", "whatever", nil).want(t, "token with auth off", http.StatusOK, "")
	var users []any
	r := e.do(t, "GET", "/api/users", "", nil)
	r.json(t, &users)
	if len(users) != 0 || r.header.Get("X-Total-Count") != "0" {
		t.Errorf("users with auth off: %s (X-Total-Count %q), want []", r.body, r.header.Get("X-Total-Count"))
	}
}

func TestConfigEndpoint(t *testing.T) {
	type config struct {
		AuthRequired    bool  `json:"auth_required"`
		HasInternalAuth bool  `json:"has_internal_auth"`
		OIDCProviders   []any `json:"oidc_providers"`
	}
	for _, tc := range []struct {
		name string
		opts []func(*envConfig)
		want config
	}{
		{"off", nil, config{false, false, []any{}}},
		{"on", []func(*envConfig){withAuth}, config{true, true, []any{}}},
		{"internal provider", []func(*envConfig){withAuth, withOptions(func(o *httpd.Options) {
			o.Auth.Providers = []httpd.Provider{{ID: "local", Type: httpd.ProviderInternal}}
		})}, config{true, true, []any{}}},
		{"no internal provider", []func(*envConfig){withAuth, withOptions(func(o *httpd.Options) {
			o.Auth.Providers = []httpd.Provider{{ID: "corp", Type: "oidc"}}
		})}, config{true, false, []any{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startAuthServer(t, tc.opts...)
			var got config
			r := e.do(t, "GET", "/api/config", "", nil)
			r.want(t, "config", http.StatusOK, "")
			r.json(t, &got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsBadAuthOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth httpd.AuthOptions
		noDB bool
	}{
		{"short jwt secret", httpd.AuthOptions{JWTSecret: "short", RefreshSecret: testRefreshSecret}, false},
		{"short refresh secret", httpd.AuthOptions{JWTSecret: testJWTSecret, RefreshSecret: "short"}, false},
		{"no user store", httpd.AuthOptions{JWTSecret: testJWTSecret, RefreshSecret: testRefreshSecret}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.auth
			o := httpd.Options{Auth: &a}
			if !tc.noDB {
				s := jobs.NewStore(filepath.Join(t.TempDir(), "runnel.db"), time.Second)
				if err := s.Open(); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				users, err := accounts.Open(s)
				if err != nil {
					t.Fatal(err)
				}
				o.Users = users
			}
			if _, err := httpd.New(o); err == nil {
				t.Error("New accepted the options")
			}
		})
	}
}

// signed makes a JWT with the given method, key and claims.
func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRejectedCredentials(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	now := e.clock.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": e.adminID, "email": adminEmail, "is_admin": true,
			"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	parts := strings.Split(admin.AccessToken, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	nonePayload := b64([]byte(fmt.Sprintf(`{"sub":%q,"email":%q,"is_admin":true,"iat":%d,"exp":%d}`,
		e.adminID, adminEmail, now.Unix(), now.Add(time.Hour).Unix())))
	expiredKey, _ := e.createKey(t, admin.AccessToken, map[string]any{"name": "short-lived", "expires_in_days": 1})

	for _, tc := range []struct {
		name, header, msg string
	}{
		{"no header", "", "Authentication required"},
		{"basic", "Basic YWRtaW46cGFzcw==", "Authentication required"},
		{"bearer without token", "Bearer", "Authentication required"},
		{"bearer blank", "Bearer   ", "Authentication required"},
		{"garbage jwt", "Bearer abc.def.ghi", "Invalid or expired token"},
		{"tampered payload", "Bearer " + parts[0] + "." + b64([]byte(`{"sub":"x","is_admin":true}`)) + "." + parts[2], "Invalid or expired token"},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "Invalid or expired token"},
		{"alg none", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + nonePayload + ".", "Invalid or expired token"},
		{"alg none via library", "Bearer " + signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), "Invalid or expired token"},
		{"wrong algorithm HS512", "Bearer " + signed(t, jwt.SigningMethodHS512, []byte(testJWTSecret), claims(nil)), "Invalid or expired token"},
		{"wrong key", "Bearer " + signed(t, jwt.SigningMethodHS256, []byte(testRefreshSecret), claims(nil)), "Invalid or expired token"},
		{"expired", "Bearer " + signed(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
		})), "Invalid or expired token"},
		{"unknown user", "Bearer " + signed(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims(func(c jwt.MapClaims) {
			c["sub"] = "6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11"
		})), "Invalid or expired token"},
		{"malformed api key", "Bearer runnel_xyz", "Invalid API key"},
		{"unknown api key", "Bearer runnel_0123456789abcdef0123456789abcdef", "Invalid API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.header == "" {
				r = e.do(t, "GET", "/api/jobs", "", nil)
			} else {
				r = e.do(t, "GET", "/api/jobs", "", nil, "Authorization", tc.header)
			}
			r.want(t, tc.header, http.StatusUnauthorized, tc.msg)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// The same well-formed claims signed correctly are accepted, so the
	// rejections above are for the stated reasons.
	e.do(t, "GET", "/api/jobs", signed(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims(nil)), nil).
		want(t, "forged with the real key", http.StatusOK, "")
	e.do(t, "GET", "/api/jobs", expiredKey, nil).want(t, "fresh key", http.StatusOK, "")

	// Time passes: the access token and the one-day key expire.
	e.clock.Advance(15 * time.Minute)
	e.do(t, "GET", "/api/jobs", admin.AccessToken, nil).want(t, "expired access token", http.StatusUnauthorized, "Invalid or expired token")
	e.clock.Advance(24 * time.Hour)
	e.do(t, "GET", "/api/jobs", expiredKey, nil).want(t, "expired api key", http.StatusUnauthorized, "API key expired")
}

func TestLoginRefreshLogout(t *testing.T) {
	e := startAuthServer(t, withAuth)
	for _, tc := range []struct {
		name string
		body any
	}{
		{"wrong password", map[string]string{"email": adminEmail, "password": "wrong"}},
		{"unknown email", map[string]string{"email": "nobody@example.com", "password": adminPassword}},
		{"empty", map[string]string{}},
	} {
		e.do(t, "POST", "/api/auth/login", "", tc.body).want(t, tc.name, http.StatusUnauthorized, "Invalid email or password")
	}
	e.do(t, "POST", "/api/auth/login", "", "{").want(t, "bad json", http.StatusBadRequest, "")

	p := e.login(t, "ADMIN@example.com", adminPassword) // emails are case-insensitive
	var me map[string]any
	r := e.do(t, "GET", "/api/auth/me", p.AccessToken, nil)
	r.want(t, "me", http.StatusOK, "")
	r.json(t, &me)
	if me["user_id"] != e.adminID || me["email"] != adminEmail || me["name"] != "Admin" || me["is_admin"] != true || me["created_at"] == nil {
		t.Errorf("me = %v", me)
	}
	if len(me) != 5 {
		t.Errorf("me has keys %v, want user_id, name, email, created_at, is_admin", me)
	}
	var u map[string]any
	e.do(t, "GET", "/api/users/"+e.adminID, p.AccessToken, nil).json(t, &u)
	if u["last_login_at"] == nil {
		t.Errorf("last_login_at not set after login: %v", u)
	}

	// Refresh rotates: the new pair works, the old refresh token is spent.
	e.clock.Advance(time.Second) // a later iat gives a different access token
	r = e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken})
	r.want(t, "refresh", http.StatusOK, "")
	var p2 pair
	r.json(t, &p2)
	if p2.RefreshToken == p.RefreshToken || p2.AccessToken == "" || p2.AccessToken == p.AccessToken {
		t.Fatalf("refresh did not rotate: %+v from %+v", p2, p)
	}
	e.do(t, "GET", "/api/auth/me", p2.AccessToken, nil).want(t, "new access token", http.StatusOK, "")
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken}).
		want(t, "reuse", http.StatusUnauthorized, "Invalid refresh token")
	for _, body := range []any{map[string]string{}, map[string]string{"refresh_token": "not-a-token"}} {
		e.do(t, "POST", "/api/auth/refresh", "", body).want(t, "bad refresh", http.StatusUnauthorized, "Invalid refresh token")
	}

	// Logout revokes; it answers 200 whatever it gets.
	for _, body := range []any{map[string]string{"refresh_token": p2.RefreshToken}, "{", nil, map[string]string{"refresh_token": "x"}} {
		r := e.do(t, "POST", "/api/auth/logout", "", body)
		r.want(t, "logout", http.StatusOK, "")
		if strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
			t.Errorf("logout body %s", r.body)
		}
	}
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": p2.RefreshToken}).
		want(t, "after logout", http.StatusUnauthorized, "Invalid refresh token")

	// A refresh token expires after 30 days, and is then gone.
	p3 := e.login(t, adminEmail, adminPassword)
	e.clock.Advance(30 * 24 * time.Hour)
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": p3.RefreshToken}).
		want(t, "expired refresh", http.StatusUnauthorized, "Refresh token expired")
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": p3.RefreshToken}).
		want(t, "expired refresh again", http.StatusUnauthorized, "Invalid refresh token")
}

func TestRateLimits(t *testing.T) {
	e := startAuthServer(t, withAuth, withOptions(func(o *httpd.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	}))
	for _, tc := range []struct {
		path  string
		burst int
		every int
	}{
		{"/api/auth/login", 10, 3},
		{"/api/auth/refresh", 15, 2},
	} {
		t.Run(tc.path, func(t *testing.T) {
			client := "203.0.113.7"
			for i := range tc.burst {
				// Bad bodies are cheap and still count.
				r := e.do(t, "POST", tc.path, "", "{", "X-Forwarded-For", client)
				if r.status == http.StatusTooManyRequests {
					t.Fatalf("request %d of the burst limited", i+1)
				}
			}
			r := e.do(t, "POST", tc.path, "", "{", "X-Forwarded-For", client)
			r.want(t, "over the limit", http.StatusTooManyRequests, "Too many requests")
			var body struct {
				RetryAfter int `json:"retry_after_secs"`
			}
			r.json(t, &body)
			if body.RetryAfter != tc.every || r.header.Get("Retry-After") != fmt.Sprint(tc.every) {
				t.Errorf("retry_after_secs %d, Retry-After %q; want %d", body.RetryAfter, r.header.Get("Retry-After"), tc.every)
			}
			// Another client (by X-Forwarded-For from a trusted proxy) is not limited.
			if r := e.do(t, "POST", tc.path, "", "{", "X-Forwarded-For", "203.0.113.8"); r.status == http.StatusTooManyRequests {
				t.Error("another client limited")
			}
			e.clock.Advance(time.Duration(tc.every) * time.Second)
			if r := e.do(t, "POST", tc.path, "", "{", "X-Forwarded-For", client); r.status == http.StatusTooManyRequests {
				t.Error("still limited after the refill period")
			}
		})
	}
}

func TestAPIKeysLifecycle(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	tok := admin.AccessToken
	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"no name", map[string]any{}, "Name is required"},
		{"blank name", map[string]any{"name": "  "}, "Name is required"},
		{"zero days", map[string]any{"name": "x", "expires_in_days": 0}, "expires_in_days must be positive"},
		{"negative days", map[string]any{"name": "x", "expires_in_days": -3}, "expires_in_days must be positive"},
	} {
		e.do(t, "POST", "/api/auth/api-keys", tok, tc.body).want(t, tc.name, http.StatusBadRequest, tc.msg)
	}

	r := e.do(t, "POST", "/api/auth/api-keys", tok, map[string]any{"name": "ci", "expires_in_days": 7})
	r.want(t, "create", http.StatusOK, "")
	var created map[string]any
	r.json(t, &created)
	key, _ := created["key"].(string)
	if !auth.ValidAPIKey(key) || created["prefix"] != key[:15] || created["name"] != "ci" {
		t.Fatalf("created key %v", created)
	}
	wantExp := e.clock.Now().AddDate(0, 0, 7).UTC().Format(jobs.APITimeLayout)
	if created["expires_at"] != wantExp {
		t.Errorf("expires_at %v, want %s", created["expires_at"], wantExp)
	}
	e.clock.Advance(time.Second)
	forever, foreverPrefix := e.createKey(t, tok, map[string]any{"name": "forever"})

	type keyItem struct {
		Prefix     string  `json:"prefix"`
		Name       string  `json:"name"`
		CreatedAt  string  `json:"created_at"`
		ExpiresAt  *string `json:"expires_at"`
		LastUsedAt *string `json:"last_used_at"`
	}
	list := func() []keyItem {
		var out []keyItem
		r := e.do(t, "GET", "/api/auth/api-keys", tok, nil)
		r.want(t, "list keys", http.StatusOK, "")
		r.json(t, &out)
		return out
	}
	got := list()
	if len(got) != 2 || got[0].Name != "forever" || got[1].Name != "ci" || got[0].ExpiresAt != nil || got[1].LastUsedAt != nil {
		t.Fatalf("keys (newest first, unused) = %+v", got)
	}
	if strings.Contains(string(e.do(t, "GET", "/api/auth/api-keys", tok, nil).body), key) {
		t.Error("the key is shown again in the list")
	}

	// A key acts as its user.
	var me map[string]any
	e.do(t, "GET", "/api/auth/me", key, nil).json(t, &me)
	if me["email"] != adminEmail {
		t.Errorf("me with key = %v", me)
	}
	usedAt := e.clock.Now().Format(jobs.APITimeLayout)
	got = list()
	if got[1].LastUsedAt == nil || *got[1].LastUsedAt != usedAt {
		t.Errorf("last_used_at after use = %v, want %s", got[1].LastUsedAt, usedAt)
	}
	// Used again within a minute: not rewritten; after a minute: updated.
	e.clock.Advance(30 * time.Second)
	e.do(t, "GET", "/api/jobs", key, nil).want(t, "use", http.StatusOK, "")
	if got = list(); *got[1].LastUsedAt != usedAt {
		t.Errorf("last_used_at rewritten within a minute: %s", *got[1].LastUsedAt)
	}
	e.clock.Advance(31 * time.Second)
	e.do(t, "GET", "/api/jobs", key, nil).want(t, "use", http.StatusOK, "")
	if got = list(); *got[1].LastUsedAt != e.clock.Now().Format(jobs.APITimeLayout) {
		t.Errorf("last_used_at after a minute = %s", *got[1].LastUsedAt)
	}

	// Keys cannot manage keys.
	for _, m := range []struct{ method, path string }{
		{"GET", "/api/auth/api-keys"}, {"POST", "/api/auth/api-keys"}, {"DELETE", "/api/auth/api-keys/" + foreverPrefix},
	} {
		e.do(t, m.method, m.path, key, map[string]any{"name": "x"}).
			want(t, "key managing keys", http.StatusForbidden, "API keys cannot manage API keys")
	}

	// Delete by prefix; a deleted key no longer works.
	e.do(t, "DELETE", "/api/auth/api-keys/"+foreverPrefix, tok, nil).want(t, "delete", http.StatusOK, "")
	e.do(t, "DELETE", "/api/auth/api-keys/"+foreverPrefix, tok, nil).want(t, "delete again", http.StatusNotFound, "API key not found")
	e.do(t, "GET", "/api/jobs", forever, nil).want(t, "deleted key", http.StatusUnauthorized, "Invalid API key")
	if got = list(); len(got) != 1 {
		t.Errorf("after delete: %+v", got)
	}

	// Another user cannot see or delete the admin's key.
	other := e.addUser(t, tok, "other@example.com", "other-password", false)
	_ = other
	op := e.login(t, "other@example.com", "other-password")
	var otherKeys []keyItem
	e.do(t, "GET", "/api/auth/api-keys", op.AccessToken, nil).json(t, &otherKeys)
	if len(otherKeys) != 0 {
		t.Errorf("other user sees keys %+v", otherKeys)
	}
	e.do(t, "DELETE", "/api/auth/api-keys/"+key[:15], op.AccessToken, nil).want(t, "delete other's key", http.StatusNotFound, "API key not found")

	// Expiry.
	e.clock.Advance(7 * 24 * time.Hour)
	e.do(t, "GET", "/api/jobs", key, nil).want(t, "expired key", http.StatusUnauthorized, "API key expired")
}

// jobSource reads a job's source through the API.
func (e *authEnv) jobSource(t *testing.T, token, id string) (string, any) {
	t.Helper()
	var j struct {
		SourceType string `json:"source_type"`
		SourceID   any    `json:"source_id"`
	}
	e.do(t, "GET", "/api/jobs/"+id, token, nil).json(t, &j)
	return j.SourceType, j.SourceID
}

func TestJobsBySignedInUsers(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	e.addUser(t, admin.AccessToken, "dev@example.com", "dev-password", false)
	dev := e.login(t, "dev@example.com", "dev-password")
	key, _ := e.createKey(t, dev.AccessToken, map[string]any{"name": "ci"})

	for _, tc := range []struct{ name, token, email string }{
		{"jwt", dev.AccessToken, "dev@example.com"},
		{"api key", key, "dev@example.com"},
		{"admin", admin.AccessToken, adminEmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.runJob(t, tc.token, "quick")
			typ, src := e.jobSource(t, tc.token, id)
			if typ != "user" || src != tc.email {
				t.Errorf("source = %s/%v, want user/%s", typ, src, tc.email)
			}
		})
	}

	// Cancelling records who did it.
	id := e.runJob(t, key, "slow")
	e.do(t, "POST", "/api/jobs/"+id+"/cancel", key, nil).want(t, "cancel", http.StatusOK, "")
	var logs struct {
		Logs string `json:"logs"`
	}
	e.do(t, "GET", "/api/jobs/"+id+"/logs", dev.AccessToken, nil).json(t, &logs)
	if !strings.Contains(logs.Logs, "Job cancelled by dev@example.com") {
		t.Errorf("job log lacks the canceller:\n%s", logs.Logs)
	}
}

func TestJobsWithAuthOffAreAPIJobs(t *testing.T) {
	e := startAuthServer(t, withoutAuth)
	id := e.runJob(t, "", "quick")
	if typ, src := e.jobSource(t, "", id); typ != "api" || src != nil {
		t.Errorf("source = %s/%v, want api/null", typ, src)
	}
}

func TestLogStreamToken(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	key, _ := e.createKey(t, admin.AccessToken, map[string]any{"name": "ws"})
	job := e.runJob(t, admin.AccessToken, "quick")
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/jobs/" + job + "/logs/stream"

	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		status int // 0 = upgraded
	}{
		{"query jwt", "?token=" + admin.AccessToken, nil, 0},
		{"query api key", "?token=" + key, nil, 0},
		{"header", "", http.Header{"Authorization": {"Bearer " + admin.AccessToken}}, 0},
		{"no token", "", nil, http.StatusUnauthorized},
		{"bad query token", "?token=nope", nil, http.StatusUnauthorized},
		{"empty query token", "?token=", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{HandshakeTimeout: jobstest.Patience()}
			conn, resp, err := d.Dial(wsURL+tc.query, tc.header)
			if tc.status != 0 {
				if err == nil {
					conn.Close()
					t.Fatal("upgraded without a valid token")
				}
				if resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("handshake: %v (resp %v), want %d", err, resp, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(jobstest.Patience()))
			var got strings.Builder
			for {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
						t.Fatalf("stream ended with %v", err)
					}
					break
				}
				got.Write(msg)
			}
			if !strings.Contains(got.String(), "hello World") {
				t.Errorf("stream lacks the step output:\n%s", got.String())
			}
		})
	}
	// ?token= is only for the stream.
	e.do(t, "GET", "/api/jobs/"+job+"/logs?token="+admin.AccessToken, "", nil).
		want(t, "token query on REST", http.StatusUnauthorized, "Authentication required")
}

func TestCORSForBaseURL(t *testing.T) {
	e := startAuthServer(t, withAuth, withOptions(func(o *httpd.Options) { o.BaseURL = "https://runnel.example.com/" }))
	admin := e.login(t, adminEmail, adminPassword)
	r := e.do(t, "OPTIONS", "/api/jobs", "", nil, "Origin", "https://runnel.example.com",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://runnel.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	r = e.do(t, "GET", "/api/jobs", admin.AccessToken, nil, "Origin", "https://runnel.example.com")
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "https://runnel.example.com" {
		t.Errorf("simple request from base_url: %d %v", r.status, r.header)
	}
	r = e.do(t, "GET", "/api/jobs", admin.AccessToken, nil, "Origin", "https://evil.example.com")
	if acao := r.header.Get("Access-Control-Allow-Origin"); acao != "" {
		t.Errorf("other origin got Access-Control-Allow-Origin %q", acao)
	}
}

func TestSecretsNeverStoredOrShown(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	const devPassword = "dev-password-visible?"
	const newPassword = "changed-password-visible?"
	devID := e.addUser(t, admin.AccessToken, "dev@example.com", devPassword, false)
	dev := e.login(t, "dev@example.com", devPassword)
	key, _ := e.createKey(t, dev.AccessToken, map[string]any{"name": "ci"})
	refreshed := e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": dev.RefreshToken})
	var p2 pair
	refreshed.json(t, &p2)
	e.do(t, "PUT", "/api/users/"+devID+"/password", admin.AccessToken, map[string]string{"password": newPassword}).
		want(t, "set password", http.StatusOK, "")
	p3 := e.login(t, "dev@example.com", newPassword)
	e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": "dev@example.com", "password": devPassword}).
		want(t, "old password", http.StatusUnauthorized, "Invalid email or password")

	// API output: no hashes.
	var outputs []byte
	for _, p := range []string{"/api/users", "/api/users/" + devID, "/api/auth/me", "/api/auth/api-keys"} {
		outputs = append(outputs, e.do(t, "GET", p, admin.AccessToken, nil).body...)
	}
	if bytes.Contains(outputs, []byte("argon2")) || bytes.Contains(outputs, []byte("password_hash")) {
		t.Errorf("API output shows password hashes:\n%s", outputs)
	}

	secrets := []string{adminPassword, devPassword, newPassword, key, dev.RefreshToken, p2.RefreshToken,
		p3.RefreshToken, admin.RefreshToken}
	e.store.Close() // flush and release the file
	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(db, []byte("dev@example.com")) || !bytes.Contains(db, []byte("$argon2id$v=19$m=19456,t=2,p=1$")) {
		t.Fatal("the db file does not hold the users: the check below would prove nothing")
	}
	logs := e.logs.String()
	for _, s := range secrets {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the db file holds %q in clear", s)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the server log holds %q", s)
		}
	}
}
