package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sampler turns Sources into gauges and counters at scrape time.
type sampler struct {
	src Sources
	now func() time.Time

	queueDepth, queueAge      *prometheus.Desc
	workers, heartbeatAge     *prometheus.Desc
	wsFailing                 *prometheus.Desc
	commits, updates, dbBytes *prometheus.Desc
	logBytes, logLines        *prometheus.Desc
}

func newSampler(src Sources) *sampler {
	d := prometheus.NewDesc
	return &sampler{
		src: src, now: time.Now,
		queueDepth:   d("runnel_queue_ready_steps", "Ready steps waiting for a worker.", nil, nil),
		queueAge:     d("runnel_queue_oldest_ready_age_seconds", "Age of the oldest ready step (0 when none waits).", nil, nil),
		workers:      d("runnel_workers", "Known workers by state.", []string{"state"}, nil),
		heartbeatAge: d("runnel_worker_heartbeat_age_seconds", "Time since a worker's last heartbeat.", []string{"worker_id", "name", "state"}, nil),
		wsFailing:    d("runnel_workspace_failing", "1 while the workspace's newest load attempt failed (the previous revision keeps serving).", []string{"workspace"}, nil),
		commits:      d("runnel_store_commits_total", "Write transactions of the job store.", nil, nil),
		updates:      d("runnel_store_updates_total", "Updates grouped into the job store's write transactions.", nil, nil),
		dbBytes:      d("runnel_store_db_size_bytes", "Size of the job store's database file.", nil, nil),
		logBytes:     d("runnel_log_written_bytes_total", "Bytes written to job logs.", nil, nil),
		logLines:     d("runnel_log_written_lines_total", "Lines written to job logs.", nil, nil),
	}
}

// Describe sends every metric's description.
func (s *sampler) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.queueDepth, s.queueAge, s.workers, s.heartbeatAge, s.wsFailing,
		s.commits, s.updates, s.dbBytes, s.logBytes, s.logLines} {
		ch <- d
	}
}

// Collect reads the sources once.
func (s *sampler) Collect(ch chan<- prometheus.Metric) {
	now := s.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if f := s.src.Queue; f != nil {
		depth, oldest := f()
		age := 0.0
		if !oldest.IsZero() && depth > 0 {
			age = max(0, now.Sub(oldest).Seconds())
		}
		gauge(s.queueDepth, float64(depth))
		gauge(s.queueAge, age)
	}
	if f := s.src.Workers; f != nil {
		byState := map[string]int{"active": 0, "inactive": 0}
		for _, w := range f() {
			byState[w.State]++
			gauge(s.heartbeatAge, max(0, now.Sub(w.LastHeartbeat).Seconds()), w.ID, w.Name, w.State)
		}
		for st, n := range byState {
			gauge(s.workers, float64(n), st)
		}
	}
	if f := s.src.Workspaces; f != nil {
		for _, w := range f() {
			v := 0.0
			if w.Failing {
				v = 1
			}
			gauge(s.wsFailing, v, w.Name)
		}
	}
	if f := s.src.Store; f != nil {
		st := f()
		counter(s.commits, float64(st.Commits))
		counter(s.updates, float64(st.Updates))
		gauge(s.dbBytes, float64(st.FileBytes))
	}
	if f := s.src.Logs; f != nil {
		l := f()
		counter(s.logBytes, float64(l.Bytes))
		counter(s.logLines, float64(l.Lines))
	}
}
