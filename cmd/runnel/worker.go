package main

import (
	"context"
	"errors"
)

// runWorker runs `runnel worker`: a remote worker (SPEC §9.5).
func runWorker(ctx context.Context, e env, args []string) error {
	return errors.New("not implemented yet")
}
