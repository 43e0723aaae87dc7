package jobs

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/google/uuid"
)

// Query answers read-only questions about jobs and workers (lists, one
// job with its steps, a task's last success, the revisions open jobs pin)
// from the store's indexes. It shares the store with the engine, not the
// engine's state; safe for concurrent use.
type Query struct {
	store *Store
	defs  Definitions
}

// NewQuery returns the queries over store; defs gives the snapshots whose
// secrets Get redacts.
func NewQuery(store *Store, defs Definitions) *Query { return &Query{store: store, defs: defs} }

// Get returns a job with its steps in DAG order, secrets redacted
// (SPEC §5.10): ErrNotFound for an unknown or malformed id.
func (q *Query) Get(id string) (*Job, error) {
	var j *Job
	err := q.store.view(func(t *txn) error {
		var err error
		if j, err = t.getJob(id); err != nil {
			return err
		}
		if j.Steps, err = t.getSteps(id); err != nil {
			return err
		}
		t.queuePositions(j, j.Steps)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !j.Scrubbed {
		if snap, err := q.defs.Snapshot(j.Workspace, j.Revision); err == nil {
			redactJob(j, snap)
		}
	}
	return j, nil
}

// ListFilter selects jobs for List. Task requires Workspace.
type ListFilter struct {
	Workspace  string
	Task       string
	Status     string
	SourceType string
	Limit      int
	Offset     int
}

// ListResult is one page of jobs, newest first. Total counts the matches
// before paging when HasTotal (no filter, workspace, workspace+task).
type ListResult struct {
	Jobs     []*Job
	Total    int
	HasTotal bool
}

// List walks the most selective index newest first (SPEC §11.5); it never
// scans all jobs for the filters the API documents.
func (q *Query) List(f ListFilter) (ListResult, error) {
	var res ListResult
	if f.Task != "" && f.Workspace == "" {
		return res, fmt.Errorf("task_name filter requires workspace")
	}
	err := q.store.view(func(t *txn) error {
		var bucket, prefix []byte
		byStatus, bySource := false, false
		counted := f.Status == "" && f.SourceType == ""
		switch {
		case f.Task != "":
			bucket, prefix = bucketByTask, join([]byte(f.Workspace), []byte(f.Task), nil)
			if counted {
				res.Total, res.HasTotal = t.count(join([]byte("task"), []byte(f.Workspace), []byte(f.Task))), true
			}
		case f.Workspace != "":
			bucket, prefix = bucketByWS, join([]byte(f.Workspace), nil)
			if counted {
				res.Total, res.HasTotal = t.count(join([]byte("ws"), []byte(f.Workspace))), true
			}
		case f.Status != "":
			bucket, prefix, byStatus = bucketByStatus, join([]byte(f.Status), nil), true
		case f.SourceType != "":
			bucket, prefix, bySource = bucketBySource, join([]byte(f.SourceType), nil), true
		default:
			bucket = bucketJobs
			res.Total, res.HasTotal = t.count([]byte("all")), true
		}
		// indexOnly: the index alone decides a match, so only the page is
		// decoded; otherwise each candidate is read and checked.
		indexOnly := counted || (byStatus && f.SourceType == "") || bySource
		res.Jobs = make([]*Job, 0, min(f.Limit, 64))
		skip := f.Offset
		c := t.Bucket(bucket).Cursor()
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && len(res.Jobs) < f.Limit; k, _ = c.Prev() {
			if indexOnly && skip > 0 {
				skip--
				continue
			}
			j, err := t.getJob(keyString(k[len(prefix):]))
			if err != nil {
				return err
			}
			if !indexOnly {
				if (f.Status != "" && j.Status != f.Status) || (f.SourceType != "" && j.SourceType != f.SourceType) {
					continue
				}
				if skip > 0 {
					skip--
					continue
				}
			}
			t.queuePositions(j, nil)
			res.Jobs = append(res.Jobs, j)
		}
		return nil
	})
	return res, err
}

// lastWithPrefix positions c on the last key starting with prefix (nil if
// none; an empty prefix means the last key).
func lastWithPrefix(c interface {
	Seek([]byte) ([]byte, []byte)
	Last() ([]byte, []byte)
	Prev() ([]byte, []byte)
}, prefix []byte) []byte {
	if len(prefix) == 0 {
		k, _ := c.Last()
		return k
	}
	// The smallest key after every key with the prefix.
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			end = end[:i+1]
			break
		}
	}
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k != nil && !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return k
}

// maxBaseScan bounds the jobs PreviousSuccess walks past.
const maxBaseScan = 10000

// PreviousSuccess returns the newest completed job of j's workspace and
// task created before j (nil when there is none among the maxBaseScan jobs
// before it). It walks the task index backwards from j.
func (q *Query) PreviousSuccess(j *Job) (*Job, error) {
	k, err := idKey(j.ID)
	if err != nil {
		return nil, ErrNotFound
	}
	var found *Job
	err = q.store.view(func(t *txn) error {
		prefix := join([]byte(j.Workspace), []byte(j.Task), nil)
		c := t.Bucket(bucketByTask).Cursor()
		start := append(slices.Clone(prefix), k...)
		ik, _ := c.Seek(start)
		if ik == nil {
			ik, _ = c.Last()
		}
		// Step back to the last key before j.
		for ik != nil && bytes.Compare(ik, start) >= 0 {
			ik, _ = c.Prev()
		}
		for n := 0; ik != nil && bytes.HasPrefix(ik, prefix) && n < maxBaseScan; ik, _ = c.Prev() {
			n++
			cand, err := t.getJob(keyString(ik[len(prefix):]))
			if err != nil {
				return err
			}
			if cand.Status == JobCompleted && cand.CreatedAt.Before(j.CreatedAt) {
				found = cand
				return nil
			}
		}
		return nil
	})
	return found, err
}

// Workers lists workers, active first, then newest registration first,
// with the total count.
func (q *Query) Workers(limit, offset int) ([]*Worker, int, error) {
	var all []*Worker
	err := q.store.view(func(t *txn) error {
		var err error
		all, err = t.allWorkers()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(all, func(a, b int) bool {
		if (all[a].Status == WorkerActive) != (all[b].Status == WorkerActive) {
			return all[a].Status == WorkerActive
		}
		return all[a].RegisteredAt.After(all[b].RegisteredAt)
	})
	return page(all, limit, offset), len(all), nil
}

// Worker returns one worker and the newest jobs (≤ 50) it ran a step of.
func (q *Query) Worker(id string) (*Worker, []*Job, error) {
	var w *Worker
	var jobs []*Job
	err := q.store.view(func(t *txn) error {
		var err error
		if w, err = t.getWorker(id); err != nil {
			return err
		}
		k, _ := uuid.Parse(id)
		prefix := k[:]
		c := t.Bucket(bucketWorkerJob).Cursor()
		// Seek past the prefix, then walk backwards: newest job ids first.
		end := append(append([]byte{}, prefix...), bytes.Repeat([]byte{0xff}, 16)...)
		kk, _ := c.Seek(end)
		if kk == nil {
			kk, _ = c.Last()
		} else if !bytes.HasPrefix(kk, prefix) || bytes.Compare(kk, end) > 0 {
			kk, _ = c.Prev()
		}
		for ; kk != nil && bytes.HasPrefix(kk, prefix) && len(jobs) < 50; kk, _ = c.Prev() {
			j, err := t.getJob(keyString(kk[16:]))
			if err != nil {
				continue
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	return w, jobs, err
}

// RevisionsInUse returns the revisions of a workspace that open jobs
// (not yet finalized) are pinned to; the workspace manager never prunes
// them.
func (q *Query) RevisionsInUse(ws string) []string {
	seen := map[string]bool{}
	var out []string
	_ = q.store.view(func(t *txn) error {
		for _, id := range t.openJobIDs() {
			j, err := t.getJob(id)
			if err != nil || j.Workspace != ws || seen[j.Revision] {
				continue
			}
			seen[j.Revision] = true
			out = append(out, j.Revision)
		}
		return nil
	})
	return out
}
