package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

const helloYAML = `
actions:
  greet:
    type: shell
    cmd: |
      echo "Hello {{ input.name }}"
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}"}'
    input:
      name: { type: string, required: true }
tasks:
  hello-world:
    input:
      name: { type: string, default: World }
    flow:
      say-hello:
        action: greet
        input: { name: "{{ input.name }}" }
      shout:
        depends_on: [say-hello]
        type: script
        script: |
          echo "{{ input.g | upper }}"
          echo 'OUTPUT: {"shouted": "{{ input.g | upper }}"}'
        input: { g: "{{ say_hello.output.greeting }}" }
`

func files(yaml string) map[string]string { return map[string]string{".workflows/main.yaml": yaml} }

func TestHelloWorld(t *testing.T) {
	h := jobstest.New(t, files(helloYAML))
	id := h.Trigger("hello-world", map[string]any{"name": "Ada"})
	j := h.Wait(id)
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s, steps %+v", j.Status, j.Steps)
	}
	if diff := cmp.Diff(map[string]any{"shout": map[string]any{"shouted": "HELLO ADA"}}, j.Output); diff != "" {
		t.Errorf("job output (-want +got):\n%s", diff)
	}
	say := jobstest.Step(t, j, "say-hello")
	if diff := cmp.Diff(map[string]any{"greeting": "Hello Ada"}, say.Output); diff != "" {
		t.Errorf("say-hello output:\n%s", diff)
	}
	shout := jobstest.Step(t, j, "shout")
	if diff := cmp.Diff(map[string]any{"g": "Hello Ada"}, shout.Input); diff != "" {
		t.Errorf("shout input:\n%s", diff)
	}
	if got := []string{j.Steps[0].Name, j.Steps[1].Name}; got[0] != "say-hello" || got[1] != "shout" {
		t.Errorf("step order %v", got)
	}
	if j.Revision != "rev001" || j.SourceType != jobs.SourceAPI || j.StartedAt.IsZero() || j.CompletedAt.IsZero() {
		t.Errorf("job fields: %+v", j)
	}
	if say.WorkerID != h.Engine.BuiltinWorkerID() || say.StartedAt.IsZero() {
		t.Errorf("say-hello worker %q started %v", say.WorkerID, say.StartedAt)
	}
	log := h.Log(id)
	for _, want := range []string{
		`"step":"say-hello","line":"Hello Ada"`,
		`"step":"shout","line":"HELLO ADA"`,
		`"line":"OUTPUT: {\"greeting\": \"Hello Ada\"}"`,
		`"step":"_server","line":"Job created: task 'hello-world', revision rev001, source api"`,
		`"line":"Step 'say-hello' started on worker 'builtin' (` + h.Engine.BuiltinWorkerID() + `)"`,
		`"line":"Job completed in `,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

func TestDefaultInputAndNull(t *testing.T) {
	h := jobstest.New(t, files(helloYAML+`
  opt:
    input:
      a: { type: string }
      n: { type: integer, default: 3 }
    flow:
      s:
        type: script
        input: { a: "{{ input.a | default(value='none') }}", n: "{{ input.n }}" }
        script: |
          echo 'OUTPUT: {"a": "{{ input.a }}", "n": {{ input.n }}}'
`))
	j := h.Wait(h.Trigger("hello-world", nil))
	if got := jobstest.Step(t, j, "say-hello").Output; !cmp.Equal(got, map[string]any{"greeting": "Hello World"}) {
		t.Errorf("default input not applied: %v", got)
	}
	j = h.Wait(h.Trigger("opt", map[string]any{"extra": true}))
	if diff := cmp.Diff(map[string]any{"a": nil, "n": float64(3), "extra": true}, j.Input); diff != "" {
		t.Errorf("effective input:\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"s": map[string]any{"a": "none", "n": float64(3)}}, j.Output); diff != "" {
		t.Errorf("output:\n%s\nsteps: %+v\n%s", diff, j.Steps[0], h.Log(j.ID))
	}
}

func TestInputValidation(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    input:
      name: { type: string, required: true }
      count: { type: integer }
      flag: { type: boolean }
    flow:
      s: { type: script, script: "true" }
`))
	cases := []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{}, "missing required field 'name'"},
		{map[string]any{"name": "x", "count": 1.5}, "field 'count' must be an integer"},
		{map[string]any{"name": 3, "count": "2", "flag": "yes"}, "field 'name' must be a string; field 'count' must be an integer; field 'flag' must be a boolean"},
	}
	for _, c := range cases {
		_, err := h.Engine.Trigger(context.Background(), jobs.TriggerRequest{Workspace: "default", Task: "t", Input: c.in})
		var ie *jobs.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %v: err %v, want InputError containing %q", c.in, err, c.want)
		}
	}
	if _, err := h.Engine.Trigger(context.Background(), jobs.TriggerRequest{Workspace: "default", Task: "nope"}); !errors.Is(err, jobs.ErrTaskNotFound) {
		t.Errorf("unknown task: %v", err)
	}
	res, err := h.Query.List(jobs.ListFilter{Limit: 10})
	if err != nil || len(res.Jobs) != 0 {
		t.Errorf("rejected triggers created jobs: %v %v", res.Jobs, err)
	}
}

func TestParallelBranchesOverlap(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  fan:
    flow:
      start: { type: script, script: "true" }
      a:
        depends_on: [start]
        type: script
        script: 'sleep 0.4; echo "OUTPUT: {\"t\": $(date +%s%N)}"'
      b:
        depends_on: [start]
        type: script
        script: 'sleep 0.4; echo "OUTPUT: {\"t\": $(date +%s%N)}"'
      join: { depends_on: [a, b], type: script, script: "true" }
`))
	j := h.Wait(h.Trigger("fan", nil))
	if j.Status != jobs.JobCompleted {
		t.Fatalf("status %s", j.Status)
	}
	a, b := jobstest.Step(t, j, "a"), jobstest.Step(t, j, "b")
	if !(a.StartedAt.Before(b.CompletedAt) && b.StartedAt.Before(a.CompletedAt)) {
		t.Errorf("branches did not overlap: a %v–%v, b %v–%v", a.StartedAt, a.CompletedAt, b.StartedAt, b.CompletedAt)
	}
	if join := jobstest.Step(t, j, "join"); join.StartedAt.Before(a.CompletedAt) || join.StartedAt.Before(b.CompletedAt) {
		t.Errorf("join started before its dependencies finished")
	}
}

func TestFailureSkipsDependants(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      build: { type: script, script: "echo compiling; echo 'boom' >&2; exit 3" }
      test: { depends_on: [build], type: script, script: "true" }
      deploy: { depends_on: [test], type: script, script: "true" }
      side: { type: script, script: "echo ok" }
`))
	j := h.Wait(h.Trigger("t", nil))
	if j.Status != jobs.JobFailed || j.Output != nil {
		t.Fatalf("status %s output %v", j.Status, j.Output)
	}
	build := jobstest.Step(t, j, "build")
	if build.Status != jobs.StepFailed || build.ErrorMessage != "Exit code: 3\nStderr: boom" {
		t.Errorf("build: %s %q", build.Status, build.ErrorMessage)
	}
	for _, name := range []string{"test", "deploy"} {
		s := jobstest.Step(t, j, name)
		if s.Status != jobs.StepSkipped || s.SkipReason != "upstream step 'build' failed" || !s.StartedAt.IsZero() || s.CompletedAt.IsZero() {
			t.Errorf("%s: %s %q started %v", name, s.Status, s.SkipReason, s.StartedAt)
		}
	}
	if s := jobstest.Step(t, j, "side"); s.Status != jobs.StepCompleted {
		t.Errorf("independent branch: %s", s.Status)
	}
	log := h.Log(j.ID)
	for _, want := range []string{"Step 'build' failed: Exit code: 3", "Step 'test' skipped: upstream step 'build' failed", "Job failed in "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestContinueOnFailure(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  runs-anyway:
    flow:
      build: { type: script, script: "echo 'KeyError: x' >&2; exit 1" }
      report:
        depends_on: [build]
        continue_on_failure: true
        type: script
        script: |
          printf '%s\n' 'OUTPUT: {{ input.why | json_encode }}'
        input: { why: "{{ build.status }}: {{ build.error_message }}" }
  tolerated:
    flow:
      flaky: { type: script, script: "exit 1", continue_on_failure: true }
      after: { depends_on: [flaky], type: script, script: "true" }
`))
	j := h.Wait(h.Trigger("runs-anyway", nil))
	report := jobstest.Step(t, j, "report")
	if report.Status != jobs.StepCompleted {
		t.Fatalf("report: %s %s", report.Status, report.ErrorMessage)
	}
	if got := report.Output; got != "failed: Exit code: 1\nStderr: KeyError: x" {
		t.Errorf("report saw %q", got)
	}
	if j.Status != jobs.JobFailed {
		t.Errorf("unflagged failure must fail the job: %s", j.Status)
	}
	j = h.Wait(h.Trigger("tolerated", nil))
	if j.Status != jobs.JobCompleted {
		t.Errorf("flagged failure failed the job: %s", j.Status)
	}
	if s := jobstest.Step(t, j, "after"); s.Status != jobs.StepSkipped {
		t.Errorf("after a flagged failure, an unflagged dependant is skipped; got %s", s.Status)
	}
}

func TestRenderErrorFailsStep(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      a:
        type: script
        script: "echo never"
        input: { msg: "{{ input.nosuch }}" }
      b:
        # One level below what the load can check (input.obj exists).
        type: script
        script: "echo {{ input.obj.missing_var }}"
        input: { obj: {} }
      c: { type: script, script: "echo fine" }
`))
	j := h.Wait(h.Trigger("t", nil))
	a, b := jobstest.Step(t, j, "a"), jobstest.Step(t, j, "b")
	if a.Status != jobs.StepFailed || !strings.HasPrefix(a.ErrorMessage, "Template error in step input 'msg': ") || !strings.Contains(a.ErrorMessage, "nosuch") {
		t.Errorf("a: %s %q", a.Status, a.ErrorMessage)
	}
	if b.Status != jobs.StepFailed || !strings.HasPrefix(b.ErrorMessage, "Template error in action cmd: ") || !strings.Contains(b.ErrorMessage, "missing_var") {
		t.Errorf("b: %s %q", b.Status, b.ErrorMessage)
	}
	if !a.StartedAt.IsZero() || a.WorkerID != "" {
		t.Errorf("a render failure must not run: %+v", a)
	}
	if c := jobstest.Step(t, j, "c"); c.Status != jobs.StepCompleted {
		t.Errorf("c: %s", c.Status)
	}
	if log := h.Log(j.ID); strings.Contains(log, "never") || !strings.Contains(log, "[template] Step 'a': Template error in step input 'msg'") {
		t.Errorf("log:\n%s", log)
	}
}

func TestTypedOutputPassing(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      list:
        type: script
        script: 'echo "OUTPUT: {\"files\": [\"a.txt\", \"b.txt\"], \"n\": 2, \"meta\": {\"ok\": true}}"'
      use:
        depends_on: [list]
        type: script
        script: |
          echo 'OUTPUT: {{ input.files }}'
          echo "count={{ input.n }} ok={{ input.meta.ok }}"
        input:
          files: "{{ list.output.files }}"
          n: "{{ list.output.n }}"
          meta: "{{ list.output.meta }}"
`))
	j := h.Wait(h.Trigger("t", nil))
	use := jobstest.Step(t, j, "use")
	want := map[string]any{"files": []any{"a.txt", "b.txt"}, "n": "2", "meta": map[string]any{"ok": true}}
	if diff := cmp.Diff(want, use.Input); diff != "" {
		t.Errorf("typed input (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"a.txt", "b.txt"}, use.Output); diff != "" {
		t.Errorf("output:\n%s\nsteps: %+v\n%s", diff, j.Steps[0], h.Log(j.ID))
	}
	if !strings.Contains(h.Log(j.ID), "count=2 ok=true") {
		t.Errorf("log:\n%s", h.Log(j.ID))
	}
}

func TestStepEnvironment(t *testing.T) {
	h := jobstest.New(t, files(`
actions:
  env:
    type: shell
    cmd: |
      echo "token=${RUNNEL__WORKER_TOKEN:-absent} secret=${RUNNEL__AUTH__JWT_SECRET:-absent}"
      echo "job=$RUNNEL_JOB_ID ws=$RUNNEL_WORKSPACE task=$RUNNEL_TASK step=$RUNNEL_STEP rev=$RUNNEL_REVISION"
      echo "stroem=$STROEM_TASK_NAME/$STROEM_STEP_NAME greeting=$GREETING"
      echo "pwd=$(pwd) tmp=$TMPDIR"
    env: { GREETING: "hi {{ input.who }}" }
tasks:
  t:
    flow:
      s: { action: env, input: { who: bob } }
`), func(o *jobs.Options) {
		o.Environ = append(os.Environ(), "RUNNEL__WORKER_TOKEN=very-secret-token-value", "RUNNEL__AUTH__JWT_SECRET=x", "KEEP_ME=1")
	})
	j := h.Wait(h.Trigger("t", nil))
	log := h.Log(j.ID)
	for _, want := range []string{
		"token=absent secret=absent",
		"job=" + j.ID + " ws=default task=t step=s rev=rev001",
		"stroem=t/s greeting=hi bob",
		"pwd=" + h.Dir + "/revisions/rev001",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "very-secret-token-value") {
		t.Error("server token reached the step")
	}
}

func TestCancelKillsProcessTree(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      long: { type: script, script: "echo $$ > $TMPDIR/../pid-{{ input.k }}; sleep 100 & sleep 100" , input: { k: x } }
      after: { depends_on: [long], type: script, script: "true" }
`))
	id := h.Trigger("t", nil)
	h.WaitFor(id, "long running", func(j *jobs.Job) bool { return jobstest.Step(t, j, "long").Status == jobs.StepRunning })
	// The step writes its shell's pid once it runs.
	var pid int
	jobstest.Eventually(t, "the step's pid", func() bool {
		if b, err := os.ReadFile(h.Dir + "/tmp/pid-x"); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return pid != 0
	})
	if err := h.Engine.Cancel(context.Background(), id, "api"); err != nil {
		t.Fatal(err)
	}
	if err := h.Engine.Cancel(context.Background(), id, "api"); !errors.Is(err, jobs.ErrTerminal) {
		t.Errorf("second cancel: %v, want ErrTerminal", err)
	}
	j := h.WaitFor(id, "finalized", func(j *jobs.Job) bool { return j.Finalized })
	if j.Status != jobs.JobCancelled {
		t.Fatalf("status %s", j.Status)
	}
	long, after := jobstest.Step(t, j, "long"), jobstest.Step(t, j, "after")
	if long.Status != jobs.StepCancelled || after.Status != jobs.StepCancelled {
		t.Errorf("steps: long %s, after %s", long.Status, after.Status)
	}
	// Every process of the group is gone (zombies count as gone).
	if alive := groupAlive(pid); len(alive) > 0 {
		t.Errorf("processes of the step's group still alive: %v", alive)
	}
	if log := h.Log(id); !strings.Contains(log, "Job cancelled by api") {
		t.Errorf("log:\n%s", log)
	}
}

// groupAlive lists live (non-zombie) processes in process group pgid.
func groupAlive(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var alive []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" {
			alive = append(alive, pid)
		}
	}
	return alive
}

func TestStepAndTaskTimeouts(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  step-timeout:
    flow:
      slow: { type: script, script: "sleep 30", timeout: 1s }
  task-timeout:
    timeout: 1s
    flow:
      slow: { type: script, script: "sleep 30" }
      never: { depends_on: [slow], type: script, script: "true" }
`))
	j := h.Wait(h.Trigger("step-timeout", nil))
	if s := jobstest.Step(t, j, "slow"); j.Status != jobs.JobFailed || s.Status != jobs.StepFailed || s.ErrorMessage != "Step timed out after 1s" {
		t.Errorf("step timeout: job %s step %s %q", j.Status, s.Status, s.ErrorMessage)
	}
	if log := h.Log(j.ID); !strings.Contains(log, "[timeout] Step 'slow' timed out after 1s") {
		t.Errorf("log:\n%s", log)
	}
	id := h.Trigger("task-timeout", nil)
	j = h.WaitFor(id, "finalized", func(j *jobs.Job) bool { return j.Finalized })
	slow, never := jobstest.Step(t, j, "slow"), jobstest.Step(t, j, "never")
	if j.Status != jobs.JobFailed || slow.Status != jobs.StepFailed || slow.ErrorMessage != "Job timed out after 1s" ||
		never.Status != jobs.StepSkipped || never.SkipReason != "job timed out" {
		t.Errorf("task timeout: job %s slow %s %q never %s %q", j.Status, slow.Status, slow.ErrorMessage, never.Status, never.SkipReason)
	}
	if log := h.Log(id); !strings.Contains(log, "[timeout] Job timed out after 1s") {
		t.Errorf("log:\n%s", log)
	}
}

func TestPinnedRevision(t *testing.T) {
	script := func(v string) map[string]string {
		return map[string]string{
			".workflows/main.yaml": `
tasks:
  t:
    flow:
      first: { type: script, source: bin/run.sh }
      wait: { depends_on: [first], type: script, script: "sleep 0.5" }
      second: { depends_on: [wait], type: script, source: bin/run.sh }
`,
			"bin/run.sh": "#!/bin/sh\necho version-" + v + "\n",
		}
	}
	h := jobstest.New(t, script("A"))
	id := h.Trigger("t", nil)
	h.WaitFor(id, "first done", func(j *jobs.Job) bool { return jobstest.Step(t, j, "first").Status == jobs.StepCompleted })
	h.Load(script("B"))
	j := h.Wait(id)
	log := h.Log(id)
	if j.Revision != "rev001" || strings.Count(log, "version-A") != 2 || strings.Contains(log, "version-B") {
		t.Errorf("pinned job ran other files (revision %s):\n%s", j.Revision, log)
	}
	j2 := h.Wait(h.Trigger("t", nil))
	if j2.Revision != "rev002" || !strings.Contains(h.Log(j2.ID), "version-B") {
		t.Errorf("new job did not use the new revision")
	}
}

func TestRestartMidJob(t *testing.T) {
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      long: { type: script, script: "echo started; sleep 100" }
      after-ok: { depends_on: [long], type: script, script: "true" }
      rescue: { depends_on: [long], continue_on_failure: true, type: script, script: "echo rescued" }
`), func(o *jobs.Options) { o.ShutdownGrace = 100 * time.Millisecond })
	id := h.Trigger("t", nil)
	h.WaitFor(id, "running", func(j *jobs.Job) bool { return jobstest.Step(t, j, "long").Status == jobs.StepRunning })
	// Running is recorded before the process prints: wait for its line too.
	jobstest.Eventually(t, "the step's first line", func() bool { return strings.Contains(h.Log(id), `"line":"started"`) })
	// Restart the stack under the running step: Close gives it
	// ShutdownGrace (100 ms) and kills it, then Open's recovery finds the
	// step failed and the rest of the DAG runs on.
	h.Restart()
	j := h.Wait(id)
	long, rescue := jobstest.Step(t, j, "long"), jobstest.Step(t, j, "rescue")
	if long.Status != jobs.StepFailed || rescue.Status != jobs.StepCompleted || j.Status != jobs.JobFailed {
		t.Fatalf("after restart: job %s long %s %q rescue %s", j.Status, long.Status, long.ErrorMessage, rescue.Status)
	}
	if long.ErrorMessage != "server shut down while step was running" && long.ErrorMessage != "server restarted while step was running" {
		t.Errorf("long error %q", long.ErrorMessage)
	}
	log := h.Log(id)
	if !strings.Contains(log, `"line":"started"`) || !strings.Contains(log, "rescued") {
		t.Errorf("log lost lines:\n%s", log)
	}
}

// TestShutdownSaysWhatItWaitsFor: Close logs how many running steps it
// waits for and for how long, then that it stops those still running.
func TestShutdownSaysWhatItWaitsFor(t *testing.T) {
	var out syncWriter
	h := jobstest.New(t, files(`
tasks:
  t:
    flow:
      a: { type: script, script: "echo up; sleep 100" }
      b: { type: script, script: "echo up; sleep 100" }
`), func(o *jobs.Options) {
		o.ShutdownGrace = 200 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(&out, nil))
	})
	id := h.Trigger("t", nil)
	jobstest.Eventually(t, "both steps to print", func() bool { return strings.Count(h.Log(id), `"line":"up"`) == 2 })
	h.Engine.Close()
	log := out.String()
	for _, want := range []string{
		`msg="shutting down: no new steps are started; waiting for running steps" steps=2 grace=200ms`,
		`msg="shutdown grace over: stopping the steps still running`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
}

// syncWriter is a goroutine-safe log sink.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
