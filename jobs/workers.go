package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Worker statuses.
const (
	WorkerActive   = "active"
	WorkerInactive = "inactive"
)

const builtinName = "builtin"

// Worker is a registered worker (SPEC §9.4).
type Worker struct {
	ID            string    `json:"worker_id"`
	Name          string    `json:"name"`
	Status        string    `json:"status"`
	Tags          []string  `json:"tags"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	RegisteredAt  time.Time `json:"registered_at"`
	Version       string    `json:"version,omitempty"`
	Builtin       bool      `json:"builtin"`
}

var builtinKey = []byte("builtin_worker_id")

// registerBuiltin creates (once per data dir) or refreshes the built-in
// worker record and returns its id.
func (e *Engine) registerBuiltin() (string, error) {
	var id string
	err := e.store.update(func(t *txn) error {
		now := time.Now().UTC()
		meta := t.Bucket(bucketMeta)
		if raw := meta.Get(builtinKey); raw != nil {
			id = string(raw)
		} else {
			id = uuid.NewString()
			if err := meta.Put(builtinKey, []byte(id)); err != nil {
				return err
			}
		}
		w, err := t.getWorker(id)
		if err != nil {
			w = &Worker{ID: id, RegisteredAt: now}
		}
		w.Name = builtinName
		w.Builtin = true
		w.Tags = e.opts.LocalTags
		w.Version = e.opts.Version
		w.LastHeartbeat = now
		w.Status = WorkerActive
		if e.opts.LocalWorkers == 0 {
			w.Status = WorkerInactive
		}
		return t.putWorker(w)
	})
	if err != nil {
		return "", fmt.Errorf("register built-in worker: %w", err)
	}
	return id, nil
}

// builtinHeartbeat keeps the built-in worker's heartbeat fresh.
func (e *Engine) builtinHeartbeat() {
	defer e.wg.Done()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.queue.closedCh():
			return
		case <-tick.C:
			err := e.store.update(func(t *txn) error {
				w, err := t.getWorker(e.builtinID)
				if err != nil {
					return err
				}
				w.LastHeartbeat = time.Now().UTC()
				return t.putWorker(w)
			})
			if err != nil {
				e.log.Warn("built-in worker heartbeat", "err", err)
			}
		}
	}
}

func (t *txn) getWorker(id string) (*Worker, error) {
	k, err := uuid.Parse(id)
	if err != nil {
		return nil, ErrNotFound
	}
	raw := t.Bucket(bucketWorkers).Get(k[:])
	if raw == nil {
		return nil, ErrNotFound
	}
	w := new(Worker)
	if err := json.Unmarshal(raw, w); err != nil {
		return nil, fmt.Errorf("decode worker %s: %w", id, err)
	}
	return w, nil
}

func (t *txn) putWorker(w *Worker) error {
	k, err := uuid.Parse(w.ID)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return err
	}
	b := t.Bucket(bucketWorkers)
	t.recordWorker(b.Get(k[:]), w)
	return b.Put(k[:], raw)
}

// allWorkers reads every worker record.
func (t *txn) allWorkers() ([]*Worker, error) {
	var all []*Worker
	err := t.Bucket(bucketWorkers).ForEach(func(k, v []byte) error {
		w := new(Worker)
		if err := json.Unmarshal(v, w); err != nil {
			return fmt.Errorf("decode worker: %w", err)
		}
		all = append(all, w)
		return nil
	})
	return all, err
}

func page[T any](all []T, limit, offset int) []T {
	if offset >= len(all) {
		return []T{}
	}
	all = all[offset:]
	if limit < len(all) {
		all = all[:limit]
	}
	return all
}
