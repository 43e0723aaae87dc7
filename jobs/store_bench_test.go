package jobs

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"runnel/logstore"
)

// seedJobs writes n finished two-step jobs straight into the store, 1000
// per transaction, spread over 4 workspaces × 5 tasks.
func seedJobs(tb testing.TB, s *Store, n int) []string {
	tb.Helper()
	ids := make([]string, 0, n)
	for done := 0; done < n; {
		batch := min(1000, n-done)
		err := s.update(func(t *txn) error {
			for i := 0; i < batch; i++ {
				id, created := newJobID()
				k := done + i
				j := &Job{ID: id, Workspace: fmt.Sprintf("ws%d", k%4), Task: fmt.Sprintf("task%d", k%5),
					Mode: "distributed", Input: map[string]any{"name": "x"}, Status: JobCompleted,
					SourceType: SourceAPI, CreatedAt: created, StartedAt: created, CompletedAt: created,
					Revision: "r1", Finalized: true, Scrubbed: true, Output: map[string]any{"b": map[string]any{"ok": true}}}
				steps := []*Step{
					{Name: "a", Action: "x", ActionType: "shell", Runner: "local", Status: StepCompleted, DependsOn: []string{}, Order: 0, Input: map[string]any{}, Output: map[string]any{"v": 1}},
					{Name: "b", Action: "x", ActionType: "shell", Runner: "local", Status: StepCompleted, DependsOn: []string{"a"}, Order: 1, Input: map[string]any{}, Output: map[string]any{"ok": true}},
				}
				t.newState(j, steps)
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		done += batch
	}
	return ids
}

// BenchmarkList100k measures GET /api/jobs?limit=50 and GET /api/jobs/{id}
// at the engine with 100,000 jobs stored; reports median latencies.
func BenchmarkList100k(b *testing.B) {
	dir := b.TempDir()
	s := NewStore(filepath.Join(dir, "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := seedJobs(b, s, 100_000)
	logs, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "logs")})
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	q := NewQuery(s, nil)
	cases := []struct {
		name string
		run  func(i int) error
	}{
		{"list-limit50", func(int) error { _, err := q.List(ListFilter{Limit: 50}); return err }},
		{"list-ws-task-offset1000", func(int) error {
			_, err := q.List(ListFilter{Workspace: "ws1", Task: "task2", Limit: 50, Offset: 1000})
			return err
		}},
		{"list-status", func(int) error { _, err := q.List(ListFilter{Status: JobCompleted, Limit: 50}); return err }},
		{"get", func(i int) error { _, err := q.Get(ids[i%len(ids)]); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := c.run(i * 7919); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
		})
	}
}

// BenchmarkStoreCommit is one job creation per transaction, nothing else
// running: the floor of a durable commit on this disk.
func BenchmarkStoreCommit(b *testing.B) {
	s := NewStore(filepath.Join(b.TempDir(), "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seedJobs(b, s, 1)
	}
}
