package config

// This file holds the checks of every value (SPEC §2.2, §2.3, §11, §12.1).

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

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

func (c *Server) problems() []Problem {
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

func (c *Server) workspaceProblems(ps *cfgProblems, name string, ws Workspace) {
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

func gitAuthProblems(ps *cfgProblems, k string, a *GitAuth, rawURL string) {
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

func (a *Auth) problems(ps *cfgProblems) {
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

func (c *Worker) problems() []Problem {
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
