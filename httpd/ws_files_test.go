package httpd_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"runnel/httpd/httpdtest"
	"runnel/logstore"
)

// TestStreamWhileLogFilesRotate streams jobs that run at the same time
// while only one log file may be open: every append closes another job's
// file and reopens its own, and each stream still delivers its job's
// whole file and closes normally.
func TestStreamWhileLogFilesRotate(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow}, func(c *httpdtest.Config) {
		c.Logs = logstore.Options{MaxOpen: 1}
	})
	const n = 3
	var wg sync.WaitGroup
	ids := make([]string, n)
	got := make([]string, n)
	codes := make([]*websocket.CloseError, n)
	for i := range n {
		ids[i] = s.Execute("ticker", nil)
		c := dial(t, s, "/api/jobs/"+ids[i]+"/logs/stream")
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], codes[i] = readAll(t, c)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		want := fileLog(t, s, id)
		if codes[i].Code != websocket.CloseNormalClosure || codes[i].Text != "job finished" {
			t.Errorf("job %d: closed with %v", i, codes[i])
		}
		if got[i] != want {
			t.Errorf("job %d: stream has %d bytes, file %d:\n%s\n---\n%s", i, len(got[i]), len(want), got[i], want)
		}
		if !strings.Contains(want, "line 6") || !strings.Contains(want, "Job completed") {
			t.Errorf("job %d: log incomplete:\n%s", i, want)
		}
	}
}
