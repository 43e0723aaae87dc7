package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"runnel/httpd/metrics"
)

// exportedNames returns every series name a runnel server exposes (each
// event is recorded once so every family appears; histograms and summaries
// add their _bucket, _sum and _count series) and the families' types.
func exportedNames(t *testing.T) (map[string]bool, map[string]dto.MetricType) {
	t.Helper()
	m := metrics.New(metrics.Sources{
		Queue:      func() (int, time.Time) { return 1, time.Now() },
		Workers:    func() []metrics.Worker { return []metrics.Worker{{ID: "w", Name: "w", State: "active"}} },
		Workspaces: func() []metrics.Workspace { return []metrics.Workspace{{Name: "ws"}} },
		Store:      func() metrics.Store { return metrics.Store{Commits: 1} },
		Logs:       func() metrics.Logs { return metrics.Logs{Bytes: 1} },
	})
	m.JobStarted("ws", "t", "api")
	m.JobFinished("ws", "t", "api", "failed", time.Second)
	m.StepFinished("ws", "t", "failed", time.Second)
	m.StepDispatched(time.Millisecond)
	m.ScheduleFired(time.Millisecond)
	m.ScheduleMissed("ws")
	m.StoreCommitted(time.Millisecond)
	m.RetentionDeleted("jobs", 1)
	m.WorkspaceLoaded("ws", time.Millisecond, nil)
	m.WorkspaceLoaded("ws", time.Millisecond, errors.New("x"))
	m.GitFetched("ws", time.Millisecond, errors.New("x"))
	m.HTTPRequest("/api/jobs", "GET", 200, time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("exposition: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	types := map[string]dto.MetricType{}
	for name, f := range fams {
		names[name] = true
		types[name] = f.GetType()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names, types
}

// nodeExporterNames are the node_exporter series the examples may use.
var nodeExporterNames = map[string]bool{"node_filesystem_avail_bytes": true, "node_filesystem_size_bytes": true}

// seriesName finds the metric names in a PromQL expression (by the
// prefixes of runnel, the Go runtime, the process and node_exporter).
var seriesName = regexp.MustCompile(`\b(?:runnel|go|process|node)_[a-zA-Z0-9_]+`)

// checkExpr reports the unknown metric names of a PromQL expression and
// returns the names it uses.
func checkExpr(t *testing.T, where, expr string, known map[string]bool) []string {
	t.Helper()
	used := seriesName.FindAllString(expr, -1)
	for _, n := range used {
		if !known[n] && !nodeExporterNames[n] {
			t.Errorf("%s: %q is not a metric runnel (or node_exporter) exports: %s", where, n, expr)
		}
	}
	return used
}

// TestExampleAlertRules: examples/prometheus-alerts.yaml parses, every
// rule is complete, uses only exported metric names, and the rules cover
// failing jobs, a workspace stuck on an error, steps no worker takes and a
// filling disk.
func TestExampleAlertRules(t *testing.T) {
	known, _ := exportedNames(t)
	data, err := os.ReadFile("../../examples/prometheus-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalWithOptions(data, &file, yaml.Strict()); err != nil {
		t.Fatalf("prometheus-alerts.yaml: %v", err)
	}
	used := map[string]bool{}
	alerts := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q: alert, expr, labels.severity and annotations.summary are required", r.Alert)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("rule %q: for: %v", r.Alert, err)
				}
			}
			for _, n := range checkExpr(t, "alert "+r.Alert, r.Expr, known) {
				used[n] = true
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alert rules")
	}
	for _, need := range []string{"runnel_jobs_finished_total", "runnel_workspace_failing",
		"runnel_queue_oldest_ready_age_seconds", "runnel_workers", "node_filesystem_avail_bytes"} {
		if !used[need] {
			t.Errorf("no alert uses %s", need)
		}
	}
}

// TestExampleDashboard: examples/grafana-dashboard.json is valid JSON,
// every panel has queries, and the queries use only exported metric names.
func TestExampleDashboard(t *testing.T) {
	known, types := exportedNames(t)
	data, err := os.ReadFile("../../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard title %q, uid %q", dash.Title, dash.UID)
	}
	var ids []int
	var families []string
	for _, p := range dash.Panels {
		if slices.Contains(ids, p.ID) {
			t.Errorf("panel id %d repeats", p.ID)
		}
		ids = append(ids, p.ID)
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q query %s is empty", p.Title, tg.RefID)
			}
			families = append(families, checkExpr(t, "panel "+p.Title, tg.Expr, known)...)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			families = append(families, checkExpr(t, "variable "+v.Name, q, known)...)
		}
	}
	// Every runnel family is on the dashboard.
	for name, typ := range types {
		if !strings.HasPrefix(name, "runnel_") {
			continue
		}
		shown := slices.Contains(families, name)
		if typ == dto.MetricType_HISTOGRAM {
			shown = slices.Contains(families, name+"_bucket") || slices.Contains(families, name+"_count")
		}
		if !shown {
			t.Errorf("the dashboard shows no panel of %s", name)
		}
	}
}
