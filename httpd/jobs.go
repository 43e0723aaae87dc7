package httpd

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
)

// apiTime is a time in the API layout (RFC 3339 UTC, milliseconds).
type apiTime time.Time

func (t apiTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(jobs.APITimeLayout) + `"`), nil
}

// optTime is nil for the zero time.
func optTime(t time.Time) *apiTime {
	if t.IsZero() {
		return nil
	}
	v := apiTime(t)
	return &v
}

// optString is nil for "".
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type jobItem struct {
	JobID          string   `json:"job_id"`
	Workspace      string   `json:"workspace"`
	TaskName       string   `json:"task_name"`
	Mode           string   `json:"mode"`
	Status         string   `json:"status"`
	SourceType     string   `json:"source_type"`
	SourceID       *string  `json:"source_id"`
	WorkerID       *string  `json:"worker_id"`
	CreatedAt      apiTime  `json:"created_at"`
	StartedAt      *apiTime `json:"started_at"`
	CompletedAt    *apiTime `json:"completed_at"`
	Revision       string   `json:"revision"`
	HookEvent      *string  `json:"hook_event"`
	ParentJobID    *string  `json:"parent_job_id"`
	ParentStepName *string  `json:"parent_step_name"`
}

func jobItemOf(j *jobs.Job) jobItem {
	return jobItem{
		JobID: j.ID, Workspace: j.Workspace, TaskName: j.Task, Mode: j.Mode, Status: j.Status,
		SourceType: j.SourceType, SourceID: optString(j.SourceID), WorkerID: optString(j.WorkerID),
		CreatedAt: apiTime(j.CreatedAt), StartedAt: optTime(j.StartedAt), CompletedAt: optTime(j.CompletedAt),
		Revision: j.Revision, HookEvent: optString(j.HookEvent), ParentJobID: optString(j.ParentJobID),
		ParentStepName: optString(j.ParentStepName),
	}
}

type jobView struct {
	JobID          string         `json:"job_id"`
	Workspace      string         `json:"workspace"`
	TaskName       string         `json:"task_name"`
	Mode           string         `json:"mode"`
	Input          map[string]any `json:"input"`
	Output         any            `json:"output"`
	Status         string         `json:"status"`
	SourceType     string         `json:"source_type"`
	SourceID       *string        `json:"source_id"`
	WorkerID       *string        `json:"worker_id"`
	CreatedAt      apiTime        `json:"created_at"`
	StartedAt      *apiTime       `json:"started_at"`
	CompletedAt    *apiTime       `json:"completed_at"`
	Steps          []stepView     `json:"steps"`
	Revision       string         `json:"revision"`
	HookEvent      *string        `json:"hook_event"`
	ParentJobID    *string        `json:"parent_job_id"`
	ParentStepName *string        `json:"parent_step_name"`
}

type stepView struct {
	StepName     string   `json:"step_name"`
	ActionName   string   `json:"action_name"`
	ActionType   string   `json:"action_type"`
	ActionImage  *string  `json:"action_image"`
	Runner       string   `json:"runner"`
	Input        any      `json:"input"`
	Output       any      `json:"output"`
	Status       string   `json:"status"`
	WorkerID     *string  `json:"worker_id"`
	DependsOn    []string `json:"depends_on"`
	StartedAt    *apiTime `json:"started_at"`
	CompletedAt  *apiTime `json:"completed_at"`
	ErrorMessage *string  `json:"error_message"`
	SkipReason   *string  `json:"skip_reason"`
	ChildJobID   *string  `json:"child_job_id"`
	// (runnel) retry: the current or last attempt (0 before the first
	// start), the policy's attempts (1 without one), when a step waiting
	// for its next attempt becomes ready, and the finished attempts.
	Attempt     int           `json:"attempt"`
	MaxAttempts int           `json:"max_attempts"`
	RetryAt     *apiTime      `json:"retry_at"`
	Attempts    []attemptView `json:"attempts"`
}

// attemptView is one finished attempt of a step with a retry policy.
type attemptView struct {
	Attempt      int      `json:"attempt"`
	ExitCode     int      `json:"exit_code"`
	ErrorMessage *string  `json:"error_message"`
	StartedAt    *apiTime `json:"started_at"`
	CompletedAt  *apiTime `json:"completed_at"`
	WorkerID     *string  `json:"worker_id"`
}

// attemptsOf returns a step's attempts for the API (never nil).
func attemptsOf(s *jobs.Step) []attemptView {
	out := make([]attemptView, 0, len(s.Attempts))
	for _, a := range s.Attempts {
		out = append(out, attemptView{Attempt: a.Attempt, ExitCode: a.ExitCode, ErrorMessage: optString(a.ErrorMessage),
			StartedAt: optTime(a.StartedAt), CompletedAt: optTime(a.CompletedAt), WorkerID: optString(a.WorkerID)})
	}
	return out
}

func jobViewOf(j *jobs.Job) jobView {
	v := jobView{
		JobID: j.ID, Workspace: j.Workspace, TaskName: j.Task, Mode: j.Mode, Input: j.Input,
		Output: j.Output, Status: j.Status, SourceType: j.SourceType, SourceID: optString(j.SourceID),
		WorkerID: optString(j.WorkerID), CreatedAt: apiTime(j.CreatedAt), StartedAt: optTime(j.StartedAt),
		CompletedAt: optTime(j.CompletedAt), Steps: make([]stepView, 0, len(j.Steps)), Revision: j.Revision,
		HookEvent: optString(j.HookEvent), ParentJobID: optString(j.ParentJobID),
		ParentStepName: optString(j.ParentStepName),
	}
	if v.Input == nil {
		v.Input = map[string]any{}
	}
	for _, s := range j.Steps {
		deps := s.DependsOn
		if deps == nil {
			deps = []string{}
		}
		v.Steps = append(v.Steps, stepView{
			StepName: s.Name, ActionName: s.Action, ActionType: s.ActionType, Runner: s.Runner,
			Input: s.Input, Output: s.Output, Status: s.Status, WorkerID: optString(s.WorkerID),
			DependsOn: deps, StartedAt: optTime(s.StartedAt), CompletedAt: optTime(s.CompletedAt),
			ErrorMessage: optString(s.ErrorMessage), SkipReason: optString(s.SkipReason),
			ChildJobID: optString(s.ChildJobID),
			Attempt:    s.Attempt, MaxAttempts: 1, RetryAt: optTime(s.RetryAt), Attempts: attemptsOf(s),
		})
		if s.Retry != nil {
			v.Steps[len(v.Steps)-1].MaxAttempts = s.Retry.Attempts
		}
	}
	return v
}

// maxLimit caps list pages.
const maxLimit = 1000

// paging reads limit (default 50, capped at 1000) and offset.
func paging(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	limit, offset = 50, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errorf(http.StatusBadRequest, "Invalid limit")
		}
		limit = min(n, maxLimit)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errorf(http.StatusBadRequest, "Invalid offset")
		}
		offset = n
	}
	return limit, offset, nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, offset, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := jobs.ListFilter{Workspace: q.Get("workspace"), Task: q.Get("task_name"), Status: q.Get("status"),
		SourceType: q.Get("source_type"), Limit: limit, Offset: offset}
	if f.Task != "" && f.Workspace == "" {
		return errorf(http.StatusBadRequest, "task_name filter requires workspace")
	}
	if f.Status != "" && !slices.Contains(jobs.JobStatuses, f.Status) {
		return errorf(http.StatusBadRequest, "Invalid status '%s'", f.Status)
	}
	if f.SourceType != "" && !slices.Contains(jobs.SourceTypes, f.SourceType) {
		return errorf(http.StatusBadRequest, "Invalid source_type '%s'", f.SourceType)
	}
	res, err := s.opts.Engine.List(f)
	if err != nil {
		return err
	}
	out := make([]jobItem, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, jobItemOf(j))
	}
	if res.HasTotal {
		w.Header().Set("X-Total-Count", strconv.Itoa(res.Total))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// jobID validates the id in the URL.
func jobID(ps httprouter.Params) (string, error) {
	id := ps.ByName("id")
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", errorf(http.StatusBadRequest, "Invalid job ID")
	}
	return u.String(), nil
}

// maxWait caps ?wait=true waits.
const maxWait = 300 * time.Second

// waitTimeout reads ?timeout= seconds (default def, capped at 300).
func waitTimeout(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "Invalid timeout")
	}
	return min(time.Duration(n*float64(time.Second)), maxWait), nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	var j *jobs.Job
	if r.URL.Query().Get("wait") == "true" {
		d, err := waitTimeout(r, 30*time.Second)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		j, err = s.opts.Engine.Wait(ctx, id)
		if err != nil {
			return notFound(err, "Job not found")
		}
	} else if j, err = s.opts.Engine.Get(id); err != nil {
		return notFound(err, "Job not found")
	}
	writeJSON(w, http.StatusOK, jobViewOf(j))
	return nil
}

// notFound words jobs.ErrNotFound for the resource in question.
func notFound(err error, msg string) error {
	if errors.Is(err, jobs.ErrNotFound) {
		return errorf(http.StatusNotFound, "%s", msg)
	}
	return err
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	by := "api"
	if u := userOf(r); u != "" {
		by = u
	}
	if err := s.opts.Engine.Cancel(r.Context(), id, by); err != nil {
		return notFound(err, "Job not found")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "cancelled"})
	return nil
}

type workerView struct {
	WorkerID      string     `json:"worker_id"`
	Name          string     `json:"name"`
	Status        string     `json:"status"`
	Tags          []string   `json:"tags"`
	LastHeartbeat apiTime    `json:"last_heartbeat"`
	RegisteredAt  apiTime    `json:"registered_at"`
	Version       *string    `json:"version"`
	Builtin       bool       `json:"builtin"`
	Jobs          *[]jobItem `json:"jobs,omitempty"`
}

func workerOf(wk *jobs.Worker) workerView {
	tags := wk.Tags
	if tags == nil {
		tags = []string{}
	}
	return workerView{WorkerID: wk.ID, Name: wk.Name, Status: wk.Status, Tags: tags,
		LastHeartbeat: apiTime(wk.LastHeartbeat), RegisteredAt: apiTime(wk.RegisteredAt),
		Version: optString(wk.Version), Builtin: wk.Builtin}
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, offset, err := paging(r)
	if err != nil {
		return err
	}
	list, total, err := s.opts.Engine.Workers(limit, offset)
	if err != nil {
		return err
	}
	out := make([]workerView, 0, len(list))
	for _, wk := range list {
		out = append(out, workerOf(wk))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getWorker(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return errorf(http.StatusBadRequest, "Invalid worker ID")
	}
	wk, js, err := s.opts.Engine.Worker(id)
	if err != nil {
		return notFound(err, "Worker not found")
	}
	v := workerOf(wk)
	items := make([]jobItem, 0, len(js))
	for _, j := range js {
		items = append(items, jobItemOf(j))
	}
	v.Jobs = &items
	writeJSON(w, http.StatusOK, v)
	return nil
}
