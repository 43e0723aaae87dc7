package auth_test

import (
	"fmt"
	"testing"
	"time"

	"runnel/httpd/auth"
)

func TestLimiterBurstAndRefill(t *testing.T) {
	for _, tc := range []struct {
		name  string
		burst int
		every time.Duration
	}{
		{"login", 10, 3 * time.Second},
		{"refresh", 15, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := auth.NewLimiter(tc.burst, tc.every, 0)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range tc.burst {
				if ok, _ := l.Allow("1.2.3.4", now); !ok {
					t.Fatalf("request %d of the burst refused", i+1)
				}
			}
			ok, wait := l.Allow("1.2.3.4", now)
			if ok || wait != tc.every {
				t.Fatalf("over burst: Allow = %v, %v; want false, %v", ok, wait, tc.every)
			}
			// Another client has its own bucket.
			if ok, _ := l.Allow("5.6.7.8", now); !ok {
				t.Error("another address refused")
			}
			half := now.Add(tc.every / 2)
			if ok, wait := l.Allow("1.2.3.4", half); ok || wait != tc.every/2 {
				t.Errorf("half refilled: Allow = %v, %v; want false, %v", ok, wait, tc.every/2)
			}
			if ok, _ := l.Allow("1.2.3.4", now.Add(tc.every)); !ok {
				t.Error("refused after one refill period")
			}
			if ok, _ := l.Allow("1.2.3.4", now.Add(tc.every)); ok {
				t.Error("two requests allowed after one refill period")
			}
			// A long pause refills to the burst, not beyond.
			later := now.Add(time.Hour)
			for i := range tc.burst {
				if ok, _ := l.Allow("1.2.3.4", later); !ok {
					t.Fatalf("after a pause, request %d refused", i+1)
				}
			}
			if ok, _ := l.Allow("1.2.3.4", later); ok {
				t.Error("bucket refilled beyond its burst")
			}
		})
	}
}

func TestLimiterBoundedMap(t *testing.T) {
	l := auth.NewLimiter(2, time.Second, 100)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Busy buckets: drained, so none is idle; the least recently used goes.
	for i := range 300 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		key := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		l.Allow(key, at)
		l.Allow(key, at)
		if n := l.Len(); n > 100 {
			t.Fatalf("after %d keys the limiter holds %d buckets, want ≤ 100", i+1, n)
		}
	}
	// The most recent key is still limited (its bucket was kept).
	last := now.Add(299 * time.Millisecond)
	if ok, _ := l.Allow("10.0.1.43", last); ok {
		t.Error("recent drained bucket was evicted")
	}
	// Once every bucket has refilled, a new key sweeps them all away.
	l.Allow("192.168.0.1", now.Add(time.Hour))
	if n := l.Len(); n != 1 {
		t.Errorf("after idle sweep the limiter holds %d buckets, want 1", n)
	}
}

func TestRetryAfterSecs(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{1500 * time.Millisecond, 2},
		{3 * time.Second, 3},
	} {
		if got := auth.RetryAfterSecs(tc.wait); got != tc.want {
			t.Errorf("RetryAfterSecs(%v) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}
