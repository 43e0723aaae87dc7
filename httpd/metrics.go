package httpd

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"runnel/httpd/web"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
)

// Metrics is what the server needs from the metrics registry.
type Metrics interface {
	// HTTPRequest records a request under its route template.
	HTTPRequest(route, method string, code int, took time.Duration)
	// Handler serves the Prometheus exposition, without authentication.
	Handler() http.Handler
}

// unmatchedRoute is the route label of requests no route matched (404,
// 405), so probing random paths adds no label values; uiRoute is the label
// of every web UI page and asset.
const (
	unmatchedRoute = "unmatched"
	uiRoute        = "ui"
)

// metricsRoutes registers GET /metrics when Options.Metrics is set.
func (s *Server) metricsRoutes(r *httprouter.Router) {
	if s.opts.Metrics == nil {
		return
	}
	exposition := s.opts.Metrics.Handler()
	r.GET("/metrics", s.handle(func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		if err := s.metricsAccess(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="runnel"`)
			return err
		}
		exposition.ServeHTTP(w, r)
		return nil
	}))
}

// metricsAccess lets a scraper in: anyone with auth off; with auth on the
// metrics token (constant-time compare) or an admin's JWT or API key.
func (s *Server) metricsAccess(r *http.Request) error {
	if s.auth == nil {
		return nil
	}
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return errAuthRequired
	}
	if want := s.opts.MetricsToken; want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
		return nil
	}
	p, err := s.credentials(r)
	if err != nil {
		return err
	}
	if !p.IsAdmin {
		return errorf(http.StatusForbidden, "Admin access or the metrics token required")
	}
	return nil
}

// instrument records every request's route template, method, status and
// latency (Options.Metrics; next unchanged without it).
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.opts.Metrics
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := s.routeOf(r.Method, r.URL.Path)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { m.HTTPRequest(route, r.Method, rec.code(), time.Since(start)) }()
		next.ServeHTTP(rec, r)
	})
}

// routeOf returns the template of the route serving method and path
// ("/api/jobs/:id"), or unmatchedRoute. httprouter v1.3.0 does not report
// the matched pattern, so it is rebuilt from the path and the matched
// parameters: each parameter's value is put back as ":name" into a path
// segment holding that value (trying placements in order when a literal
// segment holds the same text), and a placement is kept only if the router
// matches the rebuilt template to itself.
func (s *Server) routeOf(method, path string) string {
	h, ps, _ := s.router.Lookup(method, path)
	if h == nil {
		if s.ui != nil && web.Owns(&http.Request{Method: method, URL: &url.URL{Path: path}}) {
			return uiRoute
		}
		return unmatchedRoute
	}
	if len(ps) == 0 {
		return path
	}
	suffix := ""
	if last := ps[len(ps)-1]; strings.HasPrefix(last.Value, "/") && strings.HasSuffix(path, last.Value) {
		path = path[:len(path)-len(last.Value)] // a catch-all's value
		suffix = "/*" + last.Key
	}
	segs := strings.Split(path, "/")
	tries := 0
	var place func(from, k int) string
	place = func(from, k int) string {
		if k == len(ps) || (suffix != "" && k == len(ps)-1) {
			tries++
			t := strings.Join(segs, "/") + suffix
			if s.isTemplate(method, t, ps) {
				return t
			}
			return ""
		}
		for i := from; i < len(segs) && tries < maxPlacements; i++ {
			if segs[i] != ps[k].Value {
				continue
			}
			segs[i] = ":" + ps[k].Key
			t := place(i+1, k+1)
			segs[i] = ps[k].Value
			if t != "" {
				return t
			}
		}
		return ""
	}
	if t := place(0, 0); t != "" {
		return t
	}
	return unmatchedRoute
}

// maxPlacements bounds the templates routeOf tries for one request.
const maxPlacements = 32

// isTemplate reports whether the router matches template t with every
// parameter bound to its own name.
func (s *Server) isTemplate(method, t string, want httprouter.Params) bool {
	h, ps, _ := s.router.Lookup(method, t)
	if h == nil || len(ps) != len(want) {
		return false
	}
	for i, p := range ps {
		if p.Key != want[i].Key || (p.Value != ":"+p.Key && p.Value != "/*"+p.Key) {
			return false
		}
	}
	return true
}
