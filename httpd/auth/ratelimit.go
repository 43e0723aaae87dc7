package auth

import (
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the buckets a Limiter keeps.
const DefaultMaxKeys = 10000

// Limiter is a set of token buckets keyed by client address: each holds
// up to Burst tokens and gains one every Every. A bucket left idle long
// enough to refill is indistinguishable from a new one and is dropped when
// the map is full; if all are busy, the least recently used one goes, so
// memory stays bounded by MaxKeys. Safe for concurrent use.
type Limiter struct {
	burst   float64
	every   time.Duration
	maxKeys int

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter with burst tokens per key, one more every
// every, keeping at most maxKeys buckets (DefaultMaxKeys if ≤ 0).
func NewLimiter(burst int, every time.Duration, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{burst: float64(burst), every: every, maxKeys: maxKeys, buckets: make(map[string]*bucket)}
}

// Allow takes a token from key's bucket at now. When the bucket is empty it
// takes nothing and returns false with the wait until a token is available.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) * float64(l.every)))
	return false, wait
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// evictLocked drops every bucket that would be full at now; if none is,
// it drops the least recently used one.
func (l *Limiter) evictLocked(now time.Time) {
	var oldestKey string
	var oldest time.Time
	dropped := false
	for k, b := range l.buckets {
		full := b.tokens+float64(now.Sub(b.last))/float64(l.every) >= l.burst
		if full {
			delete(l.buckets, k)
			dropped = true
			continue
		}
		if oldestKey == "" || b.last.Before(oldest) {
			oldestKey, oldest = k, b.last
		}
	}
	if !dropped && oldestKey != "" {
		delete(l.buckets, oldestKey)
	}
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RetryAfterSecs rounds a wait up to whole seconds, at least 1, for the
// Retry-After header.
func RetryAfterSecs(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
