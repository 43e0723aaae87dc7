// Package shell runs one step's process (SPEC §5.5): sh -c text or a script
// file in its own process group, with a filtered environment, a per-step
// TMPDIR, line-by-line output, OUTPUT: parsing, timeouts and group-wide
// termination.
//
// It must not know about HTTP, the job store or log files: the built-in
// workers and the remote worker both call Run and decide what to do with the
// lines and the result.
//
// Limits: a descendant that calls setsid leaves the process group and is not
// killed (containing it would need cgroups); Run only stops reading the
// pipes it holds. The package is Unix-only (process groups, /bin/sh); the
// zombie-safe group kill uses waitid(WNOWAIT) on Linux.
package shell
