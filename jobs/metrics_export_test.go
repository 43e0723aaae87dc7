package jobs

import "testing"

// SeedJobs writes n finished two-step jobs straight into the store (for
// benchmarks outside the package).
func SeedJobs(tb testing.TB, s *Store, n int) []string { return seedJobs(tb, s, n) }
