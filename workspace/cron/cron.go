package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
	_ "time/tzdata" // zones must resolve on systems without a tz database

	"github.com/adhocore/gronx"
)

// ErrNeverFires is returned by Parse for a valid expression that has no fire
// time (e.g. "0 0 30 2 *").
var ErrNeverFires = errors.New("never fires")

// RunLayout is the layout of a trigger's next_runs entries: no fraction, the
// offset always written ("+00:00" for UTC).
const RunLayout = "2006-01-02T15:04:05-07:00"

// FormatRun formats t in RunLayout in t's own location (the fire times of a
// Schedule are already in its zone), e.g. "2026-03-29T03:00:00+02:00".
func FormatRun(t time.Time) string { return t.Format(RunLayout) }

// Schedule is a parsed cron expression bound to a location. It is immutable
// and safe for concurrent use.
//
// The expression is compiled into match tables taken from gronx's own
// checker: one bit per second, minute, hour and month value, and one day mask
// per month shape (length × weekday of the 1st), which is all that day of
// month, day of week, L, W and # can depend on. Matching a civil time is then
// a few bit tests, and the search never needs gronx's NextTickAfter.
type Schedule struct {
	expr string
	loc  *time.Location
	wild bool

	sec, min uint64 // bit v: second / minute v matches
	hour     uint32 // bit v: hour v matches
	month    uint16 // bit m: month m (1-12) matches
	// days[l-28][w] has bit d set when day d (1-31) matches in a month of l
	// days whose 1st is weekday w (0 = Sunday).
	days [4][7]uint32
}

// Parse validates expr (7 fields and year forms rejected; never-firing
// expressions return an error wrapping ErrNeverFires) and binds it to loc
// (nil means UTC). Other errors carry gronx's message, e.g.
// "segment#1: '61' out of bounds(0, 59)". Parse does a bounded amount of
// work (no search over future dates), so it is cheap for any input.
func Parse(expr string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	segs, err := segments(expr)
	if err != nil {
		return nil, err
	}
	s := &Schedule{
		expr: expr,
		loc:  loc,
		wild: wildField(segs[1]) || wildField(segs[2]),
	}
	s.compile(segs)
	if !s.fires() {
		return nil, fmt.Errorf("cron %q: %w", expr, ErrNeverFires)
	}
	return s, nil
}

// LoadLocation resolves an IANA zone name ("" = UTC) using the embedded tz
// database when the system has none. "Local" is rejected like any unknown
// name: a trigger must not depend on the server's own zone.
func LoadLocation(name string) (*time.Location, error) {
	switch name {
	case "":
		return time.UTC, nil
	case "Local":
		return nil, errors.New("unknown time zone Local")
	}
	return time.LoadLocation(name)
}

// Expr returns the expression as written.
func (s *Schedule) Expr() string { return s.expr }

// Location returns the schedule's zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Wildcard reports whether the minute or hour field begins with '*' (or '?',
// which gronx treats as '*'), or the expression is @hourly: such schedules
// run in real time across DST changes. For 6-field expressions the minute
// and hour are the 2nd and 3rd fields.
func (s *Schedule) Wildcard() bool { return s.wild }

// Next returns the first fire instant strictly after after, in the
// schedule's location, applying the DST rule of SPEC §7.1. ok is false when
// no fire exists within the search horizon (a century of civil time, far
// beyond the longest gap between fires of any expression Parse accepts).
func (s *Schedule) Next(after time.Time) (next time.Time, ok bool) {
	it := s.iterAfter(after)
	return it.next()
}

// NextN returns up to n fire instants after after, in order (fewer only when
// the search horizon is exhausted).
func (s *Schedule) NextN(after time.Time, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	it := s.iterAfter(after)
	out := make([]time.Time, 0, n)
	for len(out) < n {
		t, ok := it.next()
		if !ok {
			break
		}
		out = append(out, t)
	}
	return out
}

// descriptor returns the 5-field form of a supported @descriptor.
func descriptor(d string) (string, bool) {
	switch d {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// segments normalises expr with gronx into six segments (second, minute,
// hour, day of month, month, day of week) and validates every list item.
func segments(expr string) ([]string, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "@") {
		d, ok := descriptor(strings.ToLower(e))
		if !ok {
			return nil, fmt.Errorf("unknown descriptor %q (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", e)
		}
		e = d
	}
	fields := strings.Fields(e)
	switch n := len(fields); {
	case n == 7:
		return nil, errors.New("7 fields (with a year) are not supported: use 5 fields 'min hour dom mon dow' or 6 with seconds first")
	case n < 5 || n > 7:
		return nil, fmt.Errorf("expr should contain 5 fields 'min hour dom mon dow' or 6 with seconds first, got %d", n)
	}
	segs, err := gronx.Segments(strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	if len(segs) != 6 {
		// gronx reads 6 fields whose last one holds 4 digits as min…year.
		return nil, fmt.Errorf("last field %q reads as a year, which is not supported: 6 fields are 'sec min hour dom mon dow'", fields[5])
	}
	for pos, seg := range segs {
		if err := checkSegment(seg, pos); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

// checkSegment reports the first invalid list item of seg. gronx's own
// IsValid stops at the first item that matches its reference time, so each
// item is checked on its own here; the messages are gronx's, prefixed with
// the segment position where gronx leaves it out.
func checkSegment(seg string, pos int) error {
	if seg == "" {
		return fmt.Errorf("segment#%d: empty", pos)
	}
	ck := &gronx.SegmentChecker{}
	ck.SetRef(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	for part := range strings.SplitSeq(seg, ",") {
		if part == "" {
			return fmt.Errorf("segment#%d: empty list item in '%s'", pos, seg)
		}
		if strings.Count(part, "/") > 1 {
			return fmt.Errorf("segment#%d: invalid step '%s'", pos, part)
		}
		if _, err := ck.CheckDue(part, pos); err != nil {
			if strings.HasPrefix(err.Error(), "segment#") {
				return err
			}
			return fmt.Errorf("segment#%d: %w", pos, err)
		}
	}
	return nil
}

// wildField reports whether a minute or hour segment makes the schedule a
// wildcard schedule.
func wildField(seg string) bool {
	return strings.HasPrefix(seg, "*") || strings.HasPrefix(seg, "?")
}

func anyValue(seg string) bool { return seg == "*" || seg == "?" }

// compile fills the match tables from gronx's checker. segs are valid.
func (s *Schedule) compile(segs []string) {
	ck := &gronx.SegmentChecker{}
	due := func(pos int, ref time.Time) bool {
		if anyValue(segs[pos]) {
			return true
		}
		ck.SetRef(ref)
		ok, _ := ck.CheckDue(segs[pos], pos)
		return ok
	}
	for v := range 60 {
		if due(0, time.Date(2001, 1, 1, 0, 0, v, 0, time.UTC)) {
			s.sec |= 1 << v
		}
		if due(1, time.Date(2001, 1, 1, 0, v, 0, 0, time.UTC)) {
			s.min |= 1 << v
		}
	}
	for v := range 24 {
		if due(2, time.Date(2001, 1, 1, v, 0, 0, 0, time.UTC)) {
			s.hour |= 1 << v
		}
	}
	for m := 1; m <= 12; m++ {
		if due(4, time.Date(2001, time.Month(m), 1, 0, 0, 0, 0, time.UTC)) {
			s.month |= 1 << m
		}
	}

	// Day of month and day of week interact (gronx unions or intersects
	// them depending on their form, and L, W and # look at the month), so
	// the day masks come from gronx's SegmentsDue over one real month of
	// every shape.
	if anyValue(segs[3]) && anyValue(segs[5]) {
		for l := range 4 {
			for w := range 7 {
				s.days[l][w] = uint32(uint64(1)<<(29+l)-1) &^ 1
			}
		}
		return
	}
	daySegs := []string{"*", "*", "*", segs[3], "*", segs[5]}
	g := &gronx.Gronx{C: ck}
	// Only the shapes of the months in the month field are needed. Without
	// L or W a day matches by its number and weekday alone (# counts from
	// the 1st), so the 31-day shapes, cut short, give the shorter ones.
	short := !strings.ContainsAny(segs[3]+segs[5], "LW")
	var need [4]bool
	for m := time.January; m <= time.December; m++ {
		if s.month&(1<<m) != 0 {
			for _, l := range monthLengths(m) {
				need[l-28] = true
			}
		}
	}
	if short {
		need = [4]bool{3: need[0] || need[1] || need[2] || need[3]}
	}
	left := 0
	for _, n := range need {
		if n {
			left += 7
		}
	}
	var seen [4][7]bool
	// Every shape occurs within 28 years, so the scan is short.
	for i := 0; left > 0; i++ {
		y, m := 2001+i/12, time.Month(1+i%12)
		l, w := daysIn(y, m)-28, weekdayOf(y, m, 1)
		if !need[l] || seen[l][w] {
			continue
		}
		seen[l][w], left = true, left-1
		for d := 1; d <= 28+l; d++ {
			ck.SetRef(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
			if ok, _ := g.SegmentsDue(daySegs); ok {
				s.days[l][w] |= 1 << d
			}
		}
	}
	if short {
		for l := range 3 {
			for w := range 7 {
				s.days[l][w] = s.days[3][w] & (uint32(1)<<(29+l) - 1)
			}
		}
	}
}

// monthLengths returns the possible lengths of month m.
func monthLengths(m time.Month) []int {
	switch m {
	case time.February:
		return []int{28, 29}
	case time.April, time.June, time.September, time.November:
		return []int{30}
	}
	return []int{31}
}

// fires reports whether some civil time matches. It is exact: every month
// occurs with every first weekday (and February in both lengths).
func (s *Schedule) fires() bool {
	if s.sec == 0 || s.min == 0 || s.hour == 0 {
		return false
	}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) == 0 {
			continue
		}
		for _, l := range monthLengths(time.Month(m)) {
			for w := range 7 {
				if s.days[l-28][w] != 0 {
					return true
				}
			}
		}
	}
	return false
}

// nextBit returns the lowest set bit of mask at or above i, or -1.
func nextBit(mask uint64, i int) int {
	if i >= 64 {
		return -1
	}
	m := mask & (^uint64(0) << i)
	if m == 0 {
		return -1
	}
	return bits.TrailingZeros64(m)
}

// nextTOD returns the first matching second of the day at or after tod
// (seconds since midnight).
func (s *Schedule) nextTOD(tod int) (int, bool) {
	h, mi, sec := tod/3600, tod/60%60, tod%60
	firstSec := nextBit(s.sec, 0)
	firstMin := nextBit(s.min, 0)
	hours := uint64(s.hour)
	h2 := nextBit(hours, h)
	if h2 < 0 {
		return 0, false
	}
	if h2 > h {
		return h2*3600 + firstMin*60 + firstSec, true
	}
	if mi2 := nextBit(s.min, mi); mi2 == mi {
		if s2 := nextBit(s.sec, sec); s2 >= 0 {
			return h*3600 + mi*60 + s2, true
		}
		if mi3 := nextBit(s.min, mi+1); mi3 >= 0 {
			return h*3600 + mi3*60 + firstSec, true
		}
	} else if mi2 > mi {
		return h*3600 + mi2*60 + firstSec, true
	}
	if h3 := nextBit(hours, h+1); h3 >= 0 {
		return h3*3600 + firstMin*60 + firstSec, true
	}
	return 0, false
}

// nextMatch returns the first matching civil time in [lo, hi). Civil times
// are seconds since 1970-01-01T00:00:00 in the zone-less (UTC) calendar.
func (s *Schedule) nextMatch(lo, hi int64) (int64, bool) {
	if lo >= hi {
		return 0, false
	}
	days := floorDiv(lo, 86400)
	tod := int(lo - days*86400)
	y, m, d := civilFromDays(days)
	for {
		first := daysFromCivil(y, m, 1) * 86400
		if first >= hi {
			return 0, false
		}
		if s.month&(1<<m) != 0 {
			l := daysIn(y, m)
			w := weekday(first / 86400)
			mask := s.days[l-28][w] & (^uint32(0) << d)
			for mask != 0 {
				dd := bits.TrailingZeros32(mask)
				start := first + int64(dd-1)*86400
				if start >= hi {
					return 0, false
				}
				from := 0
				if dd == d {
					from = tod
				}
				if r, ok := s.nextTOD(from); ok {
					if c := start + int64(r); c < hi {
						return c, true
					}
					return 0, false
				}
				mask &= mask - 1
			}
		}
		if m == 12 {
			y, m = y+1, 1
		} else {
			m++
		}
		d, tod = 1, 0
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm).
func daysFromCivil(y int, m time.Month, d int) int64 {
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := floorDiv(yy, 400)
	yoe := yy - era*400
	mp := (int64(m) + 9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (int, time.Month, int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := (mp+2)%12 + 1
	y := yoe + era*400
	if m <= 2 {
		y++
	}
	return int(y), time.Month(m), int(d)
}

// weekday returns the weekday of a day counted from 1970-01-01 (a Thursday).
func weekday(days int64) int {
	w := (days + 4) % 7
	if w < 0 {
		w += 7
	}
	return int(w)
}

func weekdayOf(y int, m time.Month, d int) time.Weekday {
	return time.Weekday(weekday(daysFromCivil(y, m, d)))
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
