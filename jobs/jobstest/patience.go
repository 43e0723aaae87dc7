package jobstest

import (
	"testing"
	"time"

	"runnel/workspace/waittest"
)

// Patience is the tests' one deadline (waittest.Patience: 60 s, or
// RUNNEL_TEST_PATIENCE).
func Patience() time.Duration { return waittest.Patience() }

// Eventually polls cond until it holds, failing the test with what after
// Patience (waittest.Eventually). Use it only where no event can be waited
// on.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waittest.Eventually(t, what, cond)
}

// Until polls cond until it holds (true) or Patience has passed (false)
// (waittest.Until).
func Until(cond func() bool) bool { return waittest.Until(cond) }
