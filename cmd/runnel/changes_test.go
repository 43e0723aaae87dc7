package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/gitsync/gittest"
	"runnel/jobs/jobstest"
)

const changesTaskV1 = `tasks:
  deploy:
    flow:
      ship:
        type: script
        script: |
          echo "step one"
          echo "shipping v1"
          echo "step three"
`

// TestJobChangesFromGit runs a task on one commit (it succeeds), pushes a
// commit that breaks it, runs it again (it fails), and asks what changed.
func TestJobChangesFromGit(t *testing.T) {
	up := gittest.New(t)
	first := up.Commit(t, "ship v1", map[string]string{".workflows/deploy.yaml": changesTaskV1, "notes.txt": "keep\n"})
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Path = "test"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 3600}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })

	// Workspace details: source and the commit of the serving revision.
	var ws []map[string]any
	s.json("GET", "/api/workspaces", "", &ws)
	src, _ := ws[0]["source"].(map[string]any)
	if src["type"] != "git" || src["url"] != up.URL() || src["ref"] != "main" || src["path"] != nil {
		t.Errorf("source: %v", ws[0]["source"])
	}
	commit, _ := ws[0]["commit"].(map[string]any)
	if commit["hash"] != first || commit["message"] != "ship v1" || commit["author"] != "gittest <gittest@example.invalid>" ||
		!strings.HasPrefix(fmt.Sprint(commit["time"]), "2026-01-01T00:00:0") {
		t.Errorf("commit: %v", ws[0]["commit"])
	}

	run := func(want string) string {
		t.Helper()
		var out struct {
			JobID string `json:"job_id"`
		}
		s.json("POST", "/api/workspaces/ops/tasks/deploy/execute", "", &out)
		var j map[string]any
		s.json("GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", "", &j)
		if j["status"] != want {
			t.Fatalf("job %s: %v, want %s", out.JobID, j["status"], want)
		}
		return out.JobID
	}
	good := run("completed")

	var ch map[string]any
	if st := s.json("GET", "/api/jobs/"+good+"/changes", "", &ch); st != 200 || ch["note"] != "no earlier successful run of this task" ||
		ch["base"] != nil || len(ch["files"].([]any)) != 0 || ch["revision"] != first {
		t.Fatalf("changes of the first run: %d %v", st, ch)
	}

	v2 := strings.Replace(changesTaskV1, `echo "shipping v1"`, `echo "shipping v2"; exit 3`, 1)
	second := up.Commit(t, "ship v2", map[string]string{".workflows/deploy.yaml": v2, "run.bin": "\x00\x01binary"})
	// The real wiring publishes the load as a workspace event.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // ends a stuck read
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/events?types=workspace", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, _ := rd.ReadString('\n'); line != ": connected\n" {
		t.Fatalf("events: %q", line)
	}
	s.json("POST", "/api/workspaces/ops/refresh", "", nil)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no workspace event: %v", err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"commit":{"hash":"`+second+`","message":"ship v2"`) {
			break
		}
	}
	bad := run("failed")

	ch = nil
	if st := s.json("GET", "/api/jobs/"+bad+"/changes", "", &ch); st != 200 {
		t.Fatalf("changes: %d %v", st, ch)
	}
	base, _ := ch["base"].(map[string]any)
	if ch["revision"] != second || base["job_id"] != good || base["revision"] != first || base["completed_at"] == nil || ch["note"] != nil {
		t.Errorf("changes header: %v", ch)
	}
	if c, _ := ch["commit"].(map[string]any); c["hash"] != second || c["message"] != "ship v2" {
		t.Errorf("changes commit: %v", ch["commit"])
	}
	files, _ := ch["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	wf, bin := files[0].(map[string]any), files[1].(map[string]any)
	wantDiff := `--- a/.workflows/deploy.yaml
+++ b/.workflows/deploy.yaml
@@ -5,5 +5,5 @@
         type: script
         script: |
           echo "step one"
-          echo "shipping v1"
+          echo "shipping v2"; exit 3
           echo "step three"
`
	if wf["path"] != ".workflows/deploy.yaml" || wf["status"] != "modified" || wf["diff"] != wantDiff {
		t.Errorf("workflow change: %s %s\n%s\nwant\n%s", wf["path"], wf["status"], wf["diff"], wantDiff)
	}
	if bin["path"] != "run.bin" || bin["status"] != "added" || bin["diff"] != "" {
		t.Errorf("binary change: %v", bin)
	}

	// Another failure on the same revision: same base, same diff; unknown
	// jobs are 404.
	again := run("failed")
	var ch2 map[string]any
	s.json("GET", "/api/jobs/"+again+"/changes", "", &ch2)
	if b, _ := ch2["base"].(map[string]any); b["job_id"] != good || len(ch2["files"].([]any)) != 2 {
		t.Errorf("second failure: %v", ch2)
	}
	if st, body := s.do("GET", "/api/jobs/0190aaaa-0000-7000-8000-000000000000/changes", ""); st != 404 || !strings.Contains(string(body), "Job not found") {
		t.Errorf("unknown job: %d %s", st, body)
	}
}
