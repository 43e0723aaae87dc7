package cron_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/adhocore/gronx"
	"github.com/google/go-cmp/cmp"

	"runnel/workspace/cron"
)

// TestNextMatchesGronxUTC checks, in UTC (no DST), that Next agrees with
// gronx's own NextTickAfter, and that every result is due by gronx's IsDue.
func TestNextMatchesGronxUTC(t *testing.T) {
	exprs := []string{
		"* * * * *", "*/7 * * * *", "5-50/15 3,9-11 * * *", "0 0 * * *", "0 12 1 * *",
		"0 0 1 1 *", "0 9 * * MON-FRI", "30 8 * * 0", "0 0 13 * 5", "0 0 1-7 * 1",
		"0 0 */5 * */2", "0 22 * JAN,JUL ?", "0 9 L * *", "0 9 15W * *", "0 9 1W * *",
		"0 9 31W * *", "0 9 * * 5#2", "0 9 * * 0#5", "0 9 * * 5L", "0 9 * * 1L",
		"0 0 29 2 *", "*/10 * * * * *", "15 0 2 * * *", "0 */5 * ? * *", "@weekly",
		"@monthly", "@yearly", "0 0 12 ? JAN-DEC/2 MON,WED,FRI", "0 9 * * 7#1",
		"0 0 1,15 * 3", "0 9 L,15 * *", "0 9 10W,L * *", "1-5 * * * * *",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	g := gronx.New()
	for _, expr := range exprs {
		s := mustParse(t, expr, time.UTC)
		for range 60 {
			after := time.Unix(lo+rng.Int64N(hi-lo), 0).UTC()
			got, ok := s.Next(after)
			if !ok {
				t.Fatalf("%q: Next(%v) found nothing", expr, after)
			}
			if due, err := g.IsDue(expr, got); err != nil || !due {
				t.Errorf("%q: Next(%v) = %v, which gronx does not consider due (err %v)", expr, after, got, err)
			}
			want, err := gronx.NextTickAfter(expr, after, false)
			if err != nil {
				// gronx gives up on rare schedules ("tried so hard"):
				// nothing to compare with.
				continue
			}
			if !got.Equal(want) {
				t.Errorf("%q: Next(%v) = %v, gronx says %v", expr, after, got, want)
			}
		}
	}
}

// specFires is a literal, slow transcription of the SPEC §7.1 algorithm:
// iterate matching civil times with gronx's NextTickAfter in UTC, map each
// to its instants in loc by brute force, keep the earlier (fixed) or both
// (wildcard) of two, the transition instant (fixed) or nothing (wildcard)
// for none, coalesce equal instants and take the first n after after.
func specFires(t *testing.T, expr string, wild bool, loc *time.Location, after time.Time, n int) []time.Time {
	t.Helper()
	const margin = 2 * time.Hour // larger than any DST shift of the test zones
	y := after.Year()
	_, offJan := time.Date(y, 1, 1, 0, 0, 0, 0, loc).Zone()
	_, offJul := time.Date(y, 7, 1, 0, 0, 0, 0, loc).Zone()
	maxOff := int64(max(offJan, offJul))

	c := civil(after.In(loc)).Add(-margin)
	var fires []time.Time
	for {
		next, err := gronx.NextTickAfter(expr, c, false)
		if err != nil {
			t.Fatalf("gronx.NextTickAfter(%q, %v): %v", expr, c, err)
		}
		c = next
		insts := instants(loc, c)
		switch {
		case len(insts) == 0 && !wild:
			fires = append(fires, gapEnd(loc, c))
		case len(insts) > 0 && wild:
			fires = append(fires, insts...)
		case len(insts) > 0:
			fires = append(fires, insts[0])
		}
		slices.SortFunc(fires, time.Time.Compare)
		fires = slices.CompactFunc(fires, time.Time.Equal)
		i, _ := slices.BinarySearchFunc(fires, after, func(f, a time.Time) int {
			if f.After(a) {
				return 1
			}
			return -1
		})
		// Later civil times map to instants at or after c - maxOff.
		if len(fires)-i >= n && c.Unix()-maxOff > fires[i+n-1].Unix() {
			out := fires[i : i+n]
			for j := range out {
				out[j] = out[j].In(loc)
			}
			return out
		}
	}
}

// civil returns t's wall clock as a UTC time.
func civil(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// instants returns, in order, every instant whose wall clock in loc is c.
func instants(loc *time.Location, c time.Time) []time.Time {
	var out []time.Time
	for k := -30; k <= 30; k++ {
		_, off := c.Add(time.Duration(k) * 30 * time.Minute).In(loc).Zone()
		cand := c.Add(-time.Duration(off) * time.Second)
		if civil(cand.In(loc)).Equal(c) && !slices.ContainsFunc(out, cand.Equal) {
			out = append(out, cand)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// gapEnd returns the first instant whose wall clock in loc is after c, for
// c inside a spring-forward gap.
func gapEnd(loc *time.Location, c time.Time) time.Time {
	later := func(x time.Time) bool { return civil(x.In(loc)).After(c) }
	x := c.Add(-15 * time.Hour)
	for !later(x) {
		x = x.Add(15 * time.Minute)
	}
	lo, hi := x.Add(-15*time.Minute), x // !later(lo), later(hi)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if later(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// TestNextMatchesSpec compares NextN with specFires in zones with DST, at
// random times concentrated around the transitions.
func TestNextMatchesSpec(t *testing.T) {
	zones := []struct {
		zone        string
		transitions []string // instants of DST changes
	}{
		{"Europe/Copenhagen", []string{"2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z", "2031-03-30T01:00:00Z"}},
		{"America/New_York", []string{"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"}},
		{"Australia/Lord_Howe", []string{"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}},
		{"UTC", []string{"2026-03-29T01:00:00Z"}},
	}
	exprs := []struct {
		expr  string
		count int // random samples; seconds-level oracles are slow
	}{
		{"0 * * * *", 40}, {"*/30 * * * *", 40}, {"*/20 * * * *", 40}, {"* 2 * * *", 20},
		{"30 2 * * *", 40}, {"10 2 * * *", 40}, {"45 1 * * *", 40}, {"0 0 2 * * *", 40},
		{"0,30 2,3 * * *", 40}, {"15 1-3 * * *", 40}, {"0 3 * * *", 40}, {"@daily", 20},
		{"*/10 30 2 * * *", 20}, {"*/15 * * * * *", 6}, {"0 */2 * * *", 40},
		{"*/30 1-3 * * 0", 40}, {"0 9 L * *", 10},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	scale := 1
	if testing.Short() {
		scale = 4
	}
	for _, z := range zones {
		zone, transitions := z.zone, z.transitions
		loc := mustLoc(t, zone)
		for _, e := range exprs {
			s := mustParse(t, e.expr, loc)
			for range max(1, e.count/scale) {
				var after time.Time
				if rng.IntN(4) == 0 {
					after = mustTime(t, "2026-01-01T00:00:00Z").Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
				} else {
					tr := mustTime(t, transitions[rng.IntN(len(transitions))])
					after = tr.Add(time.Duration(rng.Int64N(int64(6*time.Hour))) - 3*time.Hour)
				}
				if rng.IntN(2) == 0 {
					after = after.Truncate(time.Minute) // land on fire times too
				}
				want := formatAll(specFires(t, e.expr, s.Wildcard(), loc, after, 5))
				got := formatAll(s.NextN(after, 5))
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s %q NextN(%s) (-spec +got):\n%s", zone, e.expr, after.In(loc).Format(time.RFC3339Nano), d)
				}
			}
		}
	}
}

// TestUpcomingMatchesNextN drives Upcoming with a random walk of "now"
// (mostly forward, sometimes far ahead or backwards) and checks every answer
// against NextN computed from scratch.
func TestUpcomingMatchesNextN(t *testing.T) {
	for _, tc := range []struct{ expr, zone string }{
		{"*/10 * * * * *", "Europe/Copenhagen"},
		{"*/30 * * * *", "Europe/Copenhagen"},
		{"30 2 * * *", "Europe/Copenhagen"},
		{"0 9 * * 5#2", "UTC"},
		{"0,30 2,3 * * *", "America/New_York"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			s := mustParse(t, tc.expr, mustLoc(t, tc.zone))
			u := cron.NewUpcoming(s)
			rng := rand.New(rand.NewPCG(5, 6))
			now := mustTime(t, "2026-03-29T00:00:00+01:00")
			for i := range 3000 {
				switch r := rng.IntN(100); {
				case r < 80:
					now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
				case r < 90:
					now = now.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
				case r < 95:
					now = now.Add(-time.Duration(rng.Int64N(int64(2 * time.Hour))))
				default:
					// stay: repeated calls at the same now
				}
				n := 1 + rng.IntN(16)
				want := formatAll(s.NextN(now, n))
				got := formatAll(u.Next(now, n))
				if d := cmp.Diff(want, got); d != "" {
					t.Fatalf("step %d: Upcoming.Next(%s, %d) (-NextN +got):\n%s", i, now.Format(time.RFC3339Nano), n, d)
				}
			}
		})
	}
}

func TestUpcomingConcurrent(t *testing.T) {
	s := mustParse(t, "*/10 * * * * *", mustLoc(t, "Europe/Copenhagen"))
	u := cron.NewUpcoming(s)
	start := mustTime(t, "2026-10-25T02:30:00+02:00")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				now := start.Add(time.Duration(w*500+i) * 3 * time.Second)
				want := formatAll(s.NextN(now, 5))
				if d := cmp.Diff(want, formatAll(u.Next(now, 5))); d != "" {
					errs <- d
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for d := range errs {
		t.Errorf("Upcoming.Next under concurrency (-NextN +got):\n%s", d)
	}
}

func TestUpcomingReturnsCopy(t *testing.T) {
	s := mustParse(t, "0 * * * *", nil)
	u := cron.NewUpcoming(s)
	now := mustTime(t, "2026-05-01T10:30:00Z")
	first := u.Next(now, 3)
	first[0] = time.Time{}
	if got := u.Next(now, 3); !got[0].Equal(mustTime(t, "2026-05-01T11:00:00Z")) {
		t.Errorf("cache changed through a returned slice: %v", got)
	}
	if got := u.Next(now, 0); len(got) != 0 {
		t.Errorf("Next(now, 0) = %v, want empty", got)
	}
}
