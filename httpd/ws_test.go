package httpd_test

import (
	"errors"
	"fmt"
	"net/http"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"runnel/httpd/httpdtest"
	"runnel/logstore"
)

const streamWorkflow = `
tasks:
  ticker:
    flow:
      tick:
        type: script
        script: |
          for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.1; done
  flood:
    flow:
      spew:
        type: script
        script: |
          for i in $(seq 1 40); do seq 1 4000; sleep 0.05; done
`

// readAll reads text frames until the server closes; it returns the data
// and the close error.
func readAll(t *testing.T, c *websocket.Conn) (string, *websocket.CloseError) {
	t.Helper()
	var b strings.Builder
	c.SetReadDeadline(time.Now().Add(jobstest.Patience()))
	for {
		typ, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return b.String(), ce
			}
			t.Fatalf("read: %v (after %d bytes)", err, b.Len())
		}
		if typ != websocket.TextMessage || !strings.HasSuffix(string(data), "\n") {
			t.Fatalf("frame type %d not ending in a newline: %q", typ, data)
		}
		b.Write(data)
	}
}

func dial(t *testing.T, s *httpdtest.Server, path string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.URL, "http") + path
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fileLog(t *testing.T, s *httpdtest.Server, id string) string {
	t.Helper()
	var l struct {
		Logs string `json:"logs"`
	}
	s.JSON("GET", "/api/jobs/"+id+"/logs", nil, &l)
	return l.Logs
}

func TestStreamBackfillLiveAndClose(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow})
	id := s.Execute("ticker", nil)
	// Two readers at once, connected while the job runs.
	var wg sync.WaitGroup
	got := make([]string, 2)
	codes := make([]*websocket.CloseError, 2)
	for i := range 2 {
		c := dial(t, s, "/api/jobs/"+id+"/logs/stream")
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], codes[i] = readAll(t, c)
		}()
	}
	wg.Wait()
	want := fileLog(t, s, id)
	for i := range 2 {
		if codes[i].Code != websocket.CloseNormalClosure || codes[i].Text != "job finished" {
			t.Errorf("reader %d closed with %v", i, codes[i])
		}
		if got[i] != want {
			t.Errorf("reader %d got %d bytes, file has %d:\n%s\n---\n%s", i, len(got[i]), len(want), got[i], want)
		}
	}
	if !strings.Contains(want, "line 6") || !strings.Contains(want, "Job completed") {
		t.Errorf("log incomplete:\n%s", want)
	}
	// A finished job: backfill, then close at once.
	c := dial(t, s, "/api/jobs/"+id+"/logs/stream")
	data, ce := readAll(t, c)
	if data != want || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("finished job stream: %d bytes, %v", len(data), ce)
	}
}

func TestStreamResumeByOffset(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow})
	id := s.Execute("ticker", nil)
	s.WaitJob(id)
	full := fileLog(t, s, id)
	lines := strings.SplitAfter(full, "\n")
	off := len(lines[0]) + len(lines[1]) + len(lines[2])
	c := dial(t, s, fmt.Sprintf("/api/jobs/%s/logs/stream?offset=%d", id, off))
	data, _ := readAll(t, c)
	if data != full[off:] {
		t.Errorf("resumed stream:\n%s\nwant:\n%s", data, full[off:])
	}
}

func TestStreamErrorsBeforeUpgrade(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow})
	id := s.Execute("ticker", nil)
	s.WaitJob(id)
	for path, want := range map[string]int{
		"/api/jobs/01900000-0000-7000-8000-000000000000/logs/stream": 404,
		"/api/jobs/zzz/logs/stream":                                  400,
		"/api/jobs/" + id + "/logs/stream?offset=-4":                 400,
		"/api/jobs/" + id + "/logs/stream?offset=3":                  400, // not a line start
	} {
		url := "ws" + strings.TrimPrefix(s.URL, "http") + path
		_, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil || resp == nil || resp.StatusCode != want {
			t.Errorf("%s: err %v resp %v, want %d", path, err, resp, want)
		}
	}
	// A browser page from another site may not read the stream.
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/jobs/" + id + "/logs/stream"
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin websocket: %v %v", err, resp)
	}
}

func TestStreamSlowReaderDropped(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow}, func(c *httpdtest.Config) {
		c.Logs = logstore.Options{FollowBuffer: 1 << 20}
		// The slow reader reads nothing until the job has ended, which
		// can take long on a busy machine: the server's blocked write
		// must outwait it so that the 1013 close frame is what it reads.
		// The flood (11 MB) exceeds what the sockets (≤ 4.2 MB unread)
		// and this queue hold together, so the queue always overflows.
		c.HTTP.StreamWriteWait = 2 * jobstest.Patience()
	})
	id := s.Execute("flood", nil)
	slow := dial(t, s, "/api/jobs/"+id+"/logs/stream")
	fast := dial(t, s, "/api/jobs/"+id+"/logs/stream")
	fastData, fastClose := readAll(t, fast)
	// The job finished for everyone while the slow reader read nothing.
	if j := s.WaitJob(id); j["status"] != "completed" {
		t.Fatalf("job: %v", j["status"])
	}
	full := fileLog(t, s, id)
	if fastData != full || fastClose.Code != websocket.CloseNormalClosure {
		t.Fatalf("fast reader got %d/%d bytes, close %v", len(fastData), len(full), fastClose)
	}
	slowData, slowClose := readAll(t, slow)
	if slowClose.Code != websocket.CloseTryAgainLater {
		t.Fatalf("slow reader closed with %v after %d bytes", slowClose, len(slowData))
	}
	want := fmt.Sprintf("slow reader; resume at offset %d", len(slowData))
	if slowClose.Text != want {
		t.Fatalf("close text %q, want %q", slowClose.Text, want)
	}
	// Resuming from the offset delivers the rest exactly.
	rest, ce := readAll(t, dial(t, s, fmt.Sprintf("/api/jobs/%s/logs/stream?offset=%d", id, len(slowData))))
	if slowData+rest != full || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("slow+resumed = %d bytes, file %d", len(slowData)+len(rest), len(full))
	}
}

func TestStreamPings(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow}, func(c *httpdtest.Config) {
		c.HTTP.PingInterval = 50 * time.Millisecond
	})
	id := s.Execute("ticker", nil)
	c := dial(t, s, "/api/jobs/"+id+"/logs/stream")
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// The handler runs while reading; read until the job ends.
	readAll(t, c)
	if len(pings) < 2 {
		t.Errorf("got %d pings in a ~0.6 s stream with a 50 ms ping interval", len(pings))
	}
}
