package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"runnel/jobs/api"
	"strings"
	"testing"
	"time"

	"runnel/jobs/jobstest"
)

// TestRetryDelaySurvivesSIGKILL kills `runnel serve` (SIGKILL) while a
// step waits for its retry and starts it again on the same data
// directory: the new process runs the next attempt at its stored time (not
// before, and not from attempt 1 again) and the step completes on attempt
// 3. The step counts its runs in a file outside runnel.
func TestRetryDelaySurvivesSIGKILL(t *testing.T) {
	count := filepath.Join(t.TempDir(), "count")
	s := startServer(t, map[string]string{".workflows/main.yaml": `
tasks:
  flaky:
    flow:
      try:
        type: shell
        cmd: |
          n=$(cat ` + count + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n > ` + count + `
          echo "run $n"
          [ $n -ge 3 ]
        retry: { attempts: 3, delay: 3s }
`}, serverConfig{LocalWorkers: 2})
	id := s.execute("flaky", nil)
	step := func() api.Step {
		var j api.Job
		if err := s.api.Do(context.Background(), "GET", "/api/jobs/"+id, nil, &j); err != nil || len(j.Steps) != 1 {
			t.Fatalf("job %s: %v %+v", id, err, j)
		}
		return j.Steps[0]
	}
	var waiting api.Step
	jobstest.Eventually(t, "attempt 1 to fail", func() bool {
		waiting = step()
		return !waiting.RetryAt.IsZero()
	})
	s.kill()
	killed := time.Now()
	if waiting.Status != "pending" || waiting.Attempt != 1 || len(waiting.Attempts) != 1 || waiting.Attempts[0].ExitCode != 1 {
		t.Fatalf("step waiting for its retry: %+v", waiting)
	}
	s.restartAfterKill()
	if j := s.waitJob(id); j.Status != "completed" {
		t.Fatalf("job after the restart: %+v", j)
	}
	done := step()
	var numbers []int
	for _, a := range done.Attempts {
		numbers = append(numbers, a.Attempt)
	}
	if done.Attempt != 3 || len(numbers) != 3 || numbers[0] != 1 || numbers[1] != 2 || numbers[2] != 3 {
		t.Fatalf("attempts after the restart: %+v", done)
	}
	second := done.Attempts[1]
	if second.StartedAt.Before(waiting.RetryAt.Time) || second.StartedAt.Before(killed) {
		t.Errorf("attempt 2 started at %v: before its retry_at %v or the kill at %v", second.StartedAt, waiting.RetryAt, killed)
	}
	if b, err := os.ReadFile(count); err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Errorf("the step ran %q times (%v)", b, err)
	}
	srv := strings.Join(s.logs(id, "_server"), "\n")
	for _, want := range []string{"Step 'try' failed (attempt 1/3), retrying in 3s", "Step 'try' failed (attempt 2/3), retrying in 3s"} {
		if !strings.Contains(srv, want) {
			t.Errorf("server lines lack %q:\n%s", want, srv)
		}
	}
	if got := s.logs(id, "try"); strings.Join(got, ",") != "run 1,run 2,run 3" {
		t.Errorf("step lines %q", got)
	}
}
