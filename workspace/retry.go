package workspace

// This file reads and evaluates retry: policies (issue 13 item 3) of
// actions and steps.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Retry backoffs.
const (
	BackoffConstant    = "constant"
	BackoffExponential = "exponential"
)

// Retry limits and defaults.
const (
	// MaxAttempts is the largest accepted retry attempts.
	MaxAttempts = 100
	// DefaultRetryDelay is the delay of a bare `retry: N` and of a policy
	// without `delay`.
	DefaultRetryDelay = 5 * time.Second
)

// Retry is the retry policy of a step (its own, else its action's). It is
// copied into the job's step record, so it is stored: keep the JSON names.
type Retry struct {
	// Attempts counts every run, the first included (1–MaxAttempts).
	Attempts int `json:"attempts"`
	// Delay is the wait before the second attempt.
	Delay time.Duration `json:"delay"`
	// Backoff is BackoffConstant or BackoffExponential (the delay doubles
	// after each failed attempt).
	Backoff string `json:"backoff"`
	// MaxDelay caps every delay (0 = only MaxDuration).
	MaxDelay time.Duration `json:"max_delay,omitempty"`
	// OnExitCodes lists the exit codes that are retried (nil = any
	// failure; -1 stands for a signal, a timeout or an infrastructure
	// error).
	OnExitCodes []int `json:"on_exit_codes,omitempty"`
}

// DelayAfter returns the wait after failed attempt n (1 = the first) before
// the next one: Delay, doubled n-1 times when exponential, capped at
// MaxDelay (when set) and MaxDuration, never overflowing.
func (r *Retry) DelayAfter(n int) time.Duration {
	limit := MaxDuration
	if r.MaxDelay > 0 {
		limit = min(limit, r.MaxDelay)
	}
	d := r.Delay
	if r.Backoff == BackoffExponential {
		for i := 1; i < n && d < limit; i++ {
			d *= 2
		}
	}
	return min(d, limit)
}

// Retries reports whether a failed attempt with exit code code is retried
// (attempts aside).
func (r *Retry) Retries(code int) bool {
	return r.OnExitCodes == nil || slices.Contains(r.OnExitCodes, code)
}

// retryKeys are the keys of a retry mapping.
var retryKeys = []string{"attempts", "delay", "backoff", "max_delay", "on_exit_codes"}

// retry reads a retry: value of owner (an action or a step): a bare
// integer (attempts, default delay) or a mapping. Problems are reported;
// nil is returned after one.
func (l *loader) retry(d *yamlDoc, x entry, owner string) *Retry {
	r := &Retry{Delay: DefaultRetryDelay, Backoff: BackoffConstant}
	es, isMap := d.mappingEntries(x.val)
	if !isMap || x.val == nil {
		if n, ok := retryAttempts(d.value(x.val)); ok {
			r.Attempts = n
			return r
		}
		d.errorf(x.val, "%s: 'retry' must be a number of attempts (1-%d) or a mapping with 'attempts'", owner, MaxAttempts)
		return nil
	}
	ok := true
	var attemptsSeen bool
	var maxAt ast.Node
	for _, e := range es {
		switch e.key {
		case "attempts":
			n, good := retryAttempts(d.value(e.val))
			if !good {
				d.errorf(e.val, "%s: retry attempts must be an integer from 1 to %d", owner, MaxAttempts)
				ok = false
			}
			r.Attempts, attemptsSeen = n, true
		case "delay", "max_delay":
			s, _ := d.scalarText(e.val)
			v, err := ParseRetryDelay(s)
			if err != nil {
				d.errorf(e.val, "%s has invalid retry %s '%s' (use e.g. 500ms, 5s, 1m, 1h30m or seconds, at most 365d)", owner, e.key, s)
				ok = false
			}
			if e.key == "delay" {
				r.Delay = v
			} else {
				r.MaxDelay, maxAt = v, e.val
			}
		case "backoff":
			s, _ := d.scalarText(e.val)
			if s != BackoffConstant && s != BackoffExponential {
				d.errorf(e.val, "%s has invalid retry backoff '%s' (expected constant or exponential)", owner, s)
				ok = false
			}
			r.Backoff = s
		case "on_exit_codes":
			codes, good := exitCodes(d.value(e.val))
			if !good {
				d.errorf(e.val, "%s: retry on_exit_codes must be a non-empty list of exit codes (1-255, or -1 for a signal, timeout or infrastructure error)", owner)
				ok = false
			}
			r.OnExitCodes = codes
		default:
			l.errorAt(e.keyAt, "unknown field %q in retry of %s%s", e.key, owner, didYouMean(e.key, retryKeys))
			ok = false
		}
	}
	if !attemptsSeen {
		l.errorAt(x.keyAt, "%s: retry has no 'attempts'", owner)
		ok = false
	}
	if ok && r.MaxDelay > 0 && r.MaxDelay < r.Delay {
		d.errorf(maxAt, "%s: retry max_delay is shorter than its delay", owner)
		ok = false
	}
	if !ok {
		return nil
	}
	return r
}

// retryAttempts reads an attempts value: an integer from 1 to MaxAttempts.
func retryAttempts(v any) (int, bool) {
	n, ok := v.(int64)
	if !ok || n < 1 || n > MaxAttempts {
		return 0, false
	}
	return int(n), true
}

// exitCodes reads on_exit_codes: a non-empty list of -1 or 1–255.
func exitCodes(v any) ([]int, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	out := make([]int, 0, len(list))
	for _, x := range list {
		n, ok := x.(int64)
		if !ok || n < -1 || n == 0 || n > 255 {
			return nil, false
		}
		out = append(out, int(n))
	}
	return out, true
}

// errRetryDelay is returned by ParseRetryDelay for malformed text.
var errRetryDelay = errors.New("invalid retry delay")

// ParseRetryDelay parses a retry delay: a SPEC §3.8 duration, or whole
// milliseconds "<int>ms" (1ms at least), at most MaxDuration.
func ParseRetryDelay(s string) (time.Duration, error) {
	if ms, ok := strings.CutSuffix(s, "ms"); ok {
		n, err := strconv.ParseUint(ms, 10, 64)
		if err != nil || ms == "" || ms[0] == '+' {
			return 0, fmt.Errorf("%w %q", errRetryDelay, s)
		}
		if n == 0 || n > uint64(MaxDuration/time.Millisecond) || n > math.MaxInt64 {
			return 0, fmt.Errorf("retry delay %q: %w", s, ErrDurationRange)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	return ParseDuration(s)
}
