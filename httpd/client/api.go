package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"runnel/jobs/api"
)

// This file holds the public REST API (SPEC §11, §12.4) as typed methods
// for the command line, over the wire types of jobs/api. Every GET has a
// path function so a caller that wants the raw answer (`--json`) fetches
// exactly what the typed method would have decoded.

// JobFilter selects jobs for GET /api/jobs; zero fields do not filter
// (Limit 0 = the server's default, 50).
type JobFilter struct {
	Workspace  string
	Task       string
	Status     string
	SourceType string
	Limit      int
	Offset     int
}

// AuditFilter selects entries for GET /api/audit; zero fields do not
// filter (Limit 0 = the server's default, 50).
type AuditFilter struct {
	Actor, Action string
	Since, Until  time.Time
	Limit, Offset int
}

// Paths of the GET routes, with their parameters escaped.

// WorkspacesPath is GET /api/workspaces.
func WorkspacesPath() string { return "/api/workspaces" }

// TasksPath lists a workspace's tasks.
func TasksPath(ws string) string { return "/api/workspaces/" + url.PathEscape(ws) + "/tasks" }

// TaskPath is one task's definition.
func TaskPath(ws, task string) string { return TasksPath(ws) + "/" + url.PathEscape(task) }

// TriggersPath lists a workspace's triggers.
func TriggersPath(ws string) string {
	return "/api/workspaces/" + url.PathEscape(ws) + "/triggers"
}

// JobsPath lists jobs matching f.
func JobsPath(f JobFilter) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("workspace", f.Workspace)
	set("task_name", f.Task)
	set("status", f.Status)
	set("source_type", f.SourceType)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	if len(q) == 0 {
		return "/api/jobs"
	}
	return "/api/jobs?" + q.Encode()
}

// JobPath is one job.
func JobPath(id string) string { return "/api/jobs/" + url.PathEscape(id) }

// WorkersPath lists workers (the first 1000).
func WorkersPath() string { return "/api/workers?limit=1000" }

// APIKeysPath lists the caller's API keys.
func APIKeysPath() string { return "/api/auth/api-keys" }

// AuditPath lists audit entries matching f (GET /api/audit); Limit 0 is
// the server's default (50).
func AuditPath(f AuditFilter) string {
	q := url.Values{}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	if len(q) == 0 {
		return "/api/audit"
	}
	return "/api/audit?" + q.Encode()
}

// Audit lists audit entries matching f, newest first (admin only when
// auth is on).
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]api.AuditEntry, error) {
	return get[[]api.AuditEntry](ctx, c, AuditPath(f))
}

// GetJSON fetches path and returns the answer's JSON as sent.
func (c *Client) GetJSON(ctx context.Context, path string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.Do(ctx, http.MethodGet, path, nil, &raw)
	return raw, err
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var out T
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Workspaces lists the configured workspaces, sorted by name.
func (c *Client) Workspaces(ctx context.Context) ([]api.Workspace, error) {
	return get[[]api.Workspace](ctx, c, WorkspacesPath())
}

// Tasks lists a workspace's tasks (404 *APIError for an unknown workspace).
func (c *Client) Tasks(ctx context.Context, ws string) ([]api.TaskItem, error) {
	return get[[]api.TaskItem](ctx, c, TasksPath(ws))
}

// Task returns a task's definition.
func (c *Client) Task(ctx context.Context, ws, task string) (api.Task, error) {
	return get[api.Task](ctx, c, TaskPath(ws, task))
}

// Triggers lists a workspace's triggers.
func (c *Client) Triggers(ctx context.Context, ws string) ([]api.Trigger, error) {
	return get[[]api.Trigger](ctx, c, TriggersPath(ws))
}

// Execute starts a job of a task with input (nil = {}) and returns its id.
func (c *Client) Execute(ctx context.Context, ws, task string, input map[string]any) (string, error) {
	if input == nil {
		input = map[string]any{}
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	err := c.Do(ctx, http.MethodPost, TaskPath(ws, task)+"/execute", map[string]any{"input": input}, &out)
	return out.JobID, err
}

// Jobs lists jobs, newest first.
func (c *Client) Jobs(ctx context.Context, f JobFilter) ([]api.JobItem, error) {
	return get[[]api.JobItem](ctx, c, JobsPath(f))
}

// Job returns a job with its steps.
func (c *Client) Job(ctx context.Context, id string) (api.Job, error) {
	return get[api.Job](ctx, c, JobPath(id))
}

// WaitJob blocks until the job is terminal or timeout passes (the server
// caps it at 300 s) and returns the job as it is then.
func (c *Client) WaitJob(ctx context.Context, id string, timeout time.Duration) (api.Job, error) {
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)
	return get[api.Job](ctx, c, JobPath(id)+"?wait=true&timeout="+secs)
}

// Cancel cancels a job; a terminal job is a 409 *APIError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, JobPath(id)+"/cancel", nil, nil)
}

// Logs reads the job's JSONL log from a byte offset (0 or a previous
// NextOffset); at most 16 MiB per answer.
func (c *Client) Logs(ctx context.Context, id string, offset int64) (api.LogPage, error) {
	return get[api.LogPage](ctx, c, JobPath(id)+"/logs?offset="+strconv.FormatInt(offset, 10))
}

// StepLogs reads the lines of one step ("_server" for all server events,
// lifecycle and problems: it asks with all=true) from a byte offset of the
// job's log; page by NextOffset until it stops moving.
func (c *Client) StepLogs(ctx context.Context, id, step string, offset int64) (api.LogPage, error) {
	p := JobPath(id) + "/steps/" + url.PathEscape(step) + "/logs?all=true&offset=" + strconv.FormatInt(offset, 10)
	return get[api.LogPage](ctx, c, p)
}

// TailLogs reads at most n bytes of whole lines ending at byte before of
// the job's log (before < 0: at its end), of one step when step is set;
// page backwards with StartOffset until it is 0.
func (c *Client) TailLogs(ctx context.Context, id, step string, n int, before int64) (api.LogPage, error) {
	p := JobPath(id) + "/logs?tail_bytes=" + strconv.Itoa(n)
	if step != "" {
		p = JobPath(id) + "/steps/" + url.PathEscape(step) + "/logs?tail_bytes=" + strconv.Itoa(n)
	}
	if before >= 0 {
		p += "&before=" + strconv.FormatInt(before, 10)
	}
	return get[api.LogPage](ctx, c, p)
}

// Workers lists the registered workers, active first.
func (c *Client) Workers(ctx context.Context) ([]api.Worker, error) {
	return get[[]api.Worker](ctx, c, WorkersPath())
}

// RefreshWorkspace fetches and loads the workspace's newest revision.
func (c *Client) RefreshWorkspace(ctx context.Context, ws string) (api.RefreshResult, error) {
	var out api.RefreshResult
	err := c.Do(ctx, http.MethodPost, "/api/workspaces/"+url.PathEscape(ws)+"/refresh", nil, &out)
	return out, err
}

// ServerInfo returns GET /api/config (open even with auth on).
func (c *Client) ServerInfo(ctx context.Context) (api.Config, error) {
	return get[api.Config](ctx, c, "/api/config")
}

// Login exchanges an email and password for tokens (401 *APIError for
// wrong credentials, 404 when the server has no auth).
func (c *Client) Login(ctx context.Context, email, password string) (api.Tokens, error) {
	var out api.Tokens
	err := c.Do(ctx, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password}, &out)
	return out, err
}

// RefreshTokens exchanges a refresh token (single use) for a new pair.
func (c *Client) RefreshTokens(ctx context.Context, refreshToken string) (api.Tokens, error) {
	var out api.Tokens
	err := c.Do(ctx, http.MethodPost, "/api/auth/refresh", map[string]string{"refresh_token": refreshToken}, &out)
	return out, err
}

// Logout revokes a refresh token (the server answers ok for unknown ones).
func (c *Client) Logout(ctx context.Context, refreshToken string) error {
	return c.Do(ctx, http.MethodPost, "/api/auth/logout", map[string]string{"refresh_token": refreshToken}, nil)
}

// Me returns the signed-in user.
func (c *Client) Me(ctx context.Context) (api.Me, error) {
	return get[api.Me](ctx, c, "/api/auth/me")
}

// CreateAPIKey creates an API key for the signed-in user; expiresInDays 0
// means no expiry.
func (c *Client) CreateAPIKey(ctx context.Context, name string, expiresInDays int) (api.NewAPIKey, error) {
	body := map[string]any{"name": name}
	if expiresInDays != 0 {
		body["expires_in_days"] = expiresInDays
	}
	var out api.NewAPIKey
	err := c.Do(ctx, http.MethodPost, APIKeysPath(), body, &out)
	return out, err
}

// APIKeys lists the signed-in user's API keys, newest first.
func (c *Client) APIKeys(ctx context.Context) ([]api.APIKey, error) {
	return get[[]api.APIKey](ctx, c, APIKeysPath())
}

// DeleteAPIKey deletes one of the signed-in user's API keys by prefix.
func (c *Client) DeleteAPIKey(ctx context.Context, prefix string) error {
	return c.Do(ctx, http.MethodDelete, APIKeysPath()+"/"+url.PathEscape(prefix), nil, nil)
}
