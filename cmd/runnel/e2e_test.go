package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runnel/cmd/runnel/config"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"runnel/gitsync/gittest"
)

// e2eServer is an in-process `runnel serve` (the real Main wiring).
type e2eServer struct {
	t    *testing.T
	main *Main
	url  string
}

func startMain(t *testing.T, cfg config.Server) *e2eServer {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	m := NewMain(cfg, env{stdout: io.Discard, stderr: io.Discard, environ: os.Environ()})
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := &e2eServer{t: t, main: m, url: "http://" + m.Addr()}
	return s
}

func (s *e2eServer) do(method, path string, body string, header ...string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (s *e2eServer) json(method, path, body string, out any) int {
	s.t.Helper()
	st, data := s.do(method, path, body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %d %q: %v", method, path, st, data, err)
		}
	}
	return st
}

type wsItem struct {
	Name          string  `json:"name"`
	Revision      *string `json:"revision"`
	TasksCount    int     `json:"tasks_count"`
	Error         string  `json:"error"`
	ErrorRevision *string `json:"error_revision"`
}

func (s *e2eServer) workspace() wsItem {
	s.t.Helper()
	var ws []wsItem
	s.json("GET", "/api/workspaces", "", &ws)
	if len(ws) != 1 {
		s.t.Fatalf("workspaces: %+v", ws)
	}
	return ws[0]
}

func TestServeEmbeddedDefault(t *testing.T) {
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })
	var tasks []map[string]any
	s.json("GET", "/api/workspaces/default/tasks", "", &tasks)
	found := false
	for _, task := range tasks {
		found = found || task["name"] == "hello-world"
	}
	if !found {
		t.Fatalf("hello-world not served: %v", tasks)
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	s.json("POST", "/api/workspaces/default/tasks/hello-world/execute", `{"input":{"name":"CI"}}`, &out)
	var j map[string]any
	s.json("GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", "", &j)
	if j["status"] != "completed" {
		t.Fatalf("hello-world: %v", j)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "example-workspace", ".workflows")); err != nil {
		t.Errorf("examples not written with their .workflows directory: %v", err)
	}
}

const e2eTask = `
tasks:
  hello:
    flow:
      greet:
        type: script
        script: |
          echo "hello from git"
          echo 'OUTPUT: {"ok": true}'
`

func TestGitWorkspaceEndToEnd(t *testing.T) {
	up := gittest.New(t)
	first := up.Commit(t, "first", map[string]string{".workflows/hello.yaml": e2eTask})
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Path = "test"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 3600, WebhookSecret: "push-secret"}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })
	if w := s.workspace(); *w.Revision != first || w.TasksCount != 1 {
		t.Fatalf("first revision: %+v", w)
	}

	// Push a new task, refresh, see it.
	second := up.Commit(t, "add deploy", map[string]string{".workflows/deploy.yaml": "tasks:\n  deploy:\n    flow:\n      s: { type: script, script: \"echo deploying\" }\n"})
	var ref map[string]any
	if st := s.json("POST", "/api/workspaces/ops/refresh", "", &ref); st != 200 || ref["revision"] != second || ref["changed"] != true {
		t.Fatalf("refresh: %d %v", st, ref)
	}
	if st, _ := s.do("GET", "/api/workspaces/ops/tasks/deploy", ""); st != 200 {
		t.Fatalf("new task not served: %d", st)
	}

	// Run a task and tail its log over the WebSocket until the server closes.
	var out struct {
		JobID string `json:"job_id"`
	}
	s.json("POST", "/api/workspaces/ops/tasks/hello/execute", "", &out)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/api/jobs/"+out.JobID+"/logs/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	c.SetReadDeadline(time.Now().Add(jobstest.Patience()))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
				t.Fatalf("stream ended with %v", err)
			}
			break
		}
		streamed.Write(data)
	}
	c.Close()
	if !strings.Contains(streamed.String(), "hello from git") || !strings.Contains(streamed.String(), "Job completed") {
		t.Errorf("streamed log:\n%s", streamed.String())
	}

	// A broken push is rejected; the last good revision keeps serving.
	broken := up.Commit(t, "oops", map[string]string{".workflows/deploy.yaml": "tasks:\n  deploy:\n    flow:\n      s: { type: script, script: ok, depend_on: [x] }\n"})
	var e map[string]any
	st := s.json("POST", "/api/workspaces/ops/refresh", "", &e)
	wantMsg := "Revision " + broken + " rejected: .workflows/deploy.yaml:4:"
	if st != 422 || !strings.HasPrefix(fmt.Sprint(e["error"]), wantMsg) {
		t.Fatalf("broken refresh: %d %v (want prefix %q)", st, e, wantMsg)
	}
	w := s.workspace()
	if *w.Revision != second || w.ErrorRevision == nil || *w.ErrorRevision != broken || !strings.Contains(w.Error, `unknown field "depend_on"`) {
		t.Fatalf("after broken push: %+v", w)
	}
	if st, _ := s.do("GET", "/api/workspaces/ops/tasks/deploy", ""); st != 200 {
		t.Fatalf("last good revision stopped serving: %d", st)
	}

	// A fix clears the error.
	fixed := up.Commit(t, "fix", map[string]string{".workflows/deploy.yaml": "tasks:\n  deploy:\n    flow:\n      s: { type: script, script: ok }\n"})
	s.json("POST", "/api/workspaces/ops/refresh", "", &ref)
	if w := s.workspace(); *w.Revision != fixed || w.Error != "" || w.ErrorRevision != nil {
		t.Fatalf("after fix: %+v", w)
	}

	// Push webhooks: GitHub, Gitea and GitLab proofs; wrong branch ignored.
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte("push-secret"))
	mac.Write([]byte(body))
	sig := hex.EncodeToString(mac.Sum(nil))
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		want   string
	}{
		{"github", body, []string{"X-Hub-Signature-256", "sha256=" + sig}, 202, `{"workspace":"ops","accepted":true}`},
		{"gitea", body, []string{"X-Gitea-Signature", sig}, 202, `{"workspace":"ops","accepted":true}`},
		{"gitlab", body, []string{"X-Gitlab-Token", "push-secret"}, 202, `{"workspace":"ops","accepted":true}`},
		{"invalid", body, []string{"X-Hub-Signature-256", "sha256=" + strings.Repeat("0", 64)}, 401, `{"error":"Invalid or missing signature"}`},
		{"wrong gitlab token", body, []string{"X-Gitlab-Token", "nope"}, 401, `{"error":"Invalid or missing signature"}`},
		{"missing", body, nil, 401, `{"error":"Invalid or missing signature"}`},
		{"bearer", body, []string{"Authorization", "Bearer push-secret"}, 202, `{"workspace":"ops","accepted":true}`},
		{"bearer in lower case", body, []string{"Authorization", "bearer push-secret"}, 202, `{"workspace":"ops","accepted":true}`},
		{"wrong bearer", body, []string{"Authorization", "Bearer nope"}, 401, `{"error":"Invalid or missing signature"}`},
		{"other branch", `{"ref":"refs/heads/dev"}`, []string{"X-Gitlab-Token", "push-secret"}, 200, `{"workspace":"ops","accepted":false}`},
		{"too large", strings.Repeat("x", 1<<20+1), []string{"X-Gitlab-Token", "push-secret"}, 413, `{"error":"Request body too large"}`},
	}
	for _, c := range []struct{ query, want string }{
		{"?secret=push-secret", `{"workspace":"ops","accepted":true}`},
		{"?secret=nope", `{"error":"Invalid or missing signature"}`},
	} {
		if st, data := s.do("POST", "/push/ops"+c.query, body); strings.TrimSpace(string(data)) != c.want {
			t.Errorf("push %s: %d %s, want %s", c.query, st, data, c.want)
		}
	}
	for _, c := range cases {
		st, data := s.do("POST", "/push/ops", c.body, c.header...)
		if st != c.status || strings.TrimSpace(string(data)) != c.want {
			t.Errorf("push %s: %d %s, want %d %s", c.name, st, data, c.status, c.want)
		}
	}
	// The README's curl line for git servers that sign nothing, as written.
	var pushLine string
	for _, c := range readmeCommands(t, "Triggers, webhooks and hooks") {
		if strings.Contains(c, "/push/") {
			pushLine = strings.ReplaceAll(c, "localhost:8080", strings.TrimPrefix(s.url, "http://"))
		}
	}
	if pushLine == "" {
		t.Fatal("the README shows no curl line for /push/<workspace>")
	}
	curl := exec.Command("sh", "-c", pushLine)
	curl.Env = []string{"PATH=" + os.Getenv("PATH"), "WEBHOOK_SECRET=push-secret"}
	if out, err := curl.Output(); err != nil || strings.TrimSpace(string(out)) != `{"workspace":"ops","accepted":true}` {
		t.Errorf("README push line %q: %v %s", pushLine, err, out)
	}
	// An accepted push starts a refresh in the background.
	pushed := up.Commit(t, "via hook", map[string]string{"README": "x"})
	if st, _ := s.do("POST", "/push/ops", body, "X-Gitlab-Token", "push-secret"); st != 202 {
		t.Fatal(st)
	}
	jobstest.Eventually(t, "push refresh", func() bool { return *s.workspace().Revision == pushed })
}

func TestGitPollPicksUpPush(t *testing.T) {
	up := gittest.New(t)
	up.Commit(t, "first", map[string]string{".workflows/hello.yaml": e2eTask})
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Path = "test"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 1}}
	s := startMain(t, cfg)
	jobstest.Eventually(t, "first load", func() bool { return s.workspace().Revision != nil })
	next := up.Commit(t, "second", map[string]string{".workflows/more.yaml": "tasks:\n  more:\n    flow:\n      s: { type: script, script: ok }\n"})
	jobstest.Eventually(t, "poll to see the new commit", func() bool { return *s.workspace().Revision == next })
	if st, _ := s.do("GET", "/api/workspaces/ops/tasks/more", ""); st != 200 {
		t.Fatalf("polled task: %d", st)
	}
}

// runnelBinary builds the runnel binary once per test run.
var runnelBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "runnel-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runnel")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveProcess starts `runnel serve --config cfgPath` and waits for health.
func serveProcess(t *testing.T, cfgPath, addr string) *exec.Cmd {
	t.Helper()
	bin, err := runnelBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	jobstest.Eventually(t, "server health", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return cmd
}

func TestKilledServerLosesNothing(t *testing.T) {
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	os.MkdirAll(filepath.Join(ws, ".workflows"), 0o755)
	os.WriteFile(filepath.Join(ws, ".workflows", "t.yaml"), []byte(`
tasks:
  t:
    flow:
      long:
        type: script
        script: |
          echo $$ > "$RUNNEL_PIDFILE_DIR/long.pid"
          echo "before the crash"
          sleep 100
      rescue:
        depends_on: [long]
        continue_on_failure: true
        type: script
        script: echo "rescued after restart"
`), 0o644)
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "server-config.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: %s\ndata_dir: %s\nworkspaces:\n  default: { type: folder, path: %s }\n", addr, filepath.Join(dir, "data"), ws)), 0o644)
	t.Setenv("RUNNEL_PIDFILE_DIR", dir)
	cmd := serveProcess(t, cfgPath, addr)
	s := &e2eServer{t: t, url: "http://" + addr}
	jobstest.Eventually(t, "load", func() bool { return s.workspace().Revision != nil })
	var out struct {
		JobID string `json:"job_id"`
	}
	s.json("POST", "/api/workspaces/default/tasks/t/execute", "", &out)
	jobstest.Eventually(t, "the step's first line", func() bool {
		var l struct{ Logs string }
		s.json("GET", "/api/jobs/"+out.JobID+"/logs", "", &l)
		return strings.Contains(l.Logs, "before the crash")
	})
	// Kill the orphaned step afterwards (SIGKILL leaves it running).
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "long.pid")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	serveProcess(t, cfgPath, addr)
	var j map[string]any
	s.json("GET", "/api/jobs/"+out.JobID+"?wait=true&timeout=10", "", &j)
	if j["status"] != "failed" {
		t.Fatalf("job after restart: %v", j)
	}
	steps := j["steps"].([]any)
	long, rescue := steps[0].(map[string]any), steps[1].(map[string]any)
	if long["status"] != "failed" || long["error_message"] != "server restarted while step was running" || rescue["status"] != "completed" {
		t.Fatalf("steps after restart: %v / %v", long, rescue)
	}
	var l struct{ Logs string }
	s.json("GET", "/api/jobs/"+out.JobID+"/logs", "", &l)
	for _, want := range []string{"before the crash", "[recovery] server restarted while step 'long' was running", "rescued after restart", "Job failed in"} {
		if !strings.Contains(l.Logs, want) {
			t.Errorf("log lacks %q:\n%s", want, l.Logs)
		}
	}
}

func TestSecondServerOnSameDataDir(t *testing.T) {
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	startMain(t, cfg)
	second := NewMain(cfg, env{stdout: io.Discard, stderr: io.Discard})
	second.Config.Listen = "127.0.0.1:0"
	start := time.Now()
	err := second.Open(context.Background())
	second.Close()
	want := "data_dir " + cfg.DataDir + " is in use by another runnel process"
	if err == nil || err.Error() != want {
		t.Fatalf("second server: %v, want %q", err, want)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("second server took %v to give up", d)
	}
}

// BenchmarkPushRefreshVisible measures a push to a small git upstream, then
// POST /refresh, until the new revision and task are visible in the API.
func BenchmarkPushRefreshVisible(b *testing.B) {
	up := gittest.New(b)
	up.Commit(b, "first", map[string]string{".workflows/hello.yaml": e2eTask})
	cfg := config.DefaultServer()
	cfg.DataDir = b.TempDir()
	cfg.Path = "bench"
	cfg.Listen = "127.0.0.1:0"
	cfg.Workspaces = map[string]config.Workspace{"ops": {Type: "git", URL: up.URL(), Ref: "main", PollIntervalSecs: 3600}}
	m := NewMain(cfg, env{stdout: io.Discard, stderr: io.Discard, environ: os.Environ()})
	if err := m.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	url := "http://" + m.Addr()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		task := fmt.Sprintf("t%d", i)
		rev := up.Commit(b, task, map[string]string{".workflows/" + task + ".yaml": "tasks:\n  " + task + ":\n    flow:\n      s: { type: script, script: \"true\" }\n"})
		b.StartTimer()
		start := time.Now()
		resp, err := http.Post(url+"/api/workspaces/ops/refresh", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		var r struct{ Revision string }
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		resp, err = http.Get(url + "/api/workspaces/ops/tasks/" + task)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		total += time.Since(start)
		if r.Revision != rev || resp.StatusCode != 200 {
			b.Fatalf("refresh gave %s (want %s), task %d", r.Revision, rev, resp.StatusCode)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/push")
}

func TestBusyPortFailsBeforeTouchingData(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := config.DefaultServer()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = busy.Addr().String()
	m := NewMain(cfg, env{stdout: io.Discard, stderr: io.Discard})
	err = m.Open(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "listen on "+cfg.Listen) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("open on a busy port: %v", err)
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data_dir was created before the bind failed: %v", err)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	cfg := config.DefaultServer()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TLS = &config.TLS{CertFile: certFile, KeyFile: keyFile}
	s := startMain(t, cfg)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + s.main.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https healthz: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + s.main.Addr() + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered 200 on the TLS port")
	}
}
