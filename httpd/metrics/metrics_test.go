package metrics_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"runnel/httpd/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestEventsAndSources: events land in Prometheus-native histograms and
// counters, methods outside the standard set share one label value, and
// the scrape-time gauges are computed from the sources at scrape time.
func TestEventsAndSources(t *testing.T) {
	now := time.Now()
	m := metrics.New(metrics.Sources{
		Queue: func() (int, time.Time) { return 3, now.Add(-90 * time.Second) },
		Workers: func() []metrics.Worker {
			return []metrics.Worker{
				{ID: "a", Name: "builtin", State: "active", LastHeartbeat: now.Add(-5 * time.Second)},
				{ID: "b", Name: "old", State: "inactive", LastHeartbeat: now.Add(-time.Hour)},
			}
		},
		Workspaces: func() []metrics.Workspace { return []metrics.Workspace{{Name: "ok"}, {Name: "bad", Failing: true}} },
		Store:      func() metrics.Store { return metrics.Store{Commits: 7, Updates: 21, FileBytes: 65536} },
		Logs:       func() metrics.Logs { return metrics.Logs{Bytes: 1000, Lines: 10} },
	})
	m.StepFinished("ws", "t", "completed", 2*time.Second)
	m.StepFinished("ws", "t", "completed", 20*time.Second)
	m.HTTPRequest("/api/jobs", "BREW", 405, time.Millisecond)
	m.HTTPRequest("/api/jobs", "PROPFIND", 405, time.Millisecond)
	m.WorkspaceLoaded("bad", time.Millisecond, errors.New("rejected"))
	fams := scrape(t, m)

	h := fams["runnel_step_duration_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("step duration type %v", h.GetType())
	}
	hist := h.GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 2 || hist.GetSampleSum() != 22 {
		t.Errorf("step duration count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	want := map[float64]uint64{1: 0, 5: 1, 15: 1, 30: 2}
	for _, b := range hist.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && w != b.GetCumulativeCount() {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	req := fams["runnel_http_requests_total"].GetMetric()
	if len(req) != 1 || labels(req[0])["method"] != "OTHER" || req[0].GetCounter().GetValue() != 2 {
		t.Errorf("non-standard methods: %v", req)
	}

	gauge := func(name string, want map[string]string) float64 {
		t.Helper()
		for _, s := range fams[name].GetMetric() {
			l := labels(s)
			match := true
			for k, v := range want {
				match = match && l[k] == v
			}
			if match {
				if s.Gauge != nil {
					return s.GetGauge().GetValue()
				}
				return s.GetCounter().GetValue()
			}
		}
		t.Errorf("%s%v missing", name, want)
		return -1
	}
	within := func(name string, v, lo, hi float64) {
		t.Helper()
		if v < lo || v > hi {
			t.Errorf("%s = %v, want in [%v, %v]", name, v, lo, hi)
		}
	}
	within("queue age", gauge("runnel_queue_oldest_ready_age_seconds", nil), 90, 120)
	within("queue depth", gauge("runnel_queue_ready_steps", nil), 3, 3)
	within("active workers", gauge("runnel_workers", map[string]string{"state": "active"}), 1, 1)
	within("inactive workers", gauge("runnel_workers", map[string]string{"state": "inactive"}), 1, 1)
	within("heartbeat age", gauge("runnel_worker_heartbeat_age_seconds", map[string]string{"name": "builtin"}), 5, 35)
	within("failing", gauge("runnel_workspace_failing", map[string]string{"workspace": "bad"}), 1, 1)
	within("not failing", gauge("runnel_workspace_failing", map[string]string{"workspace": "ok"}), 0, 0)
	within("load errors", gauge("runnel_workspace_load_errors_total", map[string]string{"workspace": "bad"}), 1, 1)
	within("commits", gauge("runnel_store_commits_total", nil), 7, 7)
	within("updates", gauge("runnel_store_updates_total", nil), 21, 21)
	within("db size", gauge("runnel_store_db_size_bytes", nil), 65536, 65536)
	within("log bytes", gauge("runnel_log_written_bytes_total", nil), 1000, 1000)
	within("log lines", gauge("runnel_log_written_lines_total", nil), 10, 10)
	if fams["runnel_workspace_last_success_timestamp_seconds"] != nil {
		t.Errorf("a failed load set the last success time")
	}
}

// TestRegistriesAreSeparate: two servers in one process count apart (no
// global registry).
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(metrics.Sources{}), metrics.New(metrics.Sources{})
	a.JobStarted("ws", "t", "api")
	if f := scrape(t, b)["runnel_jobs_started_total"]; f != nil {
		t.Errorf("b sees a's job: %v", f)
	}
	if f := scrape(t, a)["runnel_jobs_started_total"]; f == nil || f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("a: %v", f)
	}
}
