package httpd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runnel/jobs/jobstest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
)

// sseEvent is one server-sent event read off the wire.
type sseEvent struct {
	Type string
	Data map[string]any
}

// sseStream reads GET /api/events over real HTTP.
type sseStream struct {
	t      *testing.T
	events chan sseEvent
	resp   *http.Response
}

func openEvents(t *testing.T, s *httpdtest.Server, query string, header ...string) *sseStream {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+"/api/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	st := &sseStream{t: t, events: make(chan sseEvent, 1024), resp: resp}
	ready := make(chan struct{})
	go func() {
		defer close(st.events)
		rd := bufio.NewReader(resp.Body)
		var ev sseEvent
		first := true
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if first {
					first = false
					close(ready)
				}
				if ev.Type != "" {
					st.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event: "):
				ev.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data); err != nil {
					t.Errorf("event data %q: %v", line, err)
				}
			default:
				t.Errorf("unexpected SSE line %q", line)
			}
		}
	}()
	select {
	case <-ready: // the ": connected" comment: subscribed
	case <-time.After(jobstest.Patience()):
		t.Fatal("no connected comment")
	}
	t.Cleanup(func() { resp.Body.Close() })
	return st
}

// next returns the next event; ok is false when the stream ended.
func (st *sseStream) next() (sseEvent, bool) {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		return ev, ok
	case <-time.After(jobstest.Patience()):
		st.t.Fatalf("no event within %s", jobstest.Patience())
		return sseEvent{}, false
	}
}

const eventsWorkflow = `
tasks:
  two:
    flow:
      first: { type: script, script: "echo one" }
      second: { type: script, script: "echo two", depends_on: [first] }
  other:
    flow:
      only: { type: script, script: "true" }
`

func TestEventsJobAndStepsInOrder(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": eventsWorkflow})
	all := openEvents(t, s, "")
	id := s.Execute("two", nil)
	only := openEvents(t, s, "?job_id="+id+"&types=job")
	other := s.Execute("other", nil)
	s.WaitJob(other)

	// The unfiltered stream: every job and step transition of job id, in order.
	var got []string
	var lastJob map[string]any
	for len(got) == 0 || got[len(got)-1] != "job completed" {
		ev, ok := all.next()
		if !ok {
			t.Fatalf("stream ended after %v", got)
		}
		switch ev.Type {
		case "job":
			if ev.Data["job_id"] == id {
				got = append(got, "job "+ev.Data["status"].(string))
				lastJob = ev.Data
				if ev.Data["task_name"] != "two" || ev.Data["workspace"] != "default" {
					t.Errorf("job event: %v", ev.Data)
				}
			}
		case "step":
			if ev.Data["job_id"] == id {
				got = append(got, ev.Data["step_name"].(string)+" "+ev.Data["status"].(string))
			}
		}
	}
	want := []string{"job pending", "first ready", "first running", "job running", "first completed",
		"second ready", "second running", "second completed", "job completed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events of job (-want +got):\n%s", diff)
	}

	// The filtered stream: this job's job events only (it subscribed after
	// creation, so it starts at a later status).
	var statuses []string
	for len(statuses) == 0 || statuses[len(statuses)-1] != "completed" {
		ev, ok := only.next()
		if !ok {
			t.Fatalf("filtered stream ended after %v", statuses)
		}
		if ev.Type != "job" || ev.Data["job_id"] != id {
			t.Fatalf("filtered stream sent %s %v", ev.Type, ev.Data)
		}
		statuses = append(statuses, ev.Data["status"].(string))
	}

	// The job event is the list item of GET /api/jobs.
	var list []map[string]any
	s.JSON("GET", "/api/jobs?task_name=two&workspace=default", nil, &list)
	if len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	if diff := cmp.Diff(list[0], lastJob); diff != "" {
		t.Errorf("job event differs from the list item (-list +event):\n%s", diff)
	}
}

func TestEventsWorkspaceAndWorker(t *testing.T) {
	s := newWorkerServer(t, workerToken)
	ev := openEvents(t, s, "?types=workspace,worker")
	// until returns the first event cond accepts; any workspace load
	// attempt (the watcher may poke an unchanged tree) is skipped.
	until := func(what string, cond func(sseEvent) bool) sseEvent {
		t.Helper()
		for {
			e, ok := ev.next()
			if !ok {
				t.Fatalf("stream ended before %s", what)
			}
			if cond(e) {
				return e
			}
			if e.Type != "workspace" || e.Data["error"] != nil {
				t.Fatalf("unexpected event before %s: %s %v", what, e.Type, e.Data)
			}
		}
	}

	id := register(t, s, "gpu-box", "gpu")
	e := until("worker", func(e sseEvent) bool { return e.Type == "worker" })
	if e.Data["worker_id"] != id || e.Data["name"] != "gpu-box" || e.Data["status"] != "active" {
		t.Errorf("worker event: %v", e.Data)
	}

	// A rejected revision: the workspace event carries the error lines.
	s.Write(map[string]string{".workflows/main.yaml": "tasks: [\n"})
	e = until("error", func(e sseEvent) bool { return e.Type == "workspace" && e.Data["error"] != nil })
	if e.Data["name"] != "default" || !strings.Contains(e.Data["error"].(string), "main.yaml:") {
		t.Errorf("workspace event: %v", e.Data)
	}
	if e.Data["revision"] == nil {
		t.Errorf("the last good revision should still serve: %v", e.Data)
	}
}

func TestEventsBadRequests(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": eventsWorkflow})
	for _, c := range []struct{ query, want string }{
		{"?job_id=nope", "Invalid job ID"},
		{"?types=job,log", "Invalid types: 'log' (job, step, workspace, worker)"},
	} {
		var out map[string]string
		if st := s.JSON("GET", "/api/events"+c.query, nil, &out); st != 400 || out["error"] != c.want {
			t.Errorf("%s: %d %v, want 400 %q", c.query, st, out, c.want)
		}
	}
}

func TestEventsNeedAuthAndEndOnShutdown(t *testing.T) {
	e := startAuthServer(t, withAuth)
	e.do(t, "GET", "/api/events", "", nil).want(t, "no token", http.StatusUnauthorized, "Authentication required")
	p := e.login(t, adminEmail, adminPassword)

	req, err := http.NewRequest("GET", e.srv.URL+"/api/events?types=job", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	resp, err := e.srv.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events with a token: %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != ": connected\n" {
		t.Fatalf("first line %q %v", line, err)
	}
	id := e.runJob(t, p.AccessToken, "quick")
	var sawJob bool
	for !sawJob {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		sawJob = strings.HasPrefix(line, "data: ") && strings.Contains(line, id)
	}

	// Shutdown ends the stream (the client sees EOF).
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rd)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go e.srv.HTTP.Shutdown(ctx)
	select {
	case <-done:
	case <-time.After(jobstest.Patience()):
		t.Fatal("event stream still open after shutdown")
	}
}

func TestEventsMaskSecretsInStepErrors(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
secrets:
  db:
    password: hunter2-very-secret
tasks:
  leaky:
    input:
      token: { type: string, secret: true }
    flow:
      fail:
        type: script
        input: { tok: "{{ input.token }}" }
        script: "echo 'bad hunter2-very-secret {{ input.tok }}' >&2; exit 1"
      slow: { type: script, script: "sleep 1" }
`})
	ev := openEvents(t, s, "?types=step")
	id := s.Execute("leaky", map[string]any{"token": "tok-abcdef-123"})
	s.WaitJob(id)
	for {
		e, _ := ev.next()
		msg, _ := e.Data["error_message"].(string)
		for _, secret := range []string{"hunter2-very-secret", "tok-abcdef-123"} {
			if strings.Contains(msg, secret) {
				t.Fatalf("step event shows %q: %v", secret, e.Data)
			}
		}
		if e.Data["step_name"] == "fail" && e.Data["status"] == "failed" {
			if !strings.Contains(msg, "bad ••••••") {
				t.Errorf("error message not masked as the API does: %q", msg)
			}
			return
		}
	}
}
