package httpd

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// AuthOptions configure authentication (the config's auth section); nil
// Options.Auth means auth is off.
type AuthOptions struct{}

// authRoutes registers /api/auth/*; with auth off they answer 404
// "Authentication not configured".
func (s *Server) authRoutes(r *httprouter.Router) {
	off := s.handle(func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		return errorf(http.StatusNotFound, "Authentication not configured")
	})
	for _, p := range []string{"/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/api/auth/api-keys"} {
		r.POST(p, off)
	}
	r.GET("/api/auth/me", off)
	r.GET("/api/auth/api-keys", off)
	r.DELETE("/api/auth/api-keys/:prefix", off)
}

// authenticate checks credentials on /api routes when auth is on.
func (s *Server) authenticate(next http.Handler) http.Handler { return next }

// userOf returns the signed-in user's email ("" with auth off).
func userOf(r *http.Request) string { return "" }
