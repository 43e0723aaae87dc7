package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestHugeLogReadsStayBounded: three clients reading a 1 GiB job log in
// full at once (?full=true) get every byte while the server's peak memory
// stays under 100 MiB; a tail read of the same log is quick and small.
func TestHugeLogReadsStayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 4 GiB; not with -short")
	}
	s := startServer(t, files, serverConfig{LocalWorkers: 1, LogLevel: "info"})
	id := s.execute("short", nil)
	if j := s.waitJob(id); j.Status != "completed" {
		t.Fatalf("job %s", j.Status)
	}
	// Grow the finished job's log to 1 GiB of ordinary lines.
	path := filepath.Join(filepath.Dir(s.cfgPath), "data", "logs", id+".jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	text := strings.Repeat("x", 60)
	for n := 0; n < 1<<30; {
		k, _ := fmt.Fprintf(w, `{"ts":"2026-12-06T12:00:00.000Z","stream":"stdout","step":"say","line":"%09d %s"}`+"\n", n, text)
		n += k
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	got := make([]int64, 3)
	errs := make([]error, 3)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(s.url + "/api/jobs/" + id + "/logs?full=true")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			got[i], errs[i] = io.Copy(io.Discard, resp.Body)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != fi.Size() {
			t.Fatalf("client %d read %d of %d bytes: %v", i, got[i], fi.Size(), errs[i])
		}
	}
	var tail struct {
		Logs string `json:"logs"`
	}
	if err := s.api.Do(t.Context(), "GET", "/api/jobs/"+id+"/logs?tail_bytes=65536", nil, &tail); err != nil || !strings.HasSuffix(tail.Logs, "\n") || len(tail.Logs) > 65536 {
		t.Fatalf("tail: %d bytes, %v", len(tail.Logs), err)
	}
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("server peak RSS %d MiB after three full reads of %d MiB", peak>>20, fi.Size()>>20)
	if peak > 100<<20 {
		t.Errorf("server peak RSS %d MiB, want < 100 MiB", peak>>20)
	}
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
