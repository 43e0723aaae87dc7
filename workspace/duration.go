package workspace

import (
	"errors"
	"fmt"
	"time"
)

// MaxDuration is the longest accepted timeout (SPEC §3.8).
const MaxDuration = 365 * 24 * time.Hour

// ErrDurationRange is wrapped by ParseDuration for well-formed durations
// that are zero or longer than MaxDuration.
var ErrDurationRange = errors.New("duration must be between 1s and 365d")

// ParseDuration parses a SPEC §3.8 duration: positive integer seconds
// ("90"), or groups <int><unit> with units d, h, m, s in that order, each at
// most once ("30s", "5m", "1h30m", "2d", "1d12h"). Zero and more than 365d
// return an error wrapping ErrDurationRange; other malformed text an error
// naming the text.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q", s)
	if s == "" {
		return 0, bad
	}
	units := []struct {
		c byte
		d time.Duration
	}{{'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}}
	var total time.Duration
	next := 0 // index of the first unit still allowed
	tooBig := false
	i := 0
	for i < len(s) {
		start := i
		var n uint64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 1<<40 { // far beyond 365d in any unit; stop growing
				n = n*10 + uint64(s[i]-'0')
			} else {
				tooBig = true
			}
			i++
		}
		if i == start {
			return 0, bad
		}
		unit := time.Second
		if i == len(s) {
			if start != 0 {
				return 0, bad // "1h30": a bare number only stands alone
			}
		} else {
			j := next
			for j < len(units) && units[j].c != s[i] {
				j++
			}
			if j == len(units) {
				return 0, bad
			}
			unit = units[j].d
			next = j + 1
			i++
		}
		if n > uint64(MaxDuration/unit) {
			tooBig = true
		} else {
			total += time.Duration(n) * unit
		}
	}
	if tooBig || total > MaxDuration || total <= 0 {
		return 0, fmt.Errorf("duration %q: %w", s, ErrDurationRange)
	}
	return total, nil
}
