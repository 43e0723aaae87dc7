package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestQueueSurvivesKills queues five jobs in a one-slot queue of the real
// `runnel serve`, SIGKILLs it while job 1 runs and the others wait, and
// again after the restart while job 2 runs: after each restart the job
// that was running fails (server restarted) and frees its slot, and the
// waiters keep their order and positions; none is lost or stuck, none
// overlaps another. Each step writes start/end marks to a file outside
// runnel and waits on its own FIFO, which the test opens once the step
// reads it (the event that it started).
func TestQueueSurvivesKills(t *testing.T) {
	dir := t.TempDir()
	for n := 1; n <= 5; n++ {
		if err := syscall.Mkfifo(filepath.Join(dir, fmt.Sprintf("gate-%d", n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, map[string]string{".workflows/q.yaml": `
queues:
  deploys: { max_concurrent: 1 }
tasks:
  deploy:
    queue: deploys
    input: { n: { type: string } }
    flow:
      go:
        type: shell
        input: { n: "{{ input.n }}" }
        cmd: |
          echo "start {{ input.n }}" >> ` + dir + `/marks
          read x < ` + dir + `/gate-{{ input.n }}
          echo "end {{ input.n }}" >> ` + dir + `/marks
`}, serverConfig{LocalWorkers: 4, LogLevel: "info"})
	var ids []string
	for n := 1; n <= 5; n++ {
		ids = append(ids, s.execute("deploy", map[string]any{"n": fmt.Sprint(n)}))
	}
	// Steps orphaned by a kill still wait on their gate: released at the end.
	var orphans []func()
	t.Cleanup(func() {
		for _, release := range orphans {
			release()
		}
	})
	started := func(n int) func() {
		t.Helper()
		path := filepath.Join(dir, fmt.Sprintf("gate-%d", n))
		opened := make(chan *os.File, 1)
		go func() {
			f, _ := os.OpenFile(path, os.O_WRONLY, 0)
			opened <- f
		}()
		select {
		case f := <-opened:
			return func() {
				if f != nil {
					fmt.Fprintln(f, "go")
					f.Close()
				}
			}
		case <-time.After(wait):
			if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				defer r.Close()
			}
			t.Fatalf("step of job %d never started:\n%s", n, s.out.String())
			return nil
		}
	}
	states := func() []string {
		var out []string
		for _, id := range ids {
			var j struct {
				Status   string `json:"status"`
				Position *int   `json:"queue_position"`
			}
			if err := s.api.Do(context.Background(), "GET", "/api/jobs/"+id, nil, &j); err != nil {
				t.Fatalf("job %s: %v", id, err)
			}
			p := 0
			if j.Position != nil {
				p = *j.Position
			}
			out = append(out, fmt.Sprintf("%s/%d", j.Status, p))
		}
		return out
	}

	orphans = append(orphans, started(1))
	if d := cmp.Diff([]string{"running/0", "pending/1", "pending/2", "pending/3", "pending/4"}, states()); d != "" {
		t.Errorf("before the first kill (-want +got):\n%s", d)
	}
	s.kill()
	s.restartAfterKill()
	orphans = append(orphans, started(2))
	if d := cmp.Diff([]string{"failed/0", "running/0", "pending/1", "pending/2", "pending/3"}, states()); d != "" {
		t.Errorf("after the first restart (-want +got):\n%s", d)
	}
	// The CLI shows the job's queue and position.
	out, err := exec.Command(bin, "status", "--server", s.url, ids[3]).CombinedOutput()
	if !strings.Contains(string(out), "waiting in queue deploys at position 2") {
		t.Errorf("runnel status (%v):\n%s", err, out)
	}
	s.kill()
	s.restartAfterKill()
	for n := 3; n <= 5; n++ {
		release := started(n)
		want := []string{"failed/0", "failed/0"}
		for i := 3; i <= 5; i++ {
			switch {
			case i < n:
				want = append(want, "completed/0")
			case i == n:
				want = append(want, "running/0")
			default:
				want = append(want, fmt.Sprintf("pending/%d", i-n))
			}
		}
		if d := cmp.Diff(want, states()); d != "" {
			t.Errorf("while job %d runs (-want +got):\n%s", n, d)
		}
		release()
		s.waitJob(ids[n-1])
	}
	data, err := os.ReadFile(filepath.Join(dir, "marks"))
	if err != nil {
		t.Fatal(err)
	}
	want := "start 1\nstart 2\nstart 3\nend 3\nstart 4\nend 4\nstart 5\nend 5\n"
	if string(data) != want {
		t.Errorf("marks:\n%s\nwant:\n%s", data, want)
	}
	for i, id := range ids[:2] {
		j := s.job(id)
		if msg := str(j.step("go").ErrorMessage); !strings.Contains(msg, "server restarted") {
			t.Errorf("job %d step: %s %q", i+1, j.step("go").Status, msg)
		}
	}
}
