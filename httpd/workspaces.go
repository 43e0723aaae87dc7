package httpd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/workspace"
)

// workspaceView returns the API item of a workspace status.
func (s *Server) workspaceView(st workspace.Status) api.Workspace {
	_, src, _ := s.opts.Workspaces.Get(st.Name)
	return wireWorkspace(st, src)
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	list := s.opts.Workspaces.List()
	out := make([]api.Workspace, 0, len(list))
	for _, st := range list {
		out = append(out, s.workspaceView(st))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// snapshot returns the serving snapshot of the workspace in the URL.
func (s *Server) snapshot(ws string) (*workspace.Snapshot, error) {
	snap, err := s.opts.Workspaces.Current(ws)
	return snap, notFound(err, fmt.Sprintf("Workspace '%s' not found", ws))
}

func (s *Server) refreshWorkspace(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	ws := ps.ByName("ws")
	res, err := s.opts.Workspaces.Refresh(r.Context(), ws)
	if err != nil {
		return notFound(err, fmt.Sprintf("Workspace '%s' not found", ws))
	}
	auditDetail(r, "revision", res.Revision)
	auditDetail(r, "changed", res.Changed)
	writeJSON(w, http.StatusOK, api.RefreshResult{Workspace: ws, Revision: res.Revision, Refreshed: true, Changed: res.Changed})
	return nil
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	snap, err := s.snapshot(ps.ByName("ws"))
	if err != nil {
		return err
	}
	triggered := map[string]bool{}
	for _, tr := range snap.Triggers {
		if tr.Enabled {
			triggered[tr.Task] = true
		}
	}
	out := make([]api.TaskItem, 0, len(snap.Tasks))
	for _, t := range snap.Tasks {
		out = append(out, wireTaskItem(snap.Name, t, triggered[t.Name]))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	snap, err := s.snapshot(ps.ByName("ws"))
	if err != nil {
		return err
	}
	t := snap.Tasks[ps.ByName("name")]
	if t == nil {
		return jobs.ErrTaskNotFound
	}
	now := time.Now()
	triggers := []api.Trigger{}
	for _, tr := range sortedTriggers(snap) {
		if tr.Task == t.Name {
			triggers = append(triggers, s.triggerOf(snap.Name, tr, now))
		}
	}
	v, err := wireTask(t, triggers)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func sortedTriggers(snap *workspace.Snapshot) []*workspace.Trigger {
	out := make([]*workspace.Trigger, 0, len(snap.Triggers))
	for _, tr := range snap.Triggers {
		out = append(out, tr)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// triggerOf is a trigger's API view; next_runs come from the engine's
// per-trigger cache (the scheduler fires from the same one), never from a
// fresh search per request.
func (s *Server) triggerOf(ws string, tr *workspace.Trigger, now time.Time) api.Trigger {
	var next []time.Time
	if tr.Type == workspace.TriggerScheduler && s.opts.Schedule != nil {
		next = s.opts.Schedule.NextRuns(ws, tr, now, 5)
	}
	return wireTrigger(tr, next)
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	snap, err := s.snapshot(ps.ByName("ws"))
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]api.Trigger, 0, len(snap.Triggers))
	for _, tr := range sortedTriggers(snap) {
		out = append(out, s.triggerOf(snap.Name, tr, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type executeRequest struct {
	Input json.RawMessage `json:"input"`
}

func (s *Server) executeTask(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	var req executeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	input := map[string]any{}
	if len(req.Input) > 0 && string(req.Input) != "null" {
		if req.Input[0] != '{' {
			return errorf(http.StatusBadRequest, "Invalid request body: input must be an object")
		}
		// An object can still fail to decode: a number beyond float64.
		if err := json.Unmarshal(req.Input, &input); err != nil {
			return errorf(http.StatusBadRequest, "Invalid request body: %s", jsonDetail(err))
		}
	}
	ws := ps.ByName("ws")
	if _, err := s.snapshot(ws); err != nil {
		return err
	}
	srcType, srcID := s.source(r)
	j, err := s.opts.Engine.Trigger(r.Context(), jobs.TriggerRequest{
		Workspace: ws, Task: ps.ByName("name"), Input: input, SourceType: srcType, SourceID: srcID,
	})
	if err != nil {
		return err
	}
	auditDetail(r, "job_id", j.ID)
	writeJSON(w, http.StatusOK, map[string]string{"job_id": j.ID})
	return nil
}

// source is the job source of an API request: api/null with auth off, the
// signed-in user's email with auth on.
func (s *Server) source(r *http.Request) (string, string) {
	if u := userOf(r); u != "" {
		return jobs.SourceUser, u
	}
	return jobs.SourceAPI, ""
}

// decodeBody parses a JSON body (any Content-Type) of at most maxBody
// bytes; an empty body leaves v unchanged.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBodyLimit(w, r, v, maxBody)
}

func decodeBodyLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, "Request body too large")
		case errors.Is(err, os.ErrDeadlineExceeded):
			return errBodyTimeout
		case errors.Is(err, io.EOF):
			return nil
		}
		return errorf(http.StatusBadRequest, "Invalid request body: %s", jsonDetail(err))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "Invalid request body: unexpected data after JSON value")
	}
	return nil
}

// jsonDetail words a decode error without Go type names where possible.
func jsonDetail(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if num, ok := strings.CutPrefix(te.Value, "number "); ok && te.Type.Kind() == reflect.Float64 {
			// Only a number beyond float64's range fails to decode as one.
			if te.Field != "" {
				return te.Field + ": number " + num + " is out of range"
			}
			return "number " + num + " is out of range"
		}
		if te.Field != "" {
			return te.Field + " must be " + jsonKind(te.Type.Kind().String())
		}
		return "body must be a JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a number"
}
