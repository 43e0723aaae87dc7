// Package e2e holds end-to-end tests that run the real runnel binary as
// separate processes: `runnel serve` and `runnel worker` on 127.0.0.1
// with folder workspaces in temporary directories (remote workers: tag
// routing, recovery after a killed worker, a server restart under a
// running step, pinned revisions, tokens, cancellation) and benchmarks of
// the remote worker path.
//
// It must not import runnel's packages beyond the HTTP client: everything
// it checks goes through the processes' HTTP surface. Run it with
// `go test ./e2e/` (TestMain builds the binary once, into a temporary
// directory) and the benchmarks with `go test -run '^$' -bench . ./e2e/`.
package e2e
