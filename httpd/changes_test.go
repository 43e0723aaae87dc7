package httpd_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/httpd/httpdtest"
)

const folderTask = `tasks:
  build:
    flow:
      make:
        type: script
        script: |
          echo one
          echo two
`

func TestJobChangesFromRevisionTrees(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": folderTask, "old.txt": "gone soon\n"})

	var ws []map[string]any
	s.JSON("GET", "/api/workspaces", nil, &ws)
	if src, _ := ws[0]["source"].(map[string]any); src["type"] != "folder" || src["path"] != s.WorkspaceDir || src["url"] != nil {
		t.Errorf("folder source: %v", ws[0]["source"])
	}
	if c, ok := ws[0]["commit"]; !ok || c != nil {
		t.Errorf("folder commit: %v (present %v), want null", c, ok)
	}

	good := s.Execute("build", nil)
	if j := s.WaitJob(good); j["status"] != "completed" {
		t.Fatalf("first run: %v", j["status"])
	}
	firstRev := s.WaitJob(good)["revision"].(string)

	s.Write(map[string]string{".workflows/main.yaml": strings.Replace(folderTask, "echo two", "exit 1", 1)})
	if err := os.Remove(filepath.Join(s.WorkspaceDir, "old.txt")); err != nil {
		t.Fatal(err)
	}
	var ref map[string]any
	s.JSON("POST", "/api/workspaces/default/refresh", nil, &ref)
	bad := s.Execute("build", nil)
	j := s.WaitJob(bad)
	if j["status"] != "failed" || j["revision"] == firstRev {
		t.Fatalf("second run: %v on %v (refresh %v)", j["status"], j["revision"], ref)
	}

	type change struct{ Path, Status, Diff string }
	var out struct {
		Revision string         `json:"revision"`
		Commit   any            `json:"commit"`
		Base     map[string]any `json:"base"`
		Files    []change       `json:"files"`
		Note     *string        `json:"note"`
	}
	if st := s.JSON("GET", "/api/jobs/"+bad+"/changes", nil, &out); st != 200 {
		t.Fatalf("changes: %d", st)
	}
	if out.Commit != nil || out.Base["job_id"] != good || out.Base["revision"] != firstRev || out.Note != nil {
		t.Errorf("changes: %+v", out)
	}
	want := []change{
		{".workflows/main.yaml", "modified", "--- a/.workflows/main.yaml\n+++ b/.workflows/main.yaml\n@@ -5,4 +5,4 @@\n" +
			"         type: script\n         script: |\n           echo one\n-          echo two\n+          exit 1\n"},
		{"old.txt", "deleted", "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone soon\n"},
	}
	if len(out.Files) != len(want) {
		t.Fatalf("files %+v, want %+v", out.Files, want)
	}
	for i := range want {
		if out.Files[i] != want[i] {
			t.Errorf("file %d:\n%+v\nwant\n%+v", i, out.Files[i], want[i])
		}
	}

	// The base revision's tree is gone: a note, no files.
	dir := filepath.Join(s.DataDir, "revisions", "default", firstRev)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	out.Files, out.Note = nil, nil
	s.JSON("GET", "/api/jobs/"+bad+"/changes", nil, &out)
	if out.Note == nil || *out.Note != "revision "+firstRev+" is no longer available to compare" || len(out.Files) != 0 || out.Files == nil {
		t.Errorf("gone revision: note %v files %v", out.Note, out.Files)
	}

	for _, c := range []struct {
		id     string
		status int
	}{{"nope", 400}, {"0190aaaa-0000-7000-8000-000000000000", 404}} {
		if st, _, _ := s.Do("GET", "/api/jobs/"+c.id+"/changes", nil); st != c.status {
			t.Errorf("changes of %s: %d, want %d", c.id, st, c.status)
		}
	}
}
