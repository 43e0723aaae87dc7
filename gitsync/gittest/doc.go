// Package gittest makes real git upstreams for tests: a bare repository in
// t.TempDir() (or, with NewLayout, an ordinary repository or a linked
// worktree, the other forms git accepts as a local remote) plus helpers to commit, branch, tag and rewrite history with
// the git CLI, so tests exercise the same transport runnel uses.
//
// It must not be imported by non-test code, and it never reads the user's
// git configuration (each command runs with a private HOME and no global or
// system config). Commit dates are fixed, so hashes repeat run to run.
//
// Typical use:
//
//	u := gittest.New(t)
//	rev := u.Commit(t, "add task", map[string]string{
//		".workflows/ci.yaml": "tasks: {}\n",
//		"scripts/build.sh":   gittest.Exec("#!/bin/sh\nmake\n"),
//		"latest":             gittest.Symlink("scripts/build.sh"),
//	})
//	u.Commit(t, "drop it", map[string]string{"latest": gittest.Delete})
//	u.Tag(t, "v1", rev)
//	u.ForcePush(t, map[string]string{"README": "history rewritten\n"})
//	// point the code under test at u.URL() (file://) or u.Path()
//
// Exported revision trees are read-only; put them under TempDir(t) so
// cleanup can remove them.
package gittest
