package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/cmd/runnel/config"
	"runnel/jobs/api"
	"runnel/jobs/audit"
	"runnel/jobs/jobstest"
)

const opsWorkflow = `
tasks:
  chat:
    input: { n: { type: integer, default: 3 } }
    flow:
      talk:
        type: script
        input: { n: "{{ input.n }}" }
        script: |
          for i in $(seq 1 {{ input.n }}); do echo "line $i of $RUNNEL_JOB_ID"; done
`

// opsServer starts an in-process server over a folder workspace in dataDir.
func opsServer(t *testing.T, dataDir, wsDir string) *e2eServer {
	cfg := config.DefaultServer()
	cfg.DataDir = dataDir
	cfg.LogStorage.LocalDir = filepath.Join(dataDir, "logs")
	cfg.Workspaces = map[string]config.Workspace{"default": {Type: "folder", Path: wsDir}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })
	return s
}

func (s *e2eServer) execute(task, body string) string {
	s.t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	if st := s.json("POST", "/api/workspaces/default/tasks/"+task+"/execute", body, &out); st != 200 {
		s.t.Fatalf("execute %s: %d", task, st)
	}
	return out.JobID
}

func (s *e2eServer) waitDone(id string) map[string]any {
	s.t.Helper()
	var j map[string]any
	jobstest.Eventually(s.t, "job "+id+" to end", func() bool {
		s.json("GET", "/api/jobs/"+id+"?wait=true&timeout=5", "", &j)
		return j["completed_at"] != nil
	})
	return j
}

func (s *e2eServer) logs(id string) string {
	s.t.Helper()
	var page struct {
		Logs string `json:"logs"`
	}
	s.json("GET", "/api/jobs/"+id+"/logs", "", &page)
	return page.Logs
}

// TestBackupUnderLoadRestores: a backup taken through the API while jobs
// keep arriving, restored into a new data dir, serves every job that had
// finished before the backup began, with its whole log.
func TestBackupUnderLoadRestores(t *testing.T) {
	wsDir := t.TempDir()
	cliWriteFiles(t, wsDir, map[string]string{".workflows/main.yaml": opsWorkflow})
	s := opsServer(t, t.TempDir(), wsDir)

	finished := map[string]string{} // job id → its log
	for i := range 15 {
		id := s.execute("chat", fmt.Sprintf(`{"input":{"n":%d}}`, 5+i))
		if j := s.waitDone(id); j["status"] != "completed" {
			t.Fatalf("job %s: %v %s", id, j["status"], s.logs(id))
		}
		finished[id] = s.logs(id)
	}

	// Load: jobs keep being created and run while the backup is taken.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s.do("POST", "/api/workspaces/default/tasks/chat/execute", `{"input":{"n":200}}`)
			}
		}()
	}
	file := filepath.Join(t.TempDir(), "backup.tar.gz")
	env := cliEnv(t, s.url)
	res := cliRun(t, env, "", "backup", file)
	stop()
	wg.Wait()
	if res.code != 0 || !strings.Contains(res.stderr, "Backup written to "+file) {
		t.Fatalf("backup: %+v", res)
	}

	restored := t.TempDir()
	if res := cliRun(t, env, "", "restore", file, "--data-dir", restored); res.code != 0 || !strings.HasPrefix(res.stdout, "Restored ") {
		t.Fatalf("restore: %+v", res)
	}
	// A second restore into the same data dir is refused, and changes nothing.
	if res := cliRun(t, env, "", "restore", file, "--data-dir", restored); res.code != 1 || !strings.Contains(res.stderr, "already holds a runnel database") {
		t.Fatalf("second restore: %+v", res)
	}
	s.main.Close()

	s2 := opsServer(t, restored, wsDir)
	for id, log := range finished {
		var j map[string]any
		if st := s2.json("GET", "/api/jobs/"+id, "", &j); st != 200 || j["status"] != "completed" {
			t.Fatalf("restored job %s: %d %v", id, st, j["status"])
		}
		if got := s2.logs(id); got != log {
			t.Fatalf("restored log of %s differs:\n got %q\nwant %q", id, got, log)
		}
	}
	// The restored server runs new jobs.
	if j := s2.waitDone(s2.execute("chat", "")); j["status"] != "completed" {
		t.Fatalf("new job on the restored server: %v", j["status"])
	}
}

// TestBackupDataDirAndCompact: offline backup and compaction refuse a data
// dir a server holds, and work once it is stopped.
func TestBackupDataDirAndCompact(t *testing.T) {
	wsDir, dataDir := t.TempDir(), t.TempDir()
	cliWriteFiles(t, wsDir, map[string]string{".workflows/main.yaml": opsWorkflow})
	s := opsServer(t, dataDir, wsDir)
	var ids []string
	for range 5 {
		ids = append(ids, s.execute("chat", `{"input":{"n":500}}`))
	}
	for _, id := range ids {
		s.waitDone(id)
	}
	env := cliEnv(t, s.url)
	file := filepath.Join(t.TempDir(), "offline.tar.gz")
	for _, args := range [][]string{{"backup", "--data-dir", dataDir, file}, {"compact", "--data-dir", dataDir}} {
		if res := cliRun(t, env, "", args...); res.code != 1 || !strings.Contains(res.stderr, "in use by a running runnel server") {
			t.Errorf("%v with the server running: %+v", args, res)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s behind (%v)", file, err)
	}
	s.main.Close()

	if res := cliRun(t, env, "", "backup", "--data-dir", dataDir, file); res.code != 0 || !strings.Contains(res.stderr, "5 jobs, 5 logs") {
		t.Fatalf("offline backup: %+v", res)
	}
	names := archiveNames(t, file)
	if names[0] != "manifest.json" || names[1] != "runnel.db" || len(names) != 2+len(ids) {
		t.Errorf("archive entries %v", names)
	}
	res := cliRun(t, env, "", "compact", "--data-dir", dataDir)
	if res.code != 0 || !strings.HasPrefix(res.stdout, "Compacted ") {
		t.Fatalf("compact: %+v", res)
	}
	s2 := opsServer(t, dataDir, wsDir)
	for _, id := range ids {
		if j := s2.waitDone(id); j["status"] != "completed" {
			t.Errorf("job %s after compaction: %v", id, j["status"])
		}
	}
}

// TestRestoreRejectsForeignArchives: restore takes only its own entry names.
func TestRestoreRejectsForeignArchives(t *testing.T) {
	cases := map[string][]string{
		"path escape":   {"manifest.json", "logs/../../evil.jsonl"},
		"unknown entry": {"manifest.json", "etc/passwd"},
		"no database":   {"manifest.json"},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "x.tar.gz")
			writeArchive(t, file, entries)
			dir := t.TempDir()
			res := cliRun(t, nil, "", "restore", file, "--data-dir", dir)
			if res.code != 1 || !strings.Contains(res.stderr, "restore") {
				t.Fatalf("restore: %+v", res)
			}
			if _, err := os.Stat(filepath.Join(dir, "runnel.db")); !os.IsNotExist(err) {
				t.Errorf("a rejected restore wrote runnel.db")
			}
		})
	}
}

func writeArchive(t *testing.T, file string, names []string) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		body := "{}"
		if n == "manifest.json" {
			body = `{"format":1}`
		}
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func archiveNames(t *testing.T, file string) []string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	return names
}

// TestReloadOnHangup: Reload (what SIGHUP runs) applies a new log level,
// refreshes workspaces, names the settings that need a restart, and keeps
// the running configuration when the file no longer loads.
func TestReloadOnHangup(t *testing.T) {
	dir, wsDir := t.TempDir(), t.TempDir()
	cliWriteFiles(t, wsDir, map[string]string{".workflows/main.yaml": opsWorkflow})
	path := filepath.Join(dir, "server-config.yaml")
	write := func(level string, workers int) {
		cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\nlog_level: %s\nlocal_workers: %d\nworkspaces:\n  default: {type: folder, path: %s}\n",
			filepath.Join(dir, "data"), level, workers, wsDir)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("info", 4)
	cfg, err := config.LoadServer(path, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })
	if s.main.level.Level() != slog.LevelInfo {
		t.Fatalf("level %v", s.main.level.Level())
	}

	cliWriteFiles(t, wsDir, map[string]string{".workflows/more.yaml": "tasks:\n  extra: { flow: { a: { type: script, script: 'true' } } }\n"})
	write("debug", 2)
	restart := s.main.Reload(context.Background())
	if s.main.level.Level() != slog.LevelDebug {
		t.Errorf("log level after reload: %v", s.main.level.Level())
	}
	if diff := cmp.Diff([]string{"local_workers"}, restart); diff != "" {
		t.Errorf("settings needing a restart (-want +got):\n%s", diff)
	}
	if st, _ := s.do("GET", "/api/workspaces/default/tasks/extra", ""); st != 200 {
		t.Errorf("task added before the reload: %d", st)
	}

	if err := os.WriteFile(path, []byte("listen: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if restart := s.main.Reload(context.Background()); restart != nil || s.main.level.Level() != slog.LevelDebug {
		t.Errorf("a broken config changed something: %v %v", restart, s.main.level.Level())
	}

	// Each reload is one audit entry by the system.
	var entries []api.AuditEntry
	if st := s.json("GET", "/api/audit?action=config.reload", "", &entries); st != 200 || len(entries) != 2 {
		t.Fatalf("reload entries: %d %+v", st, entries)
	}
	for i, want := range []map[string]any{
		{"signal": "SIGHUP", "config_error": true},
		{"signal": "SIGHUP", "restart_keys": []any{"local_workers"}},
	} {
		e := entries[i]
		if e.Actor != "system" || e.ActorType != audit.ActorSystem || e.Status != nil || e.Target != path {
			t.Errorf("entry %d: %+v", i, e)
		}
		if diff := cmp.Diff(want, e.Detail); diff != "" {
			t.Errorf("entry %d detail (-want +got):\n%s", i, diff)
		}
	}
}
