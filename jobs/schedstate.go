package jobs

// This file holds the scheduler's state in the store (bucket schedule): the
// cron scheduler (jobs/schedule) reads and writes it, job creation stores a
// fire's record in the creating transaction, retention drops orphans.

import (
	"encoding/json"
	"fmt"
	"time"
)

// ScheduleRecord is the stored state of a scheduler trigger (bucket
// schedule, key "<ws>/<trigger>").
type ScheduleRecord struct {
	Cron           string    `json:"cron"`
	Timezone       string    `json:"timezone"`
	CheckedThrough time.Time `json:"checked_through"`
}

// ScheduleRecords reads every stored trigger record.
func (s *Store) ScheduleRecords() (map[string]ScheduleRecord, error) {
	out := map[string]ScheduleRecord{}
	err := s.view(func(t *txn) error {
		return t.Bucket(bucketSchedule).ForEach(func(k, v []byte) error {
			var r ScheduleRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode schedule record %q: %w", k, err)
			}
			out[string(k)] = r
			return nil
		})
	})
	return out, err
}

// ScheduleWrite is a trigger record stored with a fired job.
type ScheduleWrite struct {
	Key    string
	Record ScheduleRecord
}

// putSchedule stores one trigger record in t.
func (t *txn) putSchedule(w *ScheduleWrite) error {
	raw, err := json.Marshal(w.Record)
	if err != nil {
		return fmt.Errorf("encode schedule record %q: %w", w.Key, err)
	}
	return t.Bucket(bucketSchedule).Put([]byte(w.Key), raw)
}

// PutScheduleRecords stores put and deletes del in one transaction.
func (s *Store) PutScheduleRecords(put map[string]ScheduleRecord, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	raws := make(map[string][]byte, len(put))
	for k, r := range put {
		raw, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode schedule record %q: %w", k, err)
		}
		raws[k] = raw
	}
	return s.update(func(t *txn) error {
		b := t.Bucket(bucketSchedule)
		for _, k := range del {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for k, raw := range raws {
			if err := b.Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
}
