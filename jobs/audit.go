package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
)

// This file holds the audit log: who did what, when, from where. Entries
// are appended and read; nothing changes or deletes one except retention
// (Retention.AuditDays).

// Actor types of an AuditEntry.
const (
	ActorUser      = "user"      // a signed-in user (access token or session)
	ActorAPIKey    = "api_key"   // a user's API key; Detail["api_key"] is its prefix
	ActorTrigger   = "trigger"   // a schedule trigger, "<ws>/<trigger>"
	ActorWebhook   = "webhook"   // a task webhook or push URL, "/hooks/<name>"
	ActorWorker    = "worker"    // a remote worker, by the name it registered
	ActorSystem    = "system"    // the server itself (SIGHUP reload)
	ActorAnonymous = "anonymous" // nobody signed in: auth off, or a public route
)

// Actions of an AuditEntry.
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

// AuditEntry is one recorded action, as stored and as served by GET
// /api/audit. It never holds a secret (password, token, key, webhook
// body): callers put only names, ids and prefixes in Detail.
type AuditEntry struct {
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

// MarshalJSON writes the API form: time in APITimeLayout, detail {} when
// empty.
func (e AuditEntry) MarshalJSON() ([]byte, error) {
	type plain AuditEntry
	p := plain(e)
	if p.Detail == nil {
		p.Detail = map[string]any{}
	}
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{p, e.Time.UTC().Format(APITimeLayout)})
}

// LogValue is the entry as a log group (the audit mirror).
func (e AuditEntry) LogValue() slog.Value {
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

// AuditFilter selects entries: every set field must match. Actor and
// Action match exactly (Actor case-insensitively); Since and Until bound
// the time (inclusive, exclusive). At most Limit entries are returned
// after skipping Offset matches.
type AuditFilter struct {
	Actor, Action string
	Since, Until  time.Time
	Limit, Offset int
}

// AuditPage is a page of entries, newest first. Total counts every match
// when HasTotal (it is computed only when cheap: no Actor or Action
// filter).
type AuditPage struct {
	Entries  []AuditEntry
	Total    int
	HasTotal bool
}

var auditCount = []byte("audit")

// AppendAudit stores e as a new entry; it fills ID and Time (now) and
// returns the stored entry.
func (s *Store) AppendAudit(e AuditEntry) (AuditEntry, error) {
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
	err = s.update(func(t *txn) error {
		if err := t.Bucket(bucketAudit).Put(u[:], raw); err != nil {
			return err
		}
		return t.addCount(auditCount, 1)
	})
	if err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// auditKeyAt is the smallest key of an entry at or after t (UUIDv7 keys
// start with the big-endian Unix milliseconds).
func auditKeyAt(t time.Time) []byte {
	k := make([]byte, 16)
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		k[i] = byte(ms)
		ms >>= 8
	}
	return k
}

// Audit returns the entries matching f, newest first.
func (s *Store) Audit(f AuditFilter) (AuditPage, error) {
	var page AuditPage
	err := s.view(func(t *txn) error {
		page = AuditPage{}
		filtered := f.Actor != "" || f.Action != ""
		bounded := !f.Since.IsZero() || !f.Until.IsZero()
		if !filtered && !bounded {
			page.Total, page.HasTotal = t.count(auditCount), true
		} else if !filtered {
			page.HasTotal = true
		}
		c := t.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if f.Until.IsZero() {
			k, v = c.Last()
		} else if k, v = c.Seek(auditKeyAt(f.Until)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var since []byte
		if !f.Since.IsZero() {
			since = auditKeyAt(f.Since)
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
			var e AuditEntry
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
		return AuditPage{}, fmt.Errorf("read audit log: %w", err)
	}
	return page, nil
}

// auditBatch bounds the entries retention deletes per write transaction.
const auditBatch = 1000

// pruneAudit deletes the entries older than cutoff, oldest first, in
// small transactions; it returns how many it deleted.
func (s *Store) pruneAudit(cutoff time.Time) (int, error) {
	bound := auditKeyAt(cutoff)
	total := 0
	for {
		n := 0
		err := s.update(func(t *txn) error {
			n = 0
			c := t.Bucket(bucketAudit).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, bound) < 0 && n < auditBatch; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return t.addCount(auditCount, -int64(n))
		})
		if err != nil {
			return total, fmt.Errorf("retention: delete audit entries: %w", err)
		}
		total += n
		if n < auditBatch {
			return total, nil
		}
	}
}

// Auditor records audit entries: it appends them to the store and, when
// mirroring, writes each to the server log as one "audit" record (one JSON
// line with log_format json). Safe for concurrent use.
type Auditor struct {
	store  *Store
	mirror *slog.Logger
}

// NewAuditor returns an auditor appending to store; mirror, when non-nil,
// receives every entry.
func NewAuditor(store *Store, mirror *slog.Logger) *Auditor {
	return &Auditor{store: store, mirror: mirror}
}

// Record appends e (filling ID and Time) and mirrors it. A failure is
// returned; the action it describes has already happened.
func (a *Auditor) Record(e AuditEntry) error {
	stored, err := a.store.AppendAudit(e)
	if err != nil {
		return err
	}
	if a.mirror != nil {
		a.mirror.LogAttrs(context.Background(), slog.LevelInfo, "audit", slog.Any("audit", stored))
	}
	return nil
}

// List returns the entries matching f, newest first.
func (a *Auditor) List(f AuditFilter) (AuditPage, error) { return a.store.Audit(f) }
