package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/cmd/runnel/config"
	"runnel/jobs/jobstest"
)

func TestCLIResolveServerAndToken(t *testing.T) {
	home := t.TempDir()
	base := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg")}
	e := env{environ: base}
	stored := &sessions{Servers: map[string]*session{
		"http://stored:1": {Email: "ada@example.com", AccessToken: "stored-access", RefreshToken: "stored-refresh"},
	}}
	if err := stored.save(e); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		flagServer    string
		flagToken     string
		environ       []string
		server, token string
		refresh       bool
		usage         bool
	}{
		{name: "defaults", server: "http://127.0.0.1:8080"},
		{name: "env", environ: []string{"RUNNEL_URL=http://a:1/", "RUNNEL_TOKEN=env-token"}, server: "http://a:1", token: "env-token"},
		{name: "flags win", flagServer: "http://b:2", flagToken: "flag-token", environ: []string{"RUNNEL_URL=http://a:1", "RUNNEL_TOKEN=env-token"},
			server: "http://b:2", token: "flag-token"},
		{name: "bare host", flagServer: "127.0.0.1:9", server: "http://127.0.0.1:9"},
		{name: "normalised", flagServer: "HTTPS://Host.Example:1/base/", server: "https://host.example:1/base"},
		{name: "stored login", flagServer: "http://stored:1/", server: "http://stored:1", token: "stored-access", refresh: true},
		{name: "token beats stored login", flagServer: "http://stored:1", environ: []string{"RUNNEL_TOKEN=env-token"},
			server: "http://stored:1", token: "env-token"},
		{name: "login of another server", flagServer: "http://other:1", server: "http://other:1"},
		{name: "bad scheme", flagServer: "ftp://x", usage: true},
		{name: "no host", flagServer: "http://", usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := openAPI(env{environ: append(append([]string{}, base...), tt.environ...)}, tt.flagServer, tt.flagToken)
			var ue *usageError
			if tt.usage {
				if !errors.As(err, &ue) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(a.server, " ", a.client.BaseURL, " ", a.client.Token(), " ", a.client.Refresh != nil)
			want := fmt.Sprint(tt.server, " ", tt.server, " ", tt.token, " ", tt.refresh)
			if got != want {
				t.Errorf("server, base, token, refresh = %s, want %s", got, want)
			}
		})
	}
}

func TestCLIResolveWorkspace(t *testing.T) {
	solo := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, func(c *config.Server) {
		c.Workspaces = map[string]config.Workspace{"solo": c.Workspaces["default"]}
	})
	two := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, func(c *config.Server) {
		c.Workspaces["other"] = c.Workspaces["default"]
	})
	tests := []struct {
		name, server, flag string
		environ            []string
		want               string
	}{
		{name: "the only one", server: solo.url, want: "solo"},
		{name: "several: default", server: two.url, want: "default"},
		{name: "environment", server: solo.url, environ: []string{"RUNNEL_WORKSPACE=env-ws"}, want: "env-ws"},
		{name: "flag", server: solo.url, flag: "flag-ws", environ: []string{"RUNNEL_WORKSPACE=env-ws"}, want: "flag-ws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := openAPI(env{environ: tt.environ}, tt.server, "")
			if err != nil {
				t.Fatal(err)
			}
			a.wsFlag = tt.flag
			got, err := a.workspace(t.Context())
			if err != nil || got != tt.want {
				t.Errorf("workspace = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// Through a command: tasks of the only workspace.
	r := cliRun(t, cliEnv(t, solo.url), "", "tasks")
	if r.code != 0 || !strings.Contains(r.stdout, "gated") {
		t.Errorf("tasks on a one-workspace server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCLISessionsFile(t *testing.T) {
	home := t.TempDir()
	e := env{environ: []string{"HOME=" + home}}
	s, err := loadSessions(e)
	if err != nil || len(s.Servers) != 0 {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	s.Servers["http://a:1"] = &session{Email: "a@b.c", AccessToken: "x", RefreshToken: "y"}
	if err := s.save(e); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(home, ".config", "runnel", "credentials.json")
	for path, mode := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode().Perm(), err, mode)
		}
	}
	back, err := loadSessions(e)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, back); d != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", d)
	}
	left, _ := os.ReadDir(filepath.Dir(p))
	if len(left) != 1 {
		t.Errorf("files next to the credentials: %v", left)
	}
}

func TestCLITokenFresh(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	jwt := func(claims string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(claims)) + ".sig"
	}
	tests := []struct {
		token string
		want  bool
	}{
		{jwt(fmt.Sprintf(`{"exp":%d}`, now.Add(10*time.Minute).Unix())), true},
		{jwt(fmt.Sprintf(`{"exp":%d}`, now.Add(30*time.Second).Unix())), false},
		{jwt(fmt.Sprintf(`{"exp":%d}`, now.Add(-time.Hour).Unix())), false},
		{jwt(`{"sub":"x"}`), false},
		{"runnel_0123456789abcdef0123456789abcdef", false},
		{"a.!!!.c", false},
	}
	for _, tt := range tests {
		if got := tokenFresh(tt.token, now); got != tt.want {
			t.Errorf("tokenFresh(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}

func TestCLIInputValues(t *testing.T) {
	tests := []struct {
		json  string
		pairs []string
		want  string
		usage bool
	}{
		{pairs: []string{"name=Ada", "n=5", "big=12345678901234567890", "ok=true", "list=[1,\"a\"]", "obj={\"a\":1}", "s=\"5\"", "empty=", "eq=a=b", "sp=1 2"},
			want: `{"big":12345678901234567890,"empty":"","eq":"a=b","list":[1,"a"],"n":5,"name":"Ada","obj":{"a":1},"ok":true,"s":"5","sp":"1 2"}`},
		{json: `{"a": 1, "b": {"c": 2.50}}`, pairs: []string{"a=2"}, want: `{"a":2,"b":{"c":2.50}}`},
		{json: `[1]`, usage: true},
		{json: `{"a":1} {}`, usage: true},
		{json: `null`, usage: true},
	}
	for _, tt := range tests {
		k := kvFlag(tt.pairs)
		in := inputFlags{json: &tt.json, pairs: &k}
		got, err := in.value()
		var ue *usageError
		if tt.usage {
			if !errors.As(err, &ue) {
				t.Errorf("%q: err = %v, want a usage error", tt.json, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if s := compactJSON(got); s != tt.want {
			t.Errorf("%q %q:\n got %s\nwant %s", tt.json, tt.pairs, s, tt.want)
		}
	}
}

// TestCLITriggerWaitCancelled: `trigger --wait` exits 3 when the job is
// cancelled while it waits.
func TestCLITriggerWaitCancelled(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": cliGatedWorkflow}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"trigger", "gated", "--wait", "-i", "dir=" + t.TempDir()}, strings.NewReader(""), stdout, stderr, cliEnv(t, s.url))
	}()
	stdout.waitFor(t, "\n")
	id := strings.TrimSpace(stdout.String())
	jobstest.Eventually(t, "job running", func() bool {
		j, err := s.api.Job(ctx, id)
		return err == nil && j.Status == "running"
	})
	if err := s.api.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 3 || stdout.String() != id+"\n" || stderr.String() != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 3, the job id, nothing", code, stdout.String(), stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("trigger --wait did not end after the cancel")
	}
}
