// Package jobstest runs a real job engine (bbolt file, log files, shell
// processes, workflow YAML loaded by the real loader) in a test's temporary
// directory.
//
// It must not be imported by production code, nor by the tests of the
// leaves (workspace, logstore, gitsync), which may not depend on jobs.
package jobstest
