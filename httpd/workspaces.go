package httpd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/workspace"
	"runnel/workspace/cron"
)

type workspaceView struct {
	Name          string          `json:"name"`
	TasksCount    int             `json:"tasks_count"`
	ActionsCount  int             `json:"actions_count"`
	TriggersCount int             `json:"triggers_count"`
	Revision      *string         `json:"revision"`
	Error         string          `json:"error,omitempty"`
	ErrorRevision json.RawMessage `json:"error_revision,omitempty"`
	Source        sourceView      `json:"source"`
	Commit        *commitView     `json:"commit"`
}

// sourceView is where a workspace comes from (runnel): a git remote
// (credentials stripped) and ref, or a folder.
type sourceView struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
}

// commitView describes a git revision (runnel).
type commitView struct {
	Hash    string  `json:"hash"`
	Message string  `json:"message"`
	Author  string  `json:"author"`
	Time    apiTime `json:"time"`
}

func commitOf(c *workspace.Commit) *commitView {
	if c == nil {
		return nil
	}
	return &commitView{Hash: c.Hash, Message: c.Message, Author: c.Author, Time: apiTime(c.Time)}
}

func workspaceOf(st workspace.Status, src workspace.Source) workspaceView {
	v := workspaceView{Name: st.Name, Source: sourceView{Type: src.Kind}}
	if src.Kind == workspace.KindGit {
		v.Source.URL, v.Source.Ref = publicURL(src.URL), src.Ref
	} else {
		v.Source.Path = src.Path
	}
	if snap := st.Snapshot; snap != nil {
		v.TasksCount = len(snap.Tasks)
		for name := range snap.Actions {
			if !strings.HasPrefix(name, workspace.InlinePrefix) {
				v.ActionsCount++
			}
		}
		v.TriggersCount = len(snap.Triggers)
		rev := snap.Revision
		v.Revision = &rev
		v.Commit = commitOf(snap.Commit)
	}
	if st.Error != "" {
		v.Error = st.Error
		v.ErrorRevision = json.RawMessage("null")
		if st.ErrorRevision != "" {
			v.ErrorRevision, _ = json.Marshal(st.ErrorRevision)
		}
	}
	return v
}

// publicURL removes credentials from a git URL: all user info of http(s)
// URLs (a token often sits in the user name), the password of others.
// scp-like "user@host:path" addresses carry no password and stay as is.
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User == nil {
		return raw
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		u.User = nil
	} else {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// workspaceView returns the API item of a workspace status.
func (s *Server) workspaceView(st workspace.Status) workspaceView {
	_, src, _ := s.opts.Workspaces.Get(st.Name)
	return workspaceOf(st, src)
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	list := s.opts.Workspaces.List()
	out := make([]workspaceView, 0, len(list))
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

type refreshView struct {
	Workspace string `json:"workspace"`
	Revision  string `json:"revision"`
	Refreshed bool   `json:"refreshed"`
	Changed   bool   `json:"changed"`
}

func (s *Server) refreshWorkspace(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	ws := ps.ByName("ws")
	res, err := s.opts.Workspaces.Refresh(r.Context(), ws)
	if err != nil {
		return notFound(err, fmt.Sprintf("Workspace '%s' not found", ws))
	}
	auditDetail(r, "revision", res.Revision)
	auditDetail(r, "changed", res.Changed)
	writeJSON(w, http.StatusOK, refreshView{Workspace: ws, Revision: res.Revision, Refreshed: true, Changed: res.Changed})
	return nil
}

type taskItem struct {
	Name        string `json:"name"`
	Workspace   string `json:"workspace"`
	Mode        string `json:"mode"`
	Folder      string `json:"folder,omitempty"`
	HasTriggers bool   `json:"has_triggers"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
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
	out := make([]taskItem, 0, len(snap.Tasks))
	for _, t := range snap.Tasks {
		out = append(out, taskItem{Name: t.Name, Workspace: snap.Name, Mode: t.Mode, Folder: t.Folder,
			HasTriggers: triggered[t.Name], DisplayName: t.DisplayName, Description: t.Description})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

type fieldView struct {
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Secret      bool   `json:"secret,omitempty"`
}

type flowView struct {
	Action            string   `json:"action"`
	DependsOn         []string `json:"depends_on"`
	Input             any      `json:"input"`
	ContinueOnFailure bool     `json:"continue_on_failure"`
	Name              string   `json:"name,omitempty"`
	Description       string   `json:"description,omitempty"`
	TimeoutSecs       int64    `json:"timeout_secs,omitempty"`
}

type taskView struct {
	Name        string               `json:"name"`
	Mode        string               `json:"mode"`
	Folder      string               `json:"folder,omitempty"`
	DisplayName string               `json:"display_name,omitempty"`
	Description string               `json:"description,omitempty"`
	TimeoutSecs int64                `json:"timeout_secs,omitempty"`
	Input       map[string]fieldView `json:"input"`
	Flow        map[string]flowView  `json:"flow"`
	Triggers    []triggerView        `json:"triggers"`
}

// defaultView shows a field default; nil defaults are omitted, so wrap them.
func defaultView(f workspace.Field) any {
	if !f.HasDefault {
		return nil
	}
	if f.Default == nil {
		return json.RawMessage("null")
	}
	return f.Default
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
	v := taskView{Name: t.Name, Mode: t.Mode, Folder: t.Folder, DisplayName: t.DisplayName,
		Description: t.Description, TimeoutSecs: int64(t.Timeout / time.Second),
		Input: map[string]fieldView{}, Flow: map[string]flowView{}, Triggers: []triggerView{}}
	for _, f := range t.Input {
		v.Input[f.Name] = fieldView{Type: f.Type, Required: f.Required, Default: defaultView(f),
			Name: f.DisplayName, Description: f.Description, Secret: f.Secret}
	}
	for _, st := range t.Steps {
		var in any = map[string]any{}
		if st.Input != nil && st.Input.Raw() != nil {
			in = st.Input.Raw()
		}
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		v.Flow[st.Name] = flowView{Action: st.Action, DependsOn: deps, Input: in,
			ContinueOnFailure: st.ContinueOnFailure, Name: st.DisplayName, Description: st.Description,
			TimeoutSecs: int64(st.Timeout / time.Second)}
	}
	now := time.Now()
	for _, tr := range sortedTriggers(snap) {
		if tr.Task == t.Name {
			v.Triggers = append(v.Triggers, s.triggerOf(snap.Name, tr, now))
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type triggerView struct {
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
func (s *Server) triggerOf(ws string, tr *workspace.Trigger, now time.Time) triggerView {
	v := triggerView{Name: tr.Name, Type: tr.Type, Task: tr.Task, Enabled: tr.Enabled,
		Input: tr.Input, NextRuns: []string{}}
	if v.Input == nil {
		v.Input = map[string]any{}
	}
	switch tr.Type {
	case workspace.TriggerScheduler:
		v.Cron, v.Timezone, v.Concurrency = tr.Cron, tr.Timezone, tr.Concurrency
		if v.Timezone == "" {
			v.Timezone = "UTC"
		}
		if s.opts.Schedule != nil {
			for _, t := range s.opts.Schedule.NextRuns(ws, tr, now, 5) {
				v.NextRuns = append(v.NextRuns, cron.FormatRun(t))
			}
		}
	case workspace.TriggerWebhook:
		v.Path = "/hooks/" + tr.WebhookName
		v.Mode = tr.Mode
	}
	return v
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	snap, err := s.snapshot(ps.ByName("ws"))
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]triggerView, 0, len(snap.Triggers))
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
