package httpd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/jobs/api"
	"runnel/jobs/audit"
)

// AuthOptions configure authentication (the config's auth section, SPEC
// §12); nil Options.Auth means auth is off. Options.Users must be set when
// it is on.
type AuthOptions struct {
	// JWTSecret signs access tokens (HS256); at least 32 bytes.
	JWTSecret string
	// RefreshSecret is the HMAC key of stored refresh tokens; at least 32
	// bytes.
	RefreshSecret string
	// Providers are the configured login providers; none means the
	// internal (password) provider only.
	Providers []Provider
	// HashConcurrency bounds simultaneous argon2 computations (19 MiB
	// each); default 4.
	HashConcurrency int
	// Now is the clock for token issue and expiry; default time.Now.
	Now func() time.Time
}

// Provider is one configured login provider.
type Provider struct {
	ID string
	// Type is "internal" or "oidc" (later).
	Type        string
	DisplayName string
}

// ProviderInternal is the password provider type.
const ProviderInternal = "internal"

// Users is what the server needs from the account store (*accounts.Store).
type Users interface {
	CreateUser(u *accounts.User) error
	User(id string) (*accounts.User, error)
	UserByEmail(email string) (*accounts.User, error)
	Users(limit, offset int) ([]*accounts.User, int, error)
	SetPassword(id, hash string) error
	DeleteUser(id string) error
	RecordLogin(rt accounts.RefreshToken) error
	RotateRefreshToken(oldHash string, next accounts.RefreshToken) (*accounts.User, error)
	DeleteRefreshToken(hash string) error
	RefreshTokenUser(hash string) (*accounts.User, error)
	CreateAPIKey(k accounts.APIKey) error
	APIKeys(userID string) ([]*accounts.APIKey, error)
	APIKeyByHash(hash string) (*accounts.APIKey, *accounts.User, error)
	DeleteAPIKey(userID, prefix string) error
	TouchAPIKey(hash string, now time.Time) error
}

// Rate limits of SPEC §12.5, per client address.
const (
	loginBurst   = 10
	loginEvery   = 3 * time.Second
	refreshBurst = 15
	refreshEvery = 2 * time.Second
)

// maxAPIKeyDays caps expires_in_days (100 years).
const maxAPIKeyDays = 36500

// authState is the server's authentication machinery; nil when auth is
// off. Immutable after New (the limiters lock internally).
type authState struct {
	signer     *auth.Signer
	refreshKey []byte
	hasher     *auth.Hasher
	loginRate  *auth.Limiter
	refreshRL  *auth.Limiter
	now        func() time.Time
	providers  []Provider
	users      Users
}

// initAuth validates the auth options and builds s.auth (nil with auth
// off).
func (s *Server) initAuth() error {
	a := s.opts.Auth
	if a == nil {
		return nil
	}
	if s.opts.Users == nil {
		return errors.New("auth is configured but no user store was given")
	}
	signer, err := auth.NewSigner(a.JWTSecret)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if len(a.RefreshSecret) < auth.MinSecretLen {
		return fmt.Errorf("auth: refresh secret is %d bytes, need at least %d", len(a.RefreshSecret), auth.MinSecretLen)
	}
	now := a.Now
	if now == nil {
		now = time.Now
	}
	conc := a.HashConcurrency
	if conc <= 0 {
		conc = 4
	}
	s.auth = &authState{
		signer:     signer,
		refreshKey: []byte(a.RefreshSecret),
		hasher:     auth.NewHasher(conc),
		loginRate:  auth.NewLimiter(loginBurst, loginEvery, 0),
		refreshRL:  auth.NewLimiter(refreshBurst, refreshEvery, 0),
		now:        func() time.Time { return now().UTC() },
		providers:  a.Providers,
		users:      s.opts.Users,
	}
	return nil
}

// hasInternalAuth reports auth on with no providers or an internal one.
func (s *Server) hasInternalAuth() bool {
	if s.auth == nil {
		return false
	}
	if len(s.auth.providers) == 0 {
		return true
	}
	for _, p := range s.auth.providers {
		if p.Type == ProviderInternal {
			return true
		}
	}
	return false
}

// authRoutes registers /api/auth/* and /api/users; with auth off every
// /api/auth route answers 404 "Authentication not configured".
func (s *Server) authRoutes(r *httprouter.Router) {
	defer s.userRoutes(r)
	if s.auth == nil {
		off := s.handle(func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
			return errAuthOff
		})
		for _, p := range []string{"/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/api/auth/api-keys",
			sessionPath, sessionPath + "/refresh", sessionPath + "/logout"} {
			r.POST(p, off)
		}
		r.GET("/api/auth/me", off)
		r.GET("/api/auth/api-keys", off)
		r.DELETE("/api/auth/api-keys/:prefix", off)
		return
	}
	r.POST("/api/auth/login", s.handle(s.login))
	r.POST("/api/auth/refresh", s.handle(s.refresh))
	r.POST("/api/auth/logout", s.handle(s.logout))
	r.POST(sessionPath, s.handle(s.sessionLogin))
	r.POST(sessionPath+"/refresh", s.handle(s.sessionRefresh))
	r.POST(sessionPath+"/logout", s.handle(s.sessionLogout))
	r.GET("/api/auth/me", s.handle(s.me))
	r.POST("/api/auth/api-keys", s.handle(s.createAPIKey))
	r.GET("/api/auth/api-keys", s.handle(s.listAPIKeys))
	r.DELETE("/api/auth/api-keys/:prefix", s.handle(s.deleteAPIKey))
}

var errAuthOff = errorf(http.StatusNotFound, "Authentication not configured")

// principal is the signed-in caller of a request.
type principal struct {
	UserID  string
	Email   string
	IsAdmin bool
	// APIKey is set when the caller used an API key rather than a JWT;
	// KeyPrefix is then the key's prefix.
	APIKey    bool
	KeyPrefix string
	// KeyName is the API key's name (with APIKey).
	KeyName string
}

type principalKey struct{}

// principalOf returns the request's caller (nil with auth off or on a
// public route).
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// userOf returns the signed-in user's email ("" with auth off).
func userOf(r *http.Request) string {
	if p := principalOf(r); p != nil {
		return p.Email
	}
	return ""
}

// publicRoute reports the /api routes open with auth on (SPEC §12.3).
func publicRoute(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/config":
		return r.Method == http.MethodGet || r.Method == http.MethodHead
	case "/api/auth/login", "/api/auth/refresh", "/api/auth/logout",
		sessionPath, sessionPath + "/refresh", sessionPath + "/logout":
		return r.Method == http.MethodPost
	}
	return false
}

// streamRoute reports the WebSocket log stream, which also accepts
// ?token= (browsers cannot set headers on WebSocket requests).
func streamRoute(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodGet && strings.HasPrefix(p, "/api/jobs/") && strings.HasSuffix(p, "/logs/stream") &&
		strings.Count(p, "/") == 5
}

// authenticate guards /api routes when auth is on: every route except the
// public ones needs a valid bearer JWT or API key, and the caller is
// attached to the request context. It also answers CORS for
// Options.BaseURL. Other paths (/push, /worker, /hooks) pass untouched.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		if s.cors(w, r) {
			return
		}
		if s.auth == nil || publicRoute(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.credentials(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="runnel"`)
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// cors sets CORS headers for a request from auth.base_url's origin and
// answers its preflight (returning true). Other origins get no CORS
// headers, never "*".
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || s.opts.BaseURL == "" {
		return false
	}
	u, err := url.Parse(s.opts.BaseURL)
	if err != nil || !strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "X-Total-Count, Retry-After")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// 401 answers of SPEC §12.3.
var (
	errAuthRequired  = errorf(http.StatusUnauthorized, "Authentication required")
	errInvalidToken  = errorf(http.StatusUnauthorized, "Invalid or expired token")
	errInvalidAPIKey = errorf(http.StatusUnauthorized, "Invalid API key")
	errAPIKeyExpired = errorf(http.StatusUnauthorized, "API key expired")
)

// credentials checks the request's bearer token (or ?token= on the log
// stream): an API key by its hash, else a JWT. The user must still exist;
// its current email and admin flag are used.
func (s *Server) credentials(r *http.Request) (*principal, error) {
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok && r.Header.Get("Authorization") == "" && streamRoute(r) {
		tok = r.URL.Query().Get("token")
		ok = tok != ""
	}
	if !ok {
		return nil, errAuthRequired
	}
	a := s.auth
	now := a.now()
	if strings.HasPrefix(tok, auth.APIKeyPrefix) {
		if !auth.ValidAPIKey(tok) {
			return nil, errInvalidAPIKey
		}
		hash := auth.HashAPIKey(tok)
		k, u, err := a.users.APIKeyByHash(hash)
		if errors.Is(err, accounts.ErrNotFound) {
			return nil, errInvalidAPIKey
		}
		if err != nil {
			return nil, err
		}
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			return nil, errAPIKeyExpired
		}
		if k.LastUsedAt.IsZero() || now.Sub(k.LastUsedAt) >= accounts.APIKeyTouchInterval {
			if err := a.users.TouchAPIKey(hash, now); err != nil {
				s.log.Warn("record api key use", "prefix", k.Prefix, "err", err)
			}
		}
		return &principal{UserID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, APIKey: true, KeyPrefix: k.Prefix, KeyName: k.Name}, nil
	}
	c, err := a.signer.Verify(tok, now)
	if err != nil {
		return nil, errInvalidToken
	}
	u, err := a.users.User(c.Subject)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, errInvalidToken
	}
	if err != nil {
		return nil, err
	}
	return &principal{UserID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin}, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (scheme case-insensitive).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// rateLimit takes a token from l for the client; over the limit it sets
// Retry-After and returns the 429.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, l *auth.Limiter) error {
	ok, wait := l.Allow(s.clientIP(r), s.auth.now())
	if ok {
		return nil
	}
	secs := auth.RetryAfterSecs(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return &Error{Status: http.StatusTooManyRequests, Msg: "Too many requests", Extra: map[string]any{"retry_after_secs": secs}}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login serves POST /api/auth/login.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	access, refresh, err := s.signIn(w, r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Tokens{AccessToken: access, RefreshToken: refresh})
	return nil
}

// signIn checks the rate limit and the {"email","password"} body and
// issues an access token and a stored refresh token. An unknown email
// costs one argon2 verification like a wrong password, and both get the
// same answer.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) (access, refresh string, err error) {
	a := s.auth
	if err := s.rateLimit(w, r, a.loginRate); err != nil {
		return "", "", err
	}
	var req loginRequest
	if err := decodeBody(w, r, &req); err != nil {
		return "", "", err
	}
	auditTarget(r, req.Email)
	u, err := a.users.UserByEmail(req.Email)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return "", "", err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := a.hasher.Verify(r.Context(), hash, req.Password)
	if err != nil {
		return "", "", err
	}
	if !ok || u == nil {
		return "", "", errBadLogin
	}
	now := a.now()
	access, err = a.signer.Sign(u.ID, u.Email, u.IsAdmin, now)
	if err != nil {
		return "", "", err
	}
	refresh = auth.NewRefreshToken()
	err = a.users.RecordLogin(accounts.RefreshToken{Hash: auth.HashRefreshToken(a.refreshKey, refresh), UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(auth.RefreshTTL)})
	if errors.Is(err, accounts.ErrNotFound) {
		// Deleted between the lookup and now.
		return "", "", errBadLogin
	}
	if err != nil {
		return "", "", err
	}
	auditActor(r, u.Email, audit.ActorUser)
	return access, refresh, nil
}

var (
	errBadLogin       = errorf(http.StatusUnauthorized, "Invalid email or password")
	errBadRefresh     = errorf(http.StatusUnauthorized, "Invalid refresh token")
	errExpiredRefresh = errorf(http.StatusUnauthorized, "Refresh token expired")
)

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh serves POST /api/auth/refresh.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	a := s.auth
	if err := s.rateLimit(w, r, a.refreshRL); err != nil {
		return err
	}
	var req refreshRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	access, next, err := s.rotate(req.RefreshToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Tokens{AccessToken: access, RefreshToken: next})
	return nil
}

// rotate redeems a refresh token once and issues a new access token and
// refresh token.
func (s *Server) rotate(token string) (access, next string, err error) {
	a := s.auth
	if token == "" {
		return "", "", errBadRefresh
	}
	now := a.now()
	oldHash := auth.HashRefreshToken(a.refreshKey, token)
	next = auth.NewRefreshToken()
	u, err := a.users.RotateRefreshToken(oldHash, accounts.RefreshToken{Hash: auth.HashRefreshToken(a.refreshKey, next),
		CreatedAt: now, ExpiresAt: now.Add(auth.RefreshTTL)})
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return "", "", errBadRefresh
	case errors.Is(err, accounts.ErrExpired):
		if err := a.users.DeleteRefreshToken(oldHash); err != nil {
			s.log.Warn("drop expired refresh token", "err", err)
		}
		return "", "", errExpiredRefresh
	case err != nil:
		return "", "", err
	}
	access, err = a.signer.Sign(u.ID, u.Email, u.IsAdmin, now)
	if err != nil {
		return "", "", err
	}
	return access, next, nil
}

// logout serves POST /api/auth/logout: it revokes the refresh token if
// there is one and always answers 200. Only a logout that revoked a token
// is audited, as its user.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req refreshRequest
	if err := decodeBody(w, r, &req); err != nil || !s.revoke(r, req.RefreshToken) {
		auditSkip(r) // nothing was revoked
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// revoke deletes a refresh token and names its user as the request's audit
// actor; false when there was nothing to revoke.
func (s *Server) revoke(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	hash := auth.HashRefreshToken(s.auth.refreshKey, token)
	u, uerr := s.auth.users.RefreshTokenUser(hash)
	if err := s.auth.users.DeleteRefreshToken(hash); err != nil {
		s.log.Warn("logout: revoke refresh token", "err", err)
		return false
	}
	if uerr != nil {
		return false
	}
	auditActor(r, u.Email, audit.ActorUser)
	auditTarget(r, u.Email)
	return true
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	p := principalOf(r)
	u, err := s.auth.users.User(p.UserID)
	if err != nil {
		return notFoundAs(err, errInvalidToken)
	}
	writeJSON(w, http.StatusOK, wireMe(u))
	return nil
}

// notFoundAs replaces accounts.ErrNotFound with e.
func notFoundAs(err error, e *Error) error {
	if errors.Is(err, accounts.ErrNotFound) {
		return e
	}
	return err
}

// keyManager returns the caller unless it authenticated with an API key:
// keys cannot mint or revoke keys.
func keyManager(r *http.Request) (*principal, error) {
	p := principalOf(r)
	if p.APIKey {
		return nil, errorf(http.StatusForbidden, "API keys cannot manage API keys")
	}
	return p, nil
}

type createKeyRequest struct {
	Name          string `json:"name"`
	ExpiresInDays *int   `json:"expires_in_days"`
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	p, err := keyManager(r)
	if err != nil {
		return err
	}
	var req createKeyRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return errorf(http.StatusBadRequest, "Name is required")
	}
	if len(name) > 200 {
		return errorf(http.StatusBadRequest, "Name must be at most 200 characters")
	}
	now := s.auth.now()
	var expires time.Time
	if d := req.ExpiresInDays; d != nil {
		if *d <= 0 {
			return errorf(http.StatusBadRequest, "expires_in_days must be positive")
		}
		if *d > maxAPIKeyDays {
			return errorf(http.StatusBadRequest, "expires_in_days must be at most %d", maxAPIKeyDays)
		}
		expires = now.AddDate(0, 0, *d)
	}
	// A prefix clash with one of the caller's keys (32 random bits) is
	// retried with a fresh key.
	for range 3 {
		key, prefix, err := auth.NewAPIKey()
		if err != nil {
			return err
		}
		err = s.auth.users.CreateAPIKey(accounts.APIKey{Hash: auth.HashAPIKey(key), UserID: p.UserID, Name: name,
			Prefix: prefix, CreatedAt: now, ExpiresAt: expires})
		if errors.Is(err, accounts.ErrExists) {
			continue
		}
		if err != nil {
			return notFoundAs(err, errInvalidToken)
		}
		auditTarget(r, prefix)
		auditDetail(r, "name", name)
		if !expires.IsZero() {
			auditDetail(r, "expires_at", expires.Format(api.TimeLayout))
		}
		writeJSON(w, http.StatusOK, api.NewAPIKey{Key: key, Name: name, Prefix: prefix, ExpiresAt: api.At(expires)})
		return nil
	}
	return errors.New("create api key: prefix clashed three times")
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	p, err := keyManager(r)
	if err != nil {
		return err
	}
	keys, err := s.auth.users.APIKeys(p.UserID)
	if err != nil {
		return err
	}
	out := make([]api.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, wireAPIKey(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	p, err := keyManager(r)
	if err != nil {
		return err
	}
	if err := s.auth.users.DeleteAPIKey(p.UserID, ps.ByName("prefix")); err != nil {
		return notFound(err, "API key not found")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
