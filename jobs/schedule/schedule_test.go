package schedule_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/audit"
	"runnel/jobs/jobstest"
	"runnel/jobs/schedule"
	"runnel/workspace"
)

func files(yaml string) map[string]string { return map[string]string{".workflows/main.yaml": yaml} }

// clock is an injectable wall clock for the scheduler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func current(t testing.TB, h *jobstest.Harness) *workspace.Snapshot {
	t.Helper()
	snap, err := h.Defs.Current("default")
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// triggerJobs lists the jobs a trigger of workspace default started, oldest
// first.
func triggerJobs(t testing.TB, h *jobstest.Harness, trigger string) []*jobs.Job {
	t.Helper()
	res, err := h.Query.List(jobs.ListFilter{SourceType: jobs.SourceTrigger, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*jobs.Job
	for _, j := range res.Jobs {
		if j.SourceID == "default/"+trigger {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// waitJobs waits (jobstest.Patience at most) until the trigger has started
// n jobs.
func waitJobs(t testing.TB, h *jobstest.Harness, trigger string, n int) []*jobs.Job {
	t.Helper()
	var js []*jobs.Job
	jobstest.Eventually(t, fmt.Sprintf("trigger %s to start %d jobs", trigger, n), func() bool {
		js = triggerJobs(t, h, trigger)
		return len(js) >= n
	})
	return js
}

// manual returns a scheduler driven by Tick and the clock, with snap
// swapped in.
func manual(t testing.TB, h *jobstest.Harness, c *clock) *schedule.Scheduler {
	t.Helper()
	s := schedule.New(h.Engine, h.Store, schedule.Options{Now: c.Now})
	s.OnSwap("default", nil, current(t, h))
	if err := s.OpenManual(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// started runs a scheduler on the real clock (shifted by shift).
func started(t testing.TB, h *jobstest.Harness, shift time.Duration) *schedule.Scheduler {
	t.Helper()
	return startedWith(t, h, shift, nil)
}

// startedWith is started reporting to m (nil: no metrics).
func startedWith(t testing.TB, h *jobstest.Harness, shift time.Duration, m schedule.Metrics) *schedule.Scheduler {
	t.Helper()
	s := schedule.New(h.Engine, h.Store, schedule.Options{Now: func() time.Time { return time.Now().Add(shift) }, Metrics: m})
	s.OnSwap("default", nil, current(t, h))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const schedTask = `
tasks:
  greet:
    input:
      name: { type: string, default: World }
      n: { type: integer, default: 0 }
    flow:
      hi:
        type: script
        input: { name: "{{ input.name }}", n: "{{ input.n }}" }
        script: |
          echo 'OUTPUT: {"hello": "{{ input.name }}", "n": {{ input.n }}}'
  nap:
    flow:
      sleep: { type: script, script: "sleep 60" }
`

func TestSchedulerFiresSecondsSchedule(t *testing.T) {
	h := jobstest.New(t, files(schedTask+`
triggers:
  every:
    type: scheduler
    cron: "*/2 * * * * *"
    task: greet
    input: { n: 7 }
`))
	started(t, h, 0)
	js := waitJobs(t, h, "every", 2)
	seconds := map[int64]bool{}
	for _, j := range js {
		if seconds[j.CreatedAt.Unix()] {
			t.Errorf("two fires in the second %v", j.CreatedAt)
		}
		seconds[j.CreatedAt.Unix()] = true
	}
	j := h.Wait(js[0].ID)
	if j.Status != jobs.JobCompleted || j.SourceType != jobs.SourceTrigger || j.SourceID != "default/every" {
		t.Fatalf("job %+v", j)
	}
	if diff := cmp.Diff(map[string]any{"name": "World", "n": float64(7)}, j.Input); diff != "" {
		t.Errorf("input = trigger input + task defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"hi": map[string]any{"hello": "World", "n": float64(7)}}, j.Output); diff != "" {
		t.Errorf("output:\n%s", diff)
	}
	if log := h.Log(j.ID); !strings.Contains(log, `"line":"Job created: task 'greet', revision rev001, source trigger default/every"`) {
		t.Errorf("log:\n%s", log)
	}
}

func TestSchedulerConcurrency(t *testing.T) {
	for _, policy := range []string{"allow", "skip", "cancel_previous"} {
		t.Run(policy, func(t *testing.T) {
			h := jobstest.New(t, files(schedTask+`
triggers:
  napper:
    type: scheduler
    cron: "* * * * * *"
    task: nap
    concurrency: `+policy+`
`))
			s := started(t, h, 0)
			waitJobs(t, h, "napper", 2)
			s.Close()
			// Every job after the first met an active one.
			js := triggerJobs(t, h, "napper")
			get := func(id string) *jobs.Job {
				j, err := h.Query.Get(id)
				if err != nil {
					t.Fatal(err)
				}
				return j
			}
			first, last := js[0].ID, js[len(js)-1].ID
			h.WaitFor(first, "first job started", func(j *jobs.Job) bool { return j.Status != jobs.JobPending })
			for i, j := range js {
				j = get(j.ID)
				switch {
				case policy == "allow" || (policy == "skip" && i == 0):
					if j.Status != jobs.JobRunning && !(i > 0 && j.Status == jobs.JobPending) {
						t.Errorf("job %d: %s, want active", i, j.Status)
					}
				case policy == "skip":
					if j.Status != jobs.JobSkipped || len(j.Steps) != 0 || !j.CompletedAt.Equal(j.CreatedAt) || !j.StartedAt.IsZero() {
						t.Errorf("skipped job %d: %+v (steps %d)", i, j, len(j.Steps))
					}
					want := `"line":"[scheduler] Skipped: job ` + first + ` is still active"`
					if log := h.Log(j.ID); !strings.Contains(log, want) || !strings.Contains(log, "Job created: task 'nap'") {
						t.Errorf("skipped job log lacks %s:\n%s", want, log)
					}
				case j.ID == last:
					if jobs.JobTerminal(j.Status) {
						t.Errorf("newest job %s, want active", j.Status)
					}
				default:
					if j = h.Wait(j.ID); j.Status != jobs.JobCancelled {
						t.Errorf("previous job %d: %s, want cancelled", i, j.Status)
					}
					if log := h.Log(j.ID); !strings.Contains(log, `"line":"Job cancelled by trigger napper"`) {
						t.Errorf("cancelled job log:\n%s", log)
					}
				}
			}
			for _, j := range triggerJobs(t, h, "napper") {
				h.Engine.Cancel(context.Background(), j.ID, "api")
			}
		})
	}
}

// TestSchedulerReload drives one scheduler through reloads with the
// injected clock: an unchanged schedule keeps its fire time (no double fire,
// no skipped fire around a reload, the newest definition is used), a
// changed one is recomputed, a disabled or removed one stops and loses its
// record.
func TestSchedulerReload(t *testing.T) {
	yaml := func(tick string) string {
		return schedTask + "\ntriggers:\n" + tick + `
  noon:
    type: scheduler
    cron: "0 0 12 * * *"
    task: greet
`
	}
	tick := func(cron string, n int, enabled bool) string {
		return "  tick:\n    type: scheduler\n    task: greet\n    cron: \"" + cron + "\"\n    input: { n: " +
			string(rune('0'+n)) + " }\n    enabled: " + map[bool]string{true: "true", false: "false"}[enabled] + "\n"
	}
	h := jobstest.New(t, files(yaml(tick("0 * * * * *", 1, true))))
	c := newClock(mustTime(t, "2030-01-01T10:00:30Z"))
	s := manual(t, h, c)
	swap := func(y string) {
		h.Load(files(y))
		s.OnSwap("default", nil, current(t, h))
	}
	check := func(step string, wantNext string, wantJobs int) {
		t.Helper()
		s.Tick()
		got := s.NextFire("default/tick")
		if (wantNext == "" && !got.IsZero()) || (wantNext != "" && !got.Equal(mustTime(t, wantNext))) {
			t.Errorf("%s: next fire %v, want %s", step, got, wantNext)
		}
		if n := len(triggerJobs(t, h, "tick")); n != wantJobs {
			t.Errorf("%s: %d jobs, want %d", step, n, wantJobs)
		}
	}
	check("first load", "2030-01-01T10:01:00Z", 0)

	// A new revision lands just after the fire time, before the fire.
	c.Set(mustTime(t, "2030-01-01T10:01:00.400Z"))
	swap(yaml(tick("0 * * * * *", 2, true)))
	check("reload at fire time", "2030-01-01T10:02:00Z", 1)
	if js := triggerJobs(t, h, "tick"); len(js) == 0 {
		t.Fatal("the fire due at the reload was lost")
	} else if j := h.Wait(js[0].ID); j.Input["n"] != float64(2) {
		t.Errorf("fire used input %v, want the new revision's", j.Input)
	}
	// Another one just after the fire: nothing fires twice.
	c.Set(mustTime(t, "2030-01-01T10:01:00.600Z"))
	swap(yaml(tick("0 * * * * *", 3, true)))
	check("reload after fire", "2030-01-01T10:02:00Z", 1)

	// A changed cron is recomputed from now.
	c.Set(mustTime(t, "2030-01-01T10:01:10Z"))
	swap(yaml(tick("30 * * * * *", 3, true)))
	check("changed cron", "2030-01-01T10:01:30Z", 1)
	c.Set(mustTime(t, "2030-01-01T10:01:30Z"))
	check("changed cron fires", "2030-01-01T10:02:30Z", 2)

	recs, err := h.Store.ScheduleRecords()
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.ScheduleRecord{Cron: "30 * * * * *", Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:01:30Z")}
	if diff := cmp.Diff(want, recs["default/tick"]); diff != "" {
		t.Errorf("record after fire (-want +got):\n%s", diff)
	}
	if _, ok := recs["default/noon"]; !ok {
		t.Errorf("no record for noon: %v", recs)
	}

	// Disabled: no fire, record gone.
	c.Set(mustTime(t, "2030-01-01T10:02:00Z"))
	swap(yaml(tick("30 * * * * *", 3, false)))
	check("disabled", "", 2)
	c.Set(mustTime(t, "2030-01-01T10:02:30Z"))
	check("disabled at its fire time", "", 2)
	// Removed: record gone too.
	swap(schedTask)
	s.Tick()
	recs, err = h.Store.ScheduleRecords()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("records of removed/disabled triggers remain: %v", recs)
	}
}

// TestSchedulerPersistsCheckedThrough: every tick after PersistInterval
// stores checked_through even when nothing fires.
func TestSchedulerPersistsCheckedThrough(t *testing.T) {
	h := jobstest.New(t, files(schedTask+`
triggers:
  yearly: { type: scheduler, cron: "0 0 0 1 1 *", task: greet, timezone: Europe/Copenhagen }
`))
	c := newClock(mustTime(t, "2030-03-01T10:00:00Z"))
	s := manual(t, h, c)
	if wake := s.Tick(); !wake.Equal(mustTime(t, "2030-03-01T10:01:00Z")) {
		t.Errorf("wakes at %v, want the persist interval (60 s)", wake)
	}
	c.Set(mustTime(t, "2030-03-01T10:01:00Z"))
	s.Tick()
	recs, err := h.Store.ScheduleRecords()
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.ScheduleRecord{Cron: "0 0 0 1 1 *", Timezone: "Europe/Copenhagen", CheckedThrough: mustTime(t, "2030-03-01T10:01:00Z")}
	if diff := cmp.Diff(want, recs["default/yearly"]); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

var catchUpLine = regexp.MustCompile(`"line":"\[scheduler\] Catch-up run for ([^ ]+) missed while the server was down"`)

func TestSchedulerCatchUpDecisions(t *testing.T) {
	const cronExpr = "0 0 * * * *" // hourly
	tests := []struct {
		name    string
		trigger string
		record  *jobs.ScheduleRecord
		now     string
		want    string // catch-up time, "" = none
	}{
		{name: "missed slots fire once", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T15:20:00Z", want: "2030-01-01T11:00:00+00:00"},
		{name: "fire at now is included", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T11:00:00Z", want: "2030-01-01T11:00:00+00:00"},
		{name: "zone shown", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet, timezone: Europe/Copenhagen }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "Europe/Copenhagen", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T15:20:00Z", want: "2030-01-01T12:00:00+01:00"},
		{name: "nothing missed", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T10:59:59Z"},
		{name: "changed cron", trigger: `{ type: scheduler, cron: "0 30 * * * *", task: greet }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T15:20:00Z"},
		{name: "changed timezone", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet, timezone: Europe/Copenhagen }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T15:20:00Z"},
		{name: "new trigger", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet }`,
			now: "2030-01-01T15:20:00Z"},
		{name: "disabled trigger", trigger: `{ type: scheduler, cron: "0 0 * * * *", task: greet, enabled: false }`,
			record: &jobs.ScheduleRecord{Cron: cronExpr, Timezone: "UTC", CheckedThrough: mustTime(t, "2030-01-01T10:00:30Z")},
			now:    "2030-01-01T15:20:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := jobstest.New(t, files(schedTask+"\ntriggers:\n  hourly: "+tt.trigger+"\n"))
			if tt.record != nil {
				if err := h.Store.PutScheduleRecords(map[string]jobs.ScheduleRecord{"default/hourly": *tt.record}, nil); err != nil {
					t.Fatal(err)
				}
			}
			c := newClock(mustTime(t, tt.now))
			s := manual(t, h, c)
			s.Tick()
			js := triggerJobs(t, h, "hourly")
			if tt.want == "" {
				if len(js) != 0 {
					t.Fatalf("%d catch-up jobs, want none", len(js))
				}
			} else {
				if len(js) != 1 {
					t.Fatalf("%d catch-up jobs, want 1", len(js))
				}
				m := catchUpLine.FindStringSubmatch(h.Log(js[0].ID))
				if m == nil || m[1] != tt.want {
					t.Errorf("catch-up line %q, want time %s:\n%s", m, tt.want, h.Log(js[0].ID))
				}
			}
			// A second start at the same time catches nothing up again.
			s.Close()
			s2 := manual(t, h, c)
			s2.Tick()
			if n := len(triggerJobs(t, h, "hourly")); n != len(js) {
				t.Errorf("second start made %d jobs, want %d", n, len(js))
			}
		})
	}
}

// TestSchedulerCatchUpAfterDowntime runs the real loop, stops it with the
// engine, and starts again with the clock 3 hours later: the hourly
// trigger fires once with the catch-up line.
func TestSchedulerCatchUpAfterDowntime(t *testing.T) {
	h := jobstest.New(t, files(schedTask+`
triggers:
  hourly: { type: scheduler, cron: "@hourly", task: greet }
`))
	s := started(t, h, 0)
	jobstest.Eventually(t, "the scheduler's record for the trigger", func() bool {
		recs, err := h.Store.ScheduleRecords()
		if err != nil {
			t.Fatal(err)
		}
		_, ok := recs["default/hourly"]
		return ok
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downAt := time.Now()
	h.Restart()

	const shift = 3 * time.Hour
	started(t, h, shift)
	js := waitJobs(t, h, "hourly", 1)
	j := h.Wait(js[0].ID)
	if j.Status != jobs.JobCompleted {
		t.Errorf("catch-up job %s", j.Status)
	}
	m := catchUpLine.FindStringSubmatch(h.Log(j.ID))
	if m == nil {
		t.Fatalf("no catch-up line:\n%s", h.Log(j.ID))
	}
	missed, err := time.Parse("2006-01-02T15:04:05-07:00", m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !missed.After(downAt.Add(-time.Hour)) || missed.After(downAt.Add(time.Hour)) || missed.Minute() != 0 || missed.Second() != 0 {
		t.Errorf("catch-up for %v, want the first hour after %v", missed, downAt)
	}
}

// TestSchedulerAudit: each job a fire creates is one audit entry with the
// trigger as its actor.
func TestSchedulerAudit(t *testing.T) {
	h := jobstest.New(t, files(schedTask+`
triggers:
  hourly: { type: scheduler, cron: "0 0 * * * *", task: greet }
`))
	c := newClock(mustTime(t, "2030-01-01T09:59:30Z"))
	s := schedule.New(h.Engine, h.Store, schedule.Options{Now: c.Now, Audit: h.Audit})
	s.OnSwap("default", nil, current(t, h))
	if err := s.OpenManual(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Tick()
	c.Set(mustTime(t, "2030-01-01T10:00:00Z"))
	s.Tick()
	js := triggerJobs(t, h, "hourly")
	p, err := h.Audit.List(audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || len(p.Entries) != 1 {
		t.Fatalf("%d jobs, %d audit entries; want one of each", len(js), len(p.Entries))
	}
	got := p.Entries[0]
	want := audit.Entry{ID: got.ID, Time: got.Time, Actor: "default/hourly", ActorType: audit.ActorTrigger,
		Action: audit.ActionJobExecute, Target: "default/greet",
		Detail: map[string]any{"job_id": js[0].ID, "due": "2030-01-01T10:00:00.000Z"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("entry (-want +got):\n%s", d)
	}
}
