package main

import (
	"context"
	"strings"
	"testing"

	"runnel/jobs/api"
	"runnel/jobs/jobstest"
)

const cliApprovalWorkflow = `
tasks:
  release:
    flow:
      confirm:
        type: approval
        message: "Ship it?"
        fields:
          ticket: { type: string, required: true }
          hosts: { type: integer, default: 1 }
      deploy:
        depends_on: [confirm]
        type: shell
        cmd: echo "ticket {{ input.t }} on {{ input.n }} hosts"
        input: { t: "{{ confirm.output.ticket }}", n: "{{ confirm.output.hosts }}" }
`

// cliWaiting starts release and waits until confirm waits for approval.
func cliWaiting(t *testing.T, s *cliServer) string {
	t.Helper()
	ctx := context.Background()
	id, err := s.api.Execute(ctx, "default", "release", nil)
	if err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(t, "confirm waiting", func() bool {
		j, err := s.api.Job(ctx, id)
		return err == nil && j.Steps[0].Status == "waiting"
	})
	return id
}

// TestCLIApproveReject: `runnel approve JOB STEP -i k=v -m c` approves with
// typed fields that reach the dependant; `runnel reject` needs -m and
// fails the job; decisions that are refused exit 2 with the server's
// message.
func TestCLIApproveReject(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliApprovalWorkflow}, nil)
	environ := cliEnv(t, s.url)
	ctx := context.Background()

	id := cliWaiting(t, s)
	if r := cliRun(t, environ, "", "status", id); r.code != 0 || !strings.Contains(r.stdout, "waiting for approval: Ship it?") {
		t.Errorf("status of a waiting job: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"reject without -m", []string{"reject", id, "confirm"}, 2, "", "reject needs -m WHY"},
		{"one argument", []string{"approve", id}, 2, "", "job id and step"},
		{"missing field", []string{"approve", id, "confirm"}, 2, "", "Input validation failed: missing required field 'ticket'"},
		{"wrong type", []string{"approve", id, "confirm", "-i", "ticket=T-1", "-i", "hosts=many"}, 2, "", "field 'hosts' must be an integer"},
		{"unknown step", []string{"approve", id, "nope", "-i", "ticket=T-1"}, 2, "", "Step not found"},
		{"approve", []string{"approve", id, "confirm", "-i", "ticket=T-1", "-i", "hosts=3", "-m", "checked"}, 0,
			"step confirm of job " + id + " approved", ""},
		{"again", []string{"approve", id, "confirm", "-i", "ticket=T-1"}, 2, "", "Step is not waiting for approval"},
	}
	for _, c := range cases {
		r := cliRun(t, environ, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("%s: runnel %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(c.args, " "), r.code, c.code, r.stdout, r.stderr)
		}
	}
	j, err := s.api.WaitJob(ctx, id, jobstest.Patience())
	if err != nil {
		t.Fatal(err)
	}
	ap := j.Steps[0].Approval
	if j.Status != api.JobCompleted || ap == nil || ap.Decision != "approved" || ap.Comment != "checked" || ap.By != "anonymous" {
		t.Fatalf("job %s, approval %+v", j.Status, ap)
	}
	if r := cliRun(t, environ, "", "status", id); !strings.Contains(r.stdout, "approved by anonymous") {
		t.Errorf("status of the approved job:\n%s%s", r.stdout, r.stderr)
	}
	page, err := s.api.StepLogs(ctx, id, "deploy", 0)
	if err != nil || !strings.Contains(page.Logs, "ticket T-1 on 3 hosts") {
		t.Errorf("deploy log %q, %v", page.Logs, err)
	}

	id = cliWaiting(t, s)
	if r := cliRun(t, environ, "", "reject", id, "confirm", "-m", "freeze"); r.code != 0 || !strings.Contains(r.stdout, "rejected") {
		t.Fatalf("reject: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	j, err = s.api.WaitJob(ctx, id, jobstest.Patience())
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != api.JobFailed || j.Steps[0].ErrorMessage != "Rejected by anonymous: freeze" {
		t.Fatalf("rejected job %s, step %+v", j.Status, j.Steps[0])
	}
}
