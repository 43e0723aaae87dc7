// Package api holds the JSON types of runnel's REST API and worker
// protocol: what the server sends and accepts, and what a client, the
// command line, a remote worker and the web UI decode and send. It is the
// one definition of each resource's JSON (key order, nulls, omitted keys
// as /work/shared/seed/api.md and SPEC say), and imports nothing of
// runnel's, so every side of the wire can use it.
//
// Nullable values are OptString ("" ⇄ null) and Time (zero ⇄ null), so
// readers handle plain strings and times. The worker protocol's
// Assignment is what a worker (built-in or remote) is given to run a
// step; ClaimOf and ClaimResponse.Assignment convert it to and from the
// claim's JSON. Converting engine records to these types is the server's
// business (httpd/wire.go).
package api
