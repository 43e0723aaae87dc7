package cron_test

import (
	"testing"
	"time"

	"github.com/adhocore/gronx"

	"runnel/workspace/cron"
)

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, expr string }{
		{"5-field", "30 2 * * *"},
		{"6-field", "0 0 2 * * *"},
		{"weekdays", "*/15 9-17 * * MON-FRI"},
		{"L-W-hash", "0 9 15W,L * *"},
		{"never-fires-dom", "0 0 30 2 *"},
		{"never-fires-hash", "0 9 * * 5#6"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = cron.Parse(bc.expr, time.UTC)
			}
		})
	}
}

// benchAfters spreads "after" over a year so that some calls cross DST
// transitions.
func benchAfters() []time.Time {
	out := make([]time.Time, 1024)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = start.Add(time.Duration(i)*8*time.Hour + time.Duration(i%7)*time.Minute)
	}
	return out
}

func BenchmarkNext(b *testing.B) {
	cph := mustLoc(b, "Europe/Copenhagen")
	afters := benchAfters()
	for _, bc := range []struct {
		name, expr string
		loc        *time.Location
	}{
		{"5-field-UTC", "30 2 * * *", time.UTC},
		{"5-field", "30 2 * * *", cph},
		{"6-field", "*/10 * * * * *", cph},
		{"6-field-fixed", "0 0 2 * * *", cph},
		{"L-W-hash", "0 9 * * 5#2", cph},
	} {
		s := mustParse(b, bc.expr, bc.loc)
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := s.Next(afters[i%len(afters)]); !ok {
					b.Fatal("no fire")
				}
				i++
			}
		})
	}
}

// BenchmarkNextN5 reports the cost of the five next_runs of a trigger.
func BenchmarkNextN5(b *testing.B) {
	s := mustParse(b, "*/30 * * * *", mustLoc(b, "Europe/Copenhagen"))
	afters := benchAfters()
	i := 0
	for b.Loop() {
		if len(s.NextN(afters[i%len(afters)], 5)) != 5 {
			b.Fatal("short")
		}
		i++
	}
}

// BenchmarkUpcomingNext is the steady state of the API: now advances by a
// second per request and the five next runs are asked for.
func BenchmarkUpcomingNext(b *testing.B) {
	for _, expr := range []string{"*/30 * * * *", "*/10 * * * * *"} {
		b.Run(expr, func(b *testing.B) {
			u := cron.NewUpcoming(mustParse(b, expr, mustLoc(b, "Europe/Copenhagen")))
			now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				if len(u.Next(now, 5)) != 5 {
					b.Fatal("short")
				}
				now = now.Add(time.Second)
			}
		})
	}
}

// BenchmarkGronxNextTickAfter is the library's own search, for comparison.
func BenchmarkGronxNextTickAfter(b *testing.B) {
	afters := benchAfters()
	i := 0
	for b.Loop() {
		if _, err := gronx.NextTickAfter("30 2 * * *", afters[i%len(afters)], false); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
