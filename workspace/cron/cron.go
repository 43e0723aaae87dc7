package cron

// This file fixes the package API that the rest of runnel builds against.
// Bodies marked "not implemented" are filled in by the cron implementation.

import (
	"errors"
	"time"
)

// ErrNeverFires is returned by Parse for a valid expression that has no fire
// time (e.g. "0 0 30 2 *").
var ErrNeverFires = errors.New("never fires")

// Schedule is a parsed cron expression bound to a location. It is immutable
// and safe for concurrent use.
type Schedule struct {
	expr string
	loc  *time.Location
}

// Parse validates expr (7 fields and year forms rejected; never-firing
// expressions return an error wrapping ErrNeverFires) and binds it to loc
// (nil means UTC). Other errors carry gronx's message, e.g.
// "segment#1: '61' out of bounds(0, 59)".
func Parse(expr string, loc *time.Location) (*Schedule, error) {
	return nil, errors.New("cron: not implemented")
}

// LoadLocation resolves an IANA zone name ("" = UTC) using the embedded tz
// database when the system has none.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}

// Expr returns the expression as written.
func (s *Schedule) Expr() string { return s.expr }

// Location returns the schedule's zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Wildcard reports whether the minute or hour field begins with '*' (or the
// expression is @hourly): such schedules run in real time across DST changes.
func (s *Schedule) Wildcard() bool { return false }

// Next returns the first fire instant strictly after after, in the
// schedule's location, applying the DST rule of SPEC §7.1. ok is false when
// no fire exists within the search horizon.
func (s *Schedule) Next(after time.Time) (next time.Time, ok bool) {
	return time.Time{}, false
}

// NextN returns up to n fire instants after after, in order.
func (s *Schedule) NextN(after time.Time, n int) []time.Time {
	return nil
}

// Upcoming caches the next fire times of a schedule and advances them as
// time passes, so API requests never recompute from scratch. Safe for
// concurrent use.
type Upcoming struct {
	s *Schedule
}

// NewUpcoming returns a cache for s.
func NewUpcoming(s *Schedule) *Upcoming { return &Upcoming{s: s} }

// Next returns the next n fire times after now (n ≤ 16), computing only the
// entries not already cached.
func (u *Upcoming) Next(now time.Time, n int) []time.Time {
	return nil
}
