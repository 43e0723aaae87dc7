package cron

import "time"

// The DST rule of SPEC §7.1 maps matching civil times to instants: a civil
// time inside a fall-back overlap has two instants, one inside a
// spring-forward gap has none. Walking the zone one offset period at a time
// gives both rules directly, in instant order:
//   - a period with offset o covers the civil range [start+o, end+o), and
//     within it civil time c is the instant c-o;
//   - a wildcard schedule fires at every match of every period, so both
//     passes of a repeated hour fire and gap times (in no period) never do;
//   - a fixed schedule skips civil times an earlier period already covered
//     (the first occurrence wins) and, for a gap between the civil high-water
//     mark and the next period's start, fires once at the period's start
//     instant if any civil time in the gap matches (gap matches coalesce).

const (
	farPast   = -1 << 62
	farFuture = 1 << 62

	// maxShift bounds the difference of two UTC offsets (-12h…+14h) so
	// that periods farther from an instant cannot affect its civil time.
	maxShift = 26 * 3600
	// horizon bounds one search, in civil seconds. Any expression Parse
	// accepts fires within ~40 years from any time.
	horizon = 100 * 366 * 86400
)

// period is a span of constant UTC offset in a zone, in Unix seconds.
type period struct {
	start, end int64 // farPast / farFuture when unbounded
	off        int64 // seconds east of UTC
}

func (p period) wallStart() int64 {
	if p.start == farPast {
		return farPast
	}
	return p.start + p.off
}

func (p period) wallEnd() int64 {
	if p.end == farFuture {
		return farFuture
	}
	return p.end + p.off
}

// periodAt returns the period of loc containing Unix second u.
func periodAt(u int64, loc *time.Location) period {
	t := time.Unix(u, 0).In(loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	p := period{start: farPast, end: farFuture, off: int64(off)}
	if !start.IsZero() {
		p.start = start.Unix()
	}
	if !end.IsZero() {
		p.end = end.Unix()
	}
	return p
}

// iter yields a schedule's fire instants in strictly increasing order.
type iter struct {
	s    *Schedule
	p    period // period being searched
	cur  int64  // lowest civil time of p still to consider
	high int64  // highest civil time covered by earlier periods (fixed schedules)
	done bool
}

// iterAfter returns an iterator whose first fire is strictly after after.
func (s *Schedule) iterAfter(after time.Time) *iter {
	u := after.Unix() // floor: a fractional after still excludes its second
	p := periodAt(u, s.loc)
	it := &iter{s: s, p: p, cur: u + p.off + 1, high: farPast}
	if !s.wild {
		// In the second pass of an overlap, civil times up to the previous
		// period's end already fired in the first pass.
		q := p
		for i := 0; i < 4 && q.start != farPast && q.start > u-maxShift; i++ {
			q = periodAt(q.start-1, s.loc)
			it.high = max(it.high, q.wallEnd())
		}
	}
	return it
}

// next returns the next fire instant, or ok false once the horizon is
// searched without a match.
func (it *iter) next() (time.Time, bool) {
	if it.done {
		return time.Time{}, false
	}
	s := it.s
	limit := it.cur + horizon
	for {
		lo := it.cur
		if !s.wild {
			lo = max(lo, it.high)
		}
		hi := min(it.p.wallEnd(), limit)
		if c, ok := s.nextMatch(lo, hi); ok {
			it.cur = c + 1
			return time.Unix(c-it.p.off, 0).In(s.loc), true
		}
		if hi == limit || it.p.end == farFuture {
			it.done = true
			return time.Time{}, false
		}
		it.high = max(it.high, it.p.wallEnd())
		np := periodAt(it.p.end, s.loc)
		if np.end <= it.p.end {
			it.done = true // a zone that does not advance: never loop
			return time.Time{}, false
		}
		it.p = np
		it.cur = it.p.wallStart()
		if !s.wild && it.high < it.cur {
			if _, gap := s.nextMatch(it.high, it.cur); gap {
				// The match at the period's first civil second, if any,
				// is this same instant: skip it.
				it.cur++
				return time.Unix(it.p.start, 0).In(s.loc), true
			}
		}
	}
}
