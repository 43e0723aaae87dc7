package schedule_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/jobs/jobstest"
)

// recorder is a schedule.Metrics that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	missed map[string]int
	lags   []time.Duration
}

func (r *recorder) ScheduleFired(lag time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lags = append(r.lags, lag)
}

func (r *recorder) ScheduleMissed(ws string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.missed == nil {
		r.missed = map[string]int{}
	}
	r.missed[ws]++
}

// get returns how often key ("fired" or "missed <ws>") was reported, and
// the lags of "fired".
func (r *recorder) get(key string) (int, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ws, ok := strings.CutPrefix(key, "missed "); ok {
		return r.missed[ws], nil
	}
	return len(r.lags), slices.Clone(r.lags)
}

// TestSchedulerMetrics: a fire missed during downtime is counted as missed
// (its catch-up is not a late fire); regular fires report their lag.
func TestSchedulerMetrics(t *testing.T) {
	h := jobstest.New(t, files(schedTask+`
triggers:
  hourly: { type: scheduler, cron: "@hourly", task: greet }
`))
	s := started(t, h, 0)
	jobstest.Eventually(t, "the trigger's schedule record", func() bool {
		recs, err := h.Store.ScheduleRecords()
		_, ok := recs["default/hourly"]
		return err == nil && ok
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h.Restart()
	startedWith(t, h, 3*time.Hour, rec)
	h.Wait(waitJobs(t, h, "hourly", 1)[0].ID)
	if n, _ := rec.get("missed default"); n != 1 {
		t.Errorf("missed fires: %d, want 1", n)
	}
	if n, _ := rec.get("fired"); n != 0 {
		t.Errorf("the catch-up counted as %d late fires", n)
	}

	h.Load(files(schedTask + `
triggers:
  every: { type: scheduler, cron: "*/2 * * * * *", task: greet }
`))
	startedWith(t, h, 0, rec)
	waitJobs(t, h, "every", 1)
	jobstest.Eventually(t, "a regular fire's lag", func() bool { n, _ := rec.get("fired"); return n >= 1 })
	if _, lags := rec.get("fired"); lags[0] < 0 || lags[0] > jobstest.Patience() {
		t.Errorf("lag %v", lags[0])
	}
}
