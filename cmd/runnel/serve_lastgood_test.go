package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/cmd/runnel/config"
	"runnel/gitsync/gittest"
	"runnel/workspace"
)

// TestServeRejectsDeepYAMLAcrossRestart runs the real server over a git
// upstream that is an ordinary (non-bare) repository, named by path and by
// file:// URL, and a folder. A workflow file nested 40,000 levels deep is
// rejected in each while the last good revision keeps serving, and still
// after a restart on the same data directory, with the error shown.
func TestServeRejectsDeepYAMLAcrossRestart(t *testing.T) {
	good := map[string]string{".workflows/main.yaml": "tasks:\n  hello:\n    flow:\n      s: {type: shell, cmd: echo hi}\n"}
	u := gittest.NewLayout(t, gittest.NonBare)
	u.Commit(t, "good", good)
	s := cliStart(t, good, func(cfg *config.Server) {
		cfg.Workspaces["git-path"] = config.Workspace{Type: "git", URL: u.Path(), Ref: "main"}
		cfg.Workspaces["git-url"] = config.Workspace{Type: "git", URL: u.URL(), Ref: "main"}
	})
	names := []string{"default", "git-path", "git-url"}
	goodRev := map[string]string{}
	for _, ws := range names {
		cur, err := s.main.Manager.Current(ws)
		if err != nil {
			t.Fatalf("workspace %s does not load: %v", ws, err)
		}
		goodRev[ws] = cur.Revision
	}

	deep := map[string]string{".workflows/deep.yaml": strings.Repeat("[", 40_000)}
	u.Commit(t, "deep", deep)
	cliWriteFiles(t, s.cfg.Workspaces["default"].Path, deep)
	want := ".workflows/deep.yaml:1:65: lists and mappings are nested more than 64 levels deep"
	for _, ws := range names {
		_, err := s.main.Manager.Refresh(context.Background(), ws)
		var rej *workspace.RejectedError
		if !errors.As(err, &rej) || rej.Err.First() != want {
			t.Errorf("%s: Refresh = %v, want the deep file rejected", ws, err)
		}
	}

	check := func(when string) {
		t.Helper()
		resp, err := http.Get(s.url + "/api/workspaces")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var items []wsItem
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
			t.Fatal(err)
		}
		if len(items) != len(names) {
			t.Fatalf("%s: workspaces %+v", when, items)
		}
		for _, it := range items {
			if it.Revision == nil || *it.Revision != goodRev[it.Name] {
				t.Errorf("%s: %s serves %v, want the last good revision %s", when, it.Name, it.Revision, goodRev[it.Name])
			}
			if !strings.Contains(it.Error, want) || it.ErrorRevision == nil {
				t.Errorf("%s: %s error %q (revision %v), want %q", when, it.Name, it.Error, it.ErrorRevision, want)
			}
		}
	}
	check("before the restart")
	s.restart(nil)
	check("after the restart")
	for _, ws := range names {
		rec, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "revisions", ws, workspace.LastGoodFile))
		if err != nil || string(rec) != goodRev[ws]+"\n" {
			t.Errorf("%s: last good record %q, %v", ws, rec, err)
		}
	}
}
