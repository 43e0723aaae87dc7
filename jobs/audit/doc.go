// Package audit owns the audit log: who did what, when and from where
// (Entry), appended by the server, the scheduler and the CLI's reloads and
// read by GET /api/audit. Entries live in their own buckets of the server's
// bbolt file (audit: UUIDv7 key → entry JSON; audit_meta: the entry count),
// reached through the narrow transaction helper (DB) the job store hands
// out. Nothing changes an entry; only retention (Log.Prune) deletes the
// oldest.
package audit
