package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runnel/cmd/runnel/config"
	"runnel/jobs/jobstest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/client"
)

// The client commands' tests run the commands in-process through run()
// (and, where a real process matters, the built binary) against an
// in-process `runnel serve` (the real Main) on 127.0.0.1. Names start
// with cli so they stay clear of the package's other tests.

// update rewrites the golden files under testdata/cli
// instead of comparing with them.
var update = flag.Bool("update", false, "rewrite golden files under testdata/cli")

// cliServer is a running Main serving folder workspaces.
type cliServer struct {
	t    *testing.T
	cfg  config.Server
	main *Main
	url  string
	api  *client.Client
	// stderr receives the server log (default: discarded).
	stderr io.Writer
}

// cliStart serves files (relative path → content) as workspace "default"
// and waits for every workspace's first load. adjust may change the
// config (more workspaces, worker tags).
func cliStart(t *testing.T, files map[string]string, adjust func(*config.Server)) *cliServer {
	t.Helper()
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	cliWriteFiles(t, ws, files)
	cfg := config.DefaultServer()
	cfg.Path = "test"
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.LogStorage.LocalDir = filepath.Join(cfg.DataDir, "logs")
	cfg.LogLevel = "error"
	cfg.Workspaces = map[string]config.Workspace{"default": {Type: "folder", Path: ws}}
	if adjust != nil {
		adjust(&cfg)
	}
	s := &cliServer{t: t, cfg: cfg}
	s.open()
	t.Cleanup(func() { s.main.Close() })
	return s
}

func (s *cliServer) open() {
	s.t.Helper()
	stderr := s.stderr
	if stderr == nil {
		stderr = io.Discard
	}
	m := NewMain(s.cfg, env{stdout: io.Discard, stderr: stderr, environ: os.Environ()})
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		s.t.Fatal(err)
	}
	s.main = m
	s.url = "http://" + m.Addr()
	s.api = client.New(s.url, "")
	ctx, cancel := context.WithTimeout(context.Background(), jobstest.Patience())
	defer cancel()
	if err := m.Manager.WaitLoaded(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// restart closes the server and opens a new one on the same data
// directory and address; adjust may change the new config.
func (s *cliServer) restart(adjust func(*config.Server)) {
	s.t.Helper()
	if err := s.main.Close(); err != nil {
		s.t.Fatalf("close: %v", err)
	}
	s.cfg.Listen = strings.TrimPrefix(s.url, "http://")
	if adjust != nil {
		adjust(&s.cfg)
	}
	s.open()
}

func cliWriteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cliEnv is a client command's environment: the server in RUNNEL_URL, a
// private HOME (stored logins), PATH for steps, and extra variables.
func cliEnv(t *testing.T, server string, extra ...string) []string {
	home := t.TempDir()
	return append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"PATH=" + os.Getenv("PATH"), "RUNNEL_URL=" + server}, extra...)
}

// cliResult is what a command printed and its exit code.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cliRun runs `runnel args…` in-process with stdin text.
func cliRun(t *testing.T, environ []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb, environ)
	return cliResult{out.String(), errb.String(), code}
}

// syncBuffer is a Writer whose content can be read while a command
// writes, and waited on.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.b.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits (10 s at most) until the content contains s.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(jobstest.Patience())
	for {
		b.mu.Lock()
		ok, ch := strings.Contains(b.b.String(), s), b.changed
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %q in output:\n%s", s, b.String())
		}
	}
}

// cliClosedURL is an http URL on which nothing listens.
func cliClosedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// cliNormalizer replaces what changes between runs (ids, times,
// durations, revisions, temporary paths) with stable placeholders.
type cliNormalizer struct {
	// names maps literal text (job ids, paths) to placeholders.
	names [][2]string
}

var (
	cliUUID     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	cliRev      = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	cliDate     = regexp.MustCompile(`\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z| ?[+-]\d{2}:\d{2})?)?`)
	cliClock    = regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}\b`)
	cliAgo      = regexp.MustCompile(`\b\d+[smhd] ago\b|\bjust now\b`)
	cliIn       = regexp.MustCompile(`\(in \d+[smhd]\)|\(<date>\)`)
	cliSeconds  = regexp.MustCompile(`\b\d+(\.\d)?s\b`)
	cliSpaces   = regexp.MustCompile(`(\S) {2,}`)
	cliTrailing = regexp.MustCompile(`(?m)[ \t]+$`)
)

// cliNormFor is a normalizer that knows the server's URL and the
// revisions of its workspaces.
func cliNormFor(t *testing.T, s *cliServer) *cliNormalizer {
	t.Helper()
	n := &cliNormalizer{}
	n.add(s.url, "<server>")
	for _, st := range s.main.Manager.List() {
		if _, src, err := s.main.Manager.Get(st.Name); err == nil && src.Path != "" {
			n.add(src.Path, "<workspace-dir>")
		}
		if st.Snapshot != nil {
			n.add(st.Snapshot.Revision, "<rev>")
			n.add(shortRev(st.Snapshot.Revision), "<rev>")
		}
	}
	return n
}

func (n *cliNormalizer) add(literal, placeholder string) {
	n.names = append(n.names, [2]string{literal, placeholder})
}

func (n *cliNormalizer) apply(s string) string {
	for _, r := range n.names {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	s = cliUUID.ReplaceAllString(s, "<uuid>")
	s = cliRev.ReplaceAllString(s, "<rev>")
	s = cliDate.ReplaceAllString(s, "<date>")
	s = cliClock.ReplaceAllString(s, "<time>")
	s = cliAgo.ReplaceAllString(s, "<ago>")
	// A next run is "(in 5h)", or a date when more than a week away.
	s = cliIn.ReplaceAllString(s, "(<when>)")
	s = cliSeconds.ReplaceAllString(s, "<dur>")
	// Column widths follow the replaced values: keep the columns, not
	// their padding.
	s = cliSpaces.ReplaceAllString(s, "$1  ")
	return cliTrailing.ReplaceAllString(s, "")
}

// cliGolden compares got with testdata/cli/name.golden (rewritten with
// -update).
func cliGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", p, d)
	}
}

// transcript is how a golden file shows one command.
func transcript(args []string, r cliResult) string {
	var b strings.Builder
	b.WriteString("$ runnel " + strings.Join(args, " ") + "\n")
	b.WriteString(r.stdout)
	if r.stderr != "" {
		b.WriteString("--- stderr\n" + r.stderr)
	}
	fmt.Fprintf(&b, "--- exit %d\n", r.code)
	return b.String()
}
