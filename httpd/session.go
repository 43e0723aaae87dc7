package httpd

import (
	"errors"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"runnel/httpd/auth"
)

// Browser sessions (runnel): the refresh token lives in an HttpOnly cookie
// scoped to sessionPath, so page scripts only ever hold the short-lived
// access token. The POSTs stay behind the cross-origin protection of every
// /api route, and SameSite=Strict keeps the cookie off cross-site requests.
const (
	sessionPath   = "/api/auth/session"
	sessionCookie = "runnel_refresh"
)

type sessionView struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// accessTTLSecs is an access token's lifetime in seconds (expires_in).
var accessTTLSecs = int(auth.AccessTTL.Seconds())

// setSession answers a session with the access token and the refresh
// cookie.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, access, refresh string) {
	http.SetCookie(w, s.sessionCookie(r, refresh, int(auth.RefreshTTL.Seconds())))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, sessionView{AccessToken: access, ExpiresIn: accessTTLSecs})
}

// sessionCookie is the refresh cookie (maxAge < 0 deletes it). It is
// Secure when the request came over TLS or the public URL is https.
func (s *Server) sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: sessionPath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.HasPrefix(strings.ToLower(s.opts.BaseURL), "https://")}
}

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessionCookie(r, "", -1))
}

// sessionLogin serves POST /api/auth/session: a login whose refresh token
// is set as a cookie instead of returned.
func (s *Server) sessionLogin(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	access, refresh, err := s.signIn(w, r)
	if err != nil {
		return err
	}
	s.setSession(w, r, access, refresh)
	return nil
}

// sessionRefresh serves POST /api/auth/session/refresh: the cookie's token
// is redeemed once and replaced; a refused token clears the cookie.
func (s *Server) sessionRefresh(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.rateLimit(w, r, s.auth.refreshRL); err != nil {
		return err
	}
	token := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		token = c.Value
	}
	access, next, err := s.rotate(token)
	var he *Error
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
		s.clearSession(w, r)
	}
	if err != nil {
		return err
	}
	s.setSession(w, r, access, next)
	return nil
}

// sessionLogout serves POST /api/auth/session/logout: the cookie's token is
// deleted and the cookie cleared; always 200.
func (s *Server) sessionLogout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if c, err := r.Cookie(sessionCookie); err != nil || !s.revoke(r, c.Value) {
		auditSkip(r) // nothing was revoked
	}
	s.clearSession(w, r)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
