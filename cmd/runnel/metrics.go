package main

import (
	"math"
	"time"

	"runnel/httpd"
	"runnel/httpd/metrics"
	"runnel/jobs"
	"runnel/workspace"
)

// metricSources are the scrape-time reads of m's components: the engine's
// in-memory queue, the workers bucket (one record per worker), the
// workspace manager's published views, and the store's and log store's
// counters. None scans jobs. Components not open yet are left out.
func (m *Main) metricSources() metrics.Sources {
	return metrics.Sources{
		Queue: func() (int, time.Time) {
			if m.Engine == nil {
				return 0, time.Time{}
			}
			return m.Engine.QueueStats()
		},
		Workers: func() []metrics.Worker {
			if m.Query == nil {
				return nil
			}
			ws, _, err := m.Query.Workers(math.MaxInt, 0)
			if err != nil {
				m.log.Warn("metrics: list workers", "err", err)
				return nil
			}
			out := make([]metrics.Worker, 0, len(ws))
			for _, w := range ws {
				out = append(out, metrics.Worker{ID: w.ID, Name: w.Name, State: w.Status, LastHeartbeat: w.LastHeartbeat})
			}
			return out
		},
		Workspaces: func() []metrics.Workspace {
			if m.Manager == nil {
				return nil
			}
			var out []metrics.Workspace
			for _, st := range m.Manager.List() {
				out = append(out, metrics.Workspace{Name: st.Name, Failing: st.Error != ""})
			}
			return out
		},
		Store: func() metrics.Store {
			if m.Store == nil {
				return metrics.Store{}
			}
			st := m.Store.Stats()
			return metrics.Store{Commits: st.Commits, Updates: st.Updates, FileBytes: st.FileBytes}
		},
		Logs: func() metrics.Logs {
			if m.Logs == nil {
				return metrics.Logs{}
			}
			st := m.Logs.Stats()
			return metrics.Logs{Bytes: st.Bytes, Lines: st.Lines}
		},
	}
}

// The metrics registry serves every consumer's interface.
var (
	_ jobs.Metrics           = (*metrics.Metrics)(nil)
	_ httpd.Metrics          = (*metrics.Metrics)(nil)
	_ workspace.LoadObserver = (*metrics.Metrics)(nil)
)
