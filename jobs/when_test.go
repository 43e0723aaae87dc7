package jobs_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// whenYAML branches on the job input: deploy runs only when asked, notify
// always; after depends on both and reads deploy's output (none when
// deploy was skipped by its condition). guarded is skipped behind a
// failure, so its when: is never evaluated.
const whenYAML = `
tasks:
  release:
    input:
      deploy: { type: boolean, default: false }
      hosts: { type: array, default: [] }
    flow:
      build:
        type: shell
        cmd: |
          echo 'OUTPUT: {"version": "1.2"}'
      deploy:
        depends_on: [build]
        when: "{{ input.deploy }}"
        type: shell
        cmd: |
          echo deploying
          echo 'OUTPUT: {"deployed": true}'
      fan-out:
        depends_on: [build]
        when: "{{ input.hosts }}"
        type: shell
        cmd: echo fanning out
      notify:
        depends_on: [build]
        type: shell
        cmd: echo notifying {{ input.v }}
        input: { v: "{{ build.output.version }}" }
      after:
        depends_on: [deploy, notify]
        type: shell
        cmd: |
          echo "after deploy=<{{ input.d }}>"
          echo 'OUTPUT: {"after": true}'
        input: { d: "{{ deploy.output }}", none: "{{ deploy.output is none }}", status: "{{ deploy.status }}" }
  broken:
    flow:
      fails: { type: shell, cmd: exit 3 }
      guarded:
        depends_on: [fails]
        when: "{{ fails.output.nothing }}"
        type: shell
        cmd: echo never
  bad-when:
    flow:
      a: { type: shell, cmd: "true" }
      b:
        depends_on: [a]
        when: "{{ a.output.x }}"
        type: shell
        cmd: echo never
`

// TestWhenFalseSkipsABranch runs a real engine with real processes: a
// false when: skips its step with the reason while the other branch runs,
// dependants of the condition-skipped step run and read its output as
// none, and the job completes.
func TestWhenFalseSkipsABranch(t *testing.T) {
	h := jobstest.New(t, files(whenYAML))
	id := h.Trigger("release", nil)
	j := h.Wait(id)
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	for _, c := range []struct{ step, status, reason string }{
		{"build", jobs.StepCompleted, ""},
		{"deploy", jobs.StepSkipped, "when: {{ input.deploy }} was false"},
		{"fan-out", jobs.StepSkipped, "when: {{ input.hosts }} was false"},
		{"notify", jobs.StepCompleted, ""},
		{"after", jobs.StepCompleted, ""},
	} {
		s := jobstest.Step(t, j, c.step)
		if s.Status != c.status || s.SkipReason != c.reason {
			t.Errorf("step %s: %s %q, want %s %q", c.step, s.Status, s.SkipReason, c.status, c.reason)
		}
	}
	after := jobstest.Step(t, j, "after")
	// none prints as nothing (SPEC §4.2).
	if diff := cmp.Diff(map[string]any{"d": "", "none": "true", "status": "skipped"}, after.Input); diff != "" {
		t.Errorf("after input (-want +got):\n%s", diff)
	}
	// Sinks: fan-out (condition-skipped, no output) and after.
	if diff := cmp.Diff(map[string]any{"after": map[string]any{"after": true}}, j.Output); diff != "" {
		t.Errorf("job output (-want +got):\n%s", diff)
	}
	log := h.Log(id)
	for _, want := range []string{
		`"step":"notify","line":"notifying 1.2"`,
		`"step":"after","line":"after deploy=<>"`,
		`"stream":"stdout","step":"_server","line":"Step 'deploy' skipped: when: {{ input.deploy }} was false"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "deploying") || strings.Contains(log, "fanning out") {
		t.Errorf("a condition-skipped step ran:\n%s", log)
	}

	// True conditions run the branch; after reads deploy's output.
	j = h.Wait(h.Trigger("release", map[string]any{"deploy": true, "hosts": []any{"a"}}))
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	for _, name := range []string{"deploy", "fan-out", "after"} {
		if s := jobstest.Step(t, j, name); s.Status != jobs.StepCompleted {
			t.Errorf("step %s: %s %q", name, s.Status, s.SkipReason)
		}
	}
	if diff := cmp.Diff(map[string]any{"d": map[string]any{"deployed": true}, "none": "false", "status": "completed"}, jobstest.Step(t, j, "after").Input); diff != "" {
		t.Errorf("after input (-want +got):\n%s", diff)
	}
}

// TestWhenBehindAFailure: only failure-skips propagate; a step behind a
// failure is failure-skipped without evaluating its when:, and the job
// fails.
func TestWhenBehindAFailure(t *testing.T) {
	h := jobstest.New(t, files(whenYAML))
	j := h.Wait(h.Trigger("broken", nil))
	if j.Status != jobs.JobFailed {
		t.Fatalf("status %s", j.Status)
	}
	g := jobstest.Step(t, j, "guarded")
	if g.Status != jobs.StepSkipped || g.SkipReason != "upstream step 'fails' failed" {
		t.Errorf("guarded: %s %q", g.Status, g.SkipReason)
	}
}

// TestWhenTemplateError: a when: that fails to render fails its step like
// an input template error, and the job.
func TestWhenTemplateError(t *testing.T) {
	h := jobstest.New(t, files(whenYAML))
	id := h.Trigger("bad-when", nil)
	j := h.Wait(id)
	b := jobstest.Step(t, j, "b")
	if j.Status != jobs.JobFailed || b.Status != jobs.StepFailed || !strings.HasPrefix(b.ErrorMessage, "Template error in when") {
		t.Fatalf("job %s, b %s %q", j.Status, b.Status, b.ErrorMessage)
	}
	if log := h.Log(id); strings.Contains(log, "never") {
		t.Errorf("b ran:\n%s", log)
	}
}
