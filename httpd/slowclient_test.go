package httpd_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/httpd"
	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
)

// rawConn is a client connection written byte by byte, as a slow or
// hostile client would.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// request sends a whole request (headers and body) and reads the answer
// (10 s at most): its status and decoded JSON body.
func (rc *rawConn) request(method, path, body string, header ...string) (int, map[string]any) {
	rc.t.Helper()
	rc.send(method, path, len(body), header...)
	if _, err := io.WriteString(rc.c, body); err != nil {
		rc.t.Fatalf("%s %s: %v", method, path, err)
	}
	return rc.answer(method + " " + path)
}

// send writes the request line and headers, announcing contentLength
// bytes of body.
func (rc *rawConn) send(method, path string, contentLength int, header ...string) {
	rc.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, rc.c.RemoteAddr(), contentLength)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		rc.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (rc *rawConn) answer(what string) (int, map[string]any) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer rc.c.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("%s: read answer: %v", what, err)
	}
	defer resp.Body.Close()
	var out any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		rc.t.Fatalf("%s: %d %q: %v", what, resp.StatusCode, data, err)
	}
	m, _ := out.(map[string]any)
	return resp.StatusCode, m
}

// closedByServer waits (up to d) for the server to close the connection,
// dripping one byte a second meanwhile if drip is set.
func (rc *rawConn) closedByServer(d time.Duration, drip bool) error {
	end := time.Now().Add(d)
	buf := make([]byte, 4096)
	for time.Now().Before(end) {
		rc.c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := rc.br.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue // an answer (408, 503); the close follows
		case errors.As(err, &ne) && ne.Timeout():
		default:
			return nil // EOF or reset: closed
		}
		if drip {
			if _, err := rc.c.Write([]byte("x")); err != nil {
				return nil
			}
		}
	}
	return fmt.Errorf("still open after %s", d)
}

// slowClientServer runs the stack with built-in workers and the worker
// protocol on, adjusted by opts.
func slowClientServer(t *testing.T, opts func(*httpd.Options)) *httpdtest.Server {
	t.Helper()
	return httpdtest.New(t, map[string]string{".workflows/main.yaml": workerWorkflow, "bin/run.sh": "#!/bin/sh\necho training\n"}, func(c *httpdtest.Config) {
		c.Engine.LocalWorkers = 2
		c.HTTP.WorkerToken = workerToken
		opts(&c.HTTP)
	})
}

// TestDrippingClients: 300 connections that send their headers or body at
// one byte a second are cut by the header and body deadlines, and
// meanwhile a normal client still runs a task, and the worker protocol and
// /healthz answer (SPEC §11 server hygiene).
func TestDrippingClients(t *testing.T) {
	s := slowClientServer(t, func(o *httpd.Options) {
		o.HeaderTimeout, o.BodyTimeout = 2*time.Second, 2*time.Second
		o.MaxConnections = 100
	})
	const drippers = 300
	start := time.Now()
	var wg, sent sync.WaitGroup
	errs := make(chan error, drippers)
	for i := range drippers {
		wg.Add(1)
		sent.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				sent.Done()
				errs <- err
				return
			}
			defer c.Close()
			rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
			if i%2 == 0 {
				// Whole headers, then a body announced at 1 MiB.
				_, err = fmt.Fprintf(c, "POST /api/workspaces/default/tasks/hello/execute HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\n\r\n{", s.Addr)
			} else {
				// Headers that never end.
				_, err = fmt.Fprintf(c, "GET /api/workspaces HTTP/1.1\r\nHost: %s\r\nX-Slow: ", s.Addr)
			}
			sent.Done()
			if err != nil {
				errs <- nil // refused while busy: nothing held
				return
			}
			if err := rc.closedByServer(30*time.Second, true); err != nil {
				errs <- fmt.Errorf("dripper %d: %w", i, err)
			}
		}()
	}

	// Once every dripper is connected and has started, a normal client
	// runs a task to its end; workers and health checks answer.
	sent.Wait()
	s.Client.Timeout = 30 * time.Second
	job := s.Execute("hello", nil)
	t.Logf("execute answered %s after the drippers started", time.Since(start).Round(time.Millisecond))
	if st := s.JSON("GET", "/healthz", nil, nil); st != 200 {
		t.Errorf("healthz: %d", st)
	}
	if st, out := wdo(t, s, "POST", "/worker/register", map[string]any{"name": "w", "tags": []string{"shell"}}); st != 200 {
		t.Errorf("worker register: %d %v", st, out)
	}
	if j := s.WaitJob(job); j["status"] != "completed" {
		t.Errorf("job during the drip: %v", j["status"])
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d drippers closed by the server in %s", drippers, time.Since(start).Round(time.Millisecond))
}

// TestHeaderLimit: a header block over 64 KiB is refused (431) without
// reaching a handler.
func TestHeaderLimit(t *testing.T) {
	s := slowClientServer(t, func(*httpd.Options) {})
	rc := dialRaw(t, s.Addr)
	rc.send("GET", "/healthz", 0, "X-Big", strings.Repeat("a", 100<<10))
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %d", resp.StatusCode)
	}
	if st, _ := dialRaw(t, s.Addr).request("GET", "/healthz", "", "X-Fine", strings.Repeat("a", 16<<10)); st != 200 {
		t.Errorf("16 KiB of headers: %d", st)
	}
}

// TestConnectionReserve: when the ordinary connections are all taken,
// /healthz and /worker/* still get in on the reserve, other routes on it
// are answered 503 and closed, and a reserve connection moves to an
// ordinary slot once one is free.
func TestConnectionReserve(t *testing.T) {
	s := slowClientServer(t, func(o *httpd.Options) { o.MaxConnections, o.ReserveConnections = 3, 2 })
	// Three idle keep-alive connections hold the ordinary slots.
	var ordinary []*rawConn
	for range 3 {
		rc := dialRaw(t, s.Addr)
		if st, _ := rc.request("GET", "/api/workspaces", ""); st != 200 {
			t.Fatalf("ordinary connection: %d", st)
		}
		ordinary = append(ordinary, rc)
	}
	// The reserve: health checks and workers get in, the API does not.
	health := dialRaw(t, s.Addr)
	if st, _ := health.request("GET", "/healthz", ""); st != 200 {
		t.Errorf("healthz on the reserve: %d", st)
	}
	busy := dialRaw(t, s.Addr)
	st, out := busy.request("GET", "/api/workspaces", "")
	if st != 503 || out["error"] != "Server is busy: too many connections; retry later" {
		t.Errorf("API on the reserve: %d %v", st, out)
	}
	if err := busy.closedByServer(10*time.Second, false); err != nil {
		t.Errorf("busy connection: %v", err)
	}
	worker := dialRaw(t, s.Addr)
	if st, out := worker.request("POST", "/worker/register", `{"name":"w","tags":["shell"]}`, "Authorization", "Bearer "+workerToken); st != 200 {
		t.Errorf("worker on the reserve: %d %v", st, out)
	}
	// Every slot is taken: a new connection waits in the accept queue
	// and is served when one closes.
	waiting := dialRaw(t, s.Addr)
	waiting.send("GET", "/healthz", 0)
	ordinary[0].c.Close()
	if st, _ := waiting.answer("queued healthz"); st != 200 {
		t.Errorf("queued connection: %d", st)
	}
	// A reserve connection asking for the API moves to a free ordinary
	// slot (the closed one's, once the server has seen the close).
	ordinary[1].c.Close()
	jobstest.Eventually(t, "the reserve connection to reach the API", func() bool {
		st, _ := health.request("GET", "/api/workspaces", "")
		if st == 200 {
			return true
		}
		if st != 503 {
			t.Fatalf("reserve connection after a slot came free: %d", st)
		}
		health = dialRaw(t, s.Addr) // a 503 closes the connection
		return false
	})
}

// TestHookSecretBeforeBody: a webhook with a wrong ?secret= (or no proof at
// all) is refused as soon as its headers arrive, without waiting for the
// body it announces; a good secret still reads it.
func TestHookSecretBeforeBody(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/hooks.yaml": hooksYAML}, func(c *httpdtest.Config) {
		c.HTTP.BodyTimeout = 10 * time.Minute // an answer can only come from the secret check
	})
	cases := []struct {
		name, path string
		header     []string
	}{
		{"wrong query secret", "/hooks/guarded?secret=nope", nil},
		{"wrong bearer", "/hooks/guarded", []string{"Authorization", "bearer nope"}},
		{"no proof", "/hooks/guarded", nil},
		{"status route", "/hooks/guarded/jobs/01900000-0000-7000-8000-000000000000?secret=nope", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, s.Addr)
			method := "POST"
			if strings.Contains(c.path, "/jobs/") {
				method = "GET"
			}
			rc.send(method, c.path, 1<<30, c.header...)
			st, out := rc.answer(c.path)
			if st != 401 || out["error"] != "Invalid or missing secret" {
				t.Errorf("%d %v", st, out)
			}
			if err := rc.closedByServer(10*time.Second, false); err != nil {
				t.Errorf("connection with an unread body: %v", err)
			}
		})
	}
	// A good secret: the body is read and the job started.
	rc := dialRaw(t, s.Addr)
	if st, out := rc.request("POST", "/hooks/guarded?secret="+hookSecret, `{"a":1}`); st != 200 || out["job_id"] == nil {
		t.Errorf("good secret: %d %v", st, out)
	}
}

// TestBodyTimeout: a body that stops arriving is answered 408 once the
// body deadline passes, and the deadline does not cut a request whose body
// has arrived (a claim long-poll outlives it).
func TestBodyTimeout(t *testing.T) {
	s := slowClientServer(t, func(o *httpd.Options) { o.BodyTimeout = time.Second })
	rc := dialRaw(t, s.Addr)
	rc.send("POST", "/api/workspaces/default/tasks/hello/execute", 100)
	io.WriteString(rc.c, `{"input":`)
	st, out := rc.answer("stalled body")
	if st != http.StatusRequestTimeout || out["error"] != "Request body not received in time" {
		t.Errorf("stalled body: %d %v", st, out)
	}
	// A long-poll of 3 s with its body sent at once: answered "no work"
	// after the wait, not cut after 1 s.
	id := register(t, s, "w", "shell")
	began := time.Now()
	if c := claim(t, s, id, 3); c["job_id"] != nil {
		t.Errorf("claim: %v", c)
	}
	if d := time.Since(began); d < 3*time.Second {
		t.Errorf("the long-poll ended after %s, before its wait", d)
	}

	// A sync webhook with a body waits its timeout_secs (1 s), well past a
	// body deadline of 300 ms.
	hs := newHookServer(t, func(c *httpdtest.Config) { c.HTTP.BodyTimeout = 300 * time.Millisecond })
	began = time.Now()
	var got map[string]any
	if st := hs.JSON("POST", "/hooks/sync-slow", `{"x": 1}`, &got, "Content-Type", "application/json"); st != 202 || got["status"] != "running" {
		t.Errorf("sync webhook: %d %v", st, got)
	}
	if d := time.Since(began); d < time.Second {
		t.Errorf("the sync webhook answered after %s, before its timeout_secs", d)
	}
	hs.JSON("POST", "/api/jobs/"+got["job_id"].(string)+"/cancel", nil, nil)
}
