package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/httpd/client"
	"runnel/httpd/httpdtest"
	"runnel/logstore"
)

const followWorkflow = `
tasks:
  ticker:
    flow:
      tick:
        type: shell
        cmd: 'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.1; done'
  flood:
    flow:
      spew:
        type: shell
        cmd: 'for i in $(seq 1 40); do seq 1 4000; sleep 0.05; done'
`

// collector gathers Follow's chunks and checks their offsets.
type collector struct {
	t    *testing.T
	mu   sync.Mutex
	data bytes.Buffer
	// start is the offset Follow started from.
	start int64
	// onChunk, when set, runs for each chunk (after it is recorded).
	onChunk func(n int)
	n       int
}

func (c *collector) fn(chunk []byte, next int64) error {
	c.mu.Lock()
	c.data.Write(chunk)
	c.n++
	n, total := c.n, c.start+int64(c.data.Len())
	c.mu.Unlock()
	if next != total {
		c.t.Errorf("chunk %d: next offset %d, want %d", n, next, total)
	}
	if !bytes.HasSuffix(chunk, []byte("\n")) {
		c.t.Errorf("chunk %d does not end at a line end: %q", n, chunk)
	}
	if c.onChunk != nil {
		c.onChunk(n)
	}
	return nil
}

func fileLog(t *testing.T, s *httpdtest.Server, id string) string {
	t.Helper()
	data, _, err := s.Logs.Read(id, 0, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// retries records Follow's OnRetry reports.
type retries struct {
	mu   sync.Mutex
	errs []error
}

func (r *retries) add(err error, _ time.Duration) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *retries) list() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func TestFollowLiveAndResume(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": followWorkflow})
	c := client.New(s.URL, "")
	ctx := testCtx(t)
	id := s.Execute("ticker", nil)

	col := &collector{t: t}
	end, err := c.Follow(ctx, id, client.FollowOptions{}, col.fn)
	if err != nil {
		t.Fatal(err)
	}
	full := fileLog(t, s, id)
	if col.data.String() != full || end != int64(len(full)) {
		t.Fatalf("followed %d bytes to offset %d, file has %d", col.data.Len(), end, len(full))
	}
	if col.n < 2 {
		t.Errorf("a running job's log came in %d chunk(s); want it live", col.n)
	}
	if s.WaitJob(id)["status"] != "completed" {
		t.Fatal("job did not complete")
	}

	// Resuming a finished job at a line start gives exactly the rest.
	mid := int64(strings.Index(full, "line 4"))
	mid = int64(strings.LastIndexByte(full[:mid], '\n') + 1)
	rest := &collector{t: t, start: mid}
	if _, err := c.Follow(ctx, id, client.FollowOptions{Offset: mid}, rest.fn); err != nil {
		t.Fatal(err)
	}
	if full[:mid]+rest.data.String() != full {
		t.Errorf("resumed at %d: got %q", mid, rest.data.String())
	}
}

func TestFollowSlowReaderResumes(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": followWorkflow}, func(c *httpdtest.Config) {
		c.Logs = logstore.Options{FollowBuffer: 1 << 20}
		// The slow reader reads nothing until the job has ended, which
		// can take long on a busy machine: the server's blocked write
		// must outwait it so that the 1013 close frame is what it reads.
		// The flood (11 MB) exceeds what the sockets (≤ 4.2 MB unread)
		// and this queue hold together, so the queue always overflows.
		c.HTTP.StreamWriteWait = 2 * jobstest.Patience()
	})
	c := client.New(s.URL, "")
	ctx := testCtx(t)
	id := s.Execute("flood", nil)

	// The first chunk blocks the reader until the job has finished, so the
	// server's queue overflows and it closes 1013.
	col := &collector{t: t}
	col.onChunk = func(n int) {
		if n == 1 {
			s.WaitJob(id)
		}
	}
	var rs retries
	if _, err := c.Follow(ctx, id, client.FollowOptions{OnRetry: rs.add}, col.fn); err != nil {
		t.Fatal(err)
	}
	if full := fileLog(t, s, id); col.data.String() != full {
		t.Fatalf("followed %d bytes, file has %d (lines lost or repeated)", col.data.Len(), len(full))
	}
	var slow *client.SlowReaderError
	if errs := rs.list(); len(errs) == 0 || !errors.As(errs[0], &slow) || slow.Offset <= 0 {
		t.Fatalf("retries %v, want a slow-reader close with its offset first", errs)
	}
}

// proxy forwards TCP connections to target and can cut them all.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// cut closes every proxied connection (new ones are still accepted).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestFollowDroppedConnection(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": followWorkflow})
	p := newProxy(t, strings.TrimPrefix(s.URL, "http://"))
	c := client.New("http://"+p.ln.Addr().String(), "")
	ctx := testCtx(t)
	id := s.Execute("ticker", nil)

	col := &collector{t: t}
	col.onChunk = func(n int) {
		if n == 2 {
			p.cut()
		}
	}
	var rs retries
	if _, err := c.Follow(ctx, id, client.FollowOptions{OnRetry: rs.add, MinBackoff: 10 * time.Millisecond}, col.fn); err != nil {
		t.Fatal(err)
	}
	if full := fileLog(t, s, id); col.data.String() != full {
		t.Fatalf("followed:\n%s\nfile:\n%s", col.data.String(), full)
	}
	var ce *client.ConnError
	if errs := rs.list(); len(errs) == 0 || !errors.As(errs[0], &ce) {
		t.Fatalf("retries %v, want a connection error first", errs)
	}
}

func TestFollowRetriesUntilServerAnswers(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": followWorkflow})
	id := s.Execute("ticker", nil)
	s.WaitJob(id)

	// Nothing listens on the address at first; Follow keeps trying until
	// the proxy to the server opens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := client.New("http://"+addr, "")
	var rs retries
	opened := make(chan error, 1)
	onRetry := func(err error, d time.Duration) {
		rs.add(err, d)
		if len(rs.list()) == 2 {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				opened <- err
				return
			}
			p := &proxy{ln: ln, target: strings.TrimPrefix(s.URL, "http://")}
			go p.serve()
			t.Cleanup(func() { ln.Close(); p.cut() })
			opened <- nil
		}
	}
	col := &collector{t: t}
	if _, err := c.Follow(testCtx(t), id, client.FollowOptions{OnRetry: onRetry, MinBackoff: 10 * time.Millisecond}, col.fn); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	if full := fileLog(t, s, id); col.data.String() != full {
		t.Fatalf("followed %d bytes, file has %d", col.data.Len(), len(full))
	}
}

func TestFollowRefusals(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": followWorkflow})
	c := client.New(s.URL, "")
	ctx := testCtx(t)
	noop := func([]byte, int64) error { return nil }
	tests := []struct {
		name, id string
		opts     client.FollowOptions
		status   int
		msg      string
	}{
		{"unknown job", "01900000-0000-7000-8000-000000000000", client.FollowOptions{}, http.StatusNotFound, "Job not found"},
		{"bad job id", "nope", client.FollowOptions{}, http.StatusBadRequest, "Invalid job ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Follow(ctx, tt.id, tt.opts, noop)
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Message != tt.msg {
				t.Fatalf("err = %v, want %d %q", err, tt.status, tt.msg)
			}
		})
	}

	t.Run("callback error", func(t *testing.T) {
		id := s.Execute("ticker", nil)
		stop := errors.New("stop")
		_, err := c.Follow(ctx, id, client.FollowOptions{}, func([]byte, int64) error { return stop })
		if !errors.Is(err, stop) {
			t.Fatalf("err = %v, want the callback's", err)
		}
	})

	t.Run("context", func(t *testing.T) {
		id := s.Execute("ticker", nil)
		cctx, cancel := context.WithCancel(ctx)
		_, err := c.Follow(cctx, id, client.FollowOptions{}, func([]byte, int64) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}
