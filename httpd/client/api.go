package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"runnel/jobs"
)

// This file holds the public REST API (SPEC §11, §12.4) as typed methods
// for the command line. Every GET has a path function so a caller that
// wants the raw answer (`--json`) fetches exactly what the typed method
// would have decoded.

// Workspace is an item of GET /api/workspaces. Revision is nil while the
// workspace loads for the first time; Error is set while its newest
// attempt failed (ErrorRevision names that attempt, nil if unknown).
type Workspace struct {
	Name          string  `json:"name"`
	TasksCount    int     `json:"tasks_count"`
	ActionsCount  int     `json:"actions_count"`
	TriggersCount int     `json:"triggers_count"`
	Revision      *string `json:"revision"`
	Error         string  `json:"error,omitempty"`
	ErrorRevision *string `json:"error_revision,omitempty"`
}

// TaskItem is an item of GET /api/workspaces/{ws}/tasks.
type TaskItem struct {
	Name        string `json:"name"`
	Workspace   string `json:"workspace"`
	Mode        string `json:"mode"`
	Folder      string `json:"folder,omitempty"`
	HasTriggers bool   `json:"has_triggers"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Field is a declared input field of a task; Default is meaningful only
// when HasDefault (a default may be JSON null).
type Field struct {
	Type        string          `json:"type"`
	Required    bool            `json:"required"`
	Default     json.RawMessage `json:"default,omitempty"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Secret      bool            `json:"secret,omitempty"`
}

// HasDefault reports whether the field declares a default.
func (f Field) HasDefault() bool { return len(f.Default) > 0 }

// FlowStep is a step of a task definition; Input is raw (templates
// unrendered); inline actions are named "_inline:<task>:<step>".
type FlowStep struct {
	Action            string   `json:"action"`
	DependsOn         []string `json:"depends_on"`
	Input             any      `json:"input"`
	ContinueOnFailure bool     `json:"continue_on_failure"`
	Name              string   `json:"name,omitempty"`
	Description       string   `json:"description,omitempty"`
	TimeoutSecs       int64    `json:"timeout_secs,omitempty"`
}

// Task is GET /api/workspaces/{ws}/tasks/{name}.
type Task struct {
	Name        string              `json:"name"`
	Mode        string              `json:"mode"`
	Folder      string              `json:"folder,omitempty"`
	DisplayName string              `json:"display_name,omitempty"`
	Description string              `json:"description,omitempty"`
	TimeoutSecs int64               `json:"timeout_secs,omitempty"`
	Input       map[string]Field    `json:"input"`
	Flow        map[string]FlowStep `json:"flow"`
	Triggers    []Trigger           `json:"triggers"`
}

// Trigger is a TriggerInfo (SPEC §11.4). NextRuns are in the trigger's
// zone, layout "2006-01-02T15:04:05-07:00"; empty for webhooks.
type Trigger struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Cron        string         `json:"cron,omitempty"`
	Task        string         `json:"task"`
	Enabled     bool           `json:"enabled"`
	Input       map[string]any `json:"input"`
	NextRuns    []string       `json:"next_runs"`
	Timezone    string         `json:"timezone,omitempty"`
	Concurrency string         `json:"concurrency,omitempty"`
	Path        string         `json:"path,omitempty"`
	Mode        string         `json:"mode,omitempty"`
}

// NextRunLayout is the layout of Trigger.NextRuns.
const NextRunLayout = "2006-01-02T15:04:05-07:00"

// JobItem is an item of GET /api/jobs. Times are zero when unset.
type JobItem struct {
	JobID          string    `json:"job_id"`
	Workspace      string    `json:"workspace"`
	TaskName       string    `json:"task_name"`
	Mode           string    `json:"mode"`
	Status         string    `json:"status"`
	SourceType     string    `json:"source_type"`
	SourceID       string    `json:"source_id"`
	WorkerID       string    `json:"worker_id"`
	CreatedAt      time.Time `json:"created_at"`
	StartedAt      time.Time `json:"started_at"`
	CompletedAt    time.Time `json:"completed_at"`
	Revision       string    `json:"revision"`
	HookEvent      string    `json:"hook_event"`
	ParentJobID    string    `json:"parent_job_id"`
	ParentStepName string    `json:"parent_step_name"`
}

// Job is GET /api/jobs/{id}: a JobItem with input, output and steps.
type Job struct {
	JobItem
	Input  map[string]any `json:"input"`
	Output any            `json:"output"`
	Steps  []Step         `json:"steps"`
}

// Step is a step of a Job. Times are zero when unset; empty strings stand
// for the API's nulls.
type Step struct {
	StepName     string    `json:"step_name"`
	ActionName   string    `json:"action_name"`
	ActionType   string    `json:"action_type"`
	Runner       string    `json:"runner"`
	Input        any       `json:"input"`
	Output       any       `json:"output"`
	Status       string    `json:"status"`
	WorkerID     string    `json:"worker_id"`
	DependsOn    []string  `json:"depends_on"`
	StartedAt    time.Time `json:"started_at"`
	CompletedAt  time.Time `json:"completed_at"`
	ErrorMessage string    `json:"error_message"`
	SkipReason   string    `json:"skip_reason"`
	ChildJobID   string    `json:"child_job_id"`
	// Attempt, MaxAttempts, RetryAt and Attempts are runnel's retry:
	// fields (RetryAt zero when the step does not wait for a retry).
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	RetryAt     time.Time `json:"retry_at"`
	Attempts    []Attempt `json:"attempts"`
}

// Attempt is one finished attempt of a step with a retry policy; empty
// strings and zero times stand for the API's nulls.
type Attempt struct {
	Attempt      int       `json:"attempt"`
	ExitCode     int       `json:"exit_code"`
	ErrorMessage string    `json:"error_message"`
	StartedAt    time.Time `json:"started_at"`
	CompletedAt  time.Time `json:"completed_at"`
	WorkerID     string    `json:"worker_id"`
}

// Job statuses (SPEC §5.1).
const (
	JobPending   = "pending"
	JobRunning   = "running"
	JobCompleted = "completed"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
	JobSkipped   = "skipped"
)

// Terminal reports whether a job status is final.
func Terminal(status string) bool {
	switch status {
	case JobCompleted, JobFailed, JobCancelled, JobSkipped:
		return true
	}
	return false
}

// Worker is an item of GET /api/workers.
type Worker struct {
	WorkerID      string    `json:"worker_id"`
	Name          string    `json:"name"`
	Status        string    `json:"status"`
	Tags          []string  `json:"tags"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	RegisteredAt  time.Time `json:"registered_at"`
	Version       string    `json:"version"`
	Builtin       bool      `json:"builtin"`
}

// LogPage is one answer of the REST log routes: complete JSONL lines and
// the byte offset to ask from next (equal to the request's offset when
// there was nothing more).
type LogPage struct {
	Logs       string `json:"logs"`
	NextOffset int64  `json:"next_offset"`
	// StartOffset is where Logs begins (tail reads only).
	StartOffset int64 `json:"start_offset"`
}

// RefreshResult is POST /api/workspaces/{ws}/refresh.
type RefreshResult struct {
	Workspace string `json:"workspace"`
	Revision  string `json:"revision"`
	Refreshed bool   `json:"refreshed"`
	Changed   bool   `json:"changed"`
}

// ServerInfo is GET /api/config.
type ServerInfo struct {
	AuthRequired    bool   `json:"auth_required"`
	HasInternalAuth bool   `json:"has_internal_auth"`
	Version         string `json:"version"`
}

// Tokens is the answer of login and refresh: a short-lived access token
// (JWT, 15 min) and a single-use refresh token.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// Me is GET /api/auth/me.
type Me struct {
	UserID    string    `json:"user_id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	IsAdmin   bool      `json:"is_admin"`
}

// NewAPIKey is the answer of POST /api/auth/api-keys; Key is shown only
// here. ExpiresAt is zero for a key that never expires.
type NewAPIKey struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	ExpiresAt time.Time `json:"expires_at"`
}

// APIKey is an item of GET /api/auth/api-keys; zero times are unset.
type APIKey struct {
	Prefix     string    `json:"prefix"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

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
func AuditPath(f jobs.AuditFilter) string {
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
func (c *Client) Audit(ctx context.Context, f jobs.AuditFilter) ([]jobs.AuditEntry, error) {
	return get[[]jobs.AuditEntry](ctx, c, AuditPath(f))
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
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) {
	return get[[]Workspace](ctx, c, WorkspacesPath())
}

// Tasks lists a workspace's tasks (404 *APIError for an unknown workspace).
func (c *Client) Tasks(ctx context.Context, ws string) ([]TaskItem, error) {
	return get[[]TaskItem](ctx, c, TasksPath(ws))
}

// Task returns a task's definition.
func (c *Client) Task(ctx context.Context, ws, task string) (Task, error) {
	return get[Task](ctx, c, TaskPath(ws, task))
}

// Triggers lists a workspace's triggers.
func (c *Client) Triggers(ctx context.Context, ws string) ([]Trigger, error) {
	return get[[]Trigger](ctx, c, TriggersPath(ws))
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
func (c *Client) Jobs(ctx context.Context, f JobFilter) ([]JobItem, error) {
	return get[[]JobItem](ctx, c, JobsPath(f))
}

// Job returns a job with its steps.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	return get[Job](ctx, c, JobPath(id))
}

// WaitJob blocks until the job is terminal or timeout passes (the server
// caps it at 300 s) and returns the job as it is then.
func (c *Client) WaitJob(ctx context.Context, id string, timeout time.Duration) (Job, error) {
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)
	return get[Job](ctx, c, JobPath(id)+"?wait=true&timeout="+secs)
}

// Cancel cancels a job; a terminal job is a 409 *APIError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, JobPath(id)+"/cancel", nil, nil)
}

// Logs reads the job's JSONL log from a byte offset (0 or a previous
// NextOffset); at most 16 MiB per answer.
func (c *Client) Logs(ctx context.Context, id string, offset int64) (LogPage, error) {
	return get[LogPage](ctx, c, JobPath(id)+"/logs?offset="+strconv.FormatInt(offset, 10))
}

// StepLogs reads the lines of one step ("_server" for all server events,
// lifecycle and problems: it asks with all=true) from a byte offset of the
// job's log; page by NextOffset until it stops moving.
func (c *Client) StepLogs(ctx context.Context, id, step string, offset int64) (LogPage, error) {
	p := JobPath(id) + "/steps/" + url.PathEscape(step) + "/logs?all=true&offset=" + strconv.FormatInt(offset, 10)
	return get[LogPage](ctx, c, p)
}

// TailLogs reads at most n bytes of whole lines ending at byte before of
// the job's log (before < 0: at its end), of one step when step is set;
// page backwards with StartOffset until it is 0.
func (c *Client) TailLogs(ctx context.Context, id, step string, n int, before int64) (LogPage, error) {
	p := JobPath(id) + "/logs?tail_bytes=" + strconv.Itoa(n)
	if step != "" {
		p = JobPath(id) + "/steps/" + url.PathEscape(step) + "/logs?tail_bytes=" + strconv.Itoa(n)
	}
	if before >= 0 {
		p += "&before=" + strconv.FormatInt(before, 10)
	}
	return get[LogPage](ctx, c, p)
}

// Workers lists the registered workers, active first.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	return get[[]Worker](ctx, c, WorkersPath())
}

// RefreshWorkspace fetches and loads the workspace's newest revision.
func (c *Client) RefreshWorkspace(ctx context.Context, ws string) (RefreshResult, error) {
	var out RefreshResult
	err := c.Do(ctx, http.MethodPost, "/api/workspaces/"+url.PathEscape(ws)+"/refresh", nil, &out)
	return out, err
}

// ServerInfo returns GET /api/config (open even with auth on).
func (c *Client) ServerInfo(ctx context.Context) (ServerInfo, error) {
	return get[ServerInfo](ctx, c, "/api/config")
}

// Login exchanges an email and password for tokens (401 *APIError for
// wrong credentials, 404 when the server has no auth).
func (c *Client) Login(ctx context.Context, email, password string) (Tokens, error) {
	var out Tokens
	err := c.Do(ctx, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password}, &out)
	return out, err
}

// RefreshTokens exchanges a refresh token (single use) for a new pair.
func (c *Client) RefreshTokens(ctx context.Context, refreshToken string) (Tokens, error) {
	var out Tokens
	err := c.Do(ctx, http.MethodPost, "/api/auth/refresh", map[string]string{"refresh_token": refreshToken}, &out)
	return out, err
}

// Logout revokes a refresh token (the server answers ok for unknown ones).
func (c *Client) Logout(ctx context.Context, refreshToken string) error {
	return c.Do(ctx, http.MethodPost, "/api/auth/logout", map[string]string{"refresh_token": refreshToken}, nil)
}

// Me returns the signed-in user.
func (c *Client) Me(ctx context.Context) (Me, error) {
	return get[Me](ctx, c, "/api/auth/me")
}

// CreateAPIKey creates an API key for the signed-in user; expiresInDays 0
// means no expiry.
func (c *Client) CreateAPIKey(ctx context.Context, name string, expiresInDays int) (NewAPIKey, error) {
	body := map[string]any{"name": name}
	if expiresInDays != 0 {
		body["expires_in_days"] = expiresInDays
	}
	var out NewAPIKey
	err := c.Do(ctx, http.MethodPost, APIKeysPath(), body, &out)
	return out, err
}

// APIKeys lists the signed-in user's API keys, newest first.
func (c *Client) APIKeys(ctx context.Context) ([]APIKey, error) {
	return get[[]APIKey](ctx, c, APIKeysPath())
}

// DeleteAPIKey deletes one of the signed-in user's API keys by prefix.
func (c *Client) DeleteAPIKey(ctx context.Context, prefix string) error {
	return c.Do(ctx, http.MethodDelete, APIKeysPath()+"/"+url.PathEscape(prefix), nil, nil)
}
