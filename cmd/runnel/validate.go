package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"runnel/workspace"
)

func runValidate(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "validate", "validate [DIR]\n\nLoads DIR (default .) with the server's loader and prints every problem\nas file:line:col: message; exits 1 if there is any.", "runnel validate ./my-workspace")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &usageError{msg: "at most one directory"}
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if fi, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return &usageError{msg: fmt.Sprintf("folder %s does not exist", dir)}
	} else if err == nil && !fi.IsDir() {
		return &usageError{msg: fmt.Sprintf("%s is not a folder", dir)}
	}
	opts := workspace.LoadOptions{
		Getenv: e.lookup,
		Warn: func(p workspace.Problem) {
			fmt.Fprintf(e.stdout, "warning: %s\n", p)
		},
	}
	snap, err := workspace.Load(dir, opts)
	var le *workspace.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintln(e.stdout, p.String())
		}
		return &exitError{code: 1, msg: fmt.Sprintf("%d problem%s", len(le.Problems), plural(len(le.Problems)))}
	}
	if err != nil {
		return err
	}
	actions := 0
	for name := range snap.Actions {
		if !strings.HasPrefix(name, workspace.InlinePrefix) {
			actions++
		}
	}
	fmt.Fprintf(e.stdout, "ok: %d tasks, %d actions, %d triggers\n", len(snap.Tasks), actions, len(snap.Triggers))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
