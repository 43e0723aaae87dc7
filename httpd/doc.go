// Package httpd serves runnel's HTTP surface: the REST API of seed/api.md
// and SPEC §11 (with authentication, SPEC §12), the WebSocket log stream,
// push webhooks, task webhooks, the remote worker protocol and (through
// httpd/web) the browser UI on every other GET path.
//
// It must not hold job state or parse workflow files: every decision goes
// through the small interfaces it declares for what it uses of the job stack
// (Engine to start, stop and wait for jobs, Jobs to read them, Masks,
// Store, Audit, Users) and of the workspace manager, and every error reaches clients as {"error": "..."}.
// Its answers and the bodies it reads are the wire types of jobs/api;
// engine and workspace records become wire types in wire.go only.
package httpd
