// Package gitsync mirrors one branch or tag of a git remote into a local
// clone with go-git and exports commit trees as immutable revision
// directories.
//
// It must not parse workflow files or know about workspaces beyond a URL, a
// ref and directories it is given; it is the only package that imports go-git.
//
// A poll (Sync) is a ref listing plus a HEAD comparison; only a moved ref
// costs a fetch and a hard reset. Local remotes (paths and file:// URLs:
// bare or non-bare repositories, git directories, linked worktrees) are
// found as git-upload-pack finds them and listed by reading their refs
// in-process, but cloning and fetching them runs git-upload-pack on their
// common git directory, so the git CLI must be installed.
package gitsync
