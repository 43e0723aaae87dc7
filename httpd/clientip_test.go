package httpd

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "198.51.100.4:5000", nil, "198.51.100.4"},
		{"untrusted peer's header ignored", "198.51.100.4:5000", []string{"203.0.113.9"}, "198.51.100.4"},
		{"trusted proxy names the client", "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left hops skipped", "127.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"several headers", "10.0.0.1:5000", []string{"203.0.113.9", "10.0.0.2"}, "203.0.113.9"},
		{"garbage hop", "127.0.0.1:5000", []string{"not-an-ip"}, "127.0.0.1"},
		{"IPv6 peer", "[2001:db8::1]:5000", []string{"203.0.113.9"}, "2001:db8::1"},
	}
	s := &Server{opts: Options{TrustedProxies: trusted}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != c.want {
				t.Errorf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
}
