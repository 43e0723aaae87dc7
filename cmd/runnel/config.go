package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"runnel/httpd"
	"runnel/workspace"
	"runnel/workspace/yamlfile"
)

// This file holds the two configuration files of the runnel binary
// (SPEC §2): server-config.yaml for `runnel serve` and worker-config.yaml
// for `runnel worker`. Both load the same way:
//
//  1. the YAML file is parsed into a position-carrying tree,
//  2. RUNNEL__A__B=value variables replace key a.b in that tree,
//  3. the tree is decoded onto the defaults against the struct's `yaml`
//     tags (unknown keys, rejected keys and type errors are collected, and
//     ${VAR} references in string values are expanded),
//  4. defaults that depend on other keys are filled and relative paths
//     are made absolute against the config file's directory,
//  5. Validate checks every value.
//
// All problems of all steps are reported together in one *ConfigError.

// ServerConfig is the configuration of `runnel serve` (server-config.yaml,
// SPEC §2.2). Paths are absolute after LoadServerConfig.
type ServerConfig struct {
	// Listen is the host:port the API binds before serving.
	Listen string `yaml:"listen"`
	// AllowedHosts are Host names (or ".domain" for a domain and its
	// subdomains) served with auth off besides localhost, loopback
	// addresses, the listen host and auth.base_url's host (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// MaxConnections caps open connections to ordinary routes; a reserve
	// of httpd.DefaultReserveConnections more is kept for /worker and
	// /healthz. ≥ 1.
	MaxConnections int `yaml:"max_connections"`
	// DataDir holds the store, logs, clones and revisions (SPEC §2.4).
	DataDir string `yaml:"data_dir"`
	// LogStorage says where job logs are written.
	LogStorage LogStorageConfig `yaml:"log_storage"`
	// Workspaces maps a workspace name (rule N) to its source.
	Workspaces map[string]WorkspaceConfig `yaml:"workspaces"`
	// WorkerToken authenticates remote workers; "" disables /worker/*.
	WorkerToken string `yaml:"worker_token"`
	// MetricsToken lets scrapers read /metrics with auth on (besides
	// admins); "" leaves /metrics to admins.
	MetricsToken string `yaml:"metrics_token"`
	// LocalWorkers is the number of built-in worker slots, 0–256.
	LocalWorkers int `yaml:"local_workers"`
	// LocalWorkerTags are the tags of the built-in worker.
	LocalWorkerTags []string `yaml:"local_worker_tags"`
	// Recovery tunes the recovery sweeper (SPEC §9.6).
	Recovery RecoveryConfig `yaml:"recovery"`
	// Retention deletes old jobs, workers and audit entries on every sweep.
	Retention RetentionConfig `yaml:"retention"`
	// Audit configures the audit log.
	Audit AuditConfig `yaml:"audit"`
	// Debug turns on diagnostics that are off by default.
	Debug DebugConfig `yaml:"debug"`
	// Auth turns authentication on when non-nil (SPEC §12).
	Auth *AuthConfig `yaml:"auth"`
	// TLS makes the server speak HTTPS when non-nil.
	TLS *TLSConfig `yaml:"tls"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed. In
	// YAML each entry is a CIDR or a bare IP (meaning /32 or /128); the
	// loader parses them, so the field holds masked prefixes.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// LogLevel is the server log verbosity: debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is the server log format: text or json.
	LogFormat string `yaml:"log_format"`
	// ShutdownGraceSecs is how long running built-in steps may finish after
	// SIGTERM before they are stopped, 1–3600.
	ShutdownGraceSecs int `yaml:"shutdown_grace_secs"`

	// Path is the config file the values came from as the caller named it;
	// "" means no file (defaults and environment only).
	Path string `yaml:"-"`
}

// LogStorageConfig says where job logs are kept.
type LogStorageConfig struct {
	// LocalDir is the log directory; "" means <DataDir>/logs (the loader
	// always fills it in).
	LocalDir string `yaml:"local_dir"`
	// MaxOpenFiles bounds the job log files open at once, however many
	// jobs are queued or running; ≥ 1. The least recently written one is
	// closed when another job writes.
	MaxOpenFiles int `yaml:"max_open_files"`
}

// RetentionConfig is the retention policy the sweeper enforces.
type RetentionConfig struct {
	// JobsDays deletes finished jobs older than this many days (0 = keep).
	JobsDays int `yaml:"jobs_days"`
	// MaxJobsPerTask keeps this many newest finished jobs per task (0 = all).
	MaxJobsPerTask int `yaml:"max_jobs_per_task"`
	// WorkersDays deletes remote workers inactive this long (0 = keep).
	WorkersDays int `yaml:"workers_days"`
	// AuditDays deletes audit log entries older than this many days (0 =
	// keep).
	AuditDays int `yaml:"audit_days"`
}

// AuditConfig configures the audit log (always recorded in the store).
type AuditConfig struct {
	// Log mirrors every entry to the server log as an "audit" record.
	Log bool `yaml:"log"`
}

// DebugConfig holds diagnostics for operators, all off by default.
type DebugConfig struct {
	// Pprof serves Go's runtime profiles under /debug/pprof/ to loopback
	// clients only.
	Pprof bool `yaml:"pprof"`
}

// RecoveryConfig tunes the recovery sweeper; all values are seconds.
type RecoveryConfig struct {
	// HeartbeatTimeoutSecs marks a silent worker inactive; ≥ 4.
	HeartbeatTimeoutSecs int `yaml:"heartbeat_timeout_secs"`
	// SweepIntervalSecs is the sweeper period; ≥ 1.
	SweepIntervalSecs int `yaml:"sweep_interval_secs"`
	// UnmatchedStepTimeoutSecs fails a step no worker can take; 0 = never.
	UnmatchedStepTimeoutSecs int `yaml:"unmatched_step_timeout_secs"`
}

// WorkspaceConfig is one entry of `workspaces` (SPEC §2.2): a folder
// (Path) or a git repository (URL, Ref, PollIntervalSecs, WebhookSecret,
// Auth). The loader fills Ref ("main") and PollIntervalSecs (60) of git
// workspaces when absent.
type WorkspaceConfig struct {
	// Type is "folder" or "git".
	Type string `yaml:"type"`
	// Path is the folder of a folder workspace (absolute after loading; it
	// may not exist yet).
	Path string `yaml:"path"`
	// URL is the git remote: https, ssh, user@host:path, file:// or a local
	// path (a relative local path is made absolute by the loader).
	URL string `yaml:"url"`
	// Ref is the branch or tag to follow.
	Ref string `yaml:"ref"`
	// PollIntervalSecs is the fetch period of a git workspace; ≥ 1.
	PollIntervalSecs int `yaml:"poll_interval_secs"`
	// WebhookSecret enables POST /push/{ws} for a git workspace.
	WebhookSecret string `yaml:"webhook_secret"`
	// Auth holds git credentials; nil means none.
	Auth *GitAuthConfig `yaml:"auth"`
}

// GitAuthConfig holds git credentials. Type "token" uses Token as the HTTP
// basic-auth password for Username (default "x-access-token"); "basic"
// uses Username and Password; "ssh_key" uses KeyPath or Key (PEM text) with
// Password as the optional passphrase.
type GitAuthConfig struct {
	Type     string `yaml:"type"`
	Token    string `yaml:"token"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	KeyPath  string `yaml:"key_path"`
	Key      string `yaml:"key"`
}

// AuthConfig is the `auth` section (SPEC §12.1); its presence turns
// authentication on.
type AuthConfig struct {
	// JWTSecret signs access tokens (HS256); at least 32 bytes.
	JWTSecret string `yaml:"jwt_secret"`
	// RefreshSecret is the HMAC key of stored refresh tokens; at least 32 bytes.
	RefreshSecret string `yaml:"refresh_secret"`
	// BaseURL is the public http(s) URL of the server (CORS origin).
	BaseURL string `yaml:"base_url"`
	// Providers maps a provider id (rule N) to its settings.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// InitialUser is created as an admin at startup if its email is absent.
	InitialUser *InitialUser `yaml:"initial_user"`
}

// ProviderConfig is one login provider. Only "internal" is supported now;
// "oidc" is rejected by Validate.
type ProviderConfig struct {
	ProviderType string `yaml:"provider_type"`
	DisplayName  string `yaml:"display_name"`
	IssuerURL    string `yaml:"issuer_url"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
}

// InitialUser is the admin created at startup when no user has Email; the
// password is never updated afterwards.
type InitialUser struct {
	Email    string `yaml:"email"`
	Password string `yaml:"password"`
}

// TLSConfig makes the server serve HTTPS with a PEM certificate and key;
// both files must exist.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// WorkerConfig is the configuration of `runnel worker`
// (worker-config.yaml, SPEC §2.3). WorkspaceCacheDir is absolute after
// LoadWorkerConfig.
type WorkerConfig struct {
	// ServerURL is the http(s) base URL of the runnel server.
	ServerURL string `yaml:"server_url"`
	// WorkerToken is the server's worker_token; at least 32 characters.
	WorkerToken string `yaml:"worker_token"`
	// WorkerName is the name shown in the registry; default the host name.
	WorkerName string `yaml:"worker_name"`
	// MaxConcurrent is the number of steps run at once; ≥ 1.
	MaxConcurrent int `yaml:"max_concurrent"`
	// PollIntervalSecs is the pause after an error or empty claim; ≥ 1.
	PollIntervalSecs int `yaml:"poll_interval_secs"`
	// WorkspaceCacheDir caches extracted revisions (alias workspace_dir).
	WorkspaceCacheDir string `yaml:"workspace_cache_dir"`
	// Tags are the tags the worker advertises (alias capabilities).
	Tags []string `yaml:"tags"`

	// Path is the config file the values came from; "" means none.
	Path string `yaml:"-"`
}

// DefaultServerConfig returns the documented defaults of server-config.yaml
// with relative paths still relative.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Listen:            "127.0.0.1:8080",
		MaxConnections:    httpd.DefaultMaxConnections,
		DataDir:           "./runnel-data",
		LogStorage:        LogStorageConfig{MaxOpenFiles: 128},
		LocalWorkers:      4,
		ShutdownGraceSecs: 30,
		LocalWorkerTags:   []string{"shell"},
		Recovery: RecoveryConfig{
			HeartbeatTimeoutSecs:     120,
			SweepIntervalSecs:        60,
			UnmatchedStepTimeoutSecs: 300,
		},
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// DefaultWorkerConfig returns the documented defaults of worker-config.yaml;
// WorkerName is the host name ("runnel-worker" if it cannot be read).
func DefaultWorkerConfig() WorkerConfig {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "runnel-worker"
	}
	return WorkerConfig{
		WorkerName:        name,
		MaxConcurrent:     4,
		PollIntervalSecs:  2,
		WorkspaceCacheDir: "./runnel-worker-cache",
		Tags:              []string{"shell"},
	}
}

// ConfigPath picks the config file: the --config flag value, else
// RUNNEL_CONFIG from environ, else defaultName if that file exists in the
// working directory, else "" (no file). A named file is returned even if it
// does not exist, so loading it reports the error.
func ConfigPath(flagValue string, environ []string, defaultName string) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := cfgLookupEnv(environ, "RUNNEL_CONFIG"); ok && v != "" {
		return v
	}
	if defaultName != "" {
		if fi, err := os.Stat(defaultName); err == nil && !fi.IsDir() {
			return defaultName
		}
	}
	return ""
}

// LoadServerConfig reads the server config file at path ("" = none, use
// defaults), applies RUNNEL__ overrides and ${VAR} references from environ,
// fills defaults, makes relative paths absolute against the file's
// directory (else the working directory) and validates the result. Every
// problem found is returned in one *ConfigError; a named file that does not
// exist is an error too. On error the returned config is the zero value.
func LoadServerConfig(path string, environ []string) (ServerConfig, error) {
	src, err := cfgRead(path)
	if err != nil {
		return ServerConfig{}, err
	}
	return cfgLoadServer(path, src, environ)
}

// cfgLoadServer is LoadServerConfig on the file's contents (nil = no file).
func cfgLoadServer(path string, src []byte, environ []string) (ServerConfig, error) {
	cfg := DefaultServerConfig()
	l, err := cfgLoad(path, src, environ, &cfg, cfgServerSchema)
	if err != nil {
		return ServerConfig{}, err
	}
	cfg.Path = path
	cfg.DataDir = l.abs(cfg.DataDir)
	if cfg.LogStorage.LocalDir == "" && cfg.DataDir != "" {
		cfg.LogStorage.LocalDir = filepath.Join(cfg.DataDir, "logs")
	}
	cfg.LogStorage.LocalDir = l.abs(cfg.LogStorage.LocalDir)
	for name, ws := range cfg.Workspaces {
		switch ws.Type {
		case "folder":
			ws.Path = l.abs(ws.Path)
		case "git":
			if ws.Ref == "" && !l.dec.seen["workspaces."+name+".ref"] {
				ws.Ref = "main"
			}
			if !l.dec.seen["workspaces."+name+".poll_interval_secs"] {
				ws.PollIntervalSecs = 60
			}
			ws.URL = l.absGitURL(ws.URL)
			if a := ws.Auth; a != nil {
				auth := *a
				if auth.Type == "token" && auth.Username == "" {
					auth.Username = "x-access-token"
				}
				auth.KeyPath = l.abs(auth.KeyPath)
				ws.Auth = &auth
			}
		}
		cfg.Workspaces[name] = ws
	}
	if cfg.TLS != nil {
		cfg.TLS.CertFile = l.abs(cfg.TLS.CertFile)
		cfg.TLS.KeyFile = l.abs(cfg.TLS.KeyFile)
	}
	if err := l.finish(cfg.problems()); err != nil {
		return ServerConfig{}, err
	}
	return cfg, nil
}

// LoadWorkerConfig is LoadServerConfig for worker-config.yaml; it also
// accepts the aliases workspace_dir (for workspace_cache_dir) and
// capabilities (for tags).
func LoadWorkerConfig(path string, environ []string) (WorkerConfig, error) {
	src, err := cfgRead(path)
	if err != nil {
		return WorkerConfig{}, err
	}
	cfg := DefaultWorkerConfig()
	l, err := cfgLoad(path, src, environ, &cfg, cfgWorkerSchema)
	if err != nil {
		return WorkerConfig{}, err
	}
	cfg.Path = path
	cfg.WorkspaceCacheDir = l.abs(cfg.WorkspaceCacheDir)
	if err := l.finish(cfg.problems()); err != nil {
		return WorkerConfig{}, err
	}
	return cfg, nil
}

// Validate checks every value of c against SPEC §2.2, §11 and §12.1 and
// returns all problems as one *ConfigError (one per line), or nil. It does
// not fill defaults; LoadServerConfig does that first.
func (c *ServerConfig) Validate() error {
	return cfgProblemsError(c.problems())
}

// Validate checks every value of c against SPEC §2.3 and returns all
// problems as one *ConfigError (one per line), or nil.
func (c *WorkerConfig) Validate() error {
	return cfgProblemsError(c.problems())
}

// Problem is one thing wrong with a configuration. Line and Col (1-based)
// are set when the value came from File; Env names the RUNNEL__ variable
// when it came from the environment; both are empty for defaults and for
// configs built in code.
type Problem struct {
	File      string
	Line, Col int
	Env       string
	// Key is the dotted key the problem is about ("" for the whole file).
	Key string
	// Message is self-contained and names the key.
	Message string
}

// String formats p as `file:line:col: message`, `VAR: message` or `message`.
func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	case p.File != "":
		return p.File + ": " + p.Message
	case p.Env != "":
		return p.Env + ": " + p.Message
	}
	return p.Message
}

// ConfigError lists every problem found while loading or validating a
// configuration; Error joins them with "\n". Problems from the file come
// first in file order, then those from the environment, then the rest.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// cfgNameRule is SPEC name rule N.
var cfgNameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// cfgServerSchema and cfgWorkerSchema list the keys each file rejects with
// a specific message, and the key aliases it accepts.
var (
	cfgServerSchema = cfgSchema{
		rejected: map[string]string{
			"db":                   "db.url is not used: runnel keeps job data in data_dir",
			"default_step_timeout": "'default_step_timeout' is not supported yet",
			"default_job_timeout":  "'default_job_timeout' is not supported yet",
			"log_storage.s3":       "'log_storage.s3' is not supported yet",
			"log_storage.archive":  "'log_storage.archive' is not supported yet",
		},
	}
	cfgWorkerSchema = cfgSchema{
		rejected: map[string]string{
			"runner_image": "'runner_image' is not supported yet",
			"docker":       "'docker' is not supported yet",
			"kubernetes":   "'kubernetes' is not supported yet",
		},
		aliases: map[string]string{
			"workspace_dir": "workspace_cache_dir",
			"capabilities":  "tags",
		},
	}
)

type cfgSchema struct {
	rejected map[string]string // dotted key → message
	aliases  map[string]string // top-level alias → canonical key
}

func (c *ServerConfig) problems() []Problem {
	var ps cfgProblems
	if host, port, err := net.SplitHostPort(c.Listen); err != nil || !cfgValidPort(port) || strings.ContainsAny(host, " /") {
		ps.add("listen", "listen %q must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)", c.Listen)
	}
	if c.DataDir == "" {
		ps.add("data_dir", "data_dir must not be empty")
	}
	for _, r := range []struct {
		key string
		v   int
	}{{"retention.jobs_days", c.Retention.JobsDays}, {"retention.max_jobs_per_task", c.Retention.MaxJobsPerTask}, {"retention.workers_days", c.Retention.WorkersDays},
		{"retention.audit_days", c.Retention.AuditDays}} {
		if r.v < 0 {
			ps.add(r.key, "%s must not be negative (got %d; 0 keeps everything)", r.key, r.v)
		}
	}
	if c.ShutdownGraceSecs < 1 || c.ShutdownGraceSecs > 3600 {
		ps.add("shutdown_grace_secs", "shutdown_grace_secs must be between 1 and 3600 (got %d)", c.ShutdownGraceSecs)
	}
	if c.MaxConnections < 1 {
		ps.add("max_connections", "max_connections must be at least 1 (got %d)", c.MaxConnections)
	}
	for i, h := range c.AllowedHosts {
		if !cfgValidHost(h) {
			key := fmt.Sprintf("allowed_hosts[%d]", i)
			ps.add(key, "%s %q must be a host name or IP address without scheme, port or path (e.g. runnel.lan, 192.168.1.5 or .example.com for a domain and its subdomains)", key, h)
		}
	}
	if v := c.LogStorage.MaxOpenFiles; v < 1 {
		ps.add("log_storage.max_open_files", "log_storage.max_open_files must be at least 1 (got %d)", v)
	}
	if c.LocalWorkers < 0 || c.LocalWorkers > 256 {
		ps.add("local_workers", "local_workers must be between 0 and 256 (got %d)", c.LocalWorkers)
	}
	if c.LocalWorkers > 0 && len(c.LocalWorkerTags) == 0 {
		ps.add("local_worker_tags", "local_worker_tags must not be empty when local_workers > 0")
	}
	ps.tags("local_worker_tags", c.LocalWorkerTags)
	if c.WorkerToken != "" && utf8.RuneCountInString(c.WorkerToken) < 32 {
		ps.add("worker_token", "worker_token must be at least 32 characters (got %d)", utf8.RuneCountInString(c.WorkerToken))
	}
	if c.MetricsToken != "" && utf8.RuneCountInString(c.MetricsToken) < 32 {
		ps.add("metrics_token", "metrics_token must be at least 32 characters (got %d)", utf8.RuneCountInString(c.MetricsToken))
	}
	if v := c.Recovery.HeartbeatTimeoutSecs; v < 4 {
		ps.add("recovery.heartbeat_timeout_secs", "recovery.heartbeat_timeout_secs must be at least 4 (got %d)", v)
	}
	if v := c.Recovery.SweepIntervalSecs; v < 1 {
		ps.add("recovery.sweep_interval_secs", "recovery.sweep_interval_secs must be at least 1 (got %d)", v)
	}
	if v := c.Recovery.UnmatchedStepTimeoutSecs; v < 0 {
		ps.add("recovery.unmatched_step_timeout_secs", "recovery.unmatched_step_timeout_secs must be 0 (wait forever) or more (got %d)", v)
	}
	for _, name := range cfgSortedKeys(c.Workspaces) {
		c.workspaceProblems(&ps, name, c.Workspaces[name])
	}
	if a := c.Auth; a != nil {
		a.problems(&ps)
	}
	if t := c.TLS; t != nil {
		for _, f := range []struct{ key, path string }{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
			if f.path == "" {
				ps.add(f.key, "%s is required when tls is set", f.key)
			} else if fi, err := os.Stat(f.path); err != nil {
				ps.add(f.key, "%s %s: %s", f.key, f.path, cfgStatReason(err))
			} else if fi.IsDir() {
				ps.add(f.key, "%s %s: is a directory", f.key, f.path)
			}
		}
	}
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			ps.add(fmt.Sprintf("trusted_proxies[%d]", i), "trusted_proxies[%d] is not a valid CIDR", i)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log_level", "log_level %q must be one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		ps.add("log_format", "log_format %q must be text or json", c.LogFormat)
	}
	return ps
}

func (c *ServerConfig) workspaceProblems(ps *cfgProblems, name string, ws WorkspaceConfig) {
	k := "workspaces." + name
	if !cfgNameRule.MatchString(name) {
		ps.add(k, "workspace name %q must match %s", name, cfgNameRule)
	}
	notFor := func(field, value, kind string) {
		if value != "" {
			ps.add(k+"."+field, "%s.%s is only for %s workspaces", k, field, kind)
		}
	}
	switch ws.Type {
	case "":
		ps.add(k+".type", "%s.type is required (folder or git)", k)
	case "folder":
		if ws.Path == "" {
			ps.add(k+".path", "%s.path is required for a folder workspace", k)
		}
		notFor("url", ws.URL, "git")
		notFor("ref", ws.Ref, "git")
		notFor("webhook_secret", ws.WebhookSecret, "git")
		if ws.PollIntervalSecs != 0 {
			ps.add(k+".poll_interval_secs", "%s.poll_interval_secs is only for git workspaces", k)
		}
		if ws.Auth != nil {
			ps.add(k+".auth", "%s.auth is only for git workspaces", k)
		}
	case "git":
		notFor("path", ws.Path, "folder")
		if ws.URL == "" {
			ps.add(k+".url", "%s.url is required for a git workspace", k)
		} else if u, err := url.Parse(ws.URL); err == nil && strings.Contains(ws.URL, "://") {
			switch u.Scheme {
			case "http", "https", "ssh", "git", "file":
			default:
				ps.add(k+".url", "%s.url has unsupported scheme %q (use https, ssh, file or a local path)", k, u.Scheme)
			}
		}
		if ws.Ref == "" {
			ps.add(k+".ref", "%s.ref must not be empty (a branch or tag; default main)", k)
		}
		if ws.PollIntervalSecs < 1 {
			ps.add(k+".poll_interval_secs", "%s.poll_interval_secs must be at least 1 (got %d)", k, ws.PollIntervalSecs)
		}
		if a := ws.Auth; a != nil {
			gitAuthProblems(ps, k+".auth", a, ws.URL)
		}
	default:
		ps.add(k+".type", "%s.type %q must be folder or git", k, ws.Type)
	}
}

func gitAuthProblems(ps *cfgProblems, k string, a *GitAuthConfig, rawURL string) {
	unused := func(field, value string) {
		if value != "" {
			ps.add(k+"."+field, "%s.%s is not used by %s auth", k, field, a.Type)
		}
	}
	isHTTP := strings.HasPrefix(rawURL, "http://") || strings.HasPrefix(rawURL, "https://")
	switch a.Type {
	case "":
		ps.add(k+".type", "%s.type is required (token, basic or ssh_key)", k)
	case "token":
		if a.Token == "" {
			ps.add(k+".token", "%s.token is required for token auth", k)
		}
		unused("password", a.Password)
		unused("key_path", a.KeyPath)
		unused("key", a.Key)
	case "basic":
		if a.Username == "" {
			ps.add(k+".username", "%s.username is required for basic auth", k)
		}
		if a.Password == "" {
			ps.add(k+".password", "%s.password is required for basic auth", k)
		}
		unused("token", a.Token)
		unused("key_path", a.KeyPath)
		unused("key", a.Key)
	case "ssh_key":
		switch {
		case a.KeyPath == "" && a.Key == "":
			ps.add(k, "%s needs key_path or key for ssh_key auth", k)
		case a.KeyPath != "" && a.Key != "":
			ps.add(k+".key", "%s sets both key_path and key; keep one", k)
		case a.KeyPath != "":
			if _, err := os.Stat(a.KeyPath); err != nil {
				ps.add(k+".key_path", "%s.key_path %s: %s", k, a.KeyPath, cfgStatReason(err))
			}
		}
		unused("token", a.Token)
		unused("username", a.Username)
		if isHTTP {
			ps.add(k+".type", "%s: ssh_key auth needs an ssh url, not %s", k, rawURL)
		}
	default:
		ps.add(k+".type", "%s.type %q must be token, basic or ssh_key", k, a.Type)
	}
	if (a.Type == "token" || a.Type == "basic") && rawURL != "" && !isHTTP {
		ps.add(k+".type", "%s: %s auth needs an http(s) url", k, a.Type)
	}
}

func (a *AuthConfig) problems(ps *cfgProblems) {
	for _, s := range []struct{ key, value string }{{"auth.jwt_secret", a.JWTSecret}, {"auth.refresh_secret", a.RefreshSecret}} {
		switch {
		case s.value == "":
			ps.add(s.key, "%s is required when auth is set (at least 32 bytes, e.g. from `openssl rand -hex 32`)", s.key)
		case len(s.value) < 32:
			ps.add(s.key, "%s must be at least 32 bytes (got %d)", s.key, len(s.value))
		}
	}
	if a.BaseURL != "" {
		if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("auth.base_url", "auth.base_url %q must be an http(s) URL such as https://runnel.example.com", a.BaseURL)
		}
	}
	for _, id := range cfgSortedKeys(a.Providers) {
		p := a.Providers[id]
		k := "auth.providers." + id
		if !cfgNameRule.MatchString(id) {
			ps.add(k, "provider id %q must match %s", id, cfgNameRule)
		}
		switch p.ProviderType {
		case "":
			ps.add(k+".provider_type", "%s.provider_type is required (internal)", k)
		case "internal":
			for _, f := range []struct{ field, value string }{{"issuer_url", p.IssuerURL}, {"client_id", p.ClientID}, {"client_secret", p.ClientSecret}} {
				if f.value != "" {
					ps.add(k+"."+f.field, "%s.%s is only for oidc providers", k, f.field)
				}
			}
		case "oidc":
			ps.add(k, "%s: oidc providers are not supported yet", k)
		default:
			ps.add(k+".provider_type", "%s.provider_type %q must be internal or oidc", k, p.ProviderType)
		}
	}
	if u := a.InitialUser; u != nil {
		if u.Email == "" {
			ps.add("auth.initial_user.email", "auth.initial_user.email is required")
		} else if !strings.Contains(u.Email, "@") {
			ps.add("auth.initial_user.email", "auth.initial_user.email %q is not an email address", u.Email)
		}
		if u.Password == "" {
			ps.add("auth.initial_user.password", "auth.initial_user.password is required")
		}
	}
}

func (c *WorkerConfig) problems() []Problem {
	var ps cfgProblems
	if c.ServerURL == "" {
		ps.add("server_url", "server_url is required")
	} else if u, err := url.Parse(c.ServerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add("server_url", "server_url %q must be an http:// or https:// URL", c.ServerURL)
	}
	if n := utf8.RuneCountInString(c.WorkerToken); n == 0 {
		ps.add("worker_token", "worker_token is required (the server's worker_token)")
	} else if n < 32 {
		ps.add("worker_token", "worker_token must be at least 32 characters (got %d)", n)
	}
	if c.WorkerName == "" {
		ps.add("worker_name", "worker_name must not be empty")
	}
	if c.MaxConcurrent < 1 {
		ps.add("max_concurrent", "max_concurrent must be at least 1 (got %d)", c.MaxConcurrent)
	}
	if c.PollIntervalSecs < 1 {
		ps.add("poll_interval_secs", "poll_interval_secs must be at least 1 (got %d)", c.PollIntervalSecs)
	}
	if c.WorkspaceCacheDir == "" {
		ps.add("workspace_cache_dir", "workspace_cache_dir must not be empty")
	}
	if len(c.Tags) == 0 {
		ps.add("tags", "tags must not be empty")
	}
	ps.tags("tags", c.Tags)
	return ps
}

type cfgProblems []Problem

func (ps *cfgProblems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (ps *cfgProblems) tags(key string, tags []string) {
	for i, t := range tags {
		if strings.TrimSpace(t) == "" {
			k := fmt.Sprintf("%s[%d]", key, i)
			ps.add(k, "%s must not be empty", k)
		}
	}
}

func cfgProblemsError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &ConfigError{Problems: ps}
}

func cfgValidPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func cfgStatReason(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "no such file"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func cfgSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cfgLookupEnv(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// ---- loading ----

// cfgLoader carries one load: the file, the base directory for relative
// paths, the decoder (positions, seen keys) and the problems so far.
type cfgLoader struct {
	file     string
	base     string
	dec      *cfgDecoder
	problems []Problem
}

// cfgRead reads the config file; "" means none (nil contents).
func cfgRead(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	src, err := yamlfile.ReadFile(path)
	var le *yamlfile.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s: no such file", path)
	case errors.As(err, &le):
		return nil, &ConfigError{Problems: []Problem{{File: path, Message: le.Message}}}
	case err != nil:
		return nil, fmt.Errorf("config file %s: %s", path, cfgStatReason(err))
	}
	return src, nil
}

// cfgLoad parses src (the contents of path), applies overrides and decodes
// onto out (a pointer to the defaults). It returns an error only when the
// file cannot be parsed at all; every other problem is kept for finish.
func cfgLoad(path string, src []byte, environ []string, out any, schema cfgSchema) (*cfgLoader, error) {
	l := &cfgLoader{file: path}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		l.base = filepath.Dir(abs)
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		l.base = wd
	}
	// Problems about the file as a whole (say a missing required key) carry
	// the file name but no position.
	root := &cfgNode{kind: cfgMap, src: cfgSource{file: path}}
	if path != "" {
		n, ps := cfgParse(src, path)
		if len(ps) > 0 {
			return nil, &ConfigError{Problems: ps}
		}
		if n != nil && n.kind != cfgMap {
			return nil, &ConfigError{Problems: []Problem{n.src.problem("", "the config file must be a mapping of keys to values")}}
		}
		if n != nil {
			root.entries = n.entries
		}
	}
	l.problems = append(l.problems, cfgNormalizeAliases(root, schema.aliases)...)
	l.problems = append(l.problems, cfgApplyOverrides(root, environ, schema.aliases)...)
	l.dec = &cfgDecoder{
		environ:  environ,
		rejected: schema.rejected,
		pos:      map[string]cfgSource{"": root.src},
		bad:      map[string]bool{},
		seen:     map[string]bool{},
	}
	l.dec.value(root, reflect.ValueOf(out).Elem(), "")
	l.problems = append(l.problems, l.dec.problems...)
	return l, nil
}

// finish adds positions to validation problems (skipping those about keys
// that already failed to decode) and returns all problems, or nil.
func (l *cfgLoader) finish(validation []Problem) error {
	ps := l.problems
	for _, p := range validation {
		if l.dec.badKey(p.Key) {
			continue
		}
		src := l.dec.sourceOf(p.Key)
		p.File, p.Line, p.Col, p.Env = src.file, src.line, src.col, src.env
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	rank := func(p Problem) int {
		switch {
		case p.File != "":
			return 0
		case p.Env != "":
			return 1
		}
		return 2
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if rank(a) == 0 && (a.Line != b.Line || a.Col != b.Col) {
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		}
		if rank(a) == 1 {
			return a.Env < b.Env
		}
		return false
	})
	return &ConfigError{Problems: ps}
}

// abs makes a relative path absolute against the config file's directory;
// a leading "~/" means the user's home directory.
func (l *cfgLoader) abs(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.base, p)
}

// absGitURL makes a relative local-path git URL absolute; URLs with a
// scheme and scp-like user@host:path forms are left alone.
func (l *cfgLoader) absGitURL(u string) string {
	if u == "" || strings.Contains(u, "://") {
		return u
	}
	if i := strings.IndexByte(u, ':'); i >= 0 && !strings.Contains(u[:i], "/") {
		return u // host:path
	}
	return l.abs(u)
}

// ---- the position-carrying tree ----

type cfgKind int

const (
	cfgNull cfgKind = iota
	cfgScalar
	cfgMap
	cfgSeq
)

type cfgTag int

const (
	cfgStr cfgTag = iota
	cfgInt
	cfgFloat
	cfgBool
)

// cfgSource is where a value came from: a file position or a variable.
type cfgSource struct {
	file      string
	line, col int
	env       string
}

func (s cfgSource) problem(key, format string, args ...any) Problem {
	return Problem{File: s.file, Line: s.line, Col: s.col, Env: s.env, Key: key, Message: fmt.Sprintf(format, args...)}
}

// cfgNode is a parsed YAML value with the position of each part. Anchors,
// aliases, merge keys and tags are resolved while building it.
type cfgNode struct {
	kind    cfgKind
	tag     cfgTag // scalars only
	text    string // scalars only: the unquoted value
	entries []cfgEntry
	items   []*cfgNode
	src     cfgSource
}

type cfgEntry struct {
	key    string
	keySrc cfgSource
	val    *cfgNode
}

func (n *cfgNode) lookup(key string) int {
	for i, e := range n.entries {
		if e.key == key {
			return i
		}
	}
	return -1
}

// size is the number of nodes in n.
func (n *cfgNode) size() int {
	total := 1
	for _, e := range n.entries {
		total += e.val.size()
	}
	for _, it := range n.items {
		total += it.size()
	}
	return total
}

func (n *cfgNode) clone() *cfgNode {
	c := *n
	c.entries = make([]cfgEntry, len(n.entries))
	for i, e := range n.entries {
		e.val = e.val.clone()
		c.entries[i] = e
	}
	c.items = make([]*cfgNode, len(n.items))
	for i, it := range n.items {
		c.items[i] = it.clone()
	}
	return &c
}

// cfgParse parses a config file; nil means an empty document.
func cfgParse(src []byte, file string) (*cfgNode, []Problem) {
	// The same size and nesting limits as workflow files, checked before
	// the parser sees the bytes.
	var le *yamlfile.Error
	if err := yamlfile.Check(src); errors.As(err, &le) {
		return nil, []Problem{{File: file, Line: le.Line, Col: le.Col, Message: le.Message}}
	}
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			tk := ye.GetToken()
			return nil, []Problem{{File: file, Line: tk.Position.Line, Col: tk.Position.Column, Message: ye.GetMessage()}}
		}
		return nil, []Problem{{File: file, Message: err.Error()}}
	}
	var body ast.Node
	for i, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, ok := d.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		if body != nil {
			p := cfgPos(file, d.Body)
			return nil, []Problem{p.problem("", "the config file must hold one YAML document (document %d found)", i+1)}
		}
		body = d.Body
	}
	if body == nil {
		return nil, nil
	}
	c := &cfgConverter{anchors: map[string]*cfgNode{}, file: file}
	n := c.convert(body, cfgSource{file: file, line: 1, col: 1}, false)
	return n, c.problems
}

func cfgPos(file string, n ast.Node) cfgSource {
	if n == nil || n.GetToken() == nil {
		return cfgSource{file: file}
	}
	p := n.GetToken().Position
	return cfgSource{file: file, line: p.Line, col: p.Column}
}

type cfgConverter struct {
	file     string
	env      string // set when converting an override value
	anchors  map[string]*cfgNode
	copied   int // nodes copied for aliases so far
	problems []Problem
}

// cfgMaxAliasNodes bounds the nodes aliases may copy in one file.
const cfgMaxAliasNodes = 100_000

func (c *cfgConverter) pos(n ast.Node) cfgSource {
	if c.env != "" {
		return cfgSource{env: c.env}
	}
	return cfgPos(c.file, n)
}

// convert turns an AST node into a cfgNode; at is the position of the key
// holding it (used for nulls and collections).
func (c *cfgConverter) convert(n ast.Node, at cfgSource, forceString bool) *cfgNode {
	scalar := func(tag cfgTag, text string) *cfgNode {
		if forceString {
			tag = cfgStr
		}
		return &cfgNode{kind: cfgScalar, tag: tag, text: text, src: c.pos(n)}
	}
	switch v := n.(type) {
	case nil, *ast.NullNode, *ast.CommentGroupNode:
		if forceString && v != nil {
			return scalar(cfgStr, n.GetToken().Value)
		}
		return &cfgNode{kind: cfgNull, src: at}
	case *ast.StringNode:
		return scalar(cfgStr, v.Value)
	case *ast.LiteralNode:
		return scalar(cfgStr, v.Value.Value)
	case *ast.IntegerNode:
		return scalar(cfgInt, v.GetToken().Value)
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return scalar(cfgFloat, n.GetToken().Value)
	case *ast.BoolNode:
		return scalar(cfgBool, v.GetToken().Value)
	case *ast.TagNode:
		return c.convert(v.Value, at, forceString || v.Start.Value == "!!str")
	case *ast.AnchorNode:
		out := c.convert(v.Value, at, forceString)
		c.anchors[v.Name.GetToken().Value] = out
		return out
	case *ast.AliasNode:
		name := v.Value.GetToken().Value
		a, ok := c.anchors[name]
		if !ok {
			c.problems = append(c.problems, c.pos(n).problem("", "unknown alias *%s", name))
			return &cfgNode{kind: cfgNull, src: at}
		}
		// Each alias copies its anchor; cap the copies so a file of nested
		// aliases cannot expand exponentially.
		if c.copied += a.size(); c.copied > cfgMaxAliasNodes {
			if c.copied-a.size() <= cfgMaxAliasNodes { // report once
				c.problems = append(c.problems, c.pos(n).problem("", "aliases expand to more than %d values", cfgMaxAliasNodes))
			}
			c.copied = cfgMaxAliasNodes + 1
			return &cfgNode{kind: cfgNull, src: at}
		}
		return a.clone()
	case *ast.MappingNode:
		return c.mapping(n, v.Values, at)
	case *ast.MappingValueNode:
		return c.mapping(n, []*ast.MappingValueNode{v}, at)
	case *ast.SequenceNode:
		// A list points at its "[" or first "-", so type errors and
		// "must not be empty" point at the value, not the key.
		out := &cfgNode{kind: cfgSeq, src: c.pos(n)}
		for i, it := range v.Values {
			itAt := c.pos(it)
			switch it.(type) {
			case *ast.MappingNode:
				if c.env == "" {
					itAt = cfgSource{} // the mapping takes its first key's position
				}
			case nil, *ast.NullNode:
				// An empty "-" entry: point at the hyphen.
				if i < len(v.Entries) && v.Entries[i] != nil && v.Entries[i].Start != nil {
					itAt = c.pos(v.Entries[i])
					itAt.line, itAt.col = v.Entries[i].Start.Position.Line, v.Entries[i].Start.Position.Column
				}
			}
			out.items = append(out.items, c.convert(it, itAt, false))
		}
		return out
	default:
		c.problems = append(c.problems, c.pos(n).problem("", "unsupported YAML value %s", n.Type()))
		return &cfgNode{kind: cfgNull, src: at}
	}
}

func (c *cfgConverter) mapping(n ast.Node, values []*ast.MappingValueNode, at cfgSource) *cfgNode {
	out := &cfgNode{kind: cfgMap, src: at}
	if at.line == 0 && at.env == "" {
		if len(values) > 0 {
			out.src = c.pos(values[0].Key)
		} else {
			out.src = c.pos(n)
		}
	}
	var merges []*cfgNode
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			m := c.convert(mv.Value, c.pos(mv.Key), false)
			switch m.kind {
			case cfgMap:
				merges = append(merges, m)
			case cfgSeq:
				for _, it := range m.items {
					if it.kind == cfgMap {
						merges = append(merges, it)
					}
				}
			}
			continue
		}
		keyNode := ast.Node(mv.Key)
		if k, ok := mv.Key.(*ast.MappingKeyNode); ok {
			keyNode = k.Value
		}
		key := keyNode.GetToken().Value
		if s, ok := keyNode.(*ast.StringNode); ok {
			key = s.Value
		}
		ks := c.pos(keyNode)
		out.entries = append(out.entries, cfgEntry{key: key, keySrc: ks, val: c.convert(mv.Value, ks, false)})
	}
	for _, m := range merges {
		for _, e := range m.entries {
			if out.lookup(e.key) < 0 {
				out.entries = append(out.entries, e)
			}
		}
	}
	return out
}

// cfgNormalizeAliases renames top-level alias keys of the file to their
// canonical names; setting both is a problem.
func cfgNormalizeAliases(root *cfgNode, aliases map[string]string) []Problem {
	var ps []Problem
	for _, alias := range cfgSortedKeys(aliases) {
		canon := aliases[alias]
		i := root.lookup(alias)
		if i < 0 {
			continue
		}
		if root.lookup(canon) >= 0 {
			e := root.entries[i]
			ps = append(ps, e.keySrc.problem(alias, "%s and %s are both set; %s is an alias of %s, keep one", alias, canon, alias, canon))
			root.entries = append(root.entries[:i], root.entries[i+1:]...)
			continue
		}
		root.entries[i].key = canon
	}
	return ps
}

// cfgApplyOverrides sets the keys named by RUNNEL__A__B variables. Shorter
// paths go first so RUNNEL__AUTH and RUNNEL__AUTH__JWT_SECRET combine.
func cfgApplyOverrides(root *cfgNode, environ []string, aliases map[string]string) []Problem {
	type override struct {
		name, value string
		path        []string
	}
	var ps []Problem
	var ovs []override
	seen := map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(name, "RUNNEL__")
		if !ok {
			continue
		}
		segs := strings.Split(strings.ToLower(rest), "__")
		if canon, ok := aliases[segs[0]]; ok {
			segs[0] = canon
		}
		bad := false
		for _, s := range segs {
			bad = bad || s == ""
		}
		if bad {
			ps = append(ps, Problem{Env: name, Message: "invalid override name: use RUNNEL__ then key segments joined by double underscores, e.g. RUNNEL__RECOVERY__SWEEP_INTERVAL_SECS"})
			continue
		}
		dotted := strings.Join(segs, ".")
		if prev, dup := seen[dotted]; dup {
			if prev == name {
				continue // a repeated variable: the first one wins, as with os.Getenv
			}
			ps = append(ps, Problem{Env: name, Key: dotted, Message: fmt.Sprintf("%s and %s both set %s; keep one", prev, name, dotted)})
			continue
		}
		seen[dotted] = name
		ovs = append(ovs, override{name: name, value: value, path: segs})
	}
	sort.SliceStable(ovs, func(i, j int) bool {
		if len(ovs[i].path) != len(ovs[j].path) {
			return len(ovs[i].path) < len(ovs[j].path)
		}
		return ovs[i].name < ovs[j].name
	})
	for _, o := range ovs {
		src := cfgSource{env: o.name}
		val, p := cfgParseOverride(o.name, o.value)
		if p != nil {
			ps = append(ps, *p)
			continue
		}
		cur := root
		ok := true
		for i, seg := range o.path[:len(o.path)-1] {
			j := cur.lookup(seg)
			if j < 0 {
				cur.entries = append(cur.entries, cfgEntry{key: seg, keySrc: src, val: &cfgNode{kind: cfgMap, src: src}})
				j = len(cur.entries) - 1
			}
			next := cur.entries[j].val
			if next.kind == cfgNull {
				next.kind, next.src = cfgMap, src
			}
			if next.kind != cfgMap {
				parent := strings.Join(o.path[:i+1], ".")
				ps = append(ps, Problem{Env: o.name, Key: parent, Message: fmt.Sprintf("cannot set %s: %s is not a mapping", strings.Join(o.path, "."), parent)})
				ok = false
				break
			}
			cur = next
		}
		if !ok {
			continue
		}
		last := o.path[len(o.path)-1]
		if j := cur.lookup(last); j >= 0 {
			cur.entries[j].val, cur.entries[j].keySrc = val, src
		} else {
			cur.entries = append(cur.entries, cfgEntry{key: last, keySrc: src, val: val})
		}
	}
	return ps
}

// cfgParseOverride parses an override value as a YAML scalar or flow
// collection. Unquoted scalars keep their exact text (so secrets holding
// ": " or " #" survive); only values starting with [ or { become lists or
// mappings, and a quoted value is unquoted.
func cfgParseOverride(name, value string) (*cfgNode, *Problem) {
	src := cfgSource{env: name}
	raw := &cfgNode{kind: cfgScalar, tag: cfgStr, text: value, src: src}
	trimmed := strings.TrimSpace(value)
	if trimmed == "" {
		return raw, nil
	}
	if err := yamlfile.Check([]byte(value)); err != nil {
		// Over the YAML limits: the parser never sees it.
		if trimmed[0] == '[' || trimmed[0] == '{' {
			return nil, &Problem{Env: name, Message: fmt.Sprintf("value is not a valid YAML flow list or mapping: %v", err)}
		}
		return raw, nil
	}
	f, err := parser.ParseBytes([]byte(value), 0)
	var body ast.Node
	if err == nil && len(f.Docs) == 1 && f.Docs[0] != nil {
		body = f.Docs[0].Body
	}
	if trimmed[0] == '[' || trimmed[0] == '{' {
		if body == nil {
			msg := "not valid YAML"
			var ye yaml.Error
			if errors.As(err, &ye) {
				msg = ye.GetMessage()
			}
			return nil, &Problem{Env: name, Message: fmt.Sprintf("value is not a valid YAML flow list or mapping: %s", msg)}
		}
		c := &cfgConverter{env: name, anchors: map[string]*cfgNode{}}
		n := c.convert(body, src, false)
		if len(c.problems) > 0 {
			return nil, &c.problems[0]
		}
		return n, nil
	}
	c := &cfgConverter{env: name, anchors: map[string]*cfgNode{}}
	n := c.convert(body, src, false)
	if len(c.problems) > 0 || n.kind != cfgScalar {
		if n.kind == cfgNull && body != nil {
			return &cfgNode{kind: cfgNull, src: src}, nil
		}
		return raw, nil
	}
	if (trimmed[0] == '"' || trimmed[0] == '\'') && n.tag == cfgStr {
		return n, nil
	}
	raw.tag = n.tag
	return raw, nil
}

// ---- decoding the tree onto a struct ----

var cfgPrefixType = reflect.TypeFor[netip.Prefix]()

type cfgDecoder struct {
	environ  []string
	rejected map[string]string
	problems []Problem
	pos      map[string]cfgSource // dotted key → where its value came from
	bad      map[string]bool      // keys that failed to decode
	seen     map[string]bool      // keys set to a non-null value
}

func cfgJoin(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (d *cfgDecoder) fail(src cfgSource, key, format string, args ...any) {
	d.problems = append(d.problems, src.problem(key, format, args...))
	d.bad[key] = true
}

// badKey reports whether key or one of its parents failed to decode.
func (d *cfgDecoder) badKey(key string) bool {
	for k := key; ; k = cfgParentKey(k) {
		if d.bad[k] {
			return true
		}
		if k == "" {
			return false
		}
	}
}

// sourceOf is the position of key, else of its nearest parent.
func (d *cfgDecoder) sourceOf(key string) cfgSource {
	for k := key; ; k = cfgParentKey(k) {
		if s, ok := d.pos[k]; ok {
			return s
		}
		if k == "" {
			return cfgSource{}
		}
	}
}

func cfgParentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func (d *cfgDecoder) what(key string) string {
	if key == "" {
		return "the config file"
	}
	return key
}

// value decodes n onto v (which already holds the default).
func (d *cfgDecoder) value(n *cfgNode, v reflect.Value, key string) {
	d.pos[key] = n.src
	if n.kind == cfgNull {
		// An empty section is present (auth: turns auth on); an empty
		// scalar keeps its default.
		switch {
		case v.Kind() == reflect.Pointer && v.IsNil():
			v.Set(reflect.New(v.Type().Elem()))
		case v.Kind() == reflect.Map && v.IsNil():
			v.Set(reflect.MakeMap(v.Type()))
		}
		return
	}
	d.seen[key] = true
	if v.Type() == cfgPrefixType {
		s, ok := d.str(n, key)
		if !ok {
			return
		}
		p, err := cfgParsePrefix(s)
		if err != nil {
			d.fail(n.src, key, "%s %q is not a CIDR or IP address", key, s)
			return
		}
		v.Set(reflect.ValueOf(p))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), key)
	case reflect.Struct:
		if n.kind != cfgMap {
			d.fail(n.src, key, "%s must be a mapping", d.what(key))
			return
		}
		for _, e := range n.entries {
			k := cfgJoin(key, e.key)
			if msg, ok := d.rejected[k]; ok {
				d.fail(e.keySrc, k, "%s", msg)
				continue
			}
			f, ok := cfgField(v, e.key)
			if !ok {
				if hint := workspace.Suggest(e.key, cfgKeys(v)); hint != "" {
					d.fail(e.keySrc, k, "unknown key %q (did you mean %q?)", k, cfgJoin(key, hint))
				} else {
					d.fail(e.keySrc, k, "unknown key %q", k)
				}
				continue
			}
			d.value(e.val, f, k)
		}
	case reflect.Map:
		if n.kind != cfgMap {
			d.fail(n.src, key, "%s must be a mapping", d.what(key))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, e := range n.entries {
			k := cfgJoin(key, e.key)
			elem := reflect.New(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(e.key)); old.IsValid() {
				elem.Set(old)
			}
			d.value(e.val, elem, k)
			v.SetMapIndex(reflect.ValueOf(e.key), elem)
		}
	case reflect.Slice:
		if n.kind != cfgSeq {
			d.fail(n.src, key, "%s must be a list", key)
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.items))
		for i, it := range n.items {
			elem := reflect.New(v.Type().Elem()).Elem()
			k := fmt.Sprintf("%s[%d]", key, i)
			if it.kind == cfgNull {
				d.fail(it.src, k, "%s must not be empty", k)
				continue
			}
			d.value(it, elem, k)
			s = reflect.Append(s, elem)
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.str(n, key); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if n.kind != cfgScalar || (n.tag != cfgInt && n.tag != cfgStr) {
			d.fail(n.src, key, "%s must be an integer", key)
			return
		}
		text := n.text
		if n.tag == cfgStr {
			var ok bool
			if text, ok = d.str(n, key); !ok {
				return
			}
		}
		text = strings.ReplaceAll(strings.TrimSpace(text), "_", "")
		base := 10
		if len(text) > 2 && text[0] == '0' && strings.ContainsRune("xXoObB", rune(text[1])) {
			base = 0
		}
		i, err := strconv.ParseInt(text, base, strconv.IntSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.fail(n.src, key, "%s is out of range", key)
			} else {
				d.fail(n.src, key, "%s must be an integer", key)
			}
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.kind != cfgScalar || (n.tag != cfgBool && n.tag != cfgStr) {
			d.fail(n.src, key, "%s must be true or false", key)
			return
		}
		text := n.text
		if n.tag == cfgStr {
			var ok bool
			if text, ok = d.str(n, key); !ok {
				return
			}
		}
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n.src, key, "%s must be true or false", key)
		}
	default:
		panic(fmt.Sprintf("config: field type %s of %q is not supported by the loader", v.Type(), key))
	}
}

// str returns a scalar as a string with ${VAR} references expanded.
func (d *cfgDecoder) str(n *cfgNode, key string) (string, bool) {
	if n.kind != cfgScalar {
		d.fail(n.src, key, "%s must be a string", key)
		return "", false
	}
	s, err := cfgExpand(n.text, d.environ)
	if err != nil {
		d.fail(n.src, key, "%s: %v", key, err)
		return "", false
	}
	return s, true
}

// cfgField finds the field of struct v whose yaml tag is name.
func cfgField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" && tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// cfgKeys are the YAML keys of struct v's fields.
func cfgKeys(v reflect.Value) []string {
	t := v.Type()
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// cfgExpand replaces each ${NAME} in s with that environment variable; an
// unset variable is an error. "$${" stands for a literal "${"; a "$" not
// followed by "{" is kept as is.
func cfgExpand(s string, environ []string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value (write $${ for a literal ${)")
		}
		name := s[i+2 : i+end]
		if !cfgEnvName.MatchString(name) {
			return "", fmt.Errorf("invalid variable reference ${%s} (write $${ for a literal ${)", name)
		}
		v, ok := cfgLookupEnv(environ, name)
		if !ok {
			return "", fmt.Errorf("environment variable '%s' is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

var cfgEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// cfgParsePrefix parses a CIDR, or a bare IP as a single-address prefix.
func cfgParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// cfgValidHost reports whether h is an allowed_hosts entry: a host name,
// an IP address (IPv6 with or without brackets), or ".domain".
func cfgValidHost(h string) bool {
	h = strings.TrimPrefix(h, ".")
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return true
	}
	for _, r := range h {
		if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
