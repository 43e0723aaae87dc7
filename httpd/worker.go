package httpd

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/jobs/audit"
	"runnel/logstore"
	"runnel/workspace"
)

// WorkerEngine is what the remote worker protocol needs from the job
// engine (*jobs.Engine); Engine embeds it, so the compiler checks it.
type WorkerEngine interface {
	Register(name string, tags []string, version string) (*jobs.Worker, error)
	HeartbeatInterval() time.Duration
	Heartbeat(id string) (*jobs.Worker, error)
	ClaimRemoteWait(ctx, wait context.Context, workerID string, tags []string) (*jobs.Assignment, error)
	StartStep(jobID, step, workerID string) error
	Complete(ctx context.Context, jobID, step, workerID string, res jobs.StepResult) error
	AppendLogs(jobID, step, workerID string, lines []logstore.Line) error
	Cancelled(jobID string) (bool, error)
}

// Worker protocol limits (SPEC §9.2, §11).
const (
	// maxClaimWait is the default and largest long-poll of a claim.
	maxClaimWait = 25 * time.Second
	// maxLogLines is the most lines one log push may carry.
	maxLogLines = 1000
	// maxLogBody is the largest log push body.
	maxLogBody = 4 << 20
)

// workerRoutes registers the remote worker protocol /worker/* (SPEC §9.2).
// httprouter cannot hold /worker/jobs/claim next to /worker/jobs/:job/…,
// so claim is dispatched from POST /worker/jobs/:job; the tarball route
// captures "<ws>.tar.gz" whole and the handler trims the suffix.
func (s *Server) workerRoutes(r *httprouter.Router) {
	r.POST("/worker/register", s.workerHandle(s.workerRegister))
	r.POST("/worker/heartbeat", s.workerHandle(s.workerHeartbeat))
	r.POST("/worker/jobs/:job", s.workerHandle(s.workerClaim))
	r.POST("/worker/jobs/:job/steps/:step/start", s.workerHandle(s.workerStart))
	r.POST("/worker/jobs/:job/steps/:step/complete", s.workerHandle(s.workerComplete))
	r.POST("/worker/jobs/:job/logs", s.workerHandle(s.workerLogs))
	r.GET("/worker/jobs/:job/cancelled", s.workerHandle(s.workerCancelled))
	r.GET("/worker/workspace/:file", s.workerHandle(s.workerTarball))
}

// workerHandle wraps a /worker handler: 404 when remote workers are
// disabled, 401 unless the request carries the worker token.
func (s *Server) workerHandle(h func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error) httprouter.Handle {
	return s.handle(func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if s.opts.WorkerToken == "" {
			return errorf(http.StatusNotFound, "Remote workers are disabled")
		}
		if err := s.checkWorkerToken(w, r); err != nil {
			return err
		}
		return h(w, r, ps, s.opts.Engine)
	})
}

// checkWorkerToken compares the bearer token with the configured one in
// constant time (both are hashed first, so the length does not leak).
func (s *Server) checkWorkerToken(w http.ResponseWriter, r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="runnel-worker"`)
		return errorf(http.StatusUnauthorized, "Missing authorization header")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="runnel-worker"`)
		return errorf(http.StatusUnauthorized, "Invalid authorization header format")
	}
	got := sha256.Sum256([]byte(tok))
	want := sha256.Sum256([]byte(s.opts.WorkerToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="runnel-worker", error="invalid_token"`)
		return errorf(http.StatusUnauthorized, "Invalid worker token")
	}
	return nil
}

// workerIDOf validates a worker id from a request body; "" stays "" when
// optional.
func workerIDOf(id string, required bool) (string, error) {
	if id == "" && !required {
		return "", nil
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", errorf(http.StatusBadRequest, "Invalid worker ID")
	}
	return u.String(), nil
}

// workerJobID validates the :job segment.
func workerJobID(ps httprouter.Params) (string, error) {
	id := ps.ByName("job")
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", errorf(http.StatusBadRequest, "Invalid job ID")
	}
	return u.String(), nil
}

// stepNotFound words jobs.ErrNotFound from a step report: the job or the
// step is unknown.
func (s *Server) stepNotFound(err error, jobID string) error {
	if !errors.Is(err, jobs.ErrNotFound) {
		return err
	}
	if _, gerr := s.opts.Jobs.Get(jobID); gerr != nil {
		return notFound(err, "Job not found")
	}
	return notFound(err, "Step not found")
}

// workerRegister serves POST /worker/register: a new worker on every call.
func (s *Server) workerRegister(w http.ResponseWriter, r *http.Request, _ httprouter.Params, eng WorkerEngine) error {
	var req api.RegisterRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	tags := req.Tags
	if len(tags) == 0 {
		tags = req.Capabilities
	}
	if strings.TrimSpace(req.Name) == "" {
		return errorf(http.StatusBadRequest, "Invalid request body: name is required")
	}
	if len(tags) == 0 {
		return errorf(http.StatusBadRequest, "Invalid request body: tags must not be empty")
	}
	for _, t := range tags {
		if strings.TrimSpace(t) == "" {
			return errorf(http.StatusBadRequest, "Invalid request body: tags must not contain empty strings")
		}
	}
	auditActor(r, req.Name, audit.ActorWorker)
	auditDetail(r, "tags", tags)
	if req.Version != "" {
		auditDetail(r, "version", req.Version)
	}
	wk, err := eng.Register(req.Name, tags, req.Version)
	if err != nil {
		return err
	}
	auditTarget(r, wk.ID)
	writeJSON(w, http.StatusOK, api.RegisterResponse{WorkerID: wk.ID, HeartbeatIntervalSecs: int(eng.HeartbeatInterval() / time.Second)})
	return nil
}

var statusOK = map[string]string{"status": "ok"}

// workerHeartbeat serves POST /worker/heartbeat.
func (s *Server) workerHeartbeat(w http.ResponseWriter, r *http.Request, _ httprouter.Params, eng WorkerEngine) error {
	var req api.WorkerIDRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	id, err := workerIDOf(req.WorkerID, true)
	if err != nil {
		return err
	}
	if _, err := eng.Heartbeat(id); err != nil {
		return notFound(err, "Worker not found")
	}
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// workerClaim serves POST /worker/jobs/claim (registered as
// /worker/jobs/:job): a long-poll of up to wait_secs (default and maximum
// 25) that answers as soon as a step the worker's tags cover is claimed.
// A server shutdown ends the wait with "no work".
func (s *Server) workerClaim(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error {
	if ps.ByName("job") != "claim" {
		return errorf(http.StatusNotFound, "Not found")
	}
	var req api.ClaimRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	id, err := workerIDOf(req.WorkerID, true)
	if err != nil {
		return err
	}
	wait := maxClaimWait
	if req.WaitSecs != nil {
		if math.IsNaN(*req.WaitSecs) || *req.WaitSecs < 0 {
			return errorf(http.StatusBadRequest, "Invalid request body: wait_secs must not be negative")
		}
		wait = min(time.Duration(*req.WaitSecs*float64(time.Second)), maxClaimWait)
	}
	tags := req.Tags
	if len(tags) == 0 {
		tags = req.Capabilities
	}
	waitCtx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	a, err := eng.ClaimRemoteWait(r.Context(), waitCtx, id, tags)
	if err != nil {
		return notFound(err, "Worker not found")
	}
	if a == nil {
		writeJSON(w, http.StatusOK, api.ClaimResponse{})
		return nil
	}
	writeJSON(w, http.StatusOK, api.ClaimOf(a))
	return nil
}

// stepParams validates :job and :step.
func stepParams(ps httprouter.Params) (jobID, step string, err error) {
	if jobID, err = workerJobID(ps); err != nil {
		return "", "", err
	}
	return jobID, ps.ByName("step"), nil
}

// workerStart serves POST /worker/jobs/:job/steps/:step/start.
func (s *Server) workerStart(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error {
	jobID, step, err := stepParams(ps)
	if err != nil {
		return err
	}
	var req api.WorkerIDRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	wid, err := workerIDOf(req.WorkerID, false)
	if err != nil {
		return err
	}
	if err := eng.StartStep(jobID, step, wid); err != nil {
		return s.stepNotFound(err, jobID)
	}
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// timedOutPrefix starts the error of a step its worker stopped on timeout.
const timedOutPrefix = "Step timed out after "

// workerComplete serves POST /worker/jobs/:job/steps/:step/complete: the
// step fails iff exit_code ≠ 0 or error is set; output counts on success.
func (s *Server) workerComplete(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error {
	jobID, step, err := stepParams(ps)
	if err != nil {
		return err
	}
	var req api.CompleteRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	wid, err := workerIDOf(req.WorkerID, false)
	if err != nil {
		return err
	}
	var res jobs.StepResult
	code := 0
	if req.ExitCode != nil {
		code = *req.ExitCode
	}
	res.ExitCode = code
	switch {
	case req.Error != nil && *req.Error != "":
		res.Error = *req.Error
		res.TimedOut = strings.HasPrefix(res.Error, timedOutPrefix)
	case code != 0:
		res.Error = fmt.Sprintf("Process exited with code %d", code)
	default:
		if len(req.Output) > 0 {
			var v any
			if err := json.Unmarshal(req.Output, &v); err != nil {
				return errorf(http.StatusBadRequest, "Invalid request body: %s", jsonDetail(err))
			}
			res.Output = v
		}
	}
	if err := eng.Complete(r.Context(), jobID, step, wid, res); err != nil {
		return s.stepNotFound(err, jobID)
	}
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// workerLogs serves POST /worker/jobs/:job/logs: at most 1000 lines and
// 4 MiB, accepted only from the worker holding the running step.
func (s *Server) workerLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error {
	jobID, err := workerJobID(ps)
	if err != nil {
		return err
	}
	var req api.LogsRequest
	if err := decodeBodyLimit(w, r, &req, maxLogBody); err != nil {
		return err
	}
	if req.StepName == "" {
		return errorf(http.StatusBadRequest, "Invalid request body: step_name is required")
	}
	if len(req.Lines) > maxLogLines {
		return errorf(http.StatusRequestEntityTooLarge, "Too many log lines (at most %d per request)", maxLogLines)
	}
	wid, err := workerIDOf(req.WorkerID, false)
	if err != nil {
		return err
	}
	now := time.Now()
	lines := make([]logstore.Line, len(req.Lines))
	for i, l := range req.Lines {
		if l.Stream != logstore.Stdout && l.Stream != logstore.Stderr {
			return errorf(http.StatusBadRequest, "Invalid request body: stream must be stdout or stderr")
		}
		ts := l.TS.Time
		if ts.IsZero() {
			ts = now // absent or unreadable: the time of receipt
		}
		lines[i] = logstore.Line{TS: ts, Stream: l.Stream, Step: req.StepName, Text: l.Line}
	}
	if err := eng.AppendLogs(jobID, req.StepName, wid, lines); err != nil {
		return s.stepNotFound(err, jobID)
	}
	writeJSON(w, http.StatusOK, statusOK)
	return nil
}

// workerCancelled serves GET /worker/jobs/:job/cancelled: true once the
// job's running steps must stop (cancelled or timed out).
func (s *Server) workerCancelled(w http.ResponseWriter, r *http.Request, ps httprouter.Params, eng WorkerEngine) error {
	jobID, err := workerJobID(ps)
	if err != nil {
		return err
	}
	stop, err := eng.Cancelled(jobID)
	if err != nil {
		return notFound(err, "Job not found")
	}
	writeJSON(w, http.StatusOK, api.CancelledResponse{Cancelled: stop})
	return nil
}

// tarballSuffix ends the tarball route's segment (optional).
const tarballSuffix = ".tar.gz"

// workerTarball serves GET /worker/workspace/:ws.tar.gz[?revision=R]: the
// revision tree as a gzip tar with ETag "R"; If-None-Match "R" → 304.
func (s *Server) workerTarball(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ WorkerEngine) error {
	ws := strings.TrimSuffix(ps.ByName("file"), tarballSuffix)
	rev := r.URL.Query().Get("revision")
	path, revision, err := s.opts.Workspaces.Tarball(ws, rev)
	if errors.Is(err, workspace.ErrNotFound) {
		return errorf(http.StatusNotFound, "Workspace '%s' not found", ws)
	}
	if err != nil {
		return err
	}
	gone := &workspace.RevisionNotAvailableError{Name: ws, Revision: revision}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return gone // pruned between Tarball and Open
	}
	if err != nil {
		return fmt.Errorf("open tarball: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat tarball: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("X-Revision", revision)
	h.Set("ETag", strconv.Quote(revision))
	h.Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match with 304, ranges and HEAD.
	http.ServeContent(w, r, ws+tarballSuffix, fi.ModTime(), f)
	return nil
}
