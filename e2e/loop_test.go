package e2e_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/jobs/jobstest"
)

// TestLoopSurvivesKill kills `runnel serve` (SIGKILL) while a 24-item loop
// runs 3 instances at a time, restarts it on the same data directory, and
// checks that nothing was lost and no instance ran twice: every instance
// appends "<step>" to a file outside runnel's control. The instances that
// were running fail with the recovery message, the others run once after
// the restart, and the loop fails naming exactly the recovered ones.
func TestLoopSurvivesKill(t *testing.T) {
	const items = 24
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran.txt")
	gate := filepath.Join(dir, "gate")
	// Instances from 6 on wait for the gate, so the kill finds some
	// running; the gate opens after the restart.
	s := startServer(t, map[string]string{".workflows/loop.yaml": fmt.Sprintf(`
tasks:
  fan:
    flow:
      hosts:
        for_each: "{{ input.hosts }}"
        max_parallel: 3
        type: shell
        cmd: |
          echo "$RUNNEL_STEP" >> %s
          if [ {{ input.i }} -ge 6 ]; then
            while [ ! -e %s ]; do sleep 0.05; done
          fi
          echo "OUTPUT: {{ input.i }}"
        input: { i: "{{ index }}" }
      after:
        depends_on: [hosts]
        continue_on_failure: true
        type: shell
        cmd: echo after
`, ran, gate)}, serverConfig{LocalWorkers: 4, LogLevel: "info", HeartbeatTimeout: 120, Sweep: 60})
	hosts := make([]any, items)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
	}
	id := s.execute("fan", map[string]any{"hosts": hosts})
	var before job
	jobstest.Eventually(t, "three instances waiting at the gate", func() bool {
		before = s.job(id)
		running := 0
		for _, st := range before.Steps {
			if st.Status == "running" && strings.HasPrefix(st.Name, "hosts[") {
				running++
			}
		}
		return running == 3 && lines(t, ran) == 9
	})
	s.kill()
	s.restartAfterKill()
	if n := len(s.job(id).Steps); n != items+2 {
		t.Fatalf("after the restart the job has %d steps, want %d", n, items+2)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j := s.waitJob(id)

	count := map[string]int{}
	data, _ := os.ReadFile(ran)
	for _, l := range strings.Fields(string(data)) {
		count[l]++
	}
	var recovered []string
	for i := range items {
		name := fmt.Sprintf("hosts[%d]", i)
		st, was := j.step(name), before.step(name)
		if count[name] != 1 {
			t.Errorf("%s ran %d times", name, count[name])
		}
		switch {
		case was.Status == "running":
			if st.Status != "failed" || str(st.ErrorMessage) != "server restarted while step was running" {
				t.Errorf("%s (running at the kill): %s %s", name, st.Status, str(st.ErrorMessage))
			}
			recovered = append(recovered, name)
		case st.Status != "completed" || string(st.Output) != fmt.Sprint(i):
			t.Errorf("%s: %s %s, output %s", name, st.Status, str(st.ErrorMessage), st.Output)
		}
	}
	if len(recovered) != 3 {
		t.Errorf("%d instances were running at the kill, want 3: %v", len(recovered), recovered)
	}
	want := fmt.Sprintf("%d of %d instances failed: %s", len(recovered), items, strings.Join(recovered, ", "))
	if h := j.step("hosts"); h.Status != "failed" || str(h.ErrorMessage) != want {
		t.Errorf("loop: %s %q, want failed %q", h.Status, str(h.ErrorMessage), want)
	}
	if a := j.step("after"); a.Status != "completed" || j.Status != "failed" {
		t.Errorf("after %s, job %s", a.Status, j.Status)
	}
}

// lines counts the lines of a file (0 when absent).
func lines(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

// TestLoopOnRemoteWorker: instances needing a tag only a remote worker has
// run there through the worker protocol (names with brackets in its
// paths), with their own log lines served by the step log endpoint.
func TestLoopOnRemoteWorker(t *testing.T) {
	s := startServer(t, map[string]string{".workflows/loop.yaml": `
tasks:
  remote:
    flow:
      fan:
        for_each: [a, b, c]
        type: shell
        tags: [far]
        cmd: |
          echo "hello {{ input.x }}"
          echo 'OUTPUT: "{{ input.x }}"'
        input: { x: "{{ item }}" }
`}, serverConfig{LocalWorkers: 2})
	w := startWorker(t, s, "far-away", []string{"shell", "far"}, 2)
	j := s.waitJob(s.execute("remote", nil))
	if j.Status != "completed" || string(j.step("fan").Output) != `["a","b","c"]` {
		t.Fatalf("job %s, loop output %s", j.Status, j.step("fan").Output)
	}
	for i, x := range []string{"a", "b", "c"} {
		name := fmt.Sprintf("fan[%d]", i)
		if st := j.step(name); st.Status != "completed" || str(st.WorkerID) != w.id {
			t.Errorf("%s: %s on %s, want completed on %s", name, st.Status, str(st.WorkerID), w.id)
		}
		if got := s.logs(j.ID, url.PathEscape(name)); len(got) != 2 || got[0] != "hello "+x {
			t.Errorf("%s logs: %q", name, got)
		}
	}
}
