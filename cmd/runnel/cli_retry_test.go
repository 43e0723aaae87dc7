package main

import (
	"testing"
	"time"

	"runnel/jobs/api"
)

// TestRetryNote: `runnel status` words a step's retry state beside its
// note; steps without a retry policy keep theirs unchanged.
func TestRetryNote(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.Local)
	next := now.Add(5 * time.Second)
	for _, tc := range []struct {
		name string
		step api.Step
		note string
		want string
	}{
		{"no policy", api.Step{Attempt: 1, MaxAttempts: 1}, "Exit code: 1", "Exit code: 1"},
		{"not started", api.Step{MaxAttempts: 3}, "", ""},
		{"first attempt ran", api.Step{Attempt: 1, MaxAttempts: 3}, "", ""},
		{"waiting for the next", api.Step{Attempt: 1, MaxAttempts: 3, RetryAt: api.At(next)}, "Exit code: 1",
			"attempt 1/3 failed, next at 12:00:05: Exit code: 1"},
		{"far away", api.Step{Attempt: 2, MaxAttempts: 3, RetryAt: api.At(now.Add(48 * time.Hour))}, "",
			"attempt 2/3 failed, next at 2026-12-08 12:00:00"},
		{"a later attempt ended", api.Step{Attempt: 3, MaxAttempts: 3}, "Exit code: 2", "Exit code: 2 (attempt 3/3)"},
		{"a later attempt completed", api.Step{Attempt: 2, MaxAttempts: 5}, "", "(attempt 2/5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryNote(tc.step, tc.note, now); got != tc.want {
				t.Errorf("retryNote = %q, want %q", got, tc.want)
			}
		})
	}
}
