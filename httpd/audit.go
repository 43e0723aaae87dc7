package httpd

// This file records the audit log (issue 14) from one place: handle, the
// adapter every route goes through, looks the request up in auditRoutes and,
// after the handler has answered, records one entry with the caller, the
// client address and the status. Handlers add what only they know (the job
// a request created, the email a login tried) through the request context
// (auditTarget, auditActor, auditDetail, auditSkip). It also serves
// GET /api/audit.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/jobs/api"
	"runnel/jobs/audit"
)

// Audit is what the server needs from the audit log (*audit.Log).
// Options.Audit nil records nothing and GET /api/audit answers [].
type Audit interface {
	Record(e audit.Entry) error
	List(f audit.Filter) (audit.Page, error)
}

// auditRoute says how requests to one route are recorded. Target and actor
// are route templates whose ":param" segments are filled from the URL.
type auditRoute struct {
	action string
	// failed replaces action when the answer is an error (4xx, 5xx).
	failed string
	target string
	// actor and actorType name a caller the route itself identifies (a
	// webhook URL); empty means the signed-in principal, else anonymous.
	actor, actorType string
}

// auditRoutes maps "METHOD template" (as registered with the router) to
// how it is recorded. Every state-changing route belongs here, plus GET
// /api/backup (it exports everything); reads do not. A new route is one
// line (e.g. "POST /api/jobs/:id/rerun": {action: "job.rerun", target:
// ":id"}).
var auditRoutes = map[string]auditRoute{
	"POST /api/workspaces/:ws/tasks/:name/execute": {action: audit.ActionJobExecute, target: ":ws/:name"},
	"POST /api/jobs/:id/cancel":                    {action: audit.ActionJobCancel, target: ":id"},
	"POST /api/jobs/:id/rerun":                     {action: audit.ActionJobRerun, target: ":id"},
	"POST /api/jobs/:id/restart":                   {action: audit.ActionJobRestart, target: ":id"},
	"POST /api/jobs/:id/steps/:step/approve":       {action: audit.ActionStepApprove, target: ":id/:step"},
	"POST /api/jobs/:id/steps/:step/reject":        {action: audit.ActionStepReject, target: ":id/:step"},
	"POST /api/workspaces/:ws/refresh":             {action: audit.ActionWorkspaceRefresh, target: ":ws"},
	"POST /push/:ws":                               {action: audit.ActionWorkspaceRefresh, target: ":ws", actor: "/push/:ws", actorType: audit.ActorWebhook},
	"GET /hooks/:name":                             {action: audit.ActionJobExecute, actor: "/hooks/:name", actorType: audit.ActorWebhook},
	"POST /hooks/:name":                            {action: audit.ActionJobExecute, actor: "/hooks/:name", actorType: audit.ActorWebhook},
	"POST /api/auth/login":                         {action: audit.ActionLogin, failed: audit.ActionLoginFailed},
	"POST /api/auth/logout":                        {action: audit.ActionLogout},
	"POST /api/auth/session":                       {action: audit.ActionLogin, failed: audit.ActionLoginFailed},
	"POST /api/auth/session/logout":                {action: audit.ActionLogout},
	"POST /api/auth/api-keys":                      {action: audit.ActionAPIKeyCreate},
	"DELETE /api/auth/api-keys/:prefix":            {action: audit.ActionAPIKeyDelete, target: ":prefix"},
	"POST /api/users":                              {action: audit.ActionUserCreate},
	"PUT /api/users/:id/password":                  {action: audit.ActionUserPassword, target: ":id"},
	"DELETE /api/users/:id":                        {action: audit.ActionUserDelete, target: ":id"},
	"GET /api/backup":                              {action: audit.ActionBackupDownload},
	"POST /worker/register":                        {action: audit.ActionWorkerRegister},
}

// auditTemplate is an auditRoutes key split for matching.
type auditTemplate struct {
	method string
	segs   []string
	route  auditRoute
}

// auditTemplates are auditRoutes split once.
var auditTemplates = func() []auditTemplate {
	out := make([]auditTemplate, 0, len(auditRoutes))
	for key, rt := range auditRoutes {
		method, tmpl, _ := strings.Cut(key, " ")
		out = append(out, auditTemplate{method: method, segs: strings.Split(tmpl, "/"), route: rt})
	}
	return out
}()

// auditRouteOf finds the auditRoutes entry of a request: a template
// matches when it has as many segments and each is equal or a ":param".
func auditRouteOf(r *http.Request) (auditRoute, bool) {
	n := strings.Count(r.URL.Path, "/") + 1
	for _, t := range auditTemplates {
		if t.method != r.Method || len(t.segs) != n {
			continue
		}
		if matchTemplate(t.segs, strings.Split(r.URL.Path, "/")) {
			return t.route, true
		}
	}
	return auditRoute{}, false
}

func matchTemplate(tmpl, path []string) bool {
	if len(tmpl) != len(path) {
		return false
	}
	for i, seg := range tmpl {
		if !strings.HasPrefix(seg, ":") && seg != path[i] {
			return false
		}
	}
	return true
}

// expand fills the ":param" segments of a template from ps.
func expand(tmpl string, ps httprouter.Params) string {
	if !strings.Contains(tmpl, ":") {
		return tmpl
	}
	segs := strings.Split(tmpl, "/")
	for i, seg := range segs {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			segs[i] = ps.ByName(name)
		}
	}
	return strings.Join(segs, "/")
}

// auditNote is what a handler adds to its request's entry. Only the
// request's goroutine touches it.
type auditNote struct {
	actor, actorType string
	target           string
	detail           map[string]any
	skip             bool
}

type auditKey struct{}

func noteOf(r *http.Request) *auditNote {
	n, _ := r.Context().Value(auditKey{}).(*auditNote)
	return n
}

// maxAuditText bounds a caller-chosen string kept in an entry (an
// attempted email).
const maxAuditText = 256

func clip(s string) string {
	if len(s) > maxAuditText {
		return strings.ToValidUTF8(s[:maxAuditText], "")
	}
	return s
}

// auditTarget sets the target of the request's entry (no-op on routes
// that are not recorded).
func auditTarget(r *http.Request, target string) {
	if n := noteOf(r); n != nil {
		n.target = clip(target)
	}
}

// auditActor names the caller of a request the route cannot identify
// before the handler runs (a login, a logout, a worker registering).
func auditActor(r *http.Request, actor, actorType string) {
	if n := noteOf(r); n != nil {
		n.actor, n.actorType = clip(actor), actorType
	}
}

// auditDetail adds a fact to the request's entry; never a secret.
func auditDetail(r *http.Request, key string, v any) {
	if n := noteOf(r); n != nil {
		if n.detail == nil {
			n.detail = map[string]any{}
		}
		n.detail[key] = v
	}
}

// auditSkip leaves the request unrecorded (it changed nothing, e.g. a
// logout with an unknown token).
func auditSkip(r *http.Request) {
	if n := noteOf(r); n != nil {
		n.skip = true
	}
}

// audited prepares the recording of a request to a route in auditRoutes:
// it returns the request carrying a note, the writer to answer through and
// the function that records the entry once the handler is done (nil
// record for routes that are not recorded).
func (s *Server) audited(w http.ResponseWriter, r *http.Request, ps httprouter.Params) (http.ResponseWriter, *http.Request, func()) {
	if s.opts.Audit == nil {
		return w, r, nil
	}
	rt, ok := auditRouteOf(r)
	if !ok {
		return w, r, nil
	}
	n := &auditNote{}
	r = r.WithContext(context.WithValue(r.Context(), auditKey{}, n))
	sw := &statusRecorder{ResponseWriter: w}
	return sw, r, func() { s.recordAudit(r, ps, rt, n, sw.code()) }
}

// recordAudit records one request. Answers 404 (nothing by that name, or
// the feature is off) and 429 (rate limited) acted on nothing and are not
// recorded.
func (s *Server) recordAudit(r *http.Request, ps httprouter.Params, rt auditRoute, n *auditNote, status int) {
	if n.skip || status == http.StatusNotFound || status == http.StatusTooManyRequests {
		return
	}
	e := audit.Entry{Action: rt.action, Target: expand(rt.target, ps), Address: s.clientIP(r), Status: &status,
		Detail: n.detail}
	if status >= 400 && rt.failed != "" {
		e.Action = rt.failed
	}
	if n.target != "" {
		e.Target = n.target
	}
	switch p := principalOf(r); {
	case n.actor != "":
		e.Actor, e.ActorType = n.actor, n.actorType
	case rt.actor != "":
		e.Actor, e.ActorType = expand(rt.actor, ps), rt.actorType
	case p != nil && p.APIKey:
		e.Actor, e.ActorType = p.Email, audit.ActorAPIKey
		if e.Detail == nil {
			e.Detail = map[string]any{}
		}
		e.Detail["api_key"] = p.KeyPrefix
	case p != nil:
		e.Actor, e.ActorType = p.Email, audit.ActorUser
	default:
		e.Actor, e.ActorType = audit.ActorAnonymous, audit.ActorAnonymous
	}
	if err := s.opts.Audit.Record(e); err != nil {
		s.log.Error("record audit entry", "action", e.Action, "actor", e.Actor, "target", e.Target, "err", err)
	}
}

// listAudit serves GET /api/audit: entries newest first, filtered by
// actor, action, since and until (RFC 3339), paged; admin only with auth
// on.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.requireAdmin(r); err != nil {
		return err
	}
	limit, offset, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Limit: limit, Offset: offset}
	for _, b := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return errorf(http.StatusBadRequest, "Invalid %s '%s': want an RFC 3339 time such as 2026-12-06T15:04:05Z", b.name, v)
			}
			*b.to = t
		}
	}
	out := []api.AuditEntry{}
	if s.opts.Audit == nil {
		w.Header().Set("X-Total-Count", "0")
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	page, err := s.opts.Audit.List(f)
	if err != nil {
		return err
	}
	for _, e := range page.Entries {
		out = append(out, wireAuditEntry(e))
	}
	if page.HasTotal {
		w.Header().Set("X-Total-Count", strconv.Itoa(page.Total))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
