// Package shell runs one step's process (SPEC §5.5): sh -c text or a script
// file in its own process group, with a filtered environment, line-by-line
// output, OUTPUT: parsing, timeouts and group-wide termination.
//
// It must not know about HTTP, the job store or log files: the built-in
// workers and the remote worker both call Run and decide what to do with the
// lines and the result.
package shell
