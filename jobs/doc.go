// Package jobs owns job execution: the bbolt store (jobs, steps, workers,
// scheduler state, the append-only audit log; it hands the same file to
// httpd/accounts through Store.Update and Store.View), the DAG engine and its
// ready queue, the built-in workers, timeouts, cancellation, hooks and child
// jobs, the secret masks of job logs, and the one wiring of store, logs and
// engine (OpenStack). The cron scheduler that starts jobs through the engine
// is jobs/schedule.
//
// It must not speak HTTP or read workflow files: it sees tasks only through
// workspace snapshots, and every state change happens inside a store
// transaction that commits before anything is acknowledged.
package jobs
