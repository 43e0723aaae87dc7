package httpd

import (
	"net/http"
	"net/http/pprof"
	"net/netip"

	"github.com/julienschmidt/httprouter"
)

// pprofRoutes registers Go's runtime profiles under /debug/pprof/ when
// Options.Pprof is set; without it those paths answer 404 like any
// unknown path.
func (s *Server) pprofRoutes(r *httprouter.Router) {
	if !s.opts.Pprof {
		return
	}
	named := map[string]http.HandlerFunc{
		"/cmdline": pprof.Cmdline,
		"/profile": pprof.Profile,
		"/symbol":  pprof.Symbol,
		"/trace":   pprof.Trace,
	}
	h := s.handle(func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if err := s.pprofAccess(r); err != nil {
			return err
		}
		if f, ok := named[ps.ByName("name")]; ok {
			f(w, r)
			return nil
		}
		pprof.Index(w, r) // the index page and every named profile (heap, goroutine, …)
		return nil
	})
	r.GET("/debug/pprof/*name", h)
	r.POST("/debug/pprof/*name", h) // pprof's symbol lookup posts
}

// pprofAccess lets only clients on this machine read the profiles: the
// connection must come from a loopback address (its remote address, never
// a header), carry no forwarding header (a local reverse proxy would make
// every client look local) and name a Host the server answers (DNS
// rebinding from a local browser).
func (s *Server) pprofAccess(r *http.Request) error {
	if !loopbackPeer(r.RemoteAddr) || r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" ||
		!s.hosts.allows(hostName(r.Host)) {
		return errorf(http.StatusForbidden, "Profiles are served to loopback clients only")
	}
	return nil
}

// loopbackPeer reports whether remoteAddr (http.Request.RemoteAddr,
// ip:port) is a loopback address, IPv4-mapped IPv6 included.
func loopbackPeer(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
