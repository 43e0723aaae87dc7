// Package worker is the loop of a remote `runnel worker` (SPEC §9.5): it
// registers with a server, keeps its heartbeat, long-polls for steps up to
// its concurrency, fetches and caches revision trees, runs each step with
// the same shell runner as the built-in workers, streams its log lines and
// reports the result, retrying every delivery until the server answers.
//
// It must not speak HTTP itself: the server is reached through the small
// Server interface, which cmd wires to the HTTP client; refusals carry their
// HTTP status through an HTTPStatus() int method.
package worker
