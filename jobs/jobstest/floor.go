package jobstest

import (
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// The floors benchmarks compare runnel against, measured in the same run
// so that a busy machine slows both sides (issue 16).

// SpawnCeiling runs n bare `sh -c true` processes from 8 goroutines (the
// slots of the one-step-job benchmarks) and returns the starts per second:
// the machine's ceiling for one-step jobs/s.
func SpawnCeiling(n int) (float64, error) {
	start := time.Now()
	if err := bareStarts(n, 8); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// bareStarts runs n `sh -c true` processes from workers goroutines and
// returns the first failure.
func bareStarts(n, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := bareStart(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// bareStart runs one `sh -c true`.
func bareStart() error {
	if err := exec.Command("sh", "-c", "true").Run(); err != nil {
		return fmt.Errorf("run sh -c true: %w", err)
	}
	return nil
}

// BareStart runs n `sh -c true` processes one after another and returns
// their mean wall time: the floor of one step of a sequential chain.
func BareStart(n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := bareStart(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// BareFanOut runs the shape of a fan-out/fan-in job with bare `sh -c true`
// processes: one start, then width starts from slots goroutines, then one
// start; it returns the wall time, the floor of such a job with slots
// built-in workers.
func BareFanOut(width, slots int) (time.Duration, error) {
	start := time.Now()
	if err := bareStart(); err != nil {
		return 0, err
	}
	if err := bareStarts(width, slots); err != nil {
		return 0, err
	}
	if err := bareStart(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
