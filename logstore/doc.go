// Package logstore keeps each job's log as one append-only JSONL file
// (<dir>/<job_id>.jsonl, SPEC §10.1), reads it back by byte offset and lets
// readers follow it live.
//
// It must not know about job states or HTTP: callers decide when a job's log
// is finished, and a slow follower is dropped rather than ever slowing a
// writer.
package logstore
