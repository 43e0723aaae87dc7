package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChainSurvivesRandomKills kills `runnel serve` (SIGKILL) at random
// points of 100-step chains 20 times, restarting it on the same data
// directory after each kill, and checks that no step ran twice (SPEC §9.6,
// issue 16): every step appends "<job id> <step>" to a file outside
// runnel's control. A step recorded as running when the server died fails
// with the recovery message and is not run again, so its job may end
// failed; a new chain is started whenever the current one has ended. At
// the end each line appears at most once, every completed step exactly
// once and every step that never started not at all.
func TestChainSurvivesRandomKills(t *testing.T) {
	if testing.Short() {
		t.Skip("20 server restarts; skipped with -short")
	}
	const kills, steps = 20, 100
	ran := filepath.Join(t.TempDir(), "ran.txt")
	var y strings.Builder
	y.WriteString("tasks:\n  chain:\n    flow:\n")
	for i := range steps {
		fmt.Fprintf(&y, "      s%03d:\n        type: shell\n        cmd: echo \"$RUNNEL_JOB_ID s%03d\" >> %s\n", i, i, ran)
		if i > 0 {
			fmt.Fprintf(&y, "        depends_on: [s%03d]\n", i-1)
		}
	}
	s := startServer(t, map[string]string{".workflows/chain.yaml": y.String()},
		serverConfig{LocalWorkers: 4, LogLevel: "info", HeartbeatTimeout: 120, Sweep: 60})

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	ids := []string{s.execute("chain", nil)}
	for k := range kills {
		// The kill point: a random moment 50–500 ms after the (re)start.
		time.Sleep(50*time.Millisecond + time.Duration(rng.Int64N(int64(450*time.Millisecond))))
		s.kill()
		s.restartAfterKill()
		// Recovery runs at startup; an acknowledged job is never lost (s.job
		// fails the test on 404).
		switch j := s.job(ids[len(ids)-1]); j.Status {
		case "completed", "failed", "cancelled":
			t.Logf("kill %d: job %d ended %s", k+1, len(ids), j.Status)
			ids = append(ids, s.execute("chain", nil))
		}
	}

	final := make([]job, len(ids))
	for i, id := range ids {
		final[i] = s.waitJob(id)
	}
	data, err := os.ReadFile(ran)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		count[l]++
		if count[l] == 2 {
			t.Errorf("step ran twice: %q", l)
		}
	}
	recovered := 0
	for _, j := range final {
		id := j.ID
		for _, st := range j.Steps {
			n := count[id+" "+st.Name]
			switch {
			case st.Status == "completed" && n != 1:
				t.Errorf("job %s step %s completed but ran %d times", id, st.Name, n)
			case st.Status == "failed":
				if msg := str(st.ErrorMessage); msg != "server restarted while step was running" {
					t.Errorf("job %s step %s failed: %s", id, st.Name, msg)
				}
				recovered++
			case st.Status != "completed" && st.Status != "failed" && n != 0:
				t.Errorf("job %s step %s is %s but ran %d times", id, st.Name, st.Status, n)
			}
		}
	}
	t.Logf("%d chains, %d lines, %d steps failed by recovery", len(ids), len(count), recovered)
}

// restartAfterKill starts the server again after a SIGKILL. Until a new
// server binds it, the port is free for any process on this shared
// machine to take for a moment (an outgoing connection's local port):
// "address already in use" is retried for a while, other failures are
// fatal.
func (s *server) restartAfterKill() {
	s.t.Helper()
	deadline := time.Now().Add(wait)
	for !s.launch() {
		if !strings.Contains(s.out.String(), "address already in use") || time.Now().After(deadline) {
			out, _ := exec.Command("ss", "-tanp").CombinedOutput()
			s.t.Fatalf("runnel serve did not restart:\n%s\nsockets:\n%s", s.out.String(), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
