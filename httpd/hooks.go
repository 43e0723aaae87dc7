package httpd

// This file serves task webhooks (SPEC §7.2).

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/workspace"
)

// hookRoutes registers the task webhooks /hooks/{name} (SPEC §7.2). They
// are outside the /api authentication and cross-origin protection: the
// trigger's own secret guards them.
func (s *Server) hookRoutes(r *httprouter.Router) {
	r.GET("/hooks/:name", s.handle(s.webhook))
	r.POST("/hooks/:name", s.handle(s.webhook))
	r.GET("/hooks/:name/jobs/:job_id", s.handle(s.webhookJob))
}

// Webhook timeouts: a sync trigger's default wait and the cap on every wait.
const (
	defaultHookWait = workspace.DefaultWebhookTimeoutSecs * time.Second
	maxHookWait     = 300 * time.Second
)

// hookTrigger finds the enabled webhook trigger of the URL's name (404
// otherwise).
func (s *Server) hookTrigger(ps httprouter.Params) (*workspace.Snapshot, *workspace.Trigger, error) {
	snap, tr, ok := s.opts.Workspaces.Webhook(ps.ByName("name"))
	if !ok || tr == nil || !tr.Enabled {
		return nil, nil, errorf(http.StatusNotFound, "Webhook not found")
	}
	return snap, tr, nil
}

// sharedSecret reports whether the request carries secret in plain
// form, as ?secret= or Authorization: Bearer (scheme in any case),
// compared in constant time. Both are checked so the time taken does not
// tell which one was tried.
func sharedSecret(r *http.Request, secret string) bool {
	ok := equalSecret(r.URL.Query().Get("secret"), secret)
	if tok, found := bearer(r.Header.Get("Authorization")); found {
		ok = equalSecret(tok, secret) || ok
	}
	return ok
}

// hookBody reads the body of a webhook request once the trigger's secret
// is proven, refusing before the body is read whatever can be refused
// then: ?secret= or Authorization: Bearer (scheme case-insensitive) is
// checked first and, if it matches, the body is read; otherwise only an
// X-Hub-Signature-256 HMAC can still prove the secret, and it needs the
// body. Without a valid secret and without a signature the answer is 401
// at once, so a client cannot hold the connection by dripping a body.
// Comparisons are constant-time; a trigger without a secret needs none.
func hookBody(w http.ResponseWriter, r *http.Request, tr *workspace.Trigger) ([]byte, error) {
	errSecret := errorf(http.StatusUnauthorized, "Invalid or missing secret")
	ok := tr.Secret == "" || sharedSecret(r, tr.Secret)
	sig := r.Header.Get("X-Hub-Signature-256")
	if !ok && sig == "" {
		return nil, errSecret
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return nil, err
	}
	if !ok && !validHMAC(sig, tr.Secret, body) {
		return nil, errSecret
	}
	return body, nil
}

// hookInput builds a webhook job's input: body, headers, method and query,
// then the trigger's input keys that do not collide with those four.
func hookInput(r *http.Request, tr *workspace.Trigger, body []byte) map[string]any {
	var parsed any
	switch {
	case r.Method == http.MethodGet || len(body) == 0:
	case strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "application/json"):
		if err := json.Unmarshal(body, &parsed); err != nil {
			parsed = string(body)
		}
	default:
		parsed = string(body)
	}
	headers := make(map[string]any, len(r.Header)+1)
	if r.Host != "" {
		headers["host"] = r.Host
	}
	for k, vs := range r.Header {
		if len(vs) > 0 {
			headers[strings.ToLower(k)] = vs[len(vs)-1]
		}
	}
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		if k != "secret" && len(vs) > 0 {
			query[k] = vs[len(vs)-1]
		}
	}
	in := map[string]any{"body": parsed, "headers": headers, "method": r.Method, "query": query}
	for k, v := range tr.Input {
		if _, reserved := in[k]; !reserved {
			in[k] = v
		}
	}
	return in
}

type hookStarted struct {
	JobID   string `json:"job_id"`
	Trigger string `json:"trigger"`
	Task    string `json:"task"`
}

type hookResult struct {
	JobID   string `json:"job_id"`
	Trigger string `json:"trigger"`
	Task    string `json:"task"`
	Status  string `json:"status"`
	Output  any    `json:"output"`
}

type hookJobView struct {
	JobID       string   `json:"job_id"`
	Trigger     string   `json:"trigger"`
	Task        string   `json:"task"`
	Status      string   `json:"status"`
	Output      any      `json:"output"`
	CreatedAt   api.Time `json:"created_at"`
	CompletedAt api.Time `json:"completed_at"`
}

// webhook serves GET|POST /hooks/{name}: it starts a job of the trigger's
// task; a sync trigger waits up to timeout_secs for it to end.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	snap, tr, err := s.hookTrigger(ps)
	if err != nil {
		return err
	}
	auditTarget(r, snap.Name+"/"+tr.Task)
	auditDetail(r, "trigger", tr.Name)
	body, err := hookBody(w, r, tr)
	if err != nil {
		return err
	}
	j, err := s.opts.Engine.Trigger(r.Context(), jobs.TriggerRequest{
		Workspace: snap.Name, Task: tr.Task, Input: hookInput(r, tr, body),
		SourceType: jobs.SourceWebhook, SourceID: snap.Name + "/" + tr.Name,
	})
	if err != nil {
		return err
	}
	auditDetail(r, "job_id", j.ID)
	if tr.Mode != workspace.WebhookSync {
		writeJSON(w, http.StatusOK, hookStarted{JobID: j.ID, Trigger: tr.WebhookName, Task: j.Task})
		return nil
	}
	wait := defaultHookWait
	if tr.TimeoutSecs > 0 {
		wait = min(time.Duration(tr.TimeoutSecs)*time.Second, maxHookWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if done, err := s.opts.Engine.Wait(ctx, j.ID); err == nil {
		j = done
	}
	if !jobs.JobTerminal(j.Status) {
		writeJSON(w, http.StatusAccepted, hookResult{JobID: j.ID, Trigger: tr.WebhookName, Task: j.Task, Status: jobs.JobRunning})
		return nil
	}
	writeJSON(w, http.StatusOK, hookResult{JobID: j.ID, Trigger: tr.WebhookName, Task: j.Task, Status: j.Status, Output: j.Output})
	return nil
}

// webhookJob serves GET /hooks/{name}/jobs/{job_id}: the status of a job
// this trigger started, optionally waiting for it to end.
func (s *Server) webhookJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	w.Header().Set("Cache-Control", "no-store")
	snap, tr, err := s.hookTrigger(ps)
	if err != nil {
		return err
	}
	if _, err := hookBody(w, r, tr); err != nil {
		return err
	}
	u, err := uuid.Parse(ps.ByName("job_id"))
	if err != nil || len(ps.ByName("job_id")) != 36 {
		return errorf(http.StatusBadRequest, "Invalid job ID")
	}
	id := u.String()
	j, err := s.opts.Jobs.Get(id)
	if err != nil {
		return notFound(err, "Job not found")
	}
	if j.SourceType != jobs.SourceWebhook || j.SourceID != snap.Name+"/"+tr.Name {
		return errorf(http.StatusNotFound, "Job not found")
	}
	status := http.StatusOK
	if r.URL.Query().Get("wait") == "true" && !jobs.JobTerminal(j.Status) {
		d, err := waitTimeout(r, defaultHookWait)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		if done, err := s.opts.Engine.Wait(ctx, id); err == nil {
			j = done
		}
		if !jobs.JobTerminal(j.Status) {
			status = http.StatusAccepted
		}
	}
	writeJSON(w, status, hookJobView{JobID: j.ID, Trigger: tr.WebhookName, Task: j.Task, Status: j.Status,
		Output: j.Output, CreatedAt: api.At(j.CreatedAt), CompletedAt: api.At(j.CompletedAt)})
	return nil
}
