package httpd

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs/api"
	"runnel/workspace"
)

// changesView answers GET /api/jobs/{id}/changes (runnel): what differs
// between the job's revision and the one of the task's last successful
// run before it.
type changesView struct {
	Revision string           `json:"revision"`
	Commit   *api.Commit      `json:"commit"`
	Base     *baseView        `json:"base"`
	Files    []fileChangeView `json:"files"`
	Note     *string          `json:"note"`
}

type baseView struct {
	JobID       string   `json:"job_id"`
	Revision    string   `json:"revision"`
	CompletedAt api.Time `json:"completed_at"`
}

type fileChangeView struct {
	Path   string `json:"path"`
	Status string `json:"status"`
	Diff   string `json:"diff"`
}

func (s *Server) jobChanges(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := jobID(ps)
	if err != nil {
		return err
	}
	j, err := s.opts.Jobs.Get(id)
	if err != nil {
		return notFound(err, "Job not found")
	}
	v := changesView{Revision: j.Revision, Files: []fileChangeView{}}
	commit, err := s.opts.Workspaces.Commit(r.Context(), j.Workspace, j.Revision)
	if err != nil && !errors.Is(err, workspace.ErrNotFound) {
		return err
	}
	v.Commit = wireCommit(commit)
	note := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		v.Note = &msg
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	base, err := s.opts.Jobs.PreviousSuccess(j)
	if err != nil {
		return err
	}
	if base == nil {
		return note("no earlier successful run of this task")
	}
	v.Base = &baseView{JobID: base.ID, Revision: base.Revision, CompletedAt: api.At(base.CompletedAt)}
	if base.Revision == j.Revision {
		return note("same revision as the last successful run")
	}
	changes, err := s.opts.Workspaces.Changes(r.Context(), j.Workspace, base.Revision, j.Revision)
	var gone *workspace.RevisionNotAvailableError
	switch {
	case errors.As(err, &gone):
		return note("revision %s is no longer available to compare", gone.Revision)
	case errors.Is(err, workspace.ErrTooManyChanges):
		return note("more than %d files changed; not shown", workspace.MaxChangedFiles)
	case errors.Is(err, workspace.ErrNotFound):
		return note("workspace '%s' is no longer configured", j.Workspace)
	case err != nil:
		return err
	}
	mask := append(s.opts.Masks.Values(j.ID), s.opts.Masks.Values(base.ID)...)
	for _, c := range changes {
		v.Files = append(v.Files, fileChangeView{Path: c.Path, Status: c.Status, Diff: maskString(mask, unifiedDiff(c))})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// unifiedDiff is a file change as a unified diff with 3 lines of context;
// "" for omitted (large, special) and binary files.
func unifiedDiff(c workspace.FileChange) string {
	if c.Omitted || binary(c.Old) || binary(c.New) {
		return ""
	}
	from, to := "a/"+c.Path, "b/"+c.Path
	switch c.Status {
	case "added":
		from = "/dev/null"
	case "deleted":
		to = "/dev/null"
	}
	return udiff.Unified(from, to, string(c.Old), string(c.New))
}

// binary reports content that is not text: a NUL byte or invalid UTF-8.
func binary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}
