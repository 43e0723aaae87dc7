package schedule

import (
	"context"
	"time"
)

// OpenManual loads the scheduler's state without starting its loop; the
// test then drives it with Tick and the injected clock.
func (s *Scheduler) OpenManual() error { return s.open() }

// Tick runs one scheduler pass at the injected clock's time: pending
// reloads are applied, due triggers fired, state persisted. It returns the
// time the loop would wake next.
func (s *Scheduler) Tick() time.Time { return s.tick(context.Background()) }

// NextFire is the next regular fire of "<ws>/<trigger>" (zero if the
// trigger is not timed).
func (s *Scheduler) NextFire(key string) time.Time {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	if e := s.entries[key]; e != nil {
		return e.next
	}
	return time.Time{}
}
