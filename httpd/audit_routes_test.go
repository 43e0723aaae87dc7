package httpd

import (
	"net/http"
	"strings"
	"testing"
)

// TestAuditRoutesAreRegistered: every auditRoutes key names a route the
// router serves with that method (a renamed route would silently stop
// being recorded), and requests to it map back to the same entry.
func TestAuditRoutesAreRegistered(t *testing.T) {
	s, err := New(Options{WorkerToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for key, rt := range auditRoutes {
		method, tmpl, _ := strings.Cut(key, " ")
		segs := strings.Split(tmpl, "/")
		for i, seg := range segs {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				segs[i] = "v-" + name
			}
		}
		path := strings.Join(segs, "/")
		if h, _, _ := s.router.Lookup(method, path); h == nil {
			t.Errorf("%s: no route serves %s %s", key, method, path)
		}
		r, err := newRequest(method, path)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := auditRouteOf(r); !ok || got != rt {
			t.Errorf("%s %s maps to %+v (found %v), want %+v", method, path, got, ok, rt)
		}
	}
}

func newRequest(method, path string) (*http.Request, error) {
	return http.NewRequest(method, "http://127.0.0.1"+path, nil)
}
