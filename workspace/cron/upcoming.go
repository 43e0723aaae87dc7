package cron

import (
	"sort"
	"sync"
	"time"
)

// Upcoming caches the next fire times of a schedule and advances them as
// time passes, so API requests never recompute from scratch. Safe for
// concurrent use.
type Upcoming struct {
	s *Schedule

	mu sync.Mutex // guards the fields below
	// fires holds, in order, every fire strictly after base up to the
	// iterator's position, where the iterator continues the sequence.
	base  time.Time
	fires []time.Time
	it    *iter
}

// NewUpcoming returns a cache for s.
func NewUpcoming(s *Schedule) *Upcoming { return &Upcoming{s: s} }

// Next returns the next n fire times after now (the same as
// Schedule.NextN(now, n)), computing only the entries not already cached.
// The cache keeps as many entries as the largest n asked for (n ≤ 16 is
// the intended use). A now earlier than the cache's base, or past every
// cached entry, restarts the search at now.
func (u *Upcoming) Next(now time.Time, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.it == nil || now.Before(u.base) {
		u.resetLocked(now)
	}
	i := sort.Search(len(u.fires), func(i int) bool { return u.fires[i].After(now) })
	if i == len(u.fires) {
		// Skipping ahead with the old iterator could walk many fires.
		u.resetLocked(now)
	} else {
		u.fires, u.base = u.fires[i:], now
	}
	for len(u.fires) < n {
		t, ok := u.it.next()
		if !ok {
			break
		}
		u.fires = append(u.fires, t)
	}
	return append([]time.Time(nil), u.fires[:min(n, len(u.fires))]...)
}

func (u *Upcoming) resetLocked(now time.Time) {
	u.base = now
	u.fires = u.fires[:0]
	u.it = u.s.iterAfter(now)
}
