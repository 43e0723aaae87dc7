package httpd

// This file serves approval decisions (README "Approvals"):
// POST /api/jobs/{id}/steps/{step}/approve and …/reject with
// {"fields"?, "comment"?}, and the approval part of a step's detail.

import (
	"errors"
	"net/http"
	"runnel/jobs/audit"
	"strings"

	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/workspace"
)

// decisionRequest is the body of approve and reject.
type decisionRequest struct {
	Fields  map[string]any `json:"fields"`
	Comment string         `json:"comment"`
}

// maxComment caps a decision's comment (bytes).
const maxComment = 4096

func (s *Server) approveStep(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return s.decideStep(w, r, ps, true)
}

func (s *Server) rejectStep(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return s.decideStep(w, r, ps, false)
}

// decideStep records the caller's decision on a waiting approval step.
func (s *Server) decideStep(w http.ResponseWriter, r *http.Request, ps httprouter.Params, approve bool) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if len(req.Comment) > maxComment {
		return errorf(http.StatusBadRequest, "comment is longer than %d bytes", maxComment)
	}
	p := principalOf(r)
	d := jobs.Decision{Approve: approve, Fields: req.Fields, Comment: strings.TrimSpace(req.Comment), By: decider(p)}
	if p != nil {
		d.May = func(approvers []string) bool { return mayApprove(p, approvers) }
	}
	switch err := s.opts.Engine.Decide(r.Context(), id, ps.ByName("step"), d); {
	case errors.Is(err, jobs.ErrStepNotFound):
		return err // statusOf: 404 "Step not found"
	case err != nil:
		return notFound(err, "Job not found")
	}
	status := jobs.DecisionRejected
	if approve {
		status = jobs.DecisionApproved
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status})
	return nil
}

// decider names the caller of a request for the approval record: the
// user's email (with the API key's name when one was used), or
// "anonymous" with auth off.
func decider(p *principal) string {
	switch {
	case p == nil:
		return audit.ActorAnonymous
	case p.APIKey:
		return p.Email + " (API key '" + p.KeyName + "')"
	}
	return p.Email
}

// mayApprove reports whether p is one of approvers: their email
// (case-insensitive), or a member of a listed group (admins: every admin).
func mayApprove(p *principal, approvers []string) bool {
	for _, a := range approvers {
		switch {
		case a == workspace.GroupAdmins && p.IsAdmin:
			return true
		case strings.EqualFold(a, p.Email):
			return true
		}
	}
	return false
}
