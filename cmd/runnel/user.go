package main

import (
	"context"
	"errors"
)

// runUser runs `runnel user add|passwd|list|reset-admin`.
func runUser(ctx context.Context, e env, args []string) error {
	return errors.New("not implemented yet")
}
