package config

// This file holds the structs of both files and their defaults.

import (
	"net/netip"
	"os"

	"runnel/httpd"
)

// Server is the configuration of `runnel serve` (server-config.yaml,
// SPEC §2.2). Paths are absolute after LoadServer.
type Server struct {
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
	LogStorage LogStorage `yaml:"log_storage"`
	// Workspaces maps a workspace name (rule N) to its source.
	Workspaces map[string]Workspace `yaml:"workspaces"`
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
	Recovery Recovery `yaml:"recovery"`
	// Retention deletes old jobs, workers and audit entries on every sweep.
	Retention Retention `yaml:"retention"`
	// Audit configures the audit log.
	Audit Audit `yaml:"audit"`
	// Debug turns on diagnostics that are off by default.
	Debug Debug `yaml:"debug"`
	// Auth turns authentication on when non-nil (SPEC §12).
	Auth *Auth `yaml:"auth"`
	// TLS makes the server speak HTTPS when non-nil.
	TLS *TLS `yaml:"tls"`
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

// LogStorage says where job logs are kept.
type LogStorage struct {
	// LocalDir is the log directory; "" means <DataDir>/logs (the loader
	// always fills it in).
	LocalDir string `yaml:"local_dir"`
	// MaxOpenFiles bounds the job log files open at once, however many
	// jobs are queued or running; ≥ 1. The least recently written one is
	// closed when another job writes.
	MaxOpenFiles int `yaml:"max_open_files"`
}

// Retention is the retention policy the sweeper enforces.
type Retention struct {
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

// Audit configures the audit log (always recorded in the store).
type Audit struct {
	// Log mirrors every entry to the server log as an "audit" record.
	Log bool `yaml:"log"`
}

// Debug holds diagnostics for operators, all off by default.
type Debug struct {
	// Pprof serves Go's runtime profiles under /debug/pprof/ to loopback
	// clients only.
	Pprof bool `yaml:"pprof"`
}

// Recovery tunes the recovery sweeper; all values are seconds.
type Recovery struct {
	// HeartbeatTimeoutSecs marks a silent worker inactive; ≥ 4.
	HeartbeatTimeoutSecs int `yaml:"heartbeat_timeout_secs"`
	// SweepIntervalSecs is the sweeper period; ≥ 1.
	SweepIntervalSecs int `yaml:"sweep_interval_secs"`
	// UnmatchedStepTimeoutSecs fails a step no worker can take; 0 = never.
	UnmatchedStepTimeoutSecs int `yaml:"unmatched_step_timeout_secs"`
}

// Workspace is one entry of `workspaces` (SPEC §2.2): a folder
// (Path) or a git repository (URL, Ref, PollIntervalSecs, WebhookSecret,
// Auth). The loader fills Ref ("main") and PollIntervalSecs (60) of git
// workspaces when absent.
type Workspace struct {
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
	Auth *GitAuth `yaml:"auth"`
}

// GitAuth holds git credentials. Type "token" uses Token as the HTTP
// basic-auth password for Username (default "x-access-token"); "basic"
// uses Username and Password; "ssh_key" uses KeyPath or Key (PEM text) with
// Password as the optional passphrase.
type GitAuth struct {
	Type     string `yaml:"type"`
	Token    string `yaml:"token"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	KeyPath  string `yaml:"key_path"`
	Key      string `yaml:"key"`
}

// Auth is the `auth` section (SPEC §12.1); its presence turns
// authentication on.
type Auth struct {
	// JWTSecret signs access tokens (HS256); at least 32 bytes.
	JWTSecret string `yaml:"jwt_secret"`
	// RefreshSecret is the HMAC key of stored refresh tokens; at least 32 bytes.
	RefreshSecret string `yaml:"refresh_secret"`
	// BaseURL is the public http(s) URL of the server (CORS origin).
	BaseURL string `yaml:"base_url"`
	// Providers maps a provider id (rule N) to its settings.
	Providers map[string]Provider `yaml:"providers"`
	// InitialUser is created as an admin at startup if its email is absent.
	InitialUser *InitialUser `yaml:"initial_user"`
}

// Provider is one login provider. Only "internal" is supported now;
// "oidc" is rejected by Validate.
type Provider struct {
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

// TLS makes the server serve HTTPS with a PEM certificate and key;
// both files must exist.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Worker is the configuration of `runnel worker`
// (worker-config.yaml, SPEC §2.3). WorkspaceCacheDir is absolute after
// LoadWorker.
type Worker struct {
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

// DefaultServer returns the documented defaults of server-config.yaml
// with relative paths still relative.
func DefaultServer() Server {
	return Server{
		Listen:            "127.0.0.1:8080",
		MaxConnections:    httpd.DefaultMaxConnections,
		DataDir:           "./runnel-data",
		LogStorage:        LogStorage{MaxOpenFiles: 128},
		LocalWorkers:      4,
		ShutdownGraceSecs: 30,
		LocalWorkerTags:   []string{"shell"},
		Recovery: Recovery{
			HeartbeatTimeoutSecs:     120,
			SweepIntervalSecs:        60,
			UnmatchedStepTimeoutSecs: 300,
		},
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// DefaultWorker returns the documented defaults of worker-config.yaml;
// WorkerName is the host name ("runnel-worker" if it cannot be read).
func DefaultWorker() Worker {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "runnel-worker"
	}
	return Worker{
		WorkerName:        name,
		MaxConcurrent:     4,
		PollIntervalSecs:  2,
		WorkspaceCacheDir: "./runnel-worker-cache",
		Tags:              []string{"shell"},
	}
}
