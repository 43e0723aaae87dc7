package jobs_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"runnel/jobs"
)

func TestStoreVersionAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runnel.db")
	s := jobs.NewStore(path, 200*time.Millisecond)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	// A second open waits for the lock, then gives up with ErrLocked.
	if err := jobs.NewStore(path, 200*time.Millisecond).Open(); err != jobs.ErrLocked {
		t.Errorf("second open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	// The version key is written; a newer schema is refused.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if v := meta.Get([]byte("version")); len(v) != 8 || v[7] != jobs.StoreVersion {
			t.Errorf("stored version %x", v)
		}
		return meta.Put([]byte("version"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	err = jobs.NewStore(path, time.Second).Open()
	if err == nil || !strings.Contains(err.Error(), "store version 99 is newer than this runnel") {
		t.Errorf("newer schema: %v", err)
	}
}
