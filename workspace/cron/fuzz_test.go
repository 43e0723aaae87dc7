package cron_test

import (
	"testing"
	"time"

	"runnel/workspace/cron"
)

// FuzzParse checks that Parse never panics and that an accepted expression
// yields strictly increasing fires after the reference time.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"0 * * * *", "*/10 * * * * *", "30 2 * * *", "0 9 15W,L * *", "0 9 * * 5#2",
		"0 9 * * 5L", "@daily", "0 0 30 2 *", "0 0 1 1 * 2030", "5-50/15 3,9-11 * JAN-MAR ?",
		"0 9 -1W * *", "* * * * 7#1", "*/0 * * * *",
	} {
		f.Add(seed)
	}
	cph, err := cron.LoadLocation("Europe/Copenhagen")
	if err != nil {
		f.Fatal(err)
	}
	after := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := cron.Parse(expr, cph)
		if err != nil {
			return
		}
		prev := after
		for _, next := range s.NextN(after, 4) {
			if !next.After(prev) {
				t.Fatalf("%q: fire %v not after %v", expr, next, prev)
			}
			prev = next
		}
	})
}
