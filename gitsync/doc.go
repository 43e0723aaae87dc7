// Package gitsync mirrors one branch or tag of a git remote into a local
// clone with go-git and exports commit trees as immutable revision
// directories.
//
// It must not parse workflow files or know about workspaces beyond a URL, a
// ref and directories it is given; it is the only package that imports go-git.
package gitsync
