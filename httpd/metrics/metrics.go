package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are the cheap reads behind the scrape-time gauges. Each is called
// once per scrape and must not scan jobs; a nil function leaves its metrics
// out.
type Sources struct {
	// Queue returns the ready steps waiting for a worker and the oldest
	// one's ready time (zero when none).
	Queue func() (depth int, oldest time.Time)
	// Workers returns every known worker.
	Workers func() []Worker
	// Workspaces returns every configured workspace.
	Workspaces func() []Workspace
	// Store returns the job store's write counters and file size.
	Store func() Store
	// Logs returns the bytes and lines the log store has written since it
	// opened.
	Logs func() Logs
}

// Worker is one worker as the metrics see it.
type Worker struct {
	ID, Name string
	// State is "active" or "inactive".
	State         string
	LastHeartbeat time.Time
}

// Workspace is one workspace as the metrics see it.
type Workspace struct {
	Name string
	// Failing is true while the newest load attempt failed.
	Failing bool
}

// Store is the job store's counters since it opened.
type Store struct {
	Commits, Updates uint64
	// FileBytes is the database file's size.
	FileBytes int64
}

// Logs is the log store's counters since it opened.
type Logs struct {
	Bytes, Lines uint64
}

// UnmatchedRoute is the route label of requests no route matched.
const UnmatchedRoute = "unmatched"

// Buckets, in seconds.
var (
	// jobBuckets span a one-second job to a day-long one.
	jobBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600}
	// fastBuckets span sub-millisecond handoffs to a minute.
	fastBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	// lagBuckets span a timely cron fire to an hour late.
	lagBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 3600}
)

// Metrics is one server's registry and its collectors. Safe for concurrent
// use; the zero value is not usable (use New).
type Metrics struct {
	reg *prometheus.Registry

	jobsStarted    *prometheus.CounterVec
	jobsFinished   *prometheus.CounterVec
	jobDuration    *prometheus.HistogramVec
	stepDuration   *prometheus.HistogramVec
	dispatch       prometheus.Histogram
	schedLag       prometheus.Histogram
	schedMissed    *prometheus.CounterVec
	wsLoad         *prometheus.HistogramVec
	wsLastSuccess  *prometheus.GaugeVec
	wsErrors       *prometheus.CounterVec
	gitFetch       *prometheus.HistogramVec
	gitFailures    *prometheus.CounterVec
	commitDuration prometheus.Histogram
	retention      *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
}

// New returns a registry holding runnel's metrics, the Go runtime's and the
// process's; src feeds the scrape-time gauges.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		jobsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_jobs_started_total", Help: "Jobs created.",
		}, []string{"workspace", "task", "source"}),
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_jobs_finished_total", Help: "Jobs that reached a terminal status.",
		}, []string{"workspace", "task", "source", "status"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "runnel_job_duration_seconds", Help: "Job duration from creation to its terminal status.",
			Buckets: jobBuckets,
		}, []string{"workspace", "task", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "runnel_step_duration_seconds", Help: "Duration of steps that ran, from start to their terminal status.",
			Buckets: jobBuckets,
		}, []string{"workspace", "task", "status"}),
		dispatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "runnel_step_dispatch_latency_seconds", Help: "Time a step waited from ready to running.",
			Buckets: fastBuckets,
		}),
		schedLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "runnel_scheduler_lag_seconds", Help: "Delay from a scheduler trigger's planned fire time to its job's creation.",
			Buckets: lagBuckets,
		}),
		retention: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_retention_deleted_total", Help: "What retention deleted: jobs, steps, logs, log_bytes, workers, schedule_records, audit_entries.",
		}, []string{"kind"}),
		schedMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_scheduler_missed_fires_total", Help: "Scheduler fires missed (server down) and run once as a catch-up.",
		}, []string{"workspace"}),
		wsLoad: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "runnel_workspace_load_duration_seconds", Help: "Workspace load attempts (fetch, parse, swap), by result.",
			Buckets: fastBuckets,
		}, []string{"workspace", "result"}),
		wsLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "runnel_workspace_last_success_timestamp_seconds", Help: "Unix time of the workspace's last successful load attempt.",
		}, []string{"workspace"}),
		wsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_workspace_load_errors_total", Help: "Failed workspace load attempts (fetch failed or revision rejected).",
		}, []string{"workspace"}),
		gitFetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "runnel_git_fetch_duration_seconds", Help: "Git fetches of git workspaces.",
			Buckets: fastBuckets,
		}, []string{"workspace"}),
		gitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_git_fetch_failures_total", Help: "Failed git fetches.",
		}, []string{"workspace"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "runnel_store_commit_duration_seconds", Help: "Write transactions of the job store (grouped updates, one fsync each).",
			Buckets: fastBuckets,
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "runnel_http_request_duration_seconds", Help: "HTTP request latency by route template and method (WebSocket streams: their lifetime).",
			Buckets: fastBuckets,
		}, []string{"route", "method"}),
	}
	m.reg.MustRegister(
		m.jobsStarted, m.jobsFinished, m.jobDuration, m.stepDuration, m.dispatch,
		m.schedLag, m.schedMissed, m.wsLoad, m.wsLastSuccess, m.wsErrors, m.gitFetch, m.gitFailures,
		m.commitDuration, m.retention, m.httpRequests, m.httpDuration,
		newSampler(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics/protobuf when the scraper asks). It does no authentication.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// JobStarted counts a created job.
func (m *Metrics) JobStarted(ws, task, source string) {
	m.jobsStarted.WithLabelValues(ws, task, source).Inc()
}

// JobFinished counts a job that reached its terminal status after took.
func (m *Metrics) JobFinished(ws, task, source, status string, took time.Duration) {
	m.jobsFinished.WithLabelValues(ws, task, source, status).Inc()
	m.jobDuration.WithLabelValues(ws, task, status).Observe(seconds(took))
}

// StepFinished records a step that ran for took and ended with status.
func (m *Metrics) StepFinished(ws, task, status string, took time.Duration) {
	m.stepDuration.WithLabelValues(ws, task, status).Observe(seconds(took))
}

// StepDispatched records a step's wait from ready to running.
func (m *Metrics) StepDispatched(wait time.Duration) { m.dispatch.Observe(seconds(wait)) }

// ScheduleFired records a scheduler fire created lag after its planned time.
func (m *Metrics) ScheduleFired(lag time.Duration) { m.schedLag.Observe(seconds(lag)) }

// ScheduleMissed counts a fire missed while the server was down.
func (m *Metrics) ScheduleMissed(ws string) { m.schedMissed.WithLabelValues(ws).Inc() }

// RetentionDeleted counts what a retention pass deleted, by kind.
func (m *Metrics) RetentionDeleted(kind string, n int64) {
	m.retention.WithLabelValues(kind).Add(float64(n))
}

// StoreCommitted records one write transaction of the job store.
func (m *Metrics) StoreCommitted(took time.Duration) { m.commitDuration.Observe(seconds(took)) }

// WorkspaceLoaded records a load attempt of ws (err nil: success).
func (m *Metrics) WorkspaceLoaded(ws string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		m.wsErrors.WithLabelValues(ws).Inc()
	} else {
		m.wsLastSuccess.WithLabelValues(ws).Set(float64(time.Now().UnixNano()) / 1e9)
	}
	m.wsLoad.WithLabelValues(ws, result).Observe(seconds(took))
}

// GitFetched records a git fetch of ws (err nil: success).
func (m *Metrics) GitFetched(ws string, took time.Duration, err error) {
	m.gitFetch.WithLabelValues(ws).Observe(seconds(took))
	if err != nil {
		m.gitFailures.WithLabelValues(ws).Inc()
	}
}

// HTTPRequest records a request; route must be a route template (or
// UnmatchedRoute), never a raw path, so the label set stays bounded.
func (m *Metrics) HTTPRequest(route, method string, code int, took time.Duration) {
	method = boundedMethod(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(seconds(took))
}

// boundedMethod keeps the method label to the standard methods.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
