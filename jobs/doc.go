// Package jobs owns job execution and the store it runs on: the bbolt store
// (jobs, steps, workers, scheduler state; it hands the same file to
// httpd/accounts and jobs/audit through Store.Update and Store.View), the
// DAG engine (Engine) and its ready queue, the built-in workers, timeouts,
// cancellation, hooks and child jobs, the secret masks of job logs, and the
// one wiring of them all (OpenStack).
//
// Beside the engine, small services share the store, not the engine's
// state: Query answers reads of jobs and workers, Pruner enforces the
// retention policy, and backup.go copies, restores and compacts the store
// file. The audit log is jobs/audit; the cron scheduler that starts jobs
// through the engine is jobs/schedule.
//
// It must not speak HTTP or read workflow files: it sees tasks only through
// workspace snapshots, and every state change happens inside a store
// transaction that commits before anything is acknowledged.
package jobs
