// Package httpdtest runs the whole server stack — a folder workspace
// watched by the real manager, a bbolt store, log files, the job engine with
// built-in workers and the HTTP server — on 127.0.0.1 in a test's temporary
// directory.
//
// It must not be imported by production code, and it adds no behaviour of
// its own: it wires the real packages the way `runnel serve` does.
package httpdtest
