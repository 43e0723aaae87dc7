package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update rewrites the golden files under testdata/config.
var update = flag.Bool("update", false, "rewrite golden files under testdata/config")

// cfgWrite writes content to dir/name and returns the path.
func cfgWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cfgLines splits a load error into lines, with the config path replaced
// by F so expectations stay readable.
func cfgLines(t *testing.T, err error, path string) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %q is a %T, want *Error", err, err)
	}
	s := err.Error()
	if path != "" {
		s = strings.ReplaceAll(s, path, "F")
	}
	return strings.Split(s, "\n")
}

const cfgSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	got, err := LoadServer("", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Server{
		Listen:            "127.0.0.1:8080",
		MaxConnections:    1024,
		DataDir:           filepath.Join(dir, "runnel-data"),
		LogStorage:        LogStorage{LocalDir: filepath.Join(dir, "runnel-data", "logs"), MaxOpenFiles: 128},
		LocalWorkers:      4,
		LocalWorkerTags:   []string{"shell"},
		Recovery:          Recovery{HeartbeatTimeoutSecs: 120, SweepIntervalSecs: 60, UnmatchedStepTimeoutSecs: 300},
		LogLevel:          "info",
		LogFormat:         "text",
		ShutdownGraceSecs: 30,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("LoadServer(\"\") (-want +got):\n%s", diff)
	}
	d := DefaultServer()
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultServer().Validate() = %v", err)
	}

	// The worker has no usable defaults without a server.
	_, err = LoadWorker("", nil)
	wantLines := []string{"server_url is required", "worker_token is required (the server's worker_token)"}
	if diff := cmp.Diff(wantLines, cfgLines(t, err, "")); diff != "" {
		t.Errorf("LoadWorker(\"\") errors (-want +got):\n%s", diff)
	}
	w, err := LoadWorker("", []string{"RUNNEL__SERVER_URL=http://127.0.0.1:8080", "RUNNEL__WORKER_TOKEN=" + cfgSecret})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	wantW := Worker{
		ServerURL: "http://127.0.0.1:8080", WorkerToken: cfgSecret, WorkerName: host,
		MaxConcurrent: 4, PollIntervalSecs: 2, WorkspaceCacheDir: filepath.Join(dir, "runnel-worker-cache"),
		Tags: []string{"shell"},
	}
	if diff := cmp.Diff(wantW, w); diff != "" {
		t.Errorf("LoadWorker with env (-want +got):\n%s", diff)
	}
}

func TestConfigFullExample(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"OPS_WEBHOOK_SECRET=hook", "OPS_TOKEN=tok", "JWT_SECRET=jwt-" + cfgSecret, "ADMIN_PASSWORD=pw"}
	path := filepath.Join("testdata", "config", "full-server.yaml")
	got, err := LoadServer(path, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Server{
		Listen:         "0.0.0.0:9090",
		AllowedHosts:   []string{"runnel.lan", "192.168.1.5", ".corp.example.com"},
		MaxConnections: 200,
		DataDir:        filepath.Join(dir, "data"),
		LogStorage:     LogStorage{LocalDir: "/var/log/runnel", MaxOpenFiles: 64},
		Workspaces: map[string]Workspace{
			"docs": {Type: "folder", Path: filepath.Join(filepath.Dir(dir), "workspace")},
			"ops": {Type: "git", URL: "https://git.example.com/ops.git", Ref: "release", PollIntervalSecs: 30,
				WebhookSecret: "hook", Auth: &GitAuth{Type: "token", Token: "tok", Username: "x-access-token"}},
			"infra": {Type: "git", URL: "git@git.example.com:infra.git", Ref: "main", PollIntervalSecs: 60,
				Auth: &GitAuth{Type: "ssh_key", KeyPath: filepath.Join(dir, "deploy_key"), Password: "passphrase"}},
			"mirror": {Type: "git", URL: filepath.Join(filepath.Dir(dir), "mirror.git"), Ref: "main", PollIntervalSecs: 60},
			"gitea": {Type: "git", URL: "https://gitea.example.com/team/jobs.git", Ref: "main", PollIntervalSecs: 60,
				Auth: &GitAuth{Type: "basic", Username: "bob", Password: "p: w #1"}},
		},
		WorkerToken:     "wt-0123456789abcdef0123456789abcdef",
		LocalWorkers:    8,
		LocalWorkerTags: []string{"shell", "gpu"},
		Recovery:        Recovery{HeartbeatTimeoutSecs: 30, SweepIntervalSecs: 5, UnmatchedStepTimeoutSecs: 0},
		Auth: &Auth{
			JWTSecret: "jwt-" + cfgSecret, RefreshSecret: "refresh-" + cfgSecret, BaseURL: "https://runnel.example.com",
			Providers:   map[string]Provider{"local": {ProviderType: "internal", DisplayName: "Email"}},
			InitialUser: &InitialUser{Email: "admin@example.com", Password: "pw"},
		},
		TLS: &TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")},
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8"),
		},
		Retention:         Retention{JobsDays: 90, MaxJobsPerTask: 500, WorkersDays: 30, AuditDays: 365},
		Audit:             Audit{Log: true},
		Debug:             Debug{Pprof: true},
		LogLevel:          "debug",
		LogFormat:         "json",
		ShutdownGraceSecs: 45,
		Path:              path,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("full-server.yaml (-want +got):\n%s", diff)
	}

	wpath := filepath.Join("testdata", "config", "full-worker.yaml")
	w, err := LoadWorker(wpath, []string{"WORKER_TOKEN=" + cfgSecret})
	if err != nil {
		t.Fatal(err)
	}
	wantW := Worker{
		ServerURL: "https://runnel.example.com:8443", WorkerToken: cfgSecret, WorkerName: "gpu-box-1",
		MaxConcurrent: 2, PollIntervalSecs: 5, WorkspaceCacheDir: filepath.Join(dir, "cache"),
		Tags: []string{"shell", "gpu"}, Path: wpath,
	}
	if diff := cmp.Diff(wantW, w); diff != "" {
		t.Errorf("full-worker.yaml (-want +got):\n%s", diff)
	}
}

// TestConfigGolden loads a file with many problems: every one is reported,
// in file order, each with its position.
func TestConfigGolden(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadServer(filepath.Join("testdata", "config", "errors.yaml"), nil)
	if err == nil {
		t.Fatal("errors.yaml loaded without error")
	}
	got := strings.ReplaceAll(err.Error(), dir, "$DIR") + "\n"
	golden := filepath.Join("testdata", "config", "errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("errors.yaml problems (-want +got; rerun with -update to accept):\n%s", diff)
	}
}

// TestConfigServerProblems covers each validation, type and key message of
// server-config.yaml with its position. F stands for the file's path.
func TestConfigServerProblems(t *testing.T) {
	secrets := "auth:\n  jwt_secret: " + cfgSecret + "\n  refresh_secret: " + cfgSecret + "\n"
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{"listen without port", "listen: localhost\n",
			nil, []string{`F:1:9: listen "localhost" must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`}},
		{"listen port too big", "listen: \":70000\"\n",
			nil, []string{`F:1:9: listen ":70000" must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`}},
		{"listen any host", "listen: \":0\"\n", nil, nil},
		{"empty data_dir", "data_dir: \"\"\n",
			nil, []string{`F:1:11: data_dir must not be empty`}},
		{"local_workers too many", "local_workers: 300\n",
			nil, []string{`F:1:16: local_workers must be between 0 and 256 (got 300)`}},
		{"local_workers negative", "local_workers: -1\n",
			nil, []string{`F:1:16: local_workers must be between 0 and 256 (got -1)`}},
		{"max_open_files zero", "log_storage:\n  max_open_files: 0\n",
			nil, []string{`F:2:19: log_storage.max_open_files must be at least 1 (got 0)`}},
		{"no tags with slots", "local_worker_tags: []\n",
			nil, []string{`F:1:20: local_worker_tags must not be empty when local_workers > 0`}},
		{"no tags without slots", "local_workers: 0\nlocal_worker_tags: []\n", nil, nil},
		{"empty tag", "local_worker_tags: [shell, \"\"]\n",
			nil, []string{`F:1:28: local_worker_tags[1] must not be empty`}},
		{"null tag", "local_worker_tags:\n  - shell\n  -\n",
			nil, []string{`F:3:3: local_worker_tags[1] must not be empty`}},
		{"short worker_token", "worker_token: short\n",
			nil, []string{`F:1:15: worker_token must be at least 32 characters (got 5)`}},
		{"short metrics_token", "metrics_token: short\n",
			nil, []string{`F:1:16: metrics_token must be at least 32 characters (got 5)`}},
		{"recovery bounds", "recovery:\n  heartbeat_timeout_secs: 3\n  sweep_interval_secs: 0\n  unmatched_step_timeout_secs: -5\n",
			nil, []string{
				`F:2:27: recovery.heartbeat_timeout_secs must be at least 4 (got 3)`,
				`F:3:24: recovery.sweep_interval_secs must be at least 1 (got 0)`,
				`F:4:32: recovery.unmatched_step_timeout_secs must be 0 (wait forever) or more (got -5)`,
			}},
		{"recovery minimums ok", "recovery:\n  heartbeat_timeout_secs: 4\n  sweep_interval_secs: 1\n  unmatched_step_timeout_secs: 0\n", nil, nil},
		{"workspace name", "workspaces:\n  bad.name:\n    type: folder\n    path: x\n  _reserved:\n    type: folder\n    path: x\n",
			nil, []string{
				`F:2:3: workspace name "bad.name" must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`,
				`F:5:3: workspace name "_reserved" must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`,
			}},
		{"workspace name too long", "workspaces:\n  " + strings.Repeat("a", 65) + ": {type: folder, path: x}\n",
			nil, []string{`F:2:3: workspace name "` + strings.Repeat("a", 65) + `" must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`}},
		{"workspace without type", "workspaces:\n  ops:\n    path: x\n",
			nil, []string{`F:2:3: workspaces.ops.type is required (folder or git)`}},
		{"workspace null entry", "workspaces:\n  ops:\n",
			nil, []string{`F:2:3: workspaces.ops.type is required (folder or git)`}},
		{"workspace bad type", "workspaces:\n  ops:\n    type: s3\n",
			nil, []string{`F:3:11: workspaces.ops.type "s3" must be folder or git`}},
		{"folder without path", "workspaces:\n  ops:\n    type: folder\n",
			nil, []string{`F:2:3: workspaces.ops.path is required for a folder workspace`}},
		{"folder with git keys", "workspaces:\n  ops:\n    type: folder\n    path: x\n    url: https://h/r.git\n    ref: main\n    poll_interval_secs: 5\n    webhook_secret: s\n    auth: {type: token, token: t}\n",
			nil, []string{
				`F:5:10: workspaces.ops.url is only for git workspaces`,
				`F:6:10: workspaces.ops.ref is only for git workspaces`,
				`F:7:25: workspaces.ops.poll_interval_secs is only for git workspaces`,
				`F:8:21: workspaces.ops.webhook_secret is only for git workspaces`,
				`F:9:5: workspaces.ops.auth is only for git workspaces`,
			}},
		{"git without url", "workspaces:\n  ops:\n    type: git\n",
			nil, []string{`F:2:3: workspaces.ops.url is required for a git workspace`}},
		{"git with path", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    path: x\n",
			nil, []string{`F:5:11: workspaces.ops.path is only for folder workspaces`}},
		{"git bad scheme", "workspaces:\n  ops:\n    type: git\n    url: ftp://h/r.git\n",
			nil, []string{`F:4:10: workspaces.ops.url has unsupported scheme "ftp" (use https, ssh, file or a local path)`}},
		{"git url forms", "workspaces:\n" +
			"  a: {type: git, url: 'ssh://git@h/r.git'}\n  b: {type: git, url: 'git@h:r.git'}\n" +
			"  c: {type: git, url: 'file:///srv/r.git'}\n  d: {type: git, url: /srv/r.git}\n  e: {type: git, url: 'http://h/r'}\n", nil, nil},
		{"git empty ref and zero poll", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    ref: \"\"\n    poll_interval_secs: 0\n",
			nil, []string{
				`F:5:10: workspaces.ops.ref must not be empty (a branch or tag; default main)`,
				`F:6:25: workspaces.ops.poll_interval_secs must be at least 1 (got 0)`,
			}},
		{"git auth without type", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth:\n      token: t\n",
			nil, []string{`F:5:5: workspaces.ops.auth.type is required (token, basic or ssh_key)`}},
		{"git auth null", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth:\n",
			nil, []string{`F:5:5: workspaces.ops.auth.type is required (token, basic or ssh_key)`}},
		{"git auth bad type", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth: {type: oauth}\n",
			nil, []string{`F:5:18: workspaces.ops.auth.type "oauth" must be token, basic or ssh_key`}},
		{"token auth", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth: {type: token, password: p, key: k}\n",
			nil, []string{
				`F:5:5: workspaces.ops.auth.token is required for token auth`,
				`F:5:35: workspaces.ops.auth.password is not used by token auth`,
				`F:5:43: workspaces.ops.auth.key is not used by token auth`,
			}},
		{"token auth with ssh url", "workspaces:\n  ops:\n    type: git\n    url: git@h:r.git\n    auth: {type: token, token: t}\n",
			nil, []string{`F:5:18: workspaces.ops.auth: token auth needs an http(s) url`}},
		{"basic auth", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth: {type: basic, token: t}\n",
			nil, []string{
				`F:5:5: workspaces.ops.auth.username is required for basic auth`,
				`F:5:5: workspaces.ops.auth.password is required for basic auth`,
				`F:5:32: workspaces.ops.auth.token is not used by basic auth`,
			}},
		{"ssh_key auth without key", "workspaces:\n  ops:\n    type: git\n    url: git@h:r.git\n    auth: {type: ssh_key, username: git}\n",
			nil, []string{
				`F:5:5: workspaces.ops.auth needs key_path or key for ssh_key auth`,
				`F:5:37: workspaces.ops.auth.username is not used by ssh_key auth`,
			}},
		{"ssh_key auth with both", "workspaces:\n  ops:\n    type: git\n    url: git@h:r.git\n    auth: {type: ssh_key, key_path: k, key: PEM}\n",
			nil, []string{`F:5:45: workspaces.ops.auth sets both key_path and key; keep one`}},
		{"ssh_key missing key file", "workspaces:\n  ops:\n    type: git\n    url: git@h:r.git\n    auth: {type: ssh_key, key_path: nokey}\n",
			nil, []string{`F:5:37: workspaces.ops.auth.key_path DIR/nokey: no such file`}},
		{"ssh_key with https url", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth: {type: ssh_key, key: PEM}\n",
			nil, []string{`F:5:18: workspaces.ops.auth: ssh_key auth needs an ssh url, not https://h/r.git`}},
		{"auth section empty", "auth:\n",
			nil, []string{
				"F:1:1: auth.jwt_secret is required when auth is set (at least 32 bytes, e.g. from `openssl rand -hex 32`)",
				"F:1:1: auth.refresh_secret is required when auth is set (at least 32 bytes, e.g. from `openssl rand -hex 32`)",
			}},
		{"auth short secrets", "auth:\n  jwt_secret: abc\n  refresh_secret: " + cfgSecret[:31] + "\n",
			nil, []string{
				`F:2:15: auth.jwt_secret must be at least 32 bytes (got 3)`,
				`F:3:19: auth.refresh_secret must be at least 32 bytes (got 31)`,
			}},
		{"auth base_url", secrets + "  base_url: runnel.example.com\n",
			nil, []string{`F:4:13: auth.base_url "runnel.example.com" must be an http(s) URL such as https://runnel.example.com`}},
		{"auth providers", secrets + "  providers:\n    sso:\n      provider_type: oidc\n    ldap:\n      provider_type: ldap\n    none:\n      display_name: x\n    local:\n      provider_type: internal\n      client_id: c\n    bad.id:\n      provider_type: internal\n",
			nil, []string{
				`F:5:5: auth.providers.sso: oidc providers are not supported yet`,
				`F:8:22: auth.providers.ldap.provider_type "ldap" must be internal or oidc`,
				`F:9:5: auth.providers.none.provider_type is required (internal)`,
				`F:13:18: auth.providers.local.client_id is only for oidc providers`,
				`F:14:5: provider id "bad.id" must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`,
			}},
		{"initial_user", secrets + "  initial_user: {email: admin}\n",
			nil, []string{
				`F:4:3: auth.initial_user.password is required`,
				`F:4:25: auth.initial_user.email "admin" is not an email address`,
			}},
		{"initial_user empty", secrets + "  initial_user:\n",
			nil, []string{
				`F:4:3: auth.initial_user.email is required`,
				`F:4:3: auth.initial_user.password is required`,
			}},
		{"tls missing keys", "tls: {}\n",
			nil, []string{
				`F:1:1: tls.cert_file is required when tls is set`,
				`F:1:1: tls.key_file is required when tls is set`,
			}},
		{"tls missing files", "tls:\n  cert_file: c.pem\n  key_file: .\n",
			nil, []string{
				`F:2:14: tls.cert_file DIR/c.pem: no such file`,
				`F:3:13: tls.key_file DIR: is a directory`,
			}},
		{"trusted_proxies", "trusted_proxies: [10.0.0.0/8, 10.1.2.3, \"::1\", 10.0.0.0/33, proxy.local]\n",
			nil, []string{
				`F:1:48: trusted_proxies[3] "10.0.0.0/33" is not a CIDR or IP address`,
				`F:1:61: trusted_proxies[4] "proxy.local" is not a CIDR or IP address`,
			}},
		{"log settings", "log_level: verbose\nlog_format: xml\n",
			nil, []string{
				`F:1:12: log_level "verbose" must be one of debug, info, warn, error`,
				`F:2:13: log_format "xml" must be text or json`,
			}},
		{"db rejected", "db:\n  url: postgres://x\n",
			nil, []string{`F:1:1: db.url is not used: runnel keeps job data in data_dir`}},
		{"later keys", "default_step_timeout: 10m\ndefault_job_timeout: 1h\nretention: {jobs_days: 30, audit_days: -9}\nlog_storage:\n  s3: {bucket: b}\n  archive: true\n",
			nil, []string{
				`F:1:1: 'default_step_timeout' is not supported yet`,
				`F:2:1: 'default_job_timeout' is not supported yet`,
				`F:3:40: retention.audit_days must not be negative (got -9; 0 keeps everything)`,
				`F:5:3: 'log_storage.s3' is not supported yet`,
				`F:6:3: 'log_storage.archive' is not supported yet`,
			}},
		{"audit.log must be a boolean", "audit:\n  log: sometimes\n",
			nil, []string{`F:2:8: audit.log must be true or false`}},
		{"audit.log from the environment", "", []string{"RUNNEL__AUDIT__LOG=maybe"},
			[]string{`RUNNEL__AUDIT__LOG: audit.log must be true or false`}},
		{"debug.pprof must be a boolean", "debug:\n  pprof: loopback\n",
			nil, []string{`F:2:10: debug.pprof must be true or false`}},
		{"debug.pprof from the environment", "", []string{"RUNNEL__DEBUG__PPROF=on"},
			[]string{`RUNNEL__DEBUG__PPROF: debug.pprof must be true or false`}},
		{"null values keep defaults", "listen:\nlocal_workers: ~\nlocal_worker_tags:\nworkspaces:\n", nil, nil},
		{"problems sorted by position", "log_format: xml\nlisten: nope\n",
			nil, []string{
				`F:1:13: log_format "xml" must be text or json`,
				`F:2:9: listen "nope" must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := cfgWrite(t, dir, "server-config.yaml", tt.yaml)
			_, err := LoadServer(path, tt.env)
			got := cfgLines(t, err, path)
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], dir, "DIR")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems of\n%s(-want +got):\n%s", tt.yaml, diff)
			}
		})
	}
}

// TestConfigKeysAndTypes covers unknown keys at every depth and values of
// the wrong type, each with its line and column.
func TestConfigKeysAndTypes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"top level", "listne: x\n", []string{`F:1:1: unknown key "listne" (did you mean "listen"?)`}},
		{"nested", "recovery:\n  heartbeat_timout_secs: 30\n", []string{`F:2:3: unknown key "recovery.heartbeat_timout_secs" (did you mean "recovery.heartbeat_timeout_secs"?)`}},
		{"in a workspace", "workspaces:\n  ops:\n    type: git\n    url: https://h/r.git\n    auth:\n      type: token\n      tokn: x\n",
			[]string{`F:5:5: workspaces.ops.auth.token is required for token auth`, `F:7:7: unknown key "workspaces.ops.auth.tokn" (did you mean "workspaces.ops.auth.token"?)`}},
		{"in a provider", "auth:\n  jwt_secret: " + cfgSecret + "\n  refresh_secret: " + cfgSecret + "\n  providers:\n    local:\n      provider_type: internal\n      client_idd: x\n",
			[]string{`F:7:7: unknown key "auth.providers.local.client_idd" (did you mean "auth.providers.local.client_id"?)`}},
		{"in a flow mapping", "recovery: {sweep_interval_secs: 5, sweep_intervl: 3}\n", []string{`F:1:36: unknown key "recovery.sweep_intervl"`}},
		{"several", "a: 1\nrecovery: {b: 2}\nlog_storage:\n  c: 3\n", []string{
			`F:1:1: unknown key "a"`, `F:2:12: unknown key "recovery.b"`, `F:4:3: unknown key "log_storage.c"`,
		}},
		{"not an integer", "local_workers: four\n", []string{`F:1:16: local_workers must be an integer`}},
		{"float", "local_workers: 2.5\n", []string{`F:1:16: local_workers must be an integer`}},
		{"bool", "local_workers: true\n", []string{`F:1:16: local_workers must be an integer`}},
		{"list for integer", "recovery:\n  sweep_interval_secs: [1]\n", []string{`F:2:24: recovery.sweep_interval_secs must be an integer`}},
		{"huge integer", "local_workers: 99999999999999999999999\n", []string{`F:1:16: local_workers is out of range`}},
		{"mapping for string", "listen: {host: x}\n", []string{`F:1:1: listen must be a string`}},
		{"list for string", "data_dir:\n  - a\n", []string{`F:2:3: data_dir must be a string`}},
		{"scalar for section", "recovery: 5\n", []string{`F:1:11: recovery must be a mapping`}},
		{"list for map", "workspaces: [a]\n", []string{`F:1:13: workspaces must be a mapping`}},
		{"scalar for workspace", "workspaces:\n  ops: 5\n", []string{`F:2:8: workspaces.ops must be a mapping`}},
		{"scalar for list", "local_worker_tags: shell\n", []string{`F:1:20: local_worker_tags must be a list`}},
		{"nested list element", "local_worker_tags: [[a]]\n", []string{`F:1:21: local_worker_tags[0] must be a string`}},
		{"syntax error", "listen: [\n", []string{`F:1:9: sequence end token ']' not found`}},
		{"duplicate key", "listen: a\nlisten: b\n", []string{`F:2:1: mapping key "listen" already defined at [1:1]`}},
		{"not a mapping", "- a\n- b\n", []string{`F:1:1: the config file must be a mapping of keys to values`}},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", []string{`F:3:7: the config file must hold one YAML document (document 2 found)`}},
		{"unknown alias", "listen: *nope\n", []string{`F:1:9: unknown alias *nope`}},
		// One alias limit for every YAML file (yamlfile.MaxNodes): the
		// copies cross it at the second alias of w5.
		{"alias bomb", cfgAliasBomb(), []string{`F:7:38: the file expands to more than 250000 YAML nodes (aliases)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cfgWrite(t, t.TempDir(), "server-config.yaml", tt.yaml)
			_, err := LoadServer(path, nil)
			if diff := cmp.Diff(tt.want, cfgLines(t, err, path)); diff != "" {
				t.Errorf("problems of\n%s(-want +got):\n%s", tt.yaml, diff)
			}
		})
	}
}

// cfgAliasBomb is a file whose aliases would expand to 10^9 values.
func cfgAliasBomb() string {
	var b strings.Builder
	b.WriteString("local_worker_tags: &a0 [x, x, x, x, x, x, x, x, x, x]\nworkspaces:\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "  w%d: {type: folder, path: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]}\n",
			i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// TestConfigYAMLFeatures checks that anchors, merge keys, tags, quoted
// numbers and comments-only files load as YAML says.
func TestConfigYAMLFeatures(t *testing.T) {
	yaml := `
x-git: &git
  type: git
  poll_interval_secs: 10
`
	// x-git is not a key of the config: anchors must live inside known keys.
	path := cfgWrite(t, t.TempDir(), "server-config.yaml", yaml)
	if _, err := LoadServer(path, nil); err == nil || !strings.Contains(err.Error(), `unknown key "x-git"`) {
		t.Errorf("anchor holder at top level: err = %v, want unknown key", err)
	}

	yaml = `
workspaces:
  a: &git
    type: git
    url: https://h/a.git
    poll_interval_secs: 10
  b:
    <<: *git
    url: https://h/b.git
listen: !!str 127.0.0.1:9
local_workers: "3"
local_worker_tags: [shell, 7]
`
	path = cfgWrite(t, t.TempDir(), "server-config.yaml", yaml)
	cfg, err := LoadServer(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Workspace{
		"a": {Type: "git", URL: "https://h/a.git", Ref: "main", PollIntervalSecs: 10},
		"b": {Type: "git", URL: "https://h/b.git", Ref: "main", PollIntervalSecs: 10},
	}
	if diff := cmp.Diff(want, cfg.Workspaces); diff != "" {
		t.Errorf("workspaces (-want +got):\n%s", diff)
	}
	if cfg.Listen != "127.0.0.1:9" || cfg.LocalWorkers != 3 || !cmp.Equal(cfg.LocalWorkerTags, []string{"shell", "7"}) {
		t.Errorf("listen, local_workers, tags = %q, %d, %q", cfg.Listen, cfg.LocalWorkers, cfg.LocalWorkerTags)
	}

	path = cfgWrite(t, t.TempDir(), "server-config.yaml", "# nothing but a comment\n")
	if cfg, err := LoadServer(path, nil); err != nil || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("comment-only file: listen %q, err %v", cfg.Listen, err)
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	file := `
listen: 127.0.0.1:1
worker_token: file-token-0123456789abcdef0123456789
workspaces:
  docs:
    type: folder
    path: /srv/docs
`
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c Server)
	}{
		{"scalars and nesting", []string{
			"RUNNEL__LISTEN=0.0.0.0:2", "RUNNEL__LOCAL_WORKERS=8", "RUNNEL__RECOVERY__HEARTBEAT_TIMEOUT_SECS=30",
		}, func(t *testing.T, c Server) {
			if c.Listen != "0.0.0.0:2" || c.LocalWorkers != 8 || c.Recovery.HeartbeatTimeoutSecs != 30 || c.Recovery.SweepIntervalSecs != 60 {
				t.Errorf("got listen %q, local_workers %d, recovery %+v", c.Listen, c.LocalWorkers, c.Recovery)
			}
		}},
		{"flow list", []string{"RUNNEL__LOCAL_WORKER_TAGS=[shell, gpu]"}, func(t *testing.T, c Server) {
			if diff := cmp.Diff([]string{"shell", "gpu"}, c.LocalWorkerTags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		}},
		{"new auth section", []string{"RUNNEL__AUTH__JWT_SECRET=${JWT}", "RUNNEL__AUTH__REFRESH_SECRET=r" + cfgSecret, "JWT=j" + cfgSecret},
			func(t *testing.T, c Server) {
				want := &Auth{JWTSecret: "j" + cfgSecret, RefreshSecret: "r" + cfgSecret}
				if diff := cmp.Diff(want, c.Auth); diff != "" {
					t.Errorf("auth (-want +got):\n%s", diff)
				}
			}},
		{"flow mapping then a nested key", []string{
			"RUNNEL__AUTH__REFRESH_SECRET=r" + cfgSecret, "RUNNEL__AUTH={jwt_secret: j" + cfgSecret + ", refresh_secret: x}",
		}, func(t *testing.T, c Server) {
			want := &Auth{JWTSecret: "j" + cfgSecret, RefreshSecret: "r" + cfgSecret}
			if diff := cmp.Diff(want, c.Auth); diff != "" {
				t.Errorf("auth (-want +got):\n%s", diff)
			}
		}},
		{"new workspace", []string{"RUNNEL__WORKSPACES__OPS__TYPE=git", "RUNNEL__WORKSPACES__OPS__URL=https://h/ops.git"},
			func(t *testing.T, c Server) {
				want := map[string]Workspace{
					"docs": {Type: "folder", Path: "/srv/docs"},
					"ops":  {Type: "git", URL: "https://h/ops.git", Ref: "main", PollIntervalSecs: 60},
				}
				if diff := cmp.Diff(want, c.Workspaces); diff != "" {
					t.Errorf("workspaces (-want +got):\n%s", diff)
				}
			}},
		{"key of a file workspace", []string{"RUNNEL__WORKSPACES__DOCS__PATH=/srv/other"}, func(t *testing.T, c Server) {
			if got := c.Workspaces["docs"]; got != (Workspace{Type: "folder", Path: "/srv/other"}) {
				t.Errorf("docs = %+v", got)
			}
		}},
		{"secret text kept verbatim", []string{"RUNNEL__WORKER_TOKEN=a: b #c *d 0123456789abcdef0123456789"}, func(t *testing.T, c Server) {
			if c.WorkerToken != "a: b #c *d 0123456789abcdef0123456789" {
				t.Errorf("worker_token = %q", c.WorkerToken)
			}
		}},
		{"quoted value", []string{`RUNNEL__LOG_LEVEL="debug"`}, func(t *testing.T, c Server) {
			if c.LogLevel != "debug" {
				t.Errorf("log_level = %q", c.LogLevel)
			}
		}},
		{"empty value clears", []string{"RUNNEL__WORKER_TOKEN="}, func(t *testing.T, c Server) {
			if c.WorkerToken != "" {
				t.Errorf("worker_token = %q", c.WorkerToken)
			}
		}},
		{"other RUNNEL variables are not overrides", []string{
			"RUNNEL_CONFIG=/nope.yaml", "RUNNEL_URL=http://x", "RUNNEL_TOKEN=t", "RUNNEL=1", "XRUNNEL__LISTEN=x",
		}, func(t *testing.T, c Server) {
			if c.Listen != "127.0.0.1:1" {
				t.Errorf("listen = %q", c.Listen)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cfgWrite(t, t.TempDir(), "server-config.yaml", file)
			cfg, err := LoadServer(path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestConfigEnvOverrideProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want []string
	}{
		{"unknown key", "", []string{"RUNNEL__RECOVERY__HEARTBEAT_TIMOUT_SECS=5"},
			[]string{`RUNNEL__RECOVERY__HEARTBEAT_TIMOUT_SECS: unknown key "recovery.heartbeat_timout_secs" (did you mean "recovery.heartbeat_timeout_secs"?)`}},
		{"type error", "", []string{"RUNNEL__LOCAL_WORKERS=many"},
			[]string{`RUNNEL__LOCAL_WORKERS: local_workers must be an integer`}},
		{"validation", "local_workers: 2\n", []string{"RUNNEL__LOCAL_WORKERS=500"},
			[]string{`RUNNEL__LOCAL_WORKERS: local_workers must be between 0 and 256 (got 500)`}},
		{"into a scalar", "listen: 127.0.0.1:1\n", []string{"RUNNEL__LISTEN__PORT=1"},
			[]string{`RUNNEL__LISTEN__PORT: cannot set listen.port: listen is not a mapping`}},
		{"bad names", "", []string{"RUNNEL__=1", "RUNNEL__A____B=1", "RUNNEL__LISTEN__=1"}, []string{
			`RUNNEL__: invalid override name: use RUNNEL__ then key segments joined by double underscores, e.g. RUNNEL__RECOVERY__SWEEP_INTERVAL_SECS`,
			`RUNNEL__A____B: invalid override name: use RUNNEL__ then key segments joined by double underscores, e.g. RUNNEL__RECOVERY__SWEEP_INTERVAL_SECS`,
			`RUNNEL__LISTEN__: invalid override name: use RUNNEL__ then key segments joined by double underscores, e.g. RUNNEL__RECOVERY__SWEEP_INTERVAL_SECS`,
		}},
		{"bad flow list", "", []string{"RUNNEL__LOCAL_WORKER_TAGS=[shell"},
			[]string{`RUNNEL__LOCAL_WORKER_TAGS: value is not a valid YAML flow list or mapping: sequence end token ']' not found`}},
		{"rejected key", "", []string{"RUNNEL__DB__URL=postgres://x"},
			[]string{`RUNNEL__DB__URL: db.url is not used: runnel keeps job data in data_dir`}},
		{"same key twice", "", []string{"RUNNEL__LISTEN=127.0.0.1:1", "RUNNEL__listen=127.0.0.1:2"},
			[]string{`RUNNEL__listen: RUNNEL__LISTEN and RUNNEL__listen both set listen; keep one`}},
		{"partial auth", "", []string{"RUNNEL__AUTH__JWT_SECRET=x"}, []string{
			`RUNNEL__AUTH__JWT_SECRET: auth.jwt_secret must be at least 32 bytes (got 1)`,
			"RUNNEL__AUTH__JWT_SECRET: auth.refresh_secret is required when auth is set (at least 32 bytes, e.g. from `openssl rand -hex 32`)",
		}},
		{"unset variable in override", "", []string{"RUNNEL__WORKER_TOKEN=${NOPE}"},
			[]string{`RUNNEL__WORKER_TOKEN: worker_token: environment variable 'NOPE' is not set`}},
		{"file problems first", "log_level: loud\n", []string{"RUNNEL__LOG_FORMAT=xml"}, []string{
			`F:1:12: log_level "loud" must be one of debug, info, warn, error`,
			`RUNNEL__LOG_FORMAT: log_format "xml" must be text or json`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cfgWrite(t, t.TempDir(), "server-config.yaml", tt.file)
			_, err := LoadServer(path, tt.env)
			if diff := cmp.Diff(tt.want, cfgLines(t, err, path)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigExpand(t *testing.T) {
	env := []string{"HOST=git.example.com", "REPO=ops", "EMPTY=", "N=7", "TAG=gpu"}
	tests := []struct {
		name  string
		value string
		want  string // the expanded webhook_secret, or the error line
	}{
		{"whole value", "${HOST}", "git.example.com"},
		{"several", "https://${HOST}/x/${REPO}.git", "https://git.example.com/x/ops.git"},
		{"set but empty", "a${EMPTY}b", "ab"},
		{"plain dollar untouched", "pa$word $HOST", "pa$word $HOST"},
		{"escaped", "a$${HOST}", "a${HOST}"},
		{"unset", "${JWT_SECRET}", "F:5:21: workspaces.w.webhook_secret: environment variable 'JWT_SECRET' is not set"},
		{"unterminated", "x${HOST", "F:5:21: workspaces.w.webhook_secret: unterminated ${ in value (write $${ for a literal ${)"},
		{"invalid name", "${1A}", "F:5:21: workspaces.w.webhook_secret: invalid variable reference ${1A} (write $${ for a literal ${)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "workspaces:\n  w:\n    type: git\n    url: https://h/r.git\n    webhook_secret: '" + tt.value + "'\n"
			path := cfgWrite(t, t.TempDir(), "server-config.yaml", yaml)
			cfg, err := LoadServer(path, env)
			got := cfg.Workspaces["w"].WebhookSecret
			if err != nil {
				got = strings.Join(cfgLines(t, err, path), "\n")
			}
			if got != tt.want {
				t.Errorf("webhook_secret %q = %q, want %q", tt.value, got, tt.want)
			}
		})
	}

	// ${VAR} works in lists, integers, nested sections and names the key.
	yaml := "local_workers: ${N}\nlocal_worker_tags: [shell, '${TAG}']\nauth:\n  jwt_secret: ${JWT}\n  refresh_secret: ${JWT}\n"
	path := cfgWrite(t, t.TempDir(), "server-config.yaml", yaml)
	cfg, err := LoadServer(path, append(env, "JWT="+cfgSecret))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LocalWorkers != 7 || !cmp.Equal(cfg.LocalWorkerTags, []string{"shell", "gpu"}) || cfg.Auth.JWTSecret != cfgSecret {
		t.Errorf("local_workers %d, tags %q, auth %+v", cfg.LocalWorkers, cfg.LocalWorkerTags, cfg.Auth)
	}
	_, err = LoadServer(path, env)
	want := []string{
		`F:4:15: auth.jwt_secret: environment variable 'JWT' is not set`,
		`F:5:19: auth.refresh_secret: environment variable 'JWT' is not set`,
	}
	if diff := cmp.Diff(want, cfgLines(t, err, path)); diff != "" {
		t.Errorf("unset variables (-want +got):\n%s", diff)
	}
}

func TestConfigRelativePaths(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	t.Setenv("HOME", home)
	dir := filepath.Join(root, "etc", "runnel")
	cfgWrite(t, dir, "keys/deploy", "key")
	cfgWrite(t, dir, "tls/c.pem", "cert")
	cfgWrite(t, home, "k.pem", "key")
	path := cfgWrite(t, dir, "server-config.yaml", `
data_dir: ../../var/runnel
workspaces:
  docs: {type: folder, path: workspace}
  abs: {type: folder, path: /srv/abs}
  local: {type: git, url: ../repo.git}
  remote: {type: git, url: "git@host:org/repo.git", auth: {type: ssh_key, key_path: keys/deploy}}
  homekey: {type: git, url: "ssh://h/r.git", auth: {type: ssh_key, key_path: ~/k.pem}}
tls: {cert_file: tls/c.pem, key_file: ./tls/c.pem}
`)
	// Load through a relative path from another working directory.
	t.Chdir(root)
	rel, err := filepath.Rel(root, path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadServer(rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"data_dir":  cfg.DataDir,
		"local_dir": cfg.LogStorage.LocalDir,
		"docs":      cfg.Workspaces["docs"].Path,
		"abs":       cfg.Workspaces["abs"].Path,
		"local":     cfg.Workspaces["local"].URL,
		"remote":    cfg.Workspaces["remote"].URL,
		"key":       cfg.Workspaces["remote"].Auth.KeyPath,
		"homekey":   cfg.Workspaces["homekey"].Auth.KeyPath,
		"cert":      cfg.TLS.CertFile,
		"tlskey":    cfg.TLS.KeyFile,
		"path":      cfg.Path,
	}
	want := map[string]string{
		"data_dir":  filepath.Join(root, "var", "runnel"),
		"local_dir": filepath.Join(root, "var", "runnel", "logs"),
		"docs":      filepath.Join(dir, "workspace"),
		"abs":       "/srv/abs",
		"local":     filepath.Join(dir, "..", "repo.git"),
		"remote":    "git@host:org/repo.git",
		"key":       filepath.Join(dir, "keys", "deploy"),
		"homekey":   filepath.Join(home, "k.pem"),
		"cert":      filepath.Join(dir, "tls", "c.pem"),
		"tlskey":    filepath.Join(dir, "tls", "c.pem"),
		"path":      rel,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}

	// Overrides resolve against the file's directory too; a relative
	// local_dir is not tied to data_dir.
	cfg, err = LoadServer(rel, []string{"RUNNEL__LOG_STORAGE__LOCAL_DIR=logs"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "logs"); cfg.LogStorage.LocalDir != want {
		t.Errorf("local_dir = %q, want %q", cfg.LogStorage.LocalDir, want)
	}

	// Worker: against the file's directory, else the working directory.
	wpath := cfgWrite(t, dir, "worker-config.yaml", "server_url: http://h:1\nworker_token: "+cfgSecret+"\nworkspace_cache_dir: cache\n")
	w, err := LoadWorker(wpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "cache"); w.WorkspaceCacheDir != want {
		t.Errorf("workspace_cache_dir = %q, want %q", w.WorkspaceCacheDir, want)
	}
	w, err = LoadWorker("", []string{"RUNNEL__SERVER_URL=http://h:1", "RUNNEL__WORKER_TOKEN=" + cfgSecret, "RUNNEL__WORKSPACE_CACHE_DIR=c"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "c"); w.WorkspaceCacheDir != want {
		t.Errorf("workspace_cache_dir without file = %q, want %q", w.WorkspaceCacheDir, want)
	}
}

func TestConfigPath(t *testing.T) {
	tests := []struct {
		name        string
		flag        string
		env         []string
		defaultFile bool
		want        string
	}{
		{"flag wins", "a.yaml", []string{"RUNNEL_CONFIG=b.yaml"}, true, "a.yaml"},
		{"env next", "", []string{"RUNNEL_CONFIG=b.yaml"}, true, "b.yaml"},
		{"empty env ignored", "", []string{"RUNNEL_CONFIG="}, true, "server-config.yaml"},
		{"default file present", "", nil, true, "server-config.yaml"},
		{"nothing", "", nil, false, ""},
		{"named missing file kept", "missing.yaml", nil, false, "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			if tt.defaultFile {
				cfgWrite(t, dir, "server-config.yaml", "")
			}
			if got := Path(tt.flag, tt.env, "server-config.yaml"); got != tt.want {
				t.Errorf("Path(%q, %q) = %q, want %q", tt.flag, tt.env, got, tt.want)
			}
		})
	}

	// A directory named like the default file is not a config file.
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("server-config.yaml", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Path("", nil, "server-config.yaml"); got != "" {
		t.Errorf("Path with a directory = %q, want \"\"", got)
	}

	// A named file that does not exist is an error when loading.
	_, err := LoadServer("missing.yaml", nil)
	if err == nil || err.Error() != "config file missing.yaml: no such file" {
		t.Errorf("LoadServer(missing) = %v", err)
	}
	_, err = LoadWorker("missing.yaml", nil)
	if err == nil || err.Error() != "config file missing.yaml: no such file" {
		t.Errorf("LoadWorker(missing) = %v", err)
	}
}

func TestConfigWorker(t *testing.T) {
	base := "server_url: http://127.0.0.1:8080\nworker_token: " + cfgSecret + "\n"
	tests := []struct {
		name  string
		yaml  string
		env   []string
		want  []string
		check func(t *testing.T, w Worker)
	}{
		{"aliases", base + "workspace_dir: /var/cache/w\ncapabilities: [shell, docker]\n", nil, nil, func(t *testing.T, w Worker) {
			if w.WorkspaceCacheDir != "/var/cache/w" || !cmp.Equal(w.Tags, []string{"shell", "docker"}) {
				t.Errorf("cache dir %q, tags %q", w.WorkspaceCacheDir, w.Tags)
			}
		}},
		{"alias override", base + "workspace_cache_dir: /a\n", []string{"RUNNEL__CAPABILITIES=[gpu]", "RUNNEL__WORKSPACE_DIR=/b"}, nil,
			func(t *testing.T, w Worker) {
				if w.WorkspaceCacheDir != "/b" || !cmp.Equal(w.Tags, []string{"gpu"}) {
					t.Errorf("cache dir %q, tags %q", w.WorkspaceCacheDir, w.Tags)
				}
			}},
		{"both alias and key", base + "tags: [shell]\ncapabilities: [gpu]\nworkspace_dir: /a\nworkspace_cache_dir: /b\n", nil, []string{
			`F:4:1: capabilities and tags are both set; capabilities is an alias of tags, keep one`,
			`F:5:1: workspace_dir and workspace_cache_dir are both set; workspace_dir is an alias of workspace_cache_dir, keep one`,
		}, nil},
		{"both from env", base, []string{"RUNNEL__TAGS=[a]", "RUNNEL__CAPABILITIES=[b]"}, []string{
			`RUNNEL__CAPABILITIES: RUNNEL__TAGS and RUNNEL__CAPABILITIES both set tags; keep one`,
		}, nil},
		{"missing server_url", "worker_token: " + cfgSecret + "\n", nil, []string{`F: server_url is required`}, nil},
		{"bad server_url", "server_url: 127.0.0.1:8080\nworker_token: " + cfgSecret + "\n", nil,
			[]string{`F:1:13: server_url "127.0.0.1:8080" must be an http:// or https:// URL`}, nil},
		{"ftp server_url", "server_url: ftp://h\nworker_token: " + cfgSecret + "\n", nil,
			[]string{`F:1:13: server_url "ftp://h" must be an http:// or https:// URL`}, nil},
		{"tokens", "server_url: https://h\n", nil, []string{`F: worker_token is required (the server's worker_token)`}, nil},
		{"short token", "server_url: https://h\nworker_token: abc\n", nil,
			[]string{`F:2:15: worker_token must be at least 32 characters (got 3)`}, nil},
		{"numbers", base + "max_concurrent: 0\npoll_interval_secs: 0\n", nil, []string{
			`F:3:17: max_concurrent must be at least 1 (got 0)`,
			`F:4:21: poll_interval_secs must be at least 1 (got 0)`,
		}, nil},
		{"empties", base + "worker_name: ''\nworkspace_cache_dir: ''\ntags: []\n", nil, []string{
			`F:3:14: worker_name must not be empty`,
			`F:4:22: workspace_cache_dir must not be empty`,
			`F:5:7: tags must not be empty`,
		}, nil},
		{"later keys", base + "runner_image: alpine\ndocker: {}\nkubernetes: {}\n", nil, []string{
			`F:3:1: 'runner_image' is not supported yet`,
			`F:4:1: 'docker' is not supported yet`,
			`F:5:1: 'kubernetes' is not supported yet`,
		}, nil},
		{"unknown key", base + "max_concurent: 3\n", nil, []string{`F:3:1: unknown key "max_concurent" (did you mean "max_concurrent"?)`}, nil},
		{"server keys are unknown", base + "listen: x\n", nil, []string{`F:3:1: unknown key "listen"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cfgWrite(t, t.TempDir(), "worker-config.yaml", tt.yaml)
			w, err := LoadWorker(path, tt.env)
			if diff := cmp.Diff(tt.want, cfgLines(t, err, path)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if tt.check != nil && err == nil {
				tt.check(t, w)
			}
		})
	}
}

// TestConfigValidateInCode covers Validate on configs built in code: no
// positions, every problem on its own line.
func TestConfigValidateInCode(t *testing.T) {
	var c Server
	want := []string{
		`listen "" must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`,
		`data_dir must not be empty`,
		`shutdown_grace_secs must be between 1 and 3600 (got 0)`,
		`max_connections must be at least 1 (got 0)`,
		`log_storage.max_open_files must be at least 1 (got 0)`,
		`recovery.heartbeat_timeout_secs must be at least 4 (got 0)`,
		`recovery.sweep_interval_secs must be at least 1 (got 0)`,
		`log_level "" must be one of debug, info, warn, error`,
		`log_format "" must be text or json`,
	}
	if diff := cmp.Diff(want, cfgLines(t, c.Validate(), "")); diff != "" {
		t.Errorf("Server{}.Validate() (-want +got):\n%s", diff)
	}
	c = DefaultServer()
	c.TrustedProxies = []netip.Prefix{{}}
	c.Workspaces = map[string]Workspace{"w": {Type: "git", URL: "https://h/r.git"}}
	want = []string{
		`workspaces.w.ref must not be empty (a branch or tag; default main)`,
		`workspaces.w.poll_interval_secs must be at least 1 (got 0)`,
		`trusted_proxies[0] is not a valid CIDR`,
	}
	if diff := cmp.Diff(want, cfgLines(t, c.Validate(), "")); diff != "" {
		t.Errorf("Validate() (-want +got):\n%s", diff)
	}
	w := DefaultWorker()
	w.ServerURL, w.WorkerToken = "http://h", cfgSecret
	if err := w.Validate(); err != nil {
		t.Errorf("worker Validate() = %v", err)
	}
}

// TestConfigExamples loads the shipped example files with zero problems.
func TestConfigExamples(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"RUNNEL_EXAMPLE_GIT_URL=https://github.com/your-org/automation.git",
		"RUNNEL_WEBHOOK_SECRET=" + cfgSecret,
		"GIT_TOKEN=ghp_example",
		"RUNNEL_WORKER_TOKEN=" + cfgSecret,
	}
	cfg, err := LoadServer(filepath.Join(examples, "server-config.yaml"), env)
	if err != nil {
		t.Fatalf("server-config.yaml: %v", err)
	}
	want := map[string]Workspace{"default": {Type: "folder", Path: filepath.Join(examples, "workspace")}}
	if diff := cmp.Diff(want, cfg.Workspaces); diff != "" {
		t.Errorf("server-config.yaml workspaces (-want +got):\n%s", diff)
	}

	cfg, err = LoadServer(filepath.Join(examples, "git-server-config.yaml"), env)
	if err != nil {
		t.Fatalf("git-server-config.yaml: %v", err)
	}
	want = map[string]Workspace{"automation": {
		Type: "git", URL: "https://github.com/your-org/automation.git", Ref: "main", PollIntervalSecs: 60,
		WebhookSecret: cfgSecret, Auth: &GitAuth{Type: "token", Token: "ghp_example", Username: "x-access-token"},
	}}
	if diff := cmp.Diff(want, cfg.Workspaces); diff != "" {
		t.Errorf("git-server-config.yaml workspaces (-want +got):\n%s", diff)
	}
	if _, err := LoadServer(filepath.Join(examples, "git-server-config.yaml"), nil); err == nil ||
		!strings.Contains(err.Error(), "environment variable 'RUNNEL_EXAMPLE_GIT_URL' is not set") {
		t.Errorf("git-server-config.yaml without env: err = %v", err)
	}

	w, err := LoadWorker(filepath.Join(examples, "worker-config.yaml"), env)
	if err != nil {
		t.Fatalf("worker-config.yaml: %v", err)
	}
	if w.ServerURL != "http://127.0.0.1:8080" || w.WorkerToken != cfgSecret {
		t.Errorf("worker-config.yaml: server_url %q, token %q", w.ServerURL, w.WorkerToken)
	}
}

var cfgCommentedKey = regexp.MustCompile(`^ *[a-z_]+:( |$)`)

// TestConfigCommentedExampleKeys uncomments every commented key of the
// server example and checks that the result still loads: the comments
// document real keys with valid values.
func TestConfigCommentedExampleKeys(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "server-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		indent := line[:len(line)-len(trimmed)]
		// "# key: value" and "#   key: value" lines are commented keys;
		// prose comments do not start with a lowercase "key:".
		if rest, ok := strings.CutPrefix(trimmed, "# "); ok && cfgCommentedKey.MatchString(rest) {
			line = indent + rest
		}
		b.WriteString(line + "\n")
	}
	dir := t.TempDir()
	cfgWrite(t, dir, "tls.crt", "x")
	text := strings.NewReplacer("/etc/runnel/tls.crt", "tls.crt", "/etc/runnel/tls.key", "tls.crt").Replace(b.String())
	path := cfgWrite(t, dir, "server-config.yaml", text)
	env := []string{"RUNNEL_WORKER_TOKEN=" + cfgSecret, "RUNNEL_JWT_SECRET=" + cfgSecret, "RUNNEL_REFRESH_SECRET=" + cfgSecret, "RUNNEL_ADMIN_PASSWORD=pw",
		"RUNNEL_METRICS_TOKEN=" + cfgSecret}
	cfg, err := LoadServer(path, env)
	if err != nil {
		t.Fatalf("uncommented example:\n%s\nerror: %v", text, err)
	}
	if cfg.Auth == nil || cfg.TLS == nil || cfg.WorkerToken != cfgSecret || cfg.MetricsToken != cfgSecret {
		t.Errorf("uncommented example did not set auth, tls, worker_token and metrics_token:\n%s", text)
	}
}

// FuzzConfigLoad feeds arbitrary file contents to the loader: it must return a
// config or an error, never panic, and every problem must name a position
// inside the file or none.
func FuzzConfigLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.yaml"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("workspaces:\n  a: &w {type: git}\n  b: {<<: [*w, *w], url: x}\n"))
	f.Add([]byte("local_worker_tags: " + strings.Repeat("[", 40_000)))
	f.Add([]byte("workspaces:\n" + strings.Repeat("- ", 100) + "x\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := cfgLoadServer("server-config.yaml", src, []string{"RUNNEL__LOCAL_WORKERS=2"})
		var ce *Error
		if err == nil || !errors.As(err, &ce) {
			return
		}
		lines := strings.Count(string(src), "\n") + strings.Count(string(src), "\r") + 1 // YAML breaks lines at \r too
		for _, p := range ce.Problems {
			if p.Line < 0 || p.Line > lines {
				t.Errorf("problem %q has line %d outside the %d-line file", p, p.Line, lines)
			}
		}
	})
}
