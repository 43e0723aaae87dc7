package main

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"runnel/cmd/runnel/config"
	"runnel/gitsync/gittest"
	"runnel/jobs/jobstest"
)

const metricsWorkflow = `
tasks:
  ok:
    flow:
      s: { type: script, script: "echo fine" }
  boom:
    flow:
      s: { type: script, script: "echo failing; exit 3" }
`

// scrape reads /metrics with the header pairs through the real text
// parser.
func (s *e2eServer) scrape(header ...string) map[string]*dto.MetricFamily {
	s.t.Helper()
	st, body := s.do("GET", "/metrics", "", header...)
	if st != http.StatusOK {
		s.t.Fatalf("GET /metrics: %d %s", st, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		s.t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample finds the metric of family name whose labels include want; nil
// if none.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's, gauge's or untyped sample's value, or a
// histogram's count; NaN when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := sample(fams, name, labels)
	switch {
	case m == nil:
		return math.NaN()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// TestMetricsEndToEnd runs jobs (one failing) on the real Main with a git
// workspace, rejects a broken push, and reads /metrics with Prometheus's
// own parser.
func TestMetricsEndToEnd(t *testing.T) {
	up := gittest.New(t)
	up.Commit(t, "first", map[string]string{".workflows/m.yaml": metricsWorkflow})
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Path = "test"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 3600}}
	before := time.Now()
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })

	var ids []string
	for _, task := range []string{"ok", "ok", "boom"} {
		var out struct {
			JobID string `json:"job_id"`
		}
		if st := s.json("POST", "/api/workspaces/ops/tasks/"+task+"/execute", "", &out); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("execute %s: %d", task, st)
		}
		var j map[string]any
		s.json("GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", "", &j)
		ids = append(ids, out.JobID)
	}
	// Under /api (elsewhere the web UI answers every GET).
	if st, _ := s.do("GET", "/api/no/such/"+ids[0], ""); st != http.StatusNotFound {
		t.Fatalf("unknown path: %d", st)
	}
	broken := up.Commit(t, "broken", map[string]string{".workflows/m.yaml": "tasks: [oops"})
	if st, body := s.do("POST", "/api/workspaces/ops/refresh", ""); st != http.StatusUnprocessableEntity {
		t.Fatalf("broken refresh of %s: %d %s", broken, st, body)
	}

	// A request is recorded when its handler returns, which the client
	// may not wait for: scrape until the last one shows.
	var fams map[string]*dto.MetricFamily
	jobstest.Eventually(t, "the requests recorded", func() bool {
		fams = s.scrape()
		return value(fams, "runnel_http_requests_total", map[string]string{"route": "/api/workspaces/:ws/refresh"}) == 1
	})
	ops := map[string]string{"workspace": "ops"}
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(v float64) bool
		want   string
	}{
		{"runnel_jobs_started_total", map[string]string{"workspace": "ops", "task": "ok", "source": "api"}, eq(2), "2"},
		{"runnel_jobs_finished_total", map[string]string{"workspace": "ops", "task": "ok", "status": "completed", "source": "api"}, eq(2), "2"},
		{"runnel_jobs_finished_total", map[string]string{"workspace": "ops", "task": "boom", "status": "failed"}, eq(1), "1"},
		{"runnel_job_duration_seconds", map[string]string{"workspace": "ops", "task": "boom", "status": "failed"}, eq(1), "count 1"},
		{"runnel_step_duration_seconds", map[string]string{"workspace": "ops", "task": "ok", "status": "completed"}, eq(2), "count 2"},
		{"runnel_step_duration_seconds", map[string]string{"workspace": "ops", "task": "boom", "status": "failed"}, eq(1), "count 1"},
		{"runnel_step_dispatch_latency_seconds", nil, eq(3), "count 3"},
		{"runnel_http_requests_total", map[string]string{"route": "/api/jobs/:id", "method": "GET", "code": "200"}, eq(3), "3"},
		{"runnel_http_requests_total", map[string]string{"route": "/api/workspaces/:ws/tasks/:name/execute", "method": "POST"}, eq(3), "3"},
		{"runnel_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}, eq(1), "1"},
		{"runnel_http_request_duration_seconds", map[string]string{"route": "/api/jobs/:id", "method": "GET"}, eq(3), "count 3"},
		{"runnel_workspace_last_success_timestamp_seconds", ops, func(v float64) bool {
			return v >= float64(before.Unix()) && v <= float64(time.Now().Unix()+1)
		}, "a time during the test"},
		{"runnel_workspace_load_errors_total", ops, eq(1), "1"},
		{"runnel_workspace_failing", ops, eq(1), "1"},
		{"runnel_workspace_load_duration_seconds", map[string]string{"workspace": "ops", "result": "error"}, eq(1), "count 1"},
		{"runnel_git_fetch_duration_seconds", ops, atLeast(2), "count ≥ 2"},
		{"runnel_git_fetch_failures_total", ops, func(v float64) bool { return math.IsNaN(v) || v == 0 }, "none"},
		{"runnel_workers", map[string]string{"state": "active"}, eq(1), "1 (built-in)"},
		{"runnel_worker_heartbeat_age_seconds", nil, func(v float64) bool { return v >= 0 && v < 60 }, "recent"},
		{"runnel_queue_ready_steps", nil, eq(0), "0"},
		{"runnel_queue_oldest_ready_age_seconds", nil, eq(0), "0"},
		{"runnel_log_written_lines_total", nil, atLeast(3), "≥ 3"},
		{"runnel_log_written_bytes_total", nil, atLeast(30), "≥ 30"},
		{"runnel_store_commits_total", nil, atLeast(3), "≥ 3"},
		{"runnel_store_updates_total", nil, atLeast(3), "≥ 3"},
		{"runnel_store_commit_duration_seconds", nil, atLeast(3), "count ≥ 3"},
		{"runnel_store_db_size_bytes", nil, atLeast(4096), "≥ 4096"},
		{"runnel_scheduler_missed_fires_total", nil, func(v float64) bool { return math.IsNaN(v) }, "no series yet"},
		{"go_goroutines", nil, atLeast(1), "≥ 1"},
		{"go_memstats_heap_alloc_bytes", nil, atLeast(1), "≥ 1"},
		{"process_resident_memory_bytes", nil, atLeast(1), "≥ 1"},
		{"process_open_fds", nil, atLeast(1), "≥ 1"},
	}
	for _, c := range checks {
		if v := value(fams, c.name, c.labels); !c.ok(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	// Types Prometheus relies on.
	for name, typ := range map[string]dto.MetricType{
		"runnel_jobs_finished_total":     dto.MetricType_COUNTER,
		"runnel_step_duration_seconds":   dto.MetricType_HISTOGRAM,
		"runnel_queue_ready_steps":       dto.MetricType_GAUGE,
		"runnel_log_written_bytes_total": dto.MetricType_COUNTER,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), typ)
		}
	}
	// Route labels are templates: no job id appears anywhere.
	for _, m := range fams["runnel_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			for _, id := range ids {
				if strings.Contains(l.GetValue(), id) {
					t.Errorf("label %s=%q holds a job id", l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// TestMetricsAuth: with auth on, /metrics takes the metrics token or an
// admin's credentials; others get 401 or 403.
func TestMetricsAuth(t *testing.T) {
	const adminPW, userPW = "correct horse battery", "another horse battery"
	metricsToken := strings.Repeat("m", 40)
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.MetricsToken = metricsToken
	cfg.Auth = &config.Auth{
		JWTSecret:     strings.Repeat("j", 32),
		RefreshSecret: strings.Repeat("r", 32),
		InitialUser:   &config.InitialUser{Email: "admin@example.com", Password: adminPW},
	}
	s := startMain(t, cfg)
	login := func(email, pw string) string {
		t.Helper()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if st := s.json("POST", "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw), &out); st != http.StatusOK {
			t.Fatalf("login %s: %d", email, st)
		}
		return out.AccessToken
	}
	admin := login("admin@example.com", adminPW)
	st, body := s.do("POST", "/api/users", fmt.Sprintf(`{"email":"user@example.com","password":%q}`, userPW),
		"Authorization", "Bearer "+admin, "Content-Type", "application/json")
	if st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("create user: %d %s", st, body)
	}
	user := login("user@example.com", userPW)

	cases := []struct {
		name   string
		header []string
		status int
	}{
		{"no credentials", nil, http.StatusUnauthorized},
		{"wrong token", []string{"Authorization", "Bearer " + strings.Repeat("x", 40)}, http.StatusUnauthorized},
		{"metrics token as basic", []string{"Authorization", "Basic " + metricsToken}, http.StatusUnauthorized},
		{"metrics token", []string{"Authorization", "Bearer " + metricsToken}, http.StatusOK},
		{"admin", []string{"Authorization", "Bearer " + admin}, http.StatusOK},
		{"non-admin", []string{"Authorization", "Bearer " + user}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := s.do("GET", "/metrics", "", c.header...)
			if st != c.status {
				t.Fatalf("%d %s, want %d", st, body, c.status)
			}
			if st == http.StatusOK && !strings.Contains(string(body), "# TYPE runnel_store_commits_total counter") {
				t.Errorf("body is not the exposition:\n%.300s", body)
			}
		})
	}
	jobstest.Eventually(t, "the refused scrapes counted under route /metrics", func() bool {
		fams := s.scrape("Authorization", "Bearer "+metricsToken)
		return value(fams, "runnel_http_requests_total", map[string]string{"route": "/metrics", "code": "401"}) == 3 &&
			value(fams, "runnel_http_requests_total", map[string]string{"route": "/metrics", "code": "403"}) == 1
	})
}
