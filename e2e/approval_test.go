package e2e_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"runnel/jobs/jobstest"
)

// TestApprovalSurvivesKill kills the real `runnel serve` (SIGKILL) while
// an approval step waits: after the restart the step still waits (no
// recovery failure, no worker), `runnel approve` through the real binary
// completes it, and the dependant step reads the approver's fields.
func TestApprovalSurvivesKill(t *testing.T) {
	s := startServer(t, map[string]string{".workflows/main.yaml": `
tasks:
  release:
    flow:
      build: { type: shell, cmd: echo built }
      confirm:
        depends_on: [build]
        type: approval
        message: "Release?"
        timeout: 1h
        fields: { ticket: { type: string, required: true } }
      deploy:
        depends_on: [confirm]
        type: shell
        cmd: echo "deploying {{ input.t }}"
        input: { t: "{{ confirm.output.ticket }}" }
`}, serverConfig{LocalWorkers: 2})
	id := s.execute("release", nil)
	isWaiting := func() bool { return s.job(id).step("confirm").Status == "waiting" }
	jobstest.Eventually(t, "confirm waiting", isWaiting)

	s.kill()
	s.restartAfterKill()
	if j := s.job(id); j.Status != "running" || j.step("confirm").Status != "waiting" || j.step("deploy").Status != "pending" {
		t.Fatalf("after the kill: job %s, steps %+v", j.Status, j.Steps)
	}
	for _, l := range s.logs(id, "_server") {
		if strings.Contains(l, "confirm") && strings.Contains(l, "recovery") {
			t.Errorf("recovery touched the waiting step: %s", l)
		}
	}

	cmd := exec.CommandContext(context.Background(), bin, "approve", "--server", s.url, id, "confirm", "-i", "ticket=REL-7", "-m", "after the crash")
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "approved") {
		t.Fatalf("runnel approve: %v\n%s", err, out)
	}
	j := s.waitJob(id)
	if j.Status != "completed" || string(j.step("confirm").Output) != `{"ticket":"REL-7"}` {
		t.Fatalf("job %s, confirm output %s", j.Status, j.step("confirm").Output)
	}
	found := false
	for _, l := range s.logs(id, "deploy") {
		found = found || l == "deploying REL-7"
	}
	if !found {
		t.Errorf("deploy log %q", s.logs(id, "deploy"))
	}
}
