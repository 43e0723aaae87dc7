package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"runnel/jobs/api"
)

// Actor types of an Entry.
const (
	ActorUser      = "user"      // a signed-in user (access token or session)
	ActorAPIKey    = "api_key"   // a user's API key; Detail["api_key"] is its prefix
	ActorTrigger   = "trigger"   // a schedule trigger, "<ws>/<trigger>"
	ActorWebhook   = "webhook"   // a task webhook or push URL, "/hooks/<name>"
	ActorWorker    = "worker"    // a remote worker, by the name it registered
	ActorSystem    = "system"    // the server itself (SIGHUP reload)
	ActorAnonymous = "anonymous" // nobody signed in: auth off, or a public route
)

// Actions of an Entry.
const (
	ActionJobExecute       = "job.execute"
	ActionJobCancel        = "job.cancel"
	ActionJobRerun         = "job.rerun"
	ActionJobRestart       = "job.restart"
	ActionStepApprove      = "step.approve"
	ActionStepReject       = "step.reject"
	ActionWorkspaceRefresh = "workspace.refresh"
	ActionLogin            = "auth.login"
	ActionLoginFailed      = "auth.login_failed"
	ActionLogout           = "auth.logout"
	ActionAPIKeyCreate     = "api_key.create"
	ActionAPIKeyDelete     = "api_key.delete"
	ActionUserCreate       = "user.create"
	ActionUserPassword     = "user.password"
	ActionUserDelete       = "user.delete"
	ActionConfigReload     = "config.reload"
	ActionBackupDownload   = "backup.download"
	ActionWorkerRegister   = "worker.register"
)

// Entry is one recorded action, as stored and as served by GET
// /api/audit. It never holds a secret (password, token, key, webhook
// body): callers put only names, ids and prefixes in Detail.
type Entry struct {
	// ID is a UUIDv7: entries sort by it in time order.
	ID string `json:"id"`
	// Time is when the entry was appended (millisecond precision).
	Time time.Time `json:"time"`
	// Actor names who acted (an email, "<ws>/<trigger>", "/hooks/<name>",
	// a worker name, "system" or "anonymous"); ActorType says which.
	Actor     string `json:"actor"`
	ActorType string `json:"actor_type"`
	// Address is the client address ("" for non-HTTP actors).
	Address string `json:"address"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Target is what was acted on (a job id, "<ws>/<task>", a workspace,
	// an email, a key prefix); "" for none.
	Target string `json:"target"`
	// Status is the HTTP status of the answer; nil for non-HTTP actions.
	Status *int `json:"status"`
	// Detail holds action-specific facts (never secrets).
	Detail map[string]any `json:"detail"`
}

// MarshalJSON writes the API form: time in api.TimeLayout, detail {} when
// empty.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	p := plain(e)
	if p.Detail == nil {
		p.Detail = map[string]any{}
	}
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{p, e.Time.UTC().Format(api.TimeLayout)})
}

// LogValue is the entry as a log group (the audit mirror).
func (e Entry) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("id", e.ID), slog.Time("time", e.Time), slog.String("actor", e.Actor),
		slog.String("actor_type", e.ActorType), slog.String("address", e.Address),
		slog.String("action", e.Action), slog.String("target", e.Target),
	}
	if e.Status != nil {
		attrs = append(attrs, slog.Int("status", *e.Status))
	}
	if len(e.Detail) > 0 {
		attrs = append(attrs, slog.Any("detail", e.Detail))
	}
	return slog.GroupValue(attrs...)
}

// Filter selects entries: every set field must match. Actor and
// Action match exactly (Actor case-insensitively); Since and Until bound
// the time (inclusive, exclusive). At most Limit entries are returned
// after skipping Offset matches.
type Filter struct {
	Actor, Action string
	Since, Until  time.Time
	Limit, Offset int
}

// Page is a page of entries, newest first. Total counts every match
// when HasTotal (it is computed only when cheap: no Actor or Action
// filter).
type Page struct {
	Entries  []Entry
	Total    int
	HasTotal bool
}

// DB is the transaction helper of the database file the audit log lives
// in (*jobs.Store): Update groups a write with the file's other writes and
// returns once it has committed; fn may run more than once.
type DB interface {
	Update(fn func(tx *bolt.Tx) error) error
	View(fn func(tx *bolt.Tx) error) error
}

// Buckets of the audit log.
var (
	bucketEntries = []byte("audit")      // UUIDv7 (16 bytes, time-ordered) → Entry JSON
	bucketMeta    = []byte("audit_meta") // countKey → uint64 entry count
	countKey      = []byte("count")
)

// Log records and reads audit entries: it appends them to the database
// and, when mirroring, writes each to the server log as one "audit" record
// (one JSON line with log_format json). Safe for concurrent use.
type Log struct {
	db     DB
	mirror *slog.Logger
}

// Open returns the audit log of db, creating its buckets; mirror, when
// non-nil, receives every recorded entry. A file written before the count
// had its own bucket gets it from the entries, once.
func Open(db DB, mirror *slog.Logger) (*Log, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		entries, err := tx.CreateBucketIfNotExists(bucketEntries)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if meta.Get(countKey) == nil {
			return meta.Put(countKey, binary.BigEndian.AppendUint64(nil, uint64(entries.Stats().KeyN)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &Log{db: db, mirror: mirror}, nil
}

// Record appends e (filling ID and Time) and mirrors it. A failure is
// returned; the action it describes has already happened.
func (l *Log) Record(e Entry) error {
	stored, err := l.Append(e)
	if err != nil {
		return err
	}
	if l.mirror != nil {
		l.mirror.LogAttrs(context.Background(), slog.LevelInfo, "audit", slog.Any("audit", stored))
	}
	return nil
}

// Append stores e as a new entry without mirroring it; it fills ID and
// Time (now) and returns the stored entry.
func (l *Log) Append(e Entry) (Entry, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return e, fmt.Errorf("audit id: %w", err)
	}
	sec, nsec := u.Time().UnixTime()
	e.ID, e.Time = u.String(), time.Unix(sec, nsec).UTC().Truncate(time.Millisecond)
	raw, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encode audit entry: %w", err)
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketEntries).Put(u[:], raw); err != nil {
			return err
		}
		return addCount(tx, 1)
	})
	if err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// addCount adds d to the entry count.
func addCount(tx *bolt.Tx, d int64) error {
	b := tx.Bucket(bucketMeta)
	return b.Put(countKey, binary.BigEndian.AppendUint64(nil, uint64(int64(countOf(b.Get(countKey)))+d)))
}

// count reads the entry count.
func count(tx *bolt.Tx) int { return int(countOf(tx.Bucket(bucketMeta).Get(countKey))) }

// keyAt is the smallest key of an entry at or after t (UUIDv7 keys start
// with the big-endian Unix milliseconds).
func keyAt(t time.Time) []byte {
	k := make([]byte, 16)
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		k[i] = byte(ms)
		ms >>= 8
	}
	return k
}

// List returns the entries matching f, newest first.
func (l *Log) List(f Filter) (Page, error) {
	var page Page
	err := l.db.View(func(tx *bolt.Tx) error {
		page = Page{}
		filtered := f.Actor != "" || f.Action != ""
		bounded := !f.Since.IsZero() || !f.Until.IsZero()
		if !filtered && !bounded {
			page.Total, page.HasTotal = count(tx), true
		} else if !filtered {
			page.HasTotal = true
		}
		c := tx.Bucket(bucketEntries).Cursor()
		var k, v []byte
		if f.Until.IsZero() {
			k, v = c.Last()
		} else if k, v = c.Seek(keyAt(f.Until)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var since []byte
		if !f.Since.IsZero() {
			since = keyAt(f.Since)
		}
		skip := f.Offset
		for ; k != nil; k, v = c.Prev() {
			if since != nil && bytes.Compare(k, since) < 0 {
				break
			}
			full := len(page.Entries) >= f.Limit
			if !filtered {
				// Keys are counted without decoding their entries.
				switch {
				case bounded:
					page.Total++
				case full:
					return nil // the counter holds the total
				}
				if skip > 0 {
					skip--
					continue
				}
				if full {
					continue
				}
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry %s: %w", keyString(k), err)
			}
			if f.Action != "" && e.Action != f.Action || f.Actor != "" && !strings.EqualFold(e.Actor, f.Actor) {
				continue
			}
			if filtered && skip > 0 {
				skip--
				continue
			}
			if full {
				return nil
			}
			page.Entries = append(page.Entries, e)
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("read audit log: %w", err)
	}
	return page, nil
}

// pruneBatch bounds the entries Prune deletes per write transaction.
const pruneBatch = 1000

// Prune deletes the entries older than cutoff, oldest first, in small
// transactions (retention's AuditDays); it returns how many it deleted.
func (l *Log) Prune(cutoff time.Time) (int, error) {
	bound := keyAt(cutoff)
	total := 0
	for {
		n := 0
		err := l.db.Update(func(tx *bolt.Tx) error {
			n = 0
			c := tx.Bucket(bucketEntries).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, bound) < 0 && n < pruneBatch; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return addCount(tx, -int64(n))
		})
		if err != nil {
			return total, fmt.Errorf("delete audit entries: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// countOf decodes a stored count (8 bytes, big-endian); a missing one is 0.
func countOf(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// keyString is an entry key as its UUID.
func keyString(k []byte) string {
	var u uuid.UUID
	copy(u[:], k)
	return u.String()
}
