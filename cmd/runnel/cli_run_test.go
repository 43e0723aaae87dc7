package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/jobs/jobstest"
)

// TestCLIRun runs tasks of folders without a server: the bundled example
// workspace as it is in the repository, and broken ones.
func TestCLIRun(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples", "workspace"))
	if err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	cliWriteFiles(t, broken, map[string]string{".workflows/main.yaml": "tasks:\n  t:\n    flow:\n      s: { type: shell, cmd: ok, depends_on: [missing] }\n"})
	norm := &cliNormalizer{}
	norm.add(examples, "<examples>")
	norm.add(broken, "<broken>")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"run-hello-world", []string{"run", "hello-world", "--dir", examples}, 0},
		{"run-hello-world-input", []string{"run", "--dir", examples, "hello-world", "-i", "name=Ada", "--server-events"}, 0},
		{"run-fails", []string{"run", "always-fails", "--dir", examples}, 1},
		{"run-child-jobs", []string{"run", "greet-twice", "--dir", examples}, 0},
		{"run-missing-task", []string{"run", "nope", "--dir", examples}, 2},
		{"run-bad-input", []string{"run", "hello-world", "--dir", examples, "-i", "name=[1]"}, 2},
		{"run-broken-workspace", []string{"run", "t", "--dir", broken}, 2},
		{"run-missing-dir", []string{"run", "t", "--dir", filepath.Join(broken, "nope")}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cliRun(t, cliEnv(t, "http://127.0.0.1:1"), "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			cliGolden(t, tt.name, norm.apply(transcript(tt.args, r)))
		})
	}
}

// TestCLIRunInterrupt cancels a local run the way Ctrl-C does: the job
// is cancelled, the command exits 3, and the temporary data directory
// is gone.
func TestCLIRunInterrupt(t *testing.T) {
	dir, gate, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	cliWriteFiles(t, dir, map[string]string{".workflows/main.yaml": cliGatedWorkflow})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	// TMPDIR is read by the process, not the command's environment.
	t.Setenv("TMPDIR", tmp)
	go func() {
		done <- run(ctx, []string{"run", "gated", "--dir", dir, "-i", "dir=" + gate}, strings.NewReader(""), stdout, stderr, cliEnv(t, ""))
	}()
	stdout.waitFor(t, "gate | waiting for the gate")
	cancel()
	select {
	case code := <-done:
		if code != 3 {
			t.Errorf("exit %d, want 3; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not end after the interrupt; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), " cancelled in ") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Errorf("temporary directory left behind: %v %v", left, err)
	}
}

// TestCLIRelativeDir runs `run` and `validate` with every form of a
// relative folder, from a real working directory: the folder scan once
// cut relative paths from a root of "." by its length, so `runnel run a`
// inside a workspace found no .workflows/.
func TestCLIRelativeDir(t *testing.T) {
	root := t.TempDir()
	cliWriteFiles(t, filepath.Join(root, "x"), map[string]string{".workflows/a.yaml": "tasks:\n  a:\n    flow:\n      s: { type: shell, cmd: echo relative-ok }\n"})
	if err := os.MkdirAll(filepath.Join(root, "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cwd string // relative to root
		dir string // "" = no --dir / no argument
	}{
		{"x", ""},
		{"x", "."},
		{"x", "./"},
		{"y", "../x"},
		{"y", "../x/"},
		{".", "x"},
		{".", "x/"},
		{".", "./x"},
		{"x/.workflows", ".."},
	}
	for _, tt := range tests {
		t.Run(tt.cwd+"|"+tt.dir, func(t *testing.T) {
			t.Chdir(filepath.Join(root, tt.cwd))
			environ := cliEnv(t, "http://127.0.0.1:1")
			runArgs, valArgs := []string{"run", "a"}, []string{"validate"}
			if tt.dir != "" {
				runArgs = append(runArgs, "--dir", tt.dir)
				valArgs = append(valArgs, tt.dir)
			}
			r := cliRun(t, environ, "", runArgs...)
			if r.code != 0 || !strings.Contains(r.stdout, "relative-ok") {
				t.Errorf("runnel %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(runArgs, " "), r.code, r.stdout, r.stderr)
			}
			r = cliRun(t, environ, "", valArgs...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: 1 tasks") {
				t.Errorf("runnel %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(valArgs, " "), r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestServeRelativeFolderPath serves a folder workspace whose path is "."
// (as a config built in code or an override may give it): the server
// loads it from the working directory.
func TestServeRelativeFolderPath(t *testing.T) {
	ws := t.TempDir()
	cliWriteFiles(t, ws, map[string]string{".workflows/a.yaml": "tasks:\n  a:\n    flow:\n      s: { type: shell, cmd: echo ok }\n"})
	t.Chdir(ws)
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Workspaces = map[string]config.Workspace{"default": {Type: "folder", Path: "."}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil || s.workspace().Error != "" })
	if w := s.workspace(); w.Error != "" || w.TasksCount != 1 {
		t.Fatalf("workspace with path '.': %+v", w)
	}
}
