package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	bolt "go.etcd.io/bbolt"

	"runnel/jobs/audit"
	"runnel/jobs/jobstest"
)

// appendAudit appends n entries alternating two actors and two actions and
// returns them in append order.
func appendAudit(t *testing.T, l *audit.Log, n int) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for i := range n {
		status := 200
		e := audit.Entry{Actor: []string{"ada@example.com", "bob@example.com"}[i%2], ActorType: audit.ActorUser,
			Address: "127.0.0.1", Action: []string{audit.ActionJobExecute, audit.ActionJobCancel}[i/2%2],
			Target: fmt.Sprintf("t%d", i), Status: &status, Detail: map[string]any{"i": float64(i)}}
		got, err := l.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || got.Time.IsZero() {
			t.Fatalf("appended entry lacks id or time: %+v", got)
		}
		out = append(out, got)
	}
	return out
}

// workflow is a workspace the harness can load; these tests run no job.
var workflow = map[string]string{".workflows/main.yaml": "tasks:\n  a: { flow: { s: { type: script, script: \"true\" } } }\n"}

func targets(es []audit.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Target)
	}
	return out
}

// TestAuditQuery: entries come back newest first, filtered by actor,
// action and time, paged, with the total when it is cheap; they survive a
// restart unchanged.
func TestAuditQuery(t *testing.T) {
	h := jobstest.New(t, workflow)
	all := appendAudit(t, h.Audit, 10)
	h.Restart()
	mid := all[5].Time
	// Entries of the same millisecond cannot be split by time: pick the
	// first entry of a later millisecond as the bound.
	split := 5
	for split < len(all) && !all[split].Time.After(all[4].Time) {
		split++
	}
	if split < len(all) {
		mid = all[split].Time
	}
	cases := []struct {
		name  string
		f     audit.Filter
		want  []string
		total int // -1: no total
	}{
		{"all", audit.Filter{Limit: 100}, []string{"t9", "t8", "t7", "t6", "t5", "t4", "t3", "t2", "t1", "t0"}, 10},
		{"page", audit.Filter{Limit: 3, Offset: 2}, []string{"t7", "t6", "t5"}, 10},
		{"actor", audit.Filter{Actor: "BOB@example.com", Limit: 100}, []string{"t9", "t7", "t5", "t3", "t1"}, -1},
		{"action", audit.Filter{Action: audit.ActionJobCancel, Limit: 100}, []string{"t7", "t6", "t3", "t2"}, -1},
		{"actor and action page", audit.Filter{Actor: "ada@example.com", Action: audit.ActionJobExecute, Limit: 2, Offset: 1},
			[]string{"t4", "t0"}, -1},
		{"limit 0 counts only", audit.Filter{}, []string{}, 10},
		{"offset past the end", audit.Filter{Offset: 20, Limit: 100}, []string{}, 10},
	}
	var since, until []string
	for _, e := range all {
		if e.Time.Before(mid) {
			until = append([]string{e.Target}, until...)
		} else {
			since = append([]string{e.Target}, since...)
		}
	}
	cases = append(cases,
		struct {
			name  string
			f     audit.Filter
			want  []string
			total int
		}{"since", audit.Filter{Since: mid, Limit: 100}, since, len(since)},
		struct {
			name  string
			f     audit.Filter
			want  []string
			total int
		}{"until", audit.Filter{Until: mid, Limit: 1}, until[:1], len(until)},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := h.Audit.List(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, targets(p.Entries)); d != "" {
				t.Errorf("entries (-want +got):\n%s", d)
			}
			if tc.total < 0 && p.HasTotal || tc.total >= 0 && (!p.HasTotal || p.Total != tc.total) {
				t.Errorf("total %d (has %v), want %d", p.Total, p.HasTotal, tc.total)
			}
		})
	}
	p, err := h.Audit.List(audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(all[9], p.Entries[0]); d != "" {
		t.Errorf("stored entry changed across a restart (-appended +read):\n%s", d)
	}
}

// TestAuditEntryJSON: the API form has every field, the time in the API
// layout, a null status for non-HTTP actions and {} for no detail.
func TestAuditEntryJSON(t *testing.T) {
	e := audit.Entry{ID: "0193c0de-0000-7000-8000-000000000000", Time: time.Date(2026, 12, 6, 15, 4, 5, 678e6, time.UTC),
		Actor: "system", ActorType: audit.ActorSystem, Action: audit.ActionConfigReload}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0193c0de-0000-7000-8000-000000000000","actor":"system","actor_type":"system","address":"",` +
		`"action":"config.reload","target":"","status":null,"detail":{},"time":"2026-12-06T15:04:05.678Z"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back audit.Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(e.Time) || back.Action != e.Action || back.Status != nil {
		t.Errorf("round trip: %+v", back)
	}
}

// TestLogMirror: with a mirror, each recorded entry is one JSON log
// line holding the entry.
func TestLogMirror(t *testing.T) {
	h := jobstest.New(t, workflow)
	var buf bytes.Buffer
	a, err := audit.Open(h.Store, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	status := 201
	if err := a.Record(audit.Entry{Actor: "ada@example.com", ActorType: audit.ActorUser, Action: audit.ActionUserCreate,
		Target: "bob@example.com", Status: &status, Detail: map[string]any{"is_admin": false}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("mirror wrote %d lines: %s", len(lines), buf.String())
	}
	var rec struct {
		Msg   string `json:"msg"`
		Audit struct {
			ID, Actor, Action, Target string
			Status                    int
			Detail                    map[string]any
		} `json:"audit"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	p, _ := a.List(audit.Filter{Limit: 100})
	if len(p.Entries) != 1 || rec.Msg != "audit" || rec.Audit.ID != p.Entries[0].ID || rec.Audit.Action != audit.ActionUserCreate ||
		rec.Audit.Status != 201 || rec.Audit.Detail["is_admin"] != false {
		t.Errorf("mirror line %s does not match stored %+v", lines[0], p.Entries)
	}
}

// TestOpenCountsOldEntries: a file whose audit entries were written before
// the count had its own bucket (store version 1 kept it with the jobs'
// counters) gets the count from the entries when the log opens, once.
func TestOpenCountsOldEntries(t *testing.T) {
	h := jobstest.New(t, workflow)
	appendAudit(t, h.Audit, 3)
	if err := h.Store.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("audit_meta")) }); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(h.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.List(audit.Filter{Limit: 1})
	if err != nil || !p.HasTotal || p.Total != 3 || len(p.Entries) != 1 {
		t.Fatalf("after reopening: %+v, %v; want total 3", p, err)
	}
	appendAudit(t, l, 1)
	if l, err = audit.Open(h.Store, nil); err != nil {
		t.Fatal(err)
	}
	if p, err = l.List(audit.Filter{Limit: 1}); err != nil || p.Total != 4 {
		t.Fatalf("count after one more entry and another open: %+v, %v; want 4", p, err)
	}
}
