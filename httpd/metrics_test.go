package httpd_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"runnel/httpd"
	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
)

// request is one HTTPRequest call.
type request struct {
	route, method string
	code          int
}

// recorder implements httpd.Metrics: requests arrive on a channel, and
// the exposition is a fixed body.
type recorder struct{ seen chan request }

func (r *recorder) HTTPRequest(route, method string, code int, _ time.Duration) {
	r.seen <- request{route, method, code}
}

func (r *recorder) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "exposition\n") })
}

// TestRouteTemplates: requests are recorded under the router's templates,
// parameter values that equal literal segments included, and anything the
// router does not serve under one "unmatched" label.
func TestRouteTemplates(t *testing.T) {
	rec := &recorder{seen: make(chan request, 16)}
	s := httpdtest.New(t, map[string]string{".workflows/t.yaml": "tasks:\n  t:\n    flow:\n      s: { type: script, script: \"true\" }\n"},
		func(c *httpdtest.Config) { c.HTTP.Metrics = rec })
	cases := []struct {
		method, path string
		want         request
	}{
		{"GET", "/metrics", request{"/metrics", "GET", 200}},
		{"GET", "/api/jobs", request{"/api/jobs", "GET", 200}},
		{"GET", "/api/jobs/0b4c1b9e-7a0e-4a53-9d0f-5b0c2c3d4e5f", request{"/api/jobs/:id", "GET", 404}},
		{"GET", "/api/jobs/x/steps/y/logs", request{"/api/jobs/:id/steps/:step/logs", "GET", 400}},
		{"GET", "/api/workspaces/workspaces/tasks", request{"/api/workspaces/:ws/tasks", "GET", 404}},
		{"GET", "/api/workspaces/tasks/tasks/tasks", request{"/api/workspaces/:ws/tasks/:name", "GET", 404}},
		{"POST", "/api/workspaces/default/tasks/execute/execute", request{"/api/workspaces/:ws/tasks/:name/execute", "POST", 404}},
		{"GET", "/api/workspaces/default/tasks/t", request{"/api/workspaces/:ws/tasks/:name", "GET", 200}},
		{"GET", "/nothing/here", request{"ui", "GET", 200}}, // the web UI's app shell
		{"GET", "/api/nothing/here", request{"unmatched", "GET", 404}},
		{"POST", "/nothing/here", request{"unmatched", "POST", 404}},
		{"GET", "/api/jobs/a/b/c/d/e", request{"unmatched", "GET", 404}},
		{"DELETE", "/api/jobs", request{"unmatched", "DELETE", 405}},
		{"BREW", "/api/jobs", request{"unmatched", "BREW", 405}},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, err := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			select {
			case got := <-rec.seen:
				if got != c.want {
					t.Errorf("recorded %+v, want %+v", got, c.want)
				}
			case <-time.After(jobstest.Patience()):
				t.Fatal("no request recorded")
			}
		})
	}
}

// TestMetricsRouteOff: without Options.Metrics there is no /metrics.
func TestMetricsRouteOff(t *testing.T) {
	s := httpdtest.New(t, nil)
	// Not the web UI either: /metrics is never its page.
	if st, _, _ := s.Do("GET", "/metrics", nil); st != http.StatusNotFound {
		t.Fatalf("GET /metrics without metrics: %d", st)
	}
}

var _ httpd.Metrics = (*recorder)(nil)
