package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"runnel/jobs"
	"runnel/jobs/audit"
	"runnel/workspace"
	"runnel/workspace/cron"
)

// SnapshotLister lists every workspace's serving snapshot
// (*workspace.Manager implements it).
type SnapshotLister interface {
	List() []workspace.Status
}

// Options configure a Scheduler.
type Options struct {
	// Workspaces, when set, seeds the scheduler at Start with every serving
	// snapshot; later swaps arrive through OnSwap.
	Workspaces SnapshotLister
	// Now is the wall clock (default time.Now). Sleeps are computed from
	// it, so a clock shifted by a constant still fires on time in its own
	// frame (tests use that to simulate downtime).
	Now func() time.Time
	// PersistInterval bounds how stale a stored checked_through may be
	// (default 60 s).
	PersistInterval time.Duration
	// Concurrency bounds the fires started at the same time (default 32).
	Concurrency int
	// Logger receives the scheduler's own log lines (default: discarded).
	Logger *slog.Logger
	// Metrics, when set, receives fire lags and missed fires.
	Metrics Metrics
	// Audit, when set, records every job a fire creates (actor
	// "<ws>/<trigger>", ActorTrigger).
	Audit *audit.Log
}

// Metrics receives what the scheduler measures (httpd/metrics implements
// it).
type Metrics interface {
	// ScheduleFired: a fire's job was created lag after its planned time.
	ScheduleFired(lag time.Duration)
	// ScheduleMissed: a fire missed while the server was down runs as a
	// catch-up.
	ScheduleMissed(ws string)
}

type nopMetrics struct{}

func (nopMetrics) ScheduleFired(time.Duration) {}
func (nopMetrics) ScheduleMissed(string)       {}

// Scheduler fires the enabled scheduler triggers of every workspace with a
// serving snapshot (SPEC §7.1). It sleeps until the earliest due trigger —
// a timer reset after every fire and every reload, never a polling tick —
// and keeps per trigger {cron, timezone, checked_through} in the store so a
// fire missed while the server was down runs once at the next start.
//
// Reloads arrive through OnSwap: a trigger whose cron and timezone did not
// change keeps its next fire time (a new revision arriving just around a
// fire never fires it twice or skips it); a changed one is recomputed; a
// removed or disabled one stops and its record is dropped, so it never
// catches up when it comes back.
type Scheduler struct {
	eng   *jobs.Engine
	store *jobs.Store
	opts  Options
	log   *slog.Logger
	// upcoming holds the triggers' fire times (NextRuns reads it too).
	upcoming *upcomingCache

	// mu guards pending and started.
	mu      sync.Mutex
	pending map[string]*workspace.Snapshot // newest swapped-in snapshot not yet applied
	started bool
	wake    chan struct{} // capacity 1: a reload or Close wants the loop's attention

	// tickMu guards the loop state below (owned by whoever holds it: the
	// loop goroutine, or Start before the loop runs).
	tickMu      sync.Mutex
	entries     map[string]*schedEntry // "<ws>/<trigger>" → enabled scheduler trigger
	records     map[string]jobs.ScheduleRecord
	deleted     map[string]bool // records to delete at the next persist
	lastPersist time.Time

	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

// schedEntry is one enabled scheduler trigger being timed.
type schedEntry struct {
	key  string
	ws   string
	trig *workspace.Trigger // definition from the newest applied snapshot
	expr string
	zone string
	// next is the next regular fire (zero: the schedule never fires again).
	next time.Time
	// catchup is a fire missed while the server was down, fired once at
	// the first tick (zero: none).
	catchup time.Time
	// checked: every fire at or before it has been handled.
	checked time.Time
	dirty   bool
}

// New returns a scheduler firing jobs through e and keeping its state in
// store (the engine's); it does no I/O.
// Register OnSwap with the workspace manager before the manager starts,
// and Start it after the engine has started.
func New(e *jobs.Engine, store *jobs.Store, opts Options) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PersistInterval <= 0 {
		opts.PersistInterval = 60 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	return &Scheduler{
		eng: e, store: store, opts: opts, log: opts.Logger, upcoming: newUpcomingCache(),
		pending: map[string]*workspace.Snapshot{},
		wake:    make(chan struct{}, 1),
		entries: map[string]*schedEntry{},
		deleted: map[string]bool{},
		done:    make(chan struct{}),
	}
}

// OnSwap records a workspace's new serving snapshot; the scheduler applies
// it at once (after Start). It never blocks, so it may be registered with
// workspace.Manager.OnSwap.
func (s *Scheduler) OnSwap(ws string, _, snap *workspace.Snapshot) {
	if snap == nil {
		return
	}
	s.mu.Lock()
	s.pending[ws] = snap
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start reads the stored trigger records, applies the snapshots known so
// far (catch-up fires are decided against the records once per process,
// when a trigger is first seen) and starts the loop. Call it after the
// engine's Start. ctx bounds the start only (as for the engine): a
// cancelled ctx fails it; once started, the scheduler runs until Close
// (ctx's values are kept, its cancellation is not).
func (s *Scheduler) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go s.loop(ctx)
	return nil
}

// open loads the records and the listed snapshots; the first tick applies
// them.
func (s *Scheduler) open() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("scheduler already started")
	}
	s.started = true
	if s.opts.Workspaces != nil {
		// The listed snapshots are at least as new as any swap seen so
		// far; swaps after this line overwrite them again.
		for _, st := range s.opts.Workspaces.List() {
			if st.Snapshot != nil {
				s.pending[st.Name] = st.Snapshot
			}
		}
	}
	s.mu.Unlock()
	recs, err := s.store.ScheduleRecords()
	if err != nil {
		return fmt.Errorf("read scheduler state: %w", err)
	}
	s.tickMu.Lock()
	s.records = recs
	s.lastPersist = s.opts.Now()
	s.tickMu.Unlock()
	return nil
}

// Close stops the loop (a fire in progress completes first) and stores
// every trigger's checked_through. Idempotent.
func (s *Scheduler) Close() error {
	var err error
	s.closed.Do(func() {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return
		}
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
		s.tickMu.Lock()
		defer s.tickMu.Unlock()
		now := s.opts.Now()
		for _, e := range s.entries {
			// A due fire that was not started stays unhandled.
			if e.catchup.IsZero() && (e.next.IsZero() || e.next.After(now)) {
				e.checked = now
			}
			e.dirty = true
		}
		err = s.persistLocked(now)
	})
	return err
}

// loop ticks whenever the earliest fire or persist is due, or a reload
// arrives, until ctx ends.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wakeAt := s.tick(ctx)
		d := time.Hour
		if !wakeAt.IsZero() {
			d = max(wakeAt.Sub(s.opts.Now()), 0)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
			timer.Stop() // Go ≥ 1.23: no stale tick survives Stop/Reset
		}
	}
}

// tick applies pending reloads, fires what is due, persists state and
// returns when it wants to run again (zero: only on a reload).
func (s *Scheduler) tick(ctx context.Context) time.Time {
	s.mu.Lock()
	swaps := s.pending
	s.pending = map[string]*workspace.Snapshot{}
	s.mu.Unlock()

	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	now := s.opts.Now()
	names := make([]string, 0, len(swaps))
	for ws := range swaps {
		names = append(names, ws)
	}
	sort.Strings(names)
	for _, ws := range names {
		s.applyLocked(ws, swaps[ws], now)
	}
	if ctx.Err() != nil {
		return time.Time{}
	}
	s.fireDueLocked(ctx, now)
	// Nothing at or before now is left to fire.
	interval := now.Sub(s.lastPersist) >= s.opts.PersistInterval
	for _, e := range s.entries {
		e.checked = now
		e.dirty = e.dirty || interval
	}
	if interval || len(s.deleted) > 0 || s.anyDirtyLocked() {
		if err := s.persistLocked(now); err != nil {
			s.log.Error("store scheduler state", "err", err)
		}
	}
	var wakeAt time.Time
	for _, e := range s.entries {
		if !e.next.IsZero() && (wakeAt.IsZero() || e.next.Before(wakeAt)) {
			wakeAt = e.next
		}
	}
	if len(s.entries) > 0 {
		if p := s.lastPersist.Add(s.opts.PersistInterval); wakeAt.IsZero() || p.Before(wakeAt) {
			wakeAt = p
		}
	}
	return wakeAt
}

func (s *Scheduler) anyDirtyLocked() bool {
	for _, e := range s.entries {
		if e.dirty {
			return true
		}
	}
	return false
}

// zoneOf is the timezone a trigger's record stores.
func zoneOf(tr *workspace.Trigger) string {
	return tr.Schedule.Location().String()
}

// applyLocked brings the entries of workspace ws in line with snap.
func (s *Scheduler) applyLocked(ws string, snap *workspace.Snapshot, now time.Time) {
	seen := map[string]bool{}
	for name, tr := range snap.Triggers {
		if tr.Type != workspace.TriggerScheduler || tr.Schedule == nil {
			continue
		}
		key := ws + "/" + name
		rec, hasRec := s.records[key]
		delete(s.records, key) // a record is consulted once per process
		if !tr.Enabled {
			continue
		}
		seen[key] = true
		zone := zoneOf(tr)
		old := s.entries[key]
		if old != nil && old.expr == tr.Cron && old.zone == zone {
			old.trig = tr // unchanged schedule: keep its timing
			continue
		}
		e := &schedEntry{key: key, ws: ws, trig: tr, expr: tr.Cron, zone: zone, checked: now, dirty: true}
		after := now
		if old != nil && old.checked.After(after) {
			after = old.checked
		}
		if old == nil && hasRec && rec.Cron == tr.Cron && rec.Timezone == zone {
			if f, ok := tr.Schedule.Next(rec.CheckedThrough); ok && !f.After(now) {
				e.catchup = f
				e.checked = rec.CheckedThrough
			}
		}
		e.next = s.nextAfter(e, after)
		s.entries[key] = e
		delete(s.deleted, key)
	}
	for key, e := range s.entries {
		if e.ws == ws && !seen[key] {
			delete(s.entries, key)
			s.upcoming.drop(key)
			s.deleted[key] = true
		}
	}
	// Records of triggers this snapshot does not have enabled go too (also
	// those removed while the server was down), so they never catch up
	// when they come back.
	for name, tr := range snap.Triggers {
		key := ws + "/" + name
		if !seen[key] && tr.Type == workspace.TriggerScheduler {
			s.deleted[key] = true
		}
	}
	for key := range s.records {
		if len(key) > len(ws) && key[:len(ws)+1] == ws+"/" {
			delete(s.records, key)
			s.deleted[key] = true
		}
	}
}

// nextAfter is the entry's first fire strictly after t (zero: none), from
// the cache the API's next_runs reads.
func (s *Scheduler) nextAfter(e *schedEntry, t time.Time) time.Time {
	next := s.upcoming.get(e.ws, e.trig).Next(t, 1)
	if len(next) == 0 {
		return time.Time{}
	}
	return next[0]
}

// fireDueLocked starts a job for every entry due at now (a catch-up or a
// regular fire; several missed regular fires make one), at most
// Concurrency at a time, and waits for them to be created.
func (s *Scheduler) fireDueLocked(ctx context.Context, now time.Time) {
	var due []*schedEntry
	for _, e := range s.entries {
		if !e.catchup.IsZero() || (!e.next.IsZero() && !e.next.After(now)) {
			due = append(due, e)
		}
	}
	if len(due) == 0 {
		return
	}
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for _, e := range due {
		var lines []string
		due := e.next
		if !e.catchup.IsZero() {
			due = e.catchup
			s.opts.Metrics.ScheduleMissed(e.ws)
			lines = []string{fmt.Sprintf("[scheduler] Catch-up run for %s missed while the server was down", cron.FormatRun(e.catchup))}
		}
		ws, tr := e.ws, e.trig
		rec := jobs.ScheduleRecord{Cron: e.expr, Timezone: e.zone, CheckedThrough: now.UTC()}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.fire(ctx, ws, tr, lines, due, now, &jobs.ScheduleWrite{Key: e.key, Record: rec})
		}()
		e.catchup = time.Time{}
		e.checked = now
		e.next = s.nextAfter(e, now)
		e.dirty = true
	}
	wg.Wait()
}

// fire creates one job of a trigger with its concurrency policy. due is
// the fire time, woke when the tick began; both lateness figures are logged
// at debug level.
func (s *Scheduler) fire(ctx context.Context, ws string, tr *workspace.Trigger, lines []string, due, woke time.Time, rec *jobs.ScheduleWrite) {
	in := make(map[string]any, len(tr.Input))
	for k, v := range tr.Input {
		in[k] = v
	}
	req := jobs.TriggerRequest{Workspace: ws, Task: tr.Task, Input: in, SourceType: jobs.SourceTrigger,
		SourceID: ws + "/" + tr.Name, Lines: lines, Schedule: rec}
	switch tr.Concurrency {
	case workspace.ConcurrencySkip:
		req.Check = func(active []*jobs.Job) (bool, []string) { return len(active) > 0, nil }
	case workspace.ConcurrencyCancelPrevious:
		req.Check = func(active []*jobs.Job) (bool, []string) {
			ids := make([]string, 0, len(active))
			for _, j := range active {
				ids = append(ids, j.ID)
			}
			return false, ids
		}
	}
	j, err := s.eng.Trigger(ctx, req)
	if err != nil {
		s.log.Error("scheduled fire", "workspace", ws, "trigger", tr.Name, "task", tr.Task, "err", err)
		return
	}
	if len(lines) == 0 { // catch-ups count as missed fires, not as lag
		s.opts.Metrics.ScheduleFired(max(0, s.opts.Now().Sub(due)))
	}
	s.log.Debug("scheduled fire", "workspace", ws, "trigger", tr.Name, "job", j.ID, "status", j.Status,
		"due", due, "woke_late", woke.Sub(due), "created_late", s.opts.Now().Sub(due))
	if s.opts.Audit != nil {
		err := s.opts.Audit.Record(audit.Entry{Actor: ws + "/" + tr.Name, ActorType: audit.ActorTrigger, Action: audit.ActionJobExecute,
			Target: ws + "/" + tr.Task, Detail: map[string]any{"job_id": j.ID, "due": due.UTC().Format(jobs.APITimeLayout)}})
		if err != nil {
			s.log.Error("record audit entry", "workspace", ws, "trigger", tr.Name, "job", j.ID, "err", err)
		}
	}
}

// persistLocked writes the dirty entries' records and drops deleted ones.
func (s *Scheduler) persistLocked(now time.Time) error {
	put := map[string]jobs.ScheduleRecord{}
	for key, e := range s.entries {
		if e.dirty {
			put[key] = jobs.ScheduleRecord{Cron: e.expr, Timezone: e.zone, CheckedThrough: e.checked.UTC()}
		}
	}
	del := make([]string, 0, len(s.deleted))
	for key := range s.deleted {
		del = append(del, key)
	}
	// Even a failed write waits for the next interval (or fire) to retry.
	s.lastPersist = now
	if err := s.store.PutScheduleRecords(put, del); err != nil {
		return err
	}
	for _, e := range s.entries {
		e.dirty = false
	}
	clear(s.deleted)
	return nil
}

// upcomingCache holds one cron.Upcoming per scheduler trigger
// ("<ws>/<trigger>", replaced when the cron or timezone changes), shared by
// the scheduler's fire times and the API's next_runs, so both come from the
// same schedule code and requests never search from scratch. Safe for
// concurrent use.
type upcomingCache struct {
	mu sync.Mutex
	m  map[string]*upcomingEntry
}

type upcomingEntry struct {
	expr, zone string
	up         *cron.Upcoming
}

func newUpcomingCache() *upcomingCache {
	return &upcomingCache{m: map[string]*upcomingEntry{}}
}

func (c *upcomingCache) get(ws string, tr *workspace.Trigger) *cron.Upcoming {
	key, zone := ws+"/"+tr.Name, zoneOf(tr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil && e.expr == tr.Cron && e.zone == zone {
		return e.up
	}
	e := &upcomingEntry{expr: tr.Cron, zone: zone, up: cron.NewUpcoming(tr.Schedule)}
	c.m[key] = e
	return e.up
}

func (c *upcomingCache) drop(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// NextRuns returns the next n fire times (in the trigger's zone) of a
// scheduler trigger of workspace ws after now — disabled triggers too —
// from the cache the scheduler fires from; nil for other triggers.
// Safe before Start and after Close.
func (s *Scheduler) NextRuns(ws string, tr *workspace.Trigger, now time.Time, n int) []time.Time {
	if tr == nil || tr.Schedule == nil {
		return nil
	}
	return s.upcoming.get(ws, tr).Next(now, n)
}
