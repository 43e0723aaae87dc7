package httpd

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/jobs/api"
)

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
	res, err := s.opts.Jobs.List(f)
	if err != nil {
		return err
	}
	out := make([]api.JobItem, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, wireJobItem(j))
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
	} else if j, err = s.opts.Jobs.Get(id); err != nil {
		return notFound(err, "Job not found")
	}
	writeJSON(w, http.StatusOK, wireJob(j))
	return nil
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

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, offset, err := paging(r)
	if err != nil {
		return err
	}
	list, total, err := s.opts.Jobs.Workers(limit, offset)
	if err != nil {
		return err
	}
	out := make([]api.Worker, 0, len(list))
	for _, wk := range list {
		out = append(out, wireWorker(wk))
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
	wk, js, err := s.opts.Jobs.Worker(id)
	if err != nil {
		return notFound(err, "Worker not found")
	}
	v := wireWorker(wk)
	v.Jobs = make([]api.JobItem, 0, len(js))
	for _, j := range js {
		v.Jobs = append(v.Jobs, wireJobItem(j))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
