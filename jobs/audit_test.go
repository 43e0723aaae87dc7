package jobs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// appendAudit appends n entries alternating two actors and two actions and
// returns them in append order.
func appendAudit(t *testing.T, s *jobs.Store, n int) []jobs.AuditEntry {
	t.Helper()
	var out []jobs.AuditEntry
	for i := range n {
		status := 200
		e := jobs.AuditEntry{Actor: []string{"ada@example.com", "bob@example.com"}[i%2], ActorType: jobs.ActorUser,
			Address: "127.0.0.1", Action: []string{jobs.ActionJobExecute, jobs.ActionJobCancel}[i/2%2],
			Target: fmt.Sprintf("t%d", i), Status: &status, Detail: map[string]any{"i": float64(i)}}
		got, err := s.AppendAudit(e)
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

func targets(es []jobs.AuditEntry) []string {
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
	h := jobstest.New(t, files(retentionTasks))
	all := appendAudit(t, h.Store, 10)
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
		f     jobs.AuditFilter
		want  []string
		total int // -1: no total
	}{
		{"all", jobs.AuditFilter{Limit: 100}, []string{"t9", "t8", "t7", "t6", "t5", "t4", "t3", "t2", "t1", "t0"}, 10},
		{"page", jobs.AuditFilter{Limit: 3, Offset: 2}, []string{"t7", "t6", "t5"}, 10},
		{"actor", jobs.AuditFilter{Actor: "BOB@example.com", Limit: 100}, []string{"t9", "t7", "t5", "t3", "t1"}, -1},
		{"action", jobs.AuditFilter{Action: jobs.ActionJobCancel, Limit: 100}, []string{"t7", "t6", "t3", "t2"}, -1},
		{"actor and action page", jobs.AuditFilter{Actor: "ada@example.com", Action: jobs.ActionJobExecute, Limit: 2, Offset: 1},
			[]string{"t4", "t0"}, -1},
		{"limit 0 counts only", jobs.AuditFilter{}, []string{}, 10},
		{"offset past the end", jobs.AuditFilter{Offset: 20, Limit: 100}, []string{}, 10},
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
			f     jobs.AuditFilter
			want  []string
			total int
		}{"since", jobs.AuditFilter{Since: mid, Limit: 100}, since, len(since)},
		struct {
			name  string
			f     jobs.AuditFilter
			want  []string
			total int
		}{"until", jobs.AuditFilter{Until: mid, Limit: 1}, until[:1], len(until)},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := h.Store.Audit(tc.f)
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
	p, err := h.Store.Audit(jobs.AuditFilter{Limit: 1})
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
	e := jobs.AuditEntry{ID: "0193c0de-0000-7000-8000-000000000000", Time: time.Date(2026, 12, 6, 15, 4, 5, 678e6, time.UTC),
		Actor: "system", ActorType: jobs.ActorSystem, Action: jobs.ActionConfigReload}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0193c0de-0000-7000-8000-000000000000","actor":"system","actor_type":"system","address":"",` +
		`"action":"config.reload","target":"","status":null,"detail":{},"time":"2026-12-06T15:04:05.678Z"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back jobs.AuditEntry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(e.Time) || back.Action != e.Action || back.Status != nil {
		t.Errorf("round trip: %+v", back)
	}
}

// TestAuditorMirror: with a mirror, each recorded entry is one JSON log
// line holding the entry.
func TestAuditorMirror(t *testing.T) {
	h := jobstest.New(t, files(retentionTasks))
	var buf bytes.Buffer
	a := jobs.NewAuditor(h.Store, slog.New(slog.NewJSONHandler(&buf, nil)))
	status := 201
	if err := a.Record(jobs.AuditEntry{Actor: "ada@example.com", ActorType: jobs.ActorUser, Action: jobs.ActionUserCreate,
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
	p, _ := a.List(jobs.AuditFilter{Limit: 100})
	if len(p.Entries) != 1 || rec.Msg != "audit" || rec.Audit.ID != p.Entries[0].ID || rec.Audit.Action != jobs.ActionUserCreate ||
		rec.Audit.Status != 201 || rec.Audit.Detail["is_admin"] != false {
		t.Errorf("mirror line %s does not match stored %+v", lines[0], p.Entries)
	}
}

// TestRetentionAudit: audit_days deletes exactly the entries older than
// the cutoff, in batches of a bounded size, and leaves jobs alone; without
// it nothing goes.
func TestRetentionAudit(t *testing.T) {
	h := jobstest.New(t, files(retentionTasks))
	job := h.Wait(h.Trigger("a", nil)).ID
	// More than two delete batches, appended concurrently so the store
	// groups them into few commits.
	var mu sync.Mutex
	var all []jobs.AuditEntry
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 313 {
				e, err := h.Store.AppendAudit(jobs.AuditEntry{Actor: "system", ActorType: jobs.ActorSystem, Action: jobs.ActionConfigReload})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	cutoff := all[2500].Time
	older := 0 // entries in an earlier millisecond than the cutoff
	for _, e := range all {
		if e.Time.Before(cutoff) {
			older++
		}
	}
	now := cutoff.Add(30 * 24 * time.Hour)

	st, err := h.Engine.Enforce(now, jobs.Retention{JobsDays: 365})
	if err != nil || st.Audit != 0 {
		t.Fatalf("without audit_days: %+v, %v", st, err)
	}
	if st, err = h.Engine.Enforce(now, jobs.Retention{AuditDays: 30}); err != nil {
		t.Fatal(err)
	}
	if st.Audit != older || st.Jobs != 0 {
		t.Errorf("stats %+v, want %d audit entries deleted and no jobs", st, older)
	}
	p, err := h.Store.Audit(jobs.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all) - older; p.Total != want || len(p.Entries) != want || p.Entries[0].ID != all[len(all)-1].ID {
		t.Errorf("left %d entries (total %d), want the %d newest", len(p.Entries), p.Total, want)
	}
	for _, e := range p.Entries {
		if e.Time.Before(cutoff) {
			t.Errorf("entry %s of %s survived the cutoff %s", e.ID, e.Time, cutoff)
		}
	}
	if _, err := h.Engine.Get(job); err != nil {
		t.Errorf("audit retention deleted a job: %v", err)
	}
}
