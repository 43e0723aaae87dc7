// Package schedule owns the cron scheduler (SPEC §7.1): it times the
// enabled scheduler triggers of every serving workspace snapshot, starts
// their jobs through the engine (jobs.Engine.Trigger) and keeps each
// trigger's checked_through in the job store, so a fire missed while the
// server was down runs once at the next start. It also answers the API's
// next_runs from the same fire-time cache. Parsing cron expressions and
// time zones is workspace/cron's.
package schedule
