package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// StoreVersion is the schema version written under meta/version.
const StoreVersion = 1

// Bucket names.
var (
	bucketMeta      = []byte("meta")
	bucketJobs      = []byte("jobs")       // job id (16 bytes) → Job JSON
	bucketSteps     = []byte("steps")      // job id + step name → Step JSON
	bucketByWS      = []byte("idx_ws")     // ws \x00 job id → nil
	bucketByTask    = []byte("idx_task")   // ws \x00 task \x00 job id → nil
	bucketByStatus  = []byte("idx_status") // status \x00 job id → nil
	bucketBySource  = []byte("idx_source") // source type \x00 job id → nil
	bucketOpen      = []byte("idx_open")   // job id → nil while not finalized
	bucketCounts    = []byte("counts")     // counter key → uint64
	bucketWorkers   = []byte("workers")    // worker id → Worker JSON
	bucketWorkerJob = []byte("worker_jobs")
	bucketSchedule  = []byte("schedule")  // "<ws>/<trigger>" → schedule state JSON
	bucketQueue     = []byte("idx_queue") // ws \x00 queue \x00 arrival + job id + step → 'w' waiting | 'h' holding (admit.go)
)

var allBuckets = [][]byte{
	bucketMeta, bucketJobs, bucketSteps, bucketByWS, bucketByTask, bucketByStatus,
	bucketBySource, bucketOpen, bucketCounts, bucketWorkers, bucketWorkerJob, bucketSchedule,
	bucketQueue,
}

// migrations upgrade the schema from version i+1 to i+2 (index 0 upgrades
// version 1 to 2). Each runs in the transaction that records the new version.
var migrations = []func(tx *bolt.Tx) error{}

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("database is locked by another process")

// Store is the bbolt database holding all metadata. Writes go through a
// single writer goroutine that groups concurrent updates into one
// transaction (one fsync), so throughput comes from coalescing commits, not
// from skipping fsync.
type Store struct {
	path    string
	timeout time.Duration

	db     *bolt.DB
	writes chan *op
	// commits and ops count write transactions and the updates grouped in
	// them (Stats).
	commits, ops atomic.Uint64
	// observer receives each commit's changes (OnCommit).
	observer atomic.Pointer[func([]Change)]
	// settle runs at the end of every update, before the flush, until it
	// queues no more work (the engine's queue admissions, admit.go).
	settle atomic.Pointer[func(t *txn) error]
	// metrics receives commit latencies and job transitions (Instrument);
	// nopMetrics by default.
	metrics Metrics
	// decoded memoises step decoding across transactions (stepcache.go).
	decoded *stepCache
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// op is one queued update.
type op struct {
	fn      func(t *txn) error
	renders *renderCache
	err     chan error
}

// NewStore returns a store for the bbolt file at path; lockWait bounds the
// wait for another process's lock (default 5 s). It does no I/O.
func NewStore(path string, lockWait time.Duration) *Store {
	if lockWait <= 0 {
		lockWait = 5 * time.Second
	}
	return &Store{path: path, timeout: lockWait, metrics: nopMetrics{}, decoded: newStepCache()}
}

// Open opens (creating if needed) the database, creates buckets, runs
// migrations and starts the writer. ErrLocked when another process holds it.
func (s *Store) Open() error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.timeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return ErrLocked
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := 0
		if raw := meta.Get([]byte("version")); raw != nil {
			v = int(decodeUint(raw))
		}
		if v == 0 {
			v = StoreVersion
		}
		if v > StoreVersion {
			return fmt.Errorf("store version %d is newer than this runnel (%d)", v, StoreVersion)
		}
		for ; v < StoreVersion; v++ {
			if err := migrations[v-1](tx); err != nil {
				return fmt.Errorf("migrate store to version %d: %w", v+1, err)
			}
		}
		return meta.Put([]byte("version"), encodeUint(StoreVersion))
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("initialise %s: %w", s.path, err)
	}
	s.db = db
	s.writes = make(chan *op, 1024)
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	go s.writer()
	return nil
}

// Close stops the writer after the queued updates and closes the database.
// Idempotent.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		if s.db == nil {
			return
		}
		close(s.quit)
		<-s.done
		err = s.db.Close()
	})
	return err
}

// Ping reports whether the database answers a read transaction.
func (s *Store) Ping() error {
	if s.db == nil {
		return errors.New("store not open")
	}
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
}

// StoreStats counts write transactions and the updates they grouped.
type StoreStats struct {
	Commits, Updates uint64
	// FileBytes is the database file's size (0 before Open).
	FileBytes int64
}

// Stats returns the write counters since Open (retried groups count again)
// and the file size; it reads no data.
func (s *Store) Stats() StoreStats {
	st := StoreStats{Commits: s.commits.Load(), Updates: s.ops.Load()}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// errStoreClosed is returned for updates submitted after Close.
var errStoreClosed = errors.New("store closed")

// update runs fn in a write transaction, grouped with concurrent updates,
// and returns once the transaction has committed (and fn's effects have
// run) or failed. fn may run more than once (when a grouped transaction is
// retried without a failing member, or after renders), so it must only act
// through t. Templates fn asks for through t.rendered are rendered here, on
// the caller's goroutine, between attempts: never while the writer holds the
// transaction (render.go).
func (s *Store) update(fn func(t *txn) error) error {
	return s.updateRendered(newRenderCache(), fn)
}

// updateRendered is update with renders done beforehand (renderCache.seed).
func (s *Store) updateRendered(cache *renderCache, fn func(t *txn) error) error {
	return s.updateRenderedCtx(context.Background(), cache, fn)
}

// updateCtx is update for a caller that may give up (an API request, a
// worker's report, a scheduler that is closing): ctx bounds only the wait
// to join a group commit, when nothing has been written; an ended ctx then
// returns its error and changes nothing. Once queued, the update commits or
// fails like any other, since it cannot be taken back.
func (s *Store) updateCtx(ctx context.Context, fn func(t *txn) error) error {
	return s.updateRenderedCtx(ctx, newRenderCache(), fn)
}

// updateRenderedCtx is updateRendered bounded by ctx as updateCtx is (a
// retry after renders joins a commit again, so ctx is checked again).
func (s *Store) updateRenderedCtx(ctx context.Context, cache *renderCache, fn func(t *txn) error) error {
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		o := &op{fn: fn, renders: cache, err: make(chan error, 1)}
		select {
		case s.writes <- o:
		case <-s.quit:
			return errStoreClosed
		case <-ctx.Done():
			return ctx.Err()
		}
		err := <-o.err
		need, ok := err.(*errNeedRenders)
		if !ok {
			return err
		}
		if round >= maxRenderRounds {
			return fmt.Errorf("update still needs renders after %d rounds: %w", round, err)
		}
		cache.run(need.jobs)
	}
}

// Update runs fn in a write transaction grouped with the store's other
// updates and returns once it has committed or failed. fn may run more
// than once, so it must act only through tx. It is the narrow helper other
// owners of buckets in the same file (httpd/accounts) use; jobs' own
// buckets are not theirs to touch.
func (s *Store) Update(fn func(tx *bolt.Tx) error) error {
	return s.update(func(t *txn) error { return fn(t.Tx) })
}

// View runs fn in a read-only transaction (see Update).
func (s *Store) View(fn func(tx *bolt.Tx) error) error {
	return s.db.View(fn)
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(t *txn) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return fn(&txn{Tx: tx, decoded: s.decoded})
	})
}

// maxBatch bounds the updates grouped into one transaction.
const maxBatch = 256

// writer is the single goroutine that owns write transactions: it takes
// every queued update, runs them in one transaction, commits once, then
// runs their effects in commit order and answers the callers.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatch)
	for {
		select {
		case o := <-s.writes:
			batch = append(batch[:0], o)
		case <-s.quit:
			// Drain what was queued before Close.
			for {
				select {
				case o := <-s.writes:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.writes:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs ops in one transaction. If one fails, the transaction is
// rolled back, that op is answered with its error and the others are retried
// together, as bbolt's Batch does.
func (s *Store) commit(ops []*op) {
	for len(ops) > 0 {
		txns := make([]*txn, len(ops))
		failed := -1
		var failErr error
		s.commits.Add(1)
		s.ops.Add(uint64(len(ops)))
		observe := s.observer.Load() != nil
		start := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, o := range ops {
				t := &txn{Tx: tx, renders: o.renders, observe: observe, metrics: s.metrics, settle: s.settle.Load(), decoded: s.decoded}
				if err := safeRun(o.fn, t); err != nil {
					failed, failErr = i, err
					return err
				}
				if err := safeRun(func(t *txn) error { return t.drain() }, t); err != nil {
					failed, failErr = i, err
					return err
				}
				if len(t.needs) > 0 {
					// Roll back; the caller renders and runs fn again.
					failed, failErr = i, &errNeedRenders{jobs: t.needs}
					return failErr
				}
				if err := t.flush(); err != nil {
					failed, failErr = i, err
					return err
				}
				txns[i] = t
			}
			return nil
		})
		if err == nil {
			s.metrics.StoreCommitted(time.Since(start))
			// Effects and events before any answer: when a caller
			// returns, its changes have reached the observer.
			for _, t := range txns {
				t.runEffects()
			}
			s.report(txns)
			for _, o := range ops {
				o.err <- nil
			}
			return
		}
		if failed < 0 {
			// The commit itself failed: every op gets the error.
			for _, o := range ops {
				o.err <- fmt.Errorf("commit: %w", err)
			}
			return
		}
		ops[failed].err <- failErr
		ops = append(ops[:failed:failed], ops[failed+1:]...)
	}
}

// report hands the committed changes of txns to the observer, isolating
// its panics.
func (s *Store) report(txns []*txn) {
	fn := s.observer.Load()
	if fn == nil {
		return
	}
	var all []Change
	for _, t := range txns {
		all = append(all, t.changes...)
	}
	if len(all) == 0 {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			slog.Error("panic in commit observer", "panic", r)
		}
	}()
	(*fn)(all)
}

// safeRun runs fn, turning a panic into an error so one bad update cannot
// kill the writer.
func safeRun(fn func(t *txn) error, t *txn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in store update: %v", r)
		}
	}()
	return fn(t)
}

func encodeUint(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func decodeUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
