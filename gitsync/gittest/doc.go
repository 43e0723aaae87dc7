// Package gittest makes real git upstreams for tests: a bare repository in
// t.TempDir() plus helpers to commit, branch, tag and rewrite history with
// the git CLI, so tests exercise the same transport runnel uses.
//
// It must not be imported by non-test code, and it never reads the user's
// git configuration (each command runs with a private HOME and no global or
// system config).
package gittest
