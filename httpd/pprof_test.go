package httpd_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"runnel/httpd/httpdtest"
)

func TestPprofOffIs404(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": eventsWorkflow})
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if st, _, body := s.Do("GET", p, nil); st != http.StatusNotFound {
			t.Errorf("GET %s with pprof off: %d %s, want 404", p, st, body)
		}
	}
}

func TestPprofLoopback(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": eventsWorkflow},
		func(c *httpdtest.Config) { c.HTTP.Pprof = true })
	// From 127.0.0.1 over a real connection.
	st, _, body := s.Do("GET", "/debug/pprof/", nil)
	if st != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("index from 127.0.0.1: %d %.200s", st, body)
	}
	st, hdr, body := s.Do("GET", "/debug/pprof/heap?debug=1", nil)
	if st != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("heap from 127.0.0.1: %d %s %.200s", st, hdr.Get("Content-Type"), body)
	}
	if st, _, body := s.Do("GET", "/debug/pprof/cmdline", nil); st != http.StatusOK || len(body) == 0 {
		t.Errorf("cmdline from 127.0.0.1: %d %q", st, body)
	}

	// Refused: a forwarding header on a loopback connection (a local
	// reverse proxy).
	for _, h := range [][]string{{"X-Forwarded-For", "203.0.113.9"}, {"Forwarded", "for=203.0.113.9"}} {
		var out map[string]string
		if st := s.JSON("GET", "/debug/pprof/", nil, &out, h...); st != http.StatusForbidden || out["error"] == "" {
			t.Errorf("with %s: %d %v, want 403 with an error", h[0], st, out)
		}
	}

	// Requests that reach the server's handler from other peers: the
	// connection's remote address decides.
	// A Host the server does not answer is refused too (DNS rebinding
	// from a browser on this machine).
	for _, tc := range []struct {
		remote, host string
		want         int
	}{
		{"127.0.0.1:5000", "evil.example", http.StatusForbidden},
		{"127.0.0.1:5000", "localhost", http.StatusOK},
		{"127.0.0.1:5000", "", http.StatusOK},
		{"127.8.9.1:5000", "", http.StatusOK},
		{"[::1]:5000", "", http.StatusOK},
		{"[::ffff:127.0.0.1]:5000", "", http.StatusOK},
		{"192.168.1.5:5000", "", http.StatusForbidden},
		{"10.0.0.1:5000", "", http.StatusForbidden},
		{"[2001:db8::1]:5000", "", http.StatusForbidden},
		{"[::ffff:192.0.2.1]:5000", "", http.StatusForbidden},
		{"0.0.0.0:5000", "", http.StatusForbidden},
		{"garbage", "", http.StatusForbidden},
		{"", "", http.StatusForbidden},
	} {
		req := httptest.NewRequest("GET", "/debug/pprof/", nil)
		req.RemoteAddr, req.Host = tc.remote, s.Addr
		if tc.host != "" {
			req.Host = tc.host
		}
		rec := httptest.NewRecorder()
		s.HTTP.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("from %q (Host %q): %d, want %d", tc.remote, req.Host, rec.Code, tc.want)
		}
		if tc.want == http.StatusForbidden {
			var out map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out["error"] != "Profiles are served to loopback clients only" {
				t.Errorf("from %q: body %q (%v)", tc.remote, rec.Body.String(), err)
			}
		}
	}
}
