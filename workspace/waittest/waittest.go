package waittest

import (
	"os"
	"testing"
	"time"
)

// Patience is how long a test waits for an event before it gives up: one
// generous deadline shared by every test that cannot avoid one, so a busy
// machine (other builds beside the suite, -race, GOMAXPROCS=1) slows the
// suite down instead of failing it. RUNNEL_TEST_PATIENCE (a Go duration)
// overrides the default of 60 s.
func Patience() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("RUNNEL_TEST_PATIENCE")); err == nil && d > 0 {
		return d
	}
	return 60 * time.Second
}

// Eventually polls cond every 10 ms until it holds, failing the test with
// what after Patience. Use it only where no event can be waited on.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Until(cond) {
		t.Fatalf("timed out after %s waiting for %s", Patience(), what)
	}
}

// Until polls cond every 10 ms until it holds (true) or Patience has
// passed (false), for a caller that explains a timeout itself (e.g. with a
// goroutine dump).
func Until(cond func() bool) bool {
	deadline := time.Now().Add(Patience())
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
