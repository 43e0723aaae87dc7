package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"runnel/jobs"
	"runnel/jobs/shell"
	"runnel/jobs/worker"
)

// This file holds the remote worker protocol (SPEC §9.2): one typed method
// per /worker route. The methods do not retry; the worker loop decides.

// HTTPStatus is the answer's status code; it lets packages that must not
// import this one (the worker loop) classify refusals.
func (e *APIError) HTTPStatus() int { return e.Status }

// RegisterRequest is the body of POST /worker/register.
type RegisterRequest struct {
	Name string `json:"name"`
	// Tags the worker advertises (Strøm workers send Capabilities).
	Tags         []string `json:"tags,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Version      string   `json:"version,omitempty"`
}

// RegisterResponse is the answer of POST /worker/register.
type RegisterResponse struct {
	WorkerID string `json:"worker_id"`
	// HeartbeatIntervalSecs is 0 when the server did not say (Strøm).
	HeartbeatIntervalSecs int `json:"heartbeat_interval_secs"`
}

// Register registers a new worker (a new id on every call).
func (c *Client) Register(ctx context.Context, req RegisterRequest) (RegisterResponse, error) {
	var out RegisterResponse
	err := c.Do(ctx, http.MethodPost, "/worker/register", req, &out)
	return out, err
}

type workerIDBody struct {
	WorkerID string `json:"worker_id"`
}

// Heartbeat refreshes the worker; a 404 *APIError means it must register
// again.
func (c *Client) Heartbeat(ctx context.Context, workerID string) error {
	return c.Do(ctx, http.MethodPost, "/worker/heartbeat", workerIDBody{workerID}, nil)
}

// ClaimRequest is the body of POST /worker/jobs/claim.
type ClaimRequest struct {
	WorkerID string   `json:"worker_id"`
	Tags     []string `json:"tags,omitempty"`
	// WaitSecs is the long-poll (nil: the server's default, 25 s).
	WaitSecs *int `json:"wait_secs,omitempty"`
}

// ClaimResponse is a claimed step, the Strøm ClaimResponse plus (runnel)
// task_name, revision and timeout_secs; the server sends every key null
// when there is no work. The server encodes this same type.
type ClaimResponse struct {
	Workspace   *string        `json:"workspace"`
	JobID       *string        `json:"job_id"`
	StepName    *string        `json:"step_name"`
	ActionName  *string        `json:"action_name"`
	ActionType  *string        `json:"action_type"`
	ActionImage *string        `json:"action_image"`
	ActionSpec  *ActionSpec    `json:"action_spec"`
	Input       map[string]any `json:"input"`
	Runner      *string        `json:"runner"`
	TaskName    *string        `json:"task_name"`
	Revision    *string        `json:"revision"`
	TimeoutSecs *int64         `json:"timeout_secs"`
}

// ActionSpec is the rendered action of a claim as a Strøm worker reads it:
// both YAML dialects are type "shell" with Cmd (sh -c text) or Script (a
// workspace-relative file).
type ActionSpec struct {
	Type   string            `json:"type"`
	Cmd    *string           `json:"cmd,omitempty"`
	Script *string           `json:"script,omitempty"`
	Env    map[string]string `json:"env"`
	Tags   []string          `json:"tags"`
	Input  map[string]any    `json:"input"`
}

// Claim asks for a ready step the tags cover (nil tags: the registered
// ones), waiting up to waitSecs (< 0: the server default) on the server; it
// returns nil, nil when no work came.
func (c *Client) Claim(ctx context.Context, workerID string, tags []string, waitSecs int) (*ClaimResponse, error) {
	req := ClaimRequest{WorkerID: workerID, Tags: tags}
	if waitSecs >= 0 {
		req.WaitSecs = &waitSecs
	}
	var out ClaimResponse
	if err := c.Do(ctx, http.MethodPost, "/worker/jobs/claim", req, &out); err != nil {
		return nil, err
	}
	if out.JobID == nil {
		return nil, nil
	}
	return &out, nil
}

func stepPath(jobID, step, verb string) string {
	return "/worker/jobs/" + url.PathEscape(jobID) + "/steps/" + url.PathEscape(step) + "/" + verb
}

// Start confirms the worker began a claimed step (409: no longer its).
func (c *Client) Start(ctx context.Context, jobID, step, workerID string) error {
	return c.Do(ctx, http.MethodPost, stepPath(jobID, step, "start"), workerIDBody{workerID}, nil)
}

// CompleteRequest is the body of .../complete: the step fails iff ExitCode
// ≠ 0 or Error is set; Output counts on success only.
type CompleteRequest struct {
	Output   json.RawMessage `json:"output,omitempty"`
	ExitCode *int            `json:"exit_code,omitempty"`
	Error    *string         `json:"error,omitempty"`
	WorkerID string          `json:"worker_id,omitempty"`
}

// Complete reports a finished step (409: no longer the worker's).
func (c *Client) Complete(ctx context.Context, jobID, step string, req CompleteRequest) error {
	return c.Do(ctx, http.MethodPost, stepPath(jobID, step, "complete"), req, nil)
}

// LogLine is one pushed line; TS is RFC 3339.
type LogLine struct {
	TS     string `json:"ts"`
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

type logsBody struct {
	StepName string    `json:"step_name"`
	Lines    []LogLine `json:"lines"`
	WorkerID string    `json:"worker_id,omitempty"`
}

// PushLogs appends lines of a running step the worker holds (at most 1000
// lines and 4 MiB per call; 409: no longer its).
func (c *Client) PushLogs(ctx context.Context, jobID, step, workerID string, lines []LogLine) error {
	return c.Do(ctx, http.MethodPost, "/worker/jobs/"+url.PathEscape(jobID)+"/logs", logsBody{StepName: step, Lines: lines, WorkerID: workerID}, nil)
}

// Cancelled reports whether the job's running steps must stop.
func (c *Client) Cancelled(ctx context.Context, jobID string) (bool, error) {
	var out struct {
		Cancelled bool `json:"cancelled"`
	}
	err := c.Do(ctx, http.MethodGet, "/worker/jobs/"+url.PathEscape(jobID)+"/cancelled", nil, &out)
	return out.Cancelled, err
}

// Tarball is a workspace download: Body is nil when NotModified.
type Tarball struct {
	// Body is the gzip tar stream; the caller closes it.
	Body io.ReadCloser
	// Revision is the revision served (X-Revision).
	Revision string
	// NotModified: the server answered 304 to If-None-Match.
	NotModified bool
}

// DownloadWorkspace fetches the tarball of a workspace revision (rev ""
// = current). With haveRev set it sends If-None-Match: "haveRev" and
// reports NotModified on 304.
func (c *Client) DownloadWorkspace(ctx context.Context, ws, rev, haveRev string) (*Tarball, error) {
	p := "/worker/workspace/" + url.PathEscape(ws) + ".tar.gz"
	if rev != "" {
		p += "?revision=" + url.QueryEscape(rev)
	}
	h := http.Header{}
	if haveRev != "" {
		h.Set("If-None-Match", strconv.Quote(haveRev))
	}
	resp, err := c.Raw(ctx, http.MethodGet, p, nil, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		return &Tarball{Revision: haveRev, NotModified: true}, nil
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("download workspace %s: unexpected HTTP %d", ws, resp.StatusCode)
	}
	return &Tarball{Body: resp.Body, Revision: resp.Header.Get("X-Revision")}, nil
}

// WorkerServer adapts a Client to the worker loop's view of the server
// (worker.Server). Its errors are *APIError (with HTTPStatus) or
// *ConnError, as the loop expects.
type WorkerServer struct{ Client *Client }

// Register implements worker.Server.
func (s WorkerServer) Register(ctx context.Context, name string, tags []string, version string) (worker.Registration, error) {
	r, err := s.Client.Register(ctx, RegisterRequest{Name: name, Tags: tags, Version: version})
	if err != nil {
		return worker.Registration{}, err
	}
	return worker.Registration{WorkerID: r.WorkerID, HeartbeatInterval: time.Duration(r.HeartbeatIntervalSecs) * time.Second}, nil
}

// Heartbeat implements worker.Server.
func (s WorkerServer) Heartbeat(ctx context.Context, workerID string) error {
	return s.Client.Heartbeat(ctx, workerID)
}

// Claim implements worker.Server: the ClaimResponse as an Assignment
// (required tags = "shell" + the action's; Dir left empty).
func (s WorkerServer) Claim(ctx context.Context, workerID string, tags []string, wait time.Duration) (*jobs.Assignment, error) {
	r, err := s.Client.Claim(ctx, workerID, tags, int(wait/time.Second))
	if err != nil || r == nil {
		return nil, err
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	a := &jobs.Assignment{
		JobID: str(r.JobID), Workspace: str(r.Workspace), Task: str(r.TaskName), Step: str(r.StepName),
		Action: str(r.ActionName), ActionType: str(r.ActionType), Revision: str(r.Revision), Input: r.Input,
	}
	if spec := r.ActionSpec; spec != nil {
		a.Command, a.File, a.Env = str(spec.Cmd), str(spec.Script), spec.Env
		a.Tags = append([]string{"shell"}, spec.Tags...)
	}
	if r.TimeoutSecs != nil && *r.TimeoutSecs > 0 {
		a.Timeout = time.Duration(*r.TimeoutSecs) * time.Second
	}
	return a, nil
}

// Start implements worker.Server.
func (s WorkerServer) Start(ctx context.Context, workerID string, a *jobs.Assignment) error {
	return s.Client.Start(ctx, a.JobID, a.Step, workerID)
}

// Complete implements worker.Server: exit_code always, error when
// failed, output when not.
func (s WorkerServer) Complete(ctx context.Context, workerID string, a *jobs.Assignment, r worker.Report) error {
	req := CompleteRequest{WorkerID: workerID, ExitCode: &r.ExitCode}
	if r.Error != "" {
		req.Error = &r.Error
	} else {
		req.Output = r.Output
	}
	return s.Client.Complete(ctx, a.JobID, a.Step, req)
}

// PushLogs implements worker.Server (ts in RFC 3339 with nanoseconds).
func (s WorkerServer) PushLogs(ctx context.Context, workerID string, a *jobs.Assignment, lines []shell.Line) error {
	out := make([]LogLine, len(lines))
	for i, l := range lines {
		out[i] = LogLine{TS: l.TS.UTC().Format(time.RFC3339Nano), Stream: l.Stream, Line: l.Text}
	}
	return s.Client.PushLogs(ctx, a.JobID, a.Step, workerID, out)
}

// Cancelled implements worker.Server.
func (s WorkerServer) Cancelled(ctx context.Context, jobID string) (bool, error) {
	return s.Client.Cancelled(ctx, jobID)
}

// Download implements worker.Server.
func (s WorkerServer) Download(ctx context.Context, ws, rev string) (io.ReadCloser, string, error) {
	t, err := s.Client.DownloadWorkspace(ctx, ws, rev, "")
	if err != nil {
		return nil, "", err
	}
	return t.Body, t.Revision, nil
}
