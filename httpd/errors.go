package httpd

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/julienschmidt/httprouter"

	"runnel/httpd/accounts"
	"runnel/jobs"
	"runnel/logstore"
	"runnel/workspace"
)

// Error is an error with the HTTP status and the message clients see.
type Error struct {
	Status int
	Msg    string
	// Extra fields merged into the JSON body (e.g. retry_after_secs).
	Extra map[string]any
}

func (e *Error) Error() string { return e.Msg }

// errorf returns an *Error.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// described is an error with the message clients see when statusOf maps
// its sentinel (not found: 404, exists: 409, invalid offset: 400).
// Handlers say what they looked up or made; statusOf alone decides the
// status. It keeps err's chain.
type described struct {
	err error
	msg string
}

func (d *described) Error() string { return d.err.Error() }
func (d *described) Unwrap() error { return d.err }

// describe gives msg as the client message should statusOf map err's
// sentinel; nil stays nil, other errors map as they are.
func describe(err error, msg string) error {
	if err == nil {
		return nil
	}
	return &described{err, msg}
}

// notFound describes a lookup (msg, e.g. "Job not found").
func notFound(err error, msg string) error { return describe(err, msg) }

// exists describes a creation refused as a duplicate.
func exists(err error, msg string) error { return describe(err, msg) }

// describedAs is the message described gave err, else def.
func describedAs(err error, def string) string {
	var d *described
	if errors.As(err, &d) {
		return d.msg
	}
	return def
}

// statusOf decides the HTTP status and client message of an error: the one
// place that maps domain errors to HTTP, every package's sentinels
// included.
func statusOf(err error) (int, string) {
	var he *Error
	var inErr *jobs.InputError
	var conflict *jobs.ConflictError
	var noStep *jobs.StepNotFoundError
	var notLoaded *workspace.NotLoadedError
	var fetchErr *workspace.FetchError
	var rejected *workspace.RejectedError
	var revGone *workspace.RevisionNotAvailableError
	switch {
	case errors.As(err, &he):
		return he.Status, he.Msg
	case errors.As(err, &inErr):
		return http.StatusBadRequest, inErr.Error()
	case errors.As(err, &conflict):
		return http.StatusConflict, conflict.Msg
	case errors.Is(err, jobs.ErrNotApprover):
		return http.StatusForbidden, jobs.ErrNotApprover.Error()
	case errors.Is(err, jobs.ErrStepNotFound):
		return http.StatusNotFound, "Step not found"
	case errors.Is(err, jobs.ErrTerminal):
		return http.StatusConflict, jobs.ErrTerminal.Error()
	case errors.As(err, &noStep):
		return http.StatusBadRequest, noStep.Msg
	case errors.Is(err, jobs.ErrTaskNotFound):
		return http.StatusNotFound, "Task not found"
	case errors.Is(err, jobs.ErrNotFound), errors.Is(err, accounts.ErrNotFound), errors.Is(err, workspace.ErrNotFound):
		return http.StatusNotFound, describedAs(err, "Not found")
	case errors.Is(err, accounts.ErrExists):
		return http.StatusConflict, describedAs(err, "Already exists")
	case errors.Is(err, jobs.ErrConflict):
		return http.StatusConflict, describedAs(err, "Conflict")
	case errors.Is(err, logstore.ErrInvalidOffset):
		return http.StatusBadRequest, describedAs(err, "Invalid offset")
	case errors.As(err, &notLoaded):
		return http.StatusNotFound, notLoaded.Error()
	case errors.As(err, &revGone):
		return http.StatusNotFound, revGone.Error()
	case errors.As(err, &fetchErr):
		return http.StatusBadGateway, fetchErr.Error()
	case errors.As(err, &rejected):
		return http.StatusUnprocessableEntity, rejected.Error()
	case errors.Is(err, jobs.ErrClosed), errors.Is(err, logstore.ErrClosed):
		return http.StatusServiceUnavailable, "Server is shutting down"
	}
	return http.StatusInternalServerError, "Internal server error"
}

// handlerFunc is an httprouter handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error

// handle adapts a handlerFunc: errors become JSON bodies with the status
// from statusOf; panics are recovered, logged and answered with 500. A
// request to a route in auditRoutes is recorded once it is answered.
func (s *Server) handle(h handlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		w, r, record := s.audited(w, r, ps)
		if record != nil {
			defer record()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Internal server error"})
			}
		}()
		if err := h(w, r, ps); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// writeError answers with {"error": msg}; 5xx causes are logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	if status >= 500 && status != http.StatusBadGateway && status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := map[string]any{"error": msg}
	var he *Error
	if errors.As(err, &he) {
		for k, v := range he.Extra {
			body[k] = v
		}
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}
