package httpd

// This file guards against DNS rebinding (SPEC §11 "Cross-site protection").

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// hostPolicy decides which Host headers /api, /push and /worker (and so
// the WebSocket) answer while authentication is off. A web page that
// rebinds its own name (evil.example) to 127.0.0.1 is same-origin to the
// browser, so Origin and Sec-Fetch-Site cannot tell it apart; its requests
// still carry Host: evil.example. Allowed: localhost and loopback
// addresses, the listen host, the auth.base_url host and the allowed_hosts
// entries; with an unspecified listen address (0.0.0.0, ::) any IP
// address as well — the machine's own addresses, also as seen through
// NAT or a container's port mapping. An IP-literal Host cannot be
// rebound: a browser sends one only when the page's own origin is that
// address. Immutable after newHostPolicy.
type hostPolicy struct {
	anyIP   bool            // the listen address is unspecified
	names   map[string]bool // canonical host names and addresses
	domains []string        // ".example.com": the domain and its subdomains
}

// newHostPolicy builds the policy from the listen address (host:port),
// the public base URL and the allowed_hosts entries (names, addresses, or
// ".domain" for a domain and every subdomain).
func newHostPolicy(listen, baseURL string, allowed []string) (*hostPolicy, error) {
	p := &hostPolicy{names: map[string]bool{"localhost": true}}
	if listen != "" {
		h, _, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", listen, err)
		}
		if a, err := netip.ParseAddr(h); h == "" || (err == nil && a.IsUnspecified()) {
			p.anyIP = true
		} else {
			p.names[canonicalHost(h)] = true
		}
	}
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil {
			return nil, fmt.Errorf("base url %q: %w", baseURL, err)
		}
		p.names[canonicalHost(u.Hostname())] = true
	}
	for _, h := range allowed {
		if d, ok := strings.CutPrefix(h, "."); ok {
			p.domains = append(p.domains, "."+canonicalHost(d))
			continue
		}
		p.names[canonicalHost(h)] = true
	}
	return p, nil
}

// canonicalHost lowercases a host name and drops a trailing dot and IPv6
// brackets; an address is written in its canonical form.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}

// hostName is the host of a Host header without its port.
func hostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// allows reports whether a request for host (a Host header's host name,
// without port) may be served.
func (p *hostPolicy) allows(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	h := canonicalHost(host)
	if a, err := netip.ParseAddr(h); err == nil && (a.IsLoopback() || p.anyIP) {
		return true
	}
	if p.names[h] {
		return true
	}
	for _, d := range p.domains {
		if h == d[1:] || strings.HasSuffix(h, d) {
			return true
		}
	}
	return false
}

// checkHost refuses, with authentication off, an /api, /push or /worker
// request whose Host is not allowed (403 naming the setting to change).
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil && (protectedPath(r.URL.Path) || r.URL.Path == "/metrics") {
			if host := hostName(r.Host); !s.hosts.allows(host) {
				s.writeError(w, r, errorf(http.StatusForbidden,
					"Host '%s' is not allowed; add it to allowed_hosts in server-config.yaml", host))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// protectedPath reports the paths behind cross-origin protection (and,
// with authentication off, the Host check).
func protectedPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/push/") || strings.HasPrefix(p, "/worker/")
}
