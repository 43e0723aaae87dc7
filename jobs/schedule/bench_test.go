package schedule_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"runnel/jobs/jobstest"
	"runnel/jobs/schedule"
)

// manyTriggers is a workspace with n scheduler triggers: every one fires on
// 1 January at a distinct minute (never during a benchmark), except the
// first fast ones, which fire every second. Steps need a tag no worker has,
// so fired jobs stay queued and run no process.
func manyTriggers(n, fast int) map[string]string {
	var b strings.Builder
	b.WriteString(`
tasks:
  t:
    flow:
      s: { type: script, script: "true", tags: [nowhere] }
triggers:
`)
	for i := 0; i < n; i++ {
		cron := fmt.Sprintf("0 %d %d 1 1 *", i%60, (i/60)%24)
		if i < fast {
			cron = "* * * * * *"
		}
		fmt.Fprintf(&b, "  tr%04d: { type: scheduler, task: t, cron: %q, timezone: Europe/Copenhagen }\n", i, cron)
	}
	return map[string]string{".workflows/main.yaml": b.String()}
}

// waitRecords waits until the scheduler has stored n trigger records (its
// first pass is done).
func waitRecords(b *testing.B, h *jobstest.Harness, n int) {
	b.Helper()
	jobstest.Eventually(b, fmt.Sprintf("%d trigger records stored", n), func() bool {
		recs, err := h.Store.ScheduleRecords()
		if err != nil {
			b.Fatal(err)
		}
		return len(recs) >= n
	})
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSchedulerIdle measures the process CPU time per second of wall
// time while the engine idles, without and with 1,000 triggers loaded (none
// due): the scheduler sleeps on one timer, so the two should match. One
// iteration is 100 ms of idling.
func BenchmarkSchedulerIdle(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("triggers=%d", n), func(b *testing.B) {
			h := jobstest.New(b, manyTriggers(n, 0))
			if n > 0 {
				started(b, h, 0)
				waitRecords(b, h, n)
			}
			// Return the load's garbage first: the background scavenger
			// would otherwise bill it to the idle window.
			debug.FreeOSMemory()
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			for i := 0; i < b.N; i++ {
				time.Sleep(100 * time.Millisecond)
			}
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			b.ReportMetric(float64(cpu.Microseconds())/wall.Seconds(), "cpu-µs/s")
		})
	}
}

// lateness collects the scheduler's debug "scheduled fire" records.
type lateness struct {
	ch chan [2]time.Duration // woke late, created late
}

func (l *lateness) Enabled(context.Context, slog.Level) bool { return true }
func (l *lateness) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lateness) WithGroup(string) slog.Handler            { return l }
func (l *lateness) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "scheduled fire" {
		return nil
	}
	var v [2]time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "woke_late":
			v[0] = a.Value.Duration()
		case "created_late":
			v[1] = a.Value.Duration()
		}
		return true
	})
	l.ch <- v
	return nil
}

// BenchmarkSchedulerFireJitter loads 1,000 triggers, 20 of them on a
// seconds schedule, and reports how late the scheduler woke for a fire and
// how late the job was committed (median and p99). One iteration is one
// second's 20 fires.
func BenchmarkSchedulerFireJitter(b *testing.B) {
	const fast = 20
	h := jobstest.New(b, manyTriggers(1000, fast))
	l := &lateness{ch: make(chan [2]time.Duration, 4096)}
	s := schedule.New(h.Engine, h.Store, schedule.Options{Logger: slog.New(l)})
	s.OnSwap("default", nil, current(b, h))
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	<-l.ch // skip the first (partial) second
	for len(l.ch) > 0 {
		<-l.ch
	}
	b.ResetTimer()
	var woke, created []time.Duration
	for i := 0; i < b.N; i++ {
		for k := 0; k < fast; k++ {
			select {
			case v := <-l.ch:
				woke, created = append(woke, v[0]), append(created, v[1])
			case <-time.After(jobstest.Patience()):
				b.Fatal("no fire for 10 s")
			}
		}
	}
	b.StopTimer()
	s.Close()
	report := func(d []time.Duration, name string) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), name+"-p99-µs")
	}
	report(woke, "woke")
	report(created, "created")
}
