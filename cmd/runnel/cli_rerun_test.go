package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"runnel/cmd/runnel/config"
	"strings"
	"testing"

	"runnel/gitsync/gittest"
	"runnel/jobs/jobstest"
)

// cliTwoSteps: first → second; second fails until <dir>/fixed exists.
const cliTwoSteps = `
tasks:
  two:
    input:
      dir: { type: string, required: true }
    flow:
      first:
        type: script
        script: echo "first ran"
      second:
        type: script
        depends_on: [first]
        input: { dir: "{{ input.dir }}" }
        script: |
          echo "second ran"
          test -f {{ input.dir }}/fixed
`

// TestCLIRerunRestart: restart --dry-run says what would run, restart -f
// follows the new job (only the run steps' lines) and exits by its status,
// status and jobs show where a job came from, and refusals exit 2.
func TestCLIRerunRestart(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliTwoSteps}, nil)
	env := cliEnv(t, s.url, "NO_COLOR=1")
	dir := t.TempDir()
	r := cliRun(t, env, "", "trigger", "two", "-i", "dir="+dir, "--wait")
	if r.code != 1 {
		t.Fatalf("trigger: %+v", r)
	}
	failed := strings.TrimSpace(r.stdout)

	r = cliRun(t, env, "", "restart", failed, "--from", "second", "--dry-run")
	if want := "run:          second\ncarried over: first\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("dry run: %+v, want stdout %q", r, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = cliRun(t, env, "", "restart", failed, "--from", "second", "-f")
	lines := strings.Split(r.stdout, "\n")
	restarted := lines[0]
	if r.code != 0 || !strings.Contains(r.stdout, "second | second ran") || strings.Contains(r.stdout, "first ran") ||
		!strings.Contains(r.stderr, "job "+restarted+" completed") {
		t.Fatalf("restart -f: %+v", r)
	}

	r = cliRun(t, env, "", "status", restarted)
	if r.code != 0 || !strings.Contains(r.stdout, "restart of job "+failed+" from step second") ||
		!strings.Contains(r.stdout, "carried over from job "+failed) {
		t.Errorf("status of the restart:\n%s", r.stdout)
	}
	r = cliRun(t, env, "", "rerun", restarted, "--wait")
	if r.code != 0 {
		t.Fatalf("rerun: %+v", r)
	}
	rerun := strings.TrimSpace(r.stdout)
	r = cliRun(t, env, "", "jobs")
	for _, want := range []string{"(restart of " + failed[:8] + ")", "(re-run of " + restarted[:8] + ")"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("jobs lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := cliRun(t, env, "", "status", rerun); !strings.Contains(r.stdout, "re-run of job "+restarted) {
		t.Errorf("status of the re-run:\n%s", r.stdout)
	}

	refusals := []struct {
		args []string
		msg  string
	}{
		{[]string{"restart", restarted, "--from", "second"}, "completed; only a failed or cancelled job can be restarted"},
		{[]string{"restart", failed, "--from", "nope"}, "has no step 'nope' (its steps: first, second)"},
		{[]string{"restart", failed}, "--from STEP is required"},
		{[]string{"rerun", "0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a"}, "Job not found"},
	}
	for _, c := range refusals {
		if r := cliRun(t, env, "", c.args...); r.code != exitRequest || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: %+v, want exit 2 with %q", c.args, r, c.msg)
		}
	}
}

// TestRerunGitRevision: after a new commit a re-run still runs the
// revision its source ran on (its tree is kept under data_dir/revisions),
// "current" runs the new one; a tree that is gone is written again from the
// clone; once the commit itself is gone (history rewritten, clone made
// again) the re-run is refused with 409 and says what to do, and the CLI
// exits 2.
func TestRerunGitRevision(t *testing.T) {
	up := gittest.New(t)
	task := func(v string) map[string]string {
		return map[string]string{".workflows/hello.yaml": strings.ReplaceAll(e2eTask, "hello from git", "hello from "+v)}
	}
	first := up.Commit(t, "v1", task("v1"))
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Path = "test"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 3600}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })

	var out struct {
		JobID string `json:"job_id"`
		Error string `json:"error"`
	}
	s.json("POST", "/api/workspaces/ops/tasks/hello/execute", "", &out)
	src := out.JobID
	wait := func(id string) map[string]any {
		t.Helper()
		var j map[string]any
		s.json("GET", "/api/jobs/"+id+"?wait=true&timeout=10", "", &j)
		if j["status"] != "completed" {
			t.Fatalf("job %s: %v", id, j)
		}
		return j
	}
	wait(src)
	second := up.Commit(t, "v2", task("v2"))
	if st := s.json("POST", "/api/workspaces/ops/refresh", "", nil); st != 200 || *s.workspace().Revision != second {
		t.Fatalf("refresh: %d", st)
	}
	for _, c := range []struct{ body, rev, line string }{
		{"", first, "hello from v1"},
		{`{"revision": "current"}`, second, "hello from v2"},
	} {
		if st := s.json("POST", "/api/jobs/"+src+"/rerun", c.body, &out); st != 200 {
			t.Fatalf("rerun %s: %d %s", c.body, st, out.Error)
		}
		j := wait(out.JobID)
		var logs struct{ Logs string }
		s.json("GET", "/api/jobs/"+out.JobID+"/logs", "", &logs)
		if j["revision"] != c.rev || j["rerun_of"] != src || !strings.Contains(logs.Logs, c.line) {
			t.Errorf("rerun %q: revision %v (want %s), rerun_of %v, log:\n%s", c.body, j["revision"], c.rev, j["rerun_of"], logs.Logs)
		}
	}

	// The old tree disappears while the server is down: the clone still
	// has the commit, so the re-run writes the tree again and runs it.
	removeTree := func() {
		t.Helper()
		s.main.Close()
		old := filepath.Join(cfg.DataDir, "revisions", "ops", first)
		filepath.WalkDir(old, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(old); err != nil {
			t.Fatal(err)
		}
	}
	removeTree()
	s = startMain(t, cfg)
	jobstest.Eventually(t, "load after restart", func() bool { return s.workspace().Revision != nil })
	if st := s.json("POST", "/api/jobs/"+src+"/rerun", "", &out); st != 200 {
		t.Fatalf("rerun of a revision restored from the clone: %d %s", st, out.Error)
	}
	if j := wait(out.JobID); j["revision"] != first {
		t.Errorf("restored rerun ran on %v, want %s", j["revision"], first)
	}

	// History rewritten upstream and the clone made again: the commit is
	// gone for good, and the re-run says so.
	removeTree()
	up.ForcePush(t, task("v3"))
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "git", "ops")); err != nil {
		t.Fatal(err)
	}
	s = startMain(t, cfg)
	jobstest.Eventually(t, "load after the rewrite", func() bool { return s.workspace().Revision != nil })
	st := s.json("POST", "/api/jobs/"+src+"/rerun", "", &out)
	if want := "Revision " + first + " of workspace 'ops' that job " + src + " ran on is no longer kept; re-run it on the newest revision with \"revision\": \"current\""; st != 409 || out.Error != want {
		t.Errorf("rerun of a gone revision: %d %q, want 409 %q", st, out.Error, want)
	}
	env := cliEnv(t, s.url)
	if r := cliRun(t, env, "", "rerun", src); r.code != exitRequest || !strings.Contains(r.stderr, "no longer kept") {
		t.Errorf("CLI rerun of a gone revision: %+v", r)
	}
	if r := cliRun(t, env, "", "rerun", src, "--current", "--wait"); r.code != 0 {
		t.Errorf("CLI rerun --current: %+v", r)
	}
}
