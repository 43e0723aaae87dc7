package httpd

import (
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
)

// rerunRequest is POST /api/jobs/{id}/rerun: input replaces the source
// job's input when present; revision "current" runs on the serving
// revision instead of the source job's.
type rerunRequest struct {
	Input    json.RawMessage `json:"input"`
	Revision string          `json:"revision"`
}

func (s *Server) rerunJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	var req rerunRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	var input map[string]any
	if len(req.Input) > 0 && string(req.Input) != "null" {
		if req.Input[0] != '{' {
			return errorf(http.StatusBadRequest, "Invalid request body: input must be an object")
		}
		if err := json.Unmarshal(req.Input, &input); err != nil {
			return errorf(http.StatusBadRequest, "Invalid request body: %s", jsonDetail(err))
		}
	}
	switch req.Revision {
	case "", "same", "current":
	default:
		return errorf(http.StatusBadRequest, "Invalid revision '%s' (\"same\" or \"current\")", req.Revision)
	}
	srcType, srcID := s.source(r)
	j, err := s.opts.Engine.Rerun(r.Context(), jobs.RerunRequest{
		JobID: id, Input: input, Current: req.Revision == "current", SourceType: srcType, SourceID: srcID,
	})
	if err != nil {
		return notFound(err, "Job not found")
	}
	auditDetail(r, "job_id", j.ID)
	writeJSON(w, http.StatusOK, map[string]string{"job_id": j.ID})
	return nil
}

// restartRequest is POST /api/jobs/{id}/restart.
type restartRequest struct {
	FromStep string `json:"from_step"`
}

func (s *Server) restartJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	var req restartRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.FromStep == "" {
		return errorf(http.StatusBadRequest, "from_step is required")
	}
	dry := false
	switch v := r.URL.Query().Get("dry_run"); v {
	case "", "false":
	case "true":
		dry = true
	default:
		return errorf(http.StatusBadRequest, "Invalid dry_run '%s' (true or false)", v)
	}
	srcType, srcID := s.source(r)
	rr := jobs.RestartRequest{JobID: id, FromStep: req.FromStep, SourceType: srcType, SourceID: srcID}
	if dry {
		auditSkip(r)
		plan, err := s.opts.Engine.PlanRestart(rr)
		if err != nil {
			return notFound(err, "Job not found")
		}
		writeJSON(w, http.StatusOK, plan)
		return nil
	}
	j, err := s.opts.Engine.Restart(r.Context(), rr)
	if err != nil {
		return notFound(err, "Job not found")
	}
	auditDetail(r, "job_id", j.ID)
	writeJSON(w, http.StatusOK, map[string]string{"job_id": j.ID})
	return nil
}
