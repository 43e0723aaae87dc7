// Package logstore keeps each job's log as one append-only JSONL file
// (<dir>/<job_id>.jsonl, SPEC §10.1), reads it back by byte offset and lets
// readers follow it live.
//
// It must not know about job states or HTTP: callers decide when a job's log
// is finished, and a slow follower is dropped rather than ever slowing a
// writer.
//
// Ownership: each job has one writer, the goroutine holding that job's
// lock inside Append; it masks, cuts and caps lines, writes a batch with one
// write call and hands the same bytes to the job's followers, whose queues
// are bounded (an overflowing follower ends with *SlowReaderError and its
// resume offset). At most Options.MaxOpen writer files are open at once: a
// job's file is opened when written and the least recently written one is
// closed for another job's slot, the job staying live (see openfiles.go).
// Readers open the file themselves and return only complete lines, so they
// never wait for the writer; a follower closes its file once its backfill
// is delivered. A follower subscribes under the
// writer's lock at the file's end E, then reads the backfill [offset, E)
// from the file and the live chunks from E on: nothing lost or repeated.
package logstore
