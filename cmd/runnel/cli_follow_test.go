package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runnel/cmd/runnel/config"
	"runnel/jobs/api"
	"runnel/jobs/jobstest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cliGatedWorkflow has a step that prints a line, then waits until a file
// appears in the directory its input names, then exits with `result`.
const cliGatedWorkflow = `
tasks:
  gated:
    input:
      dir: { type: string, required: true }
      result: { type: integer, default: 0 }
    flow:
      gate:
        type: shell
        input: { dir: "{{ input.dir }}", result: "{{ input.result }}" }
        env: { DIR: "{{ input.dir }}", RESULT: "{{ input.result }}" }
        cmd: |
          echo "waiting for the gate"
          while [ ! -f "$DIR/open" ]; do sleep 0.05; done
          echo "through the gate" >&2
          exit "$RESULT"
`

// TestCLITriggerFollowLive runs the real binary: `trigger -f` prints a
// running job's lines as they are written (the job is still blocked when
// the first one arrives) and exits with the job's code.
func TestCLITriggerFollowLive(t *testing.T) {
	bin, err := runnelBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, nil)
	tests := []struct {
		name   string
		result int
		cancel bool
		code   int
		status string
	}{
		{name: "completed", code: 0, status: api.JobCompleted},
		{name: "failed", result: 7, code: 1, status: api.JobFailed},
		{name: "cancelled", cancel: true, code: 3, status: api.JobCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "trigger", "gated", "-f", "-i", "dir="+gate, "-i", "result="+strconv.Itoa(tt.result))
			cmd.Env = cliEnv(t, s.url, "NO_COLOR=1")
			stderr := newSyncBuffer()
			cmd.Stderr = stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func() string {
				t.Helper()
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("output ended early; stderr:\n%s", stderr.String())
					}
					return l
				case <-time.After(jobstest.Patience()):
					t.Fatalf("no line within 10s; stderr:\n%s", stderr.String())
				}
				return ""
			}
			id := next()
			if l := next(); !strings.HasSuffix(l, " gate | waiting for the gate") {
				t.Fatalf("first log line %q", l)
			}
			// The line arrived while the step is still blocked.
			j, err := s.api.Job(ctx, id)
			if err != nil || j.Status != api.JobRunning {
				t.Fatalf("job while its first line is shown: %v %v", j.Status, err)
			}
			if tt.cancel {
				if err := s.api.Cancel(ctx, id); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(filepath.Join(gate, "open"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if l := next(); !strings.HasSuffix(l, " gate ! through the gate") {
					t.Fatalf("second log line %q", l)
				}
			}
			for l := range lines {
				t.Errorf("unexpected line %q", l)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if want := "job " + id + " " + tt.status + " in "; !strings.HasPrefix(stderr.String(), want) {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), want)
			}
		})
	}
}

// cliRestartWorkflow runs `first` anywhere, then `second` only on a
// worker with the tag "late": the first server has none, so the job is
// half done when it stops, and the second server finishes it.
const cliRestartWorkflow = `
actions:
  late:
    type: shell
    tags: [late]
    cmd: 'for i in 1 2 3; do echo "after restart $i"; done'
tasks:
  across:
    flow:
      first:
        type: shell
        cmd: 'for i in 1 2 3; do echo "before restart $i"; done'
      second:
        depends_on: [first]
        action: late
`

// TestCLILogsFollowSurvivesRestart follows a job with `logs -f` while the
// server stops and a new one starts on the same data directory and
// address: the command reconnects, resumes at its offset and prints every
// line exactly once.
func TestCLILogsFollowSurvivesRestart(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliRestartWorkflow}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := s.api.Execute(ctx, "default", "across", nil)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	e := cliEnv(t, s.url)
	go func() {
		done <- run(ctx, []string{"logs", "-f", id, "--server-events"}, strings.NewReader(""), stdout, stderr, e)
	}()

	stdout.waitFor(t, "first   | before restart 3")
	jobstest.Eventually(t, "step second ready and first done", func() bool {
		j, err := s.api.Job(ctx, id)
		return err == nil && len(j.Steps) == 2 && j.Steps[0].Status == "completed" && j.Steps[1].Status == "ready"
	})
	s.restart(func(c *config.Server) { c.LocalWorkerTags = []string{"shell", "late"} })

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("logs -f did not end after the restart; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "log stream interrupted") {
		t.Errorf("stderr does not report the dropped stream:\n%s", stderr.String())
	}
	norm := &cliNormalizer{}
	got := norm.apply(stdout.String())
	want := `<time> _server * Job created: task 'across', revision <rev>, source api
<time> _server * Step 'first' started on worker 'builtin' (<uuid>)
<time> first  | before restart 1
<time> first  | before restart 2
<time> first  | before restart 3
<time> _server * Step 'second' is waiting for a worker with tags [shell, late]; active workers: builtin [shell]
<time> _server * Step 'second' started on worker 'builtin' (<uuid>)
<time> second  | after restart 1
<time> second  | after restart 2
<time> second  | after restart 3
<time> _server * Job completed in <dur>
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}
}

// TestCLITriggerFollowInterrupted: Ctrl-C stops following, not the job.
func TestCLITriggerFollowInterrupted(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"trigger", "gated", "-f", "-i", "dir=" + t.TempDir()}, strings.NewReader(""), stdout, stderr, cliEnv(t, s.url))
	}()
	stdout.waitFor(t, "gate | waiting for the gate")
	cancel()
	select {
	case code := <-done:
		if code != 130 || !strings.Contains(stderr.String(), "keeps running") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(jobstest.Patience()):
		t.Fatal("trigger -f did not stop")
	}
	id, _, _ := strings.Cut(stdout.String(), "\n")
	j, err := s.api.Job(t.Context(), id)
	if err != nil || j.Status != api.JobRunning {
		t.Fatalf("job after the interrupt: %v %v", j.Status, err)
	}
	if err := s.api.Cancel(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

// TestCLITriggerFollowRelated: `trigger -f` prints the logs of child jobs
// ("step/child-step") and hook jobs ("on_error/step") with the job's own,
// as `runnel run` does, and reports how the hooks ended.
func TestCLITriggerFollowRelated(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples", "workspace"))
	if err != nil {
		t.Fatal(err)
	}
	s := cliStart(t, nil, func(c *config.Server) {
		c.Workspaces = map[string]config.Workspace{"default": {Type: "folder", Path: examples}}
	})
	environ := cliEnv(t, s.url)
	norm := cliNormFor(t, s)
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"trigger-follow-children", []string{"trigger", "greet-twice", "-f"}, 0},
		{"trigger-follow-hook", []string{"trigger", "always-fails", "-f"}, 1},
	} {
		r := cliRun(t, environ, "", tt.args...)
		if r.code != tt.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.name, r.code, tt.code, r.stdout, r.stderr)
		}
		cliGolden(t, tt.name, norm.apply(transcript(tt.args, r)))
	}
}
