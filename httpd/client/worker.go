package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"runnel/jobs/api"
	"runnel/jobs/shell"
	"runnel/jobs/worker"
)

// This file holds the remote worker protocol (SPEC §9.2): one typed method
// per /worker route. The methods do not retry; the worker loop decides.

// HTTPStatus is the answer's status code; it lets packages that must not
// import this one (the worker loop) classify refusals.
func (e *APIError) HTTPStatus() int { return e.Status }

// Register registers a new worker (a new id on every call).
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) (api.RegisterResponse, error) {
	var out api.RegisterResponse
	err := c.Do(ctx, http.MethodPost, "/worker/register", req, &out)
	return out, err
}

// Heartbeat refreshes the worker; a 404 *APIError means it must register
// again.
func (c *Client) Heartbeat(ctx context.Context, workerID string) error {
	return c.Do(ctx, http.MethodPost, "/worker/heartbeat", api.WorkerIDRequest{WorkerID: workerID}, nil)
}

// Claim asks for a ready step the tags cover (nil tags: the registered
// ones), waiting up to waitSecs (< 0: the server default) on the server; it
// returns nil, nil when no work came.
func (c *Client) Claim(ctx context.Context, workerID string, tags []string, waitSecs int) (*api.ClaimResponse, error) {
	req := api.ClaimRequest{WorkerID: workerID, Tags: tags}
	if waitSecs >= 0 {
		w := float64(waitSecs)
		req.WaitSecs = &w
	}
	var out api.ClaimResponse
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
	return c.Do(ctx, http.MethodPost, stepPath(jobID, step, "start"), api.WorkerIDRequest{WorkerID: workerID}, nil)
}

// Complete reports a finished step (409: no longer the worker's).
func (c *Client) Complete(ctx context.Context, jobID, step string, req api.CompleteRequest) error {
	return c.Do(ctx, http.MethodPost, stepPath(jobID, step, "complete"), req, nil)
}

// PushLogs appends lines of a running step the worker holds (at most 1000
// lines and 4 MiB per call; 409: no longer its).
func (c *Client) PushLogs(ctx context.Context, jobID, step, workerID string, lines []api.LogLine) error {
	return c.Do(ctx, http.MethodPost, "/worker/jobs/"+url.PathEscape(jobID)+"/logs", api.LogsRequest{StepName: step, Lines: lines, WorkerID: workerID}, nil)
}

// Cancelled reports whether the job's running steps must stop.
func (c *Client) Cancelled(ctx context.Context, jobID string) (bool, error) {
	var out api.CancelledResponse
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
	r, err := s.Client.Register(ctx, api.RegisterRequest{Name: name, Tags: tags, Version: version})
	if err != nil {
		return worker.Registration{}, err
	}
	return worker.Registration{WorkerID: r.WorkerID, HeartbeatInterval: time.Duration(r.HeartbeatIntervalSecs) * time.Second}, nil
}

// Heartbeat implements worker.Server.
func (s WorkerServer) Heartbeat(ctx context.Context, workerID string) error {
	return s.Client.Heartbeat(ctx, workerID)
}

// Claim implements worker.Server: the claim's Assignment.
func (s WorkerServer) Claim(ctx context.Context, workerID string, tags []string, wait time.Duration) (*api.Assignment, error) {
	r, err := s.Client.Claim(ctx, workerID, tags, int(wait/time.Second))
	if err != nil || r == nil {
		return nil, err
	}
	return r.Assignment(), nil
}

// Start implements worker.Server.
func (s WorkerServer) Start(ctx context.Context, workerID string, a *api.Assignment) error {
	return s.Client.Start(ctx, a.JobID, a.Step, workerID)
}

// Complete implements worker.Server: exit_code always, error when
// failed, output when not.
func (s WorkerServer) Complete(ctx context.Context, workerID string, a *api.Assignment, r worker.Report) error {
	req := api.CompleteRequest{WorkerID: workerID, ExitCode: &r.ExitCode}
	if r.Error != "" {
		req.Error = &r.Error
	} else {
		req.Output = r.Output
	}
	return s.Client.Complete(ctx, a.JobID, a.Step, req)
}

// PushLogs implements worker.Server (ts in RFC 3339 with nanoseconds).
func (s WorkerServer) PushLogs(ctx context.Context, workerID string, a *api.Assignment, lines []shell.Line) error {
	out := make([]api.LogLine, len(lines))
	for i, l := range lines {
		out[i] = api.LogLine{TS: api.Stamp{Time: l.TS}, Stream: l.Stream, Line: l.Text}
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
