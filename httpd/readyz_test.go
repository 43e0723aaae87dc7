package httpd_test

import (
	"testing"

	"runnel/httpd/httpdtest"
)

func TestReadyz(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": eventsWorkflow})
	var out map[string]string
	if st := s.JSON("GET", "/readyz", nil, &out); st != 200 || out["status"] != "ready" {
		t.Errorf("ready: %d %v", st, out)
	}
	// A rejected revision keeps the last good one: still ready.
	ev := openEvents(t, s, "?types=workspace")
	s.Write(map[string]string{".workflows/main.yaml": "tasks: [\n"})
	for e, ok := ev.next(); e.Data["error"] == nil; e, ok = ev.next() { // skip unchanged reloads
		if !ok {
			t.Fatal("stream ended before the load error")
		}
	}
	if st := s.JSON("GET", "/readyz", nil, &out); st != 200 {
		t.Errorf("ready with a serving revision: %d %v", st, out)
	}

	// A workspace that never loaded: 503 naming it.
	bad := httpdtest.New(t, map[string]string{".workflows/main.yaml": "tasks: [\n"})
	out = nil
	st := bad.JSON("GET", "/readyz", nil, &out)
	want := "Not ready: workspace 'default' has no loaded revision: .workflows/main.yaml:"
	if st != 503 || out["status"] != "not ready" || len(out["error"]) < len(want) || out["error"][:len(want)] != want {
		t.Errorf("not ready: %d %v", st, out)
	}
	// The store closed: 503 naming it.
	bad.Store.Close()
	out = nil
	if st := bad.JSON("GET", "/readyz", nil, &out); st != 503 {
		t.Errorf("closed store: %d %v", st, out)
	}
}
