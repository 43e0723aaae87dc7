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
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := exec.Command("sh", "-c", "true").Run(); err != nil {
					mu.Lock()
					first = keepFirst(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// BareStart runs n `sh -c true` processes one after another and returns
// their mean wall time: the floor of one step of a sequential chain.
func BareStart(n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := exec.Command("sh", "-c", "true").Run(); err != nil {
			return 0, fmt.Errorf("run sh -c true: %w", err)
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// keepFirst returns first, or err wrapped when first is nil.
func keepFirst(first, err error) error {
	if first != nil {
		return first
	}
	return fmt.Errorf("run sh -c true: %w", err)
}

// BareFanOut runs the shape of a fan-out/fan-in job with bare `sh -c true`
// processes: one start, then width starts from slots goroutines, then one
// start; it returns the wall time, the floor of such a job with slots
// built-in workers.
func BareFanOut(width, slots int) (time.Duration, error) {
	start := time.Now()
	if err := exec.Command("sh", "-c", "true").Run(); err != nil {
		return 0, fmt.Errorf("run sh -c true: %w", err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(width) {
				if err := exec.Command("sh", "-c", "true").Run(); err != nil {
					mu.Lock()
					first = keepFirst(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	if err := exec.Command("sh", "-c", "true").Run(); err != nil {
		return 0, fmt.Errorf("run sh -c true: %w", err)
	}
	return time.Since(start), nil
}
