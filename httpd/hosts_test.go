package httpd_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"runnel/httpd"
	"runnel/httpd/httpdtest"
)

// hostRequest sends a request with the given Host header as a browser on a
// rebound name would: Origin of that host and Sec-Fetch-Site same-origin.
func hostRequest(t *testing.T, s *httpdtest.Server, host, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Origin", "http://"+host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Content-Type", "text/plain")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(data, &e)
	return resp.StatusCode, e.Error
}

// hostDial opens the log WebSocket with the given Host (and its Origin);
// it returns the handshake's status.
func hostDial(t *testing.T, s *httpdtest.Server, host, job string) int {
	t.Helper()
	h := http.Header{"Host": {host}, "Origin": {"http://" + host}}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr+"/api/jobs/"+job+"/logs/stream", h)
	if err == nil {
		c.Close()
	}
	if resp == nil {
		t.Fatalf("dial with Host %s: %v", host, err)
	}
	return resp.StatusCode
}

// TestDNSRebinding: with auth off, a page on a rebound name (Host
// evil.example, a matching Origin, Sec-Fetch-Site same-origin) can neither
// execute a task nor open the log WebSocket; loopback names and addresses,
// the listen host and allowed_hosts entries work; /hooks and /healthz
// answer any Host.
func TestDNSRebinding(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": workflow, ".workflows/hooks.yaml": hooksYAML},
		func(c *httpdtest.Config) {
			c.HTTP.AllowedHosts = []string{"runnel.lan", ".corp.example", "192.168.7.7"}
		})
	_, port, _ := net.SplitHostPort(s.Addr)
	job := s.Execute("hello-world", nil)
	s.WaitJob(job)
	const execute = "/api/workspaces/default/tasks/hello-world/execute"

	refused := []string{"evil.example", "evil.example:" + port, "runnel.lan.evil.example", "corp.example.evil", "10.1.2.3:" + port, "localhost.evil.example"}
	for _, host := range refused {
		t.Run("refused "+host, func(t *testing.T) {
			name := host
			if h, _, err := net.SplitHostPort(host); err == nil {
				name = h
			}
			want := "Host '" + name + "' is not allowed; add it to allowed_hosts in server-config.yaml"
			if st, msg := hostRequest(t, s, host, "POST", execute, `{"input":{}}`); st != 403 || msg != want {
				t.Errorf("execute: %d %q", st, msg)
			}
			if st, msg := hostRequest(t, s, host, "GET", "/api/jobs", ""); st != 403 || msg != want {
				t.Errorf("list jobs: %d %q", st, msg)
			}
			if st := hostDial(t, s, host, job); st != 403 {
				t.Errorf("WebSocket upgrade: %d", st)
			}
			if st, msg := hostRequest(t, s, host, "POST", "/worker/register", `{}`); st != 403 || msg != want {
				t.Errorf("worker route: %d %q", st, msg)
			}
			if st, msg := hostRequest(t, s, host, "POST", "/push/default", `{}`); st != 403 || msg != want {
				t.Errorf("push route: %d %q", st, msg)
			}
			// Open to the world: webhooks come from outside.
			if st, msg := hostRequest(t, s, host, "POST", "/hooks/open", `{}`); st != 200 {
				t.Errorf("webhook: %d %q", st, msg)
			}
			if st, _ := hostRequest(t, s, host, "GET", "/healthz", ""); st != 200 {
				t.Errorf("healthz: %d", st)
			}
		})
	}
	var jobs []map[string]any
	s.JSON("GET", "/api/jobs?source_type=api", nil, &jobs)
	if len(jobs) != 1 {
		t.Errorf("refused requests created jobs: %d api jobs", len(jobs))
	}

	allowed := []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "localhost.", "127.8.9.10:" + port,
		"[::1]:" + port, "runnel.lan:" + port, "Runnel.LAN", "corp.example", "build.corp.example:" + port, "192.168.7.7"}
	for _, host := range allowed {
		t.Run("allowed "+host, func(t *testing.T) {
			if st, msg := hostRequest(t, s, host, "POST", execute, `{"input":{}}`); st != 200 {
				t.Errorf("execute: %d %q", st, msg)
			}
			if st := hostDial(t, s, host, job); st != 101 {
				t.Errorf("WebSocket upgrade: %d", st)
			}
		})
	}
}

// TestHostPolicyListenAndAuth: with an unspecified listen address any IP
// address is served, names still need allowed_hosts; a named listen host
// and the auth.base_url host are allowed; with auth on there is no Host
// check (authentication decides).
func TestHostPolicyListenAndAuth(t *testing.T) {
	cases := []struct {
		name    string
		opts    func(*httpd.Options)
		host    string
		status  int
		message string
	}{
		{"any IP with 0.0.0.0", func(o *httpd.Options) { o.Listen = "0.0.0.0:8080" }, "10.1.2.3:8080", 200, ""},
		{"any IP with ::", func(o *httpd.Options) { o.Listen = "[::]:8080" }, "[fd00::5]:8080", 200, ""},
		{"names still checked with 0.0.0.0", func(o *httpd.Options) { o.Listen = "0.0.0.0:8080" }, "evil.example", 403,
			"Host 'evil.example' is not allowed; add it to allowed_hosts in server-config.yaml"},
		{"other IP with a specific listen address", func(o *httpd.Options) { o.Listen = "192.168.1.5:8080" }, "10.1.2.3", 403,
			"Host '10.1.2.3' is not allowed; add it to allowed_hosts in server-config.yaml"},
		{"the listen address", func(o *httpd.Options) { o.Listen = "192.168.1.5:8080" }, "192.168.1.5:8080", 200, ""},
		{"a named listen host", func(o *httpd.Options) { o.Listen = "buildbox:8080" }, "BuildBox:8080", 200, ""},
		{"base_url host", func(o *httpd.Options) { o.BaseURL = "https://runnel.example.com" }, "runnel.example.com", 200, ""},
		{"auth on: authentication decides", func(o *httpd.Options) {
			o.Auth = &httpd.AuthOptions{JWTSecret: testJWTSecret, RefreshSecret: testRefreshSecret}
		}, "evil.example", 401, "Authentication required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := httpdtest.New(t, map[string]string{".workflows/main.yaml": workflow}, func(cfg *httpdtest.Config) { c.opts(&cfg.HTTP) })
			st, msg := hostRequest(t, s, c.host, "GET", "/api/jobs", "")
			if st != c.status || msg != c.message {
				t.Errorf("GET /api/jobs with Host %s: %d %q, want %d %q", c.host, st, msg, c.status, c.message)
			}
		})
	}
}
