package httpd

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/logstore"
)

// maxLogRead bounds one REST log answer.
const maxLogRead = 16 << 20

// tailQuery reads ?tail_bytes= and ?before= (runnel): n is 0 without
// tail_bytes; before is -1 (the end) without before.
func tailQuery(r *http.Request) (n int, before int64, err error) {
	q := r.URL.Query()
	before = -1
	if v := q.Get("tail_bytes"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > maxLogRead {
			return 0, 0, errorf(http.StatusBadRequest, "Invalid tail_bytes")
		}
		n = x
	}
	if v := q.Get("before"); v != "" {
		if n == 0 {
			return 0, 0, errorf(http.StatusBadRequest, "before requires tail_bytes")
		}
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 0 {
			return 0, 0, errorf(http.StatusBadRequest, "Invalid before")
		}
		before = x
	}
	return n, before, nil
}

// tailError words an invalid before offset.
func tailError(err error) error {
	return describe(err, "Invalid before")
}

// writeTail answers a tail read.
func writeTail(w http.ResponseWriter, data []byte, start, end int64) {
	writeJSON(w, http.StatusOK, api.LogPage{Logs: string(data), NextOffset: end, StartOffset: &start})
}

// logOffset reads ?offset= (default 0).
func logOffset(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("offset")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "Invalid offset")
	}
	return n, nil
}

// existingJob returns the job in the URL or a 400/404.
func (s *Server) existingJob(ps httprouter.Params) (*jobs.Job, error) {
	id, err := jobID(ps)
	if err != nil {
		return nil, err
	}
	j, err := s.opts.Jobs.Get(id)
	if err != nil {
		return nil, notFound(err, "Job not found")
	}
	return j, nil
}

func offsetError(err error) error {
	return describe(err, "Invalid offset")
}

func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	j, err := s.existingJob(ps)
	if err != nil {
		return err
	}
	n, before, err := tailQuery(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("full") == "true" {
		if n > 0 {
			return errorf(http.StatusBadRequest, "full and tail_bytes exclude each other")
		}
		return s.streamFullLog(w, r, j.ID)
	}
	if n > 0 {
		data, start, end, err := s.opts.Logs.Tail(j.ID, before, n)
		if err != nil {
			return tailError(err)
		}
		writeTail(w, data, start, end)
		return nil
	}
	off, err := logOffset(r)
	if err != nil {
		return err
	}
	data, next, err := s.opts.Logs.Read(j.ID, off, maxLogRead)
	if err != nil {
		return offsetError(err)
	}
	writeJSON(w, http.StatusOK, api.LogPage{Logs: string(data), NextOffset: next})
	return nil
}

// streamFullLog answers ?full=true (runnel): the job's log from ?offset= to
// its end as NDJSON (the file's own lines), streamed from the file without
// holding it, whatever its size. X-Next-Offset is where a later read
// resumes; lines written after the request began are not included.
func (s *Server) streamFullLog(w http.ResponseWriter, r *http.Request, id string) error {
	off, err := logOffset(r)
	if err != nil {
		return err
	}
	rg, err := s.opts.Logs.OpenRange(id, off)
	if err != nil {
		return offsetError(err)
	}
	defer rg.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Next-Offset", strconv.FormatInt(rg.End, 10))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rg); err != nil {
		s.log.Debug("full log stream ended early", "job", id, "err", err)
	}
	return nil
}

func (s *Server) stepLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	j, err := s.existingJob(ps)
	if err != nil {
		return err
	}
	step := ps.ByName("step")
	known := step == logstore.ServerStep
	for _, st := range j.Steps {
		known = known || st.Name == step
	}
	if !known {
		return errorf(http.StatusNotFound, "Step not found")
	}
	n, before, err := tailQuery(r)
	if err != nil {
		return err
	}
	if n > 0 {
		data, start, end, err := s.opts.Logs.TailStep(j.ID, step, before, n)
		if err != nil {
			return tailError(err)
		}
		writeTail(w, data, start, end)
		return nil
	}
	off, err := logOffset(r)
	if err != nil {
		return err
	}
	// Seed clients show any _server line as a warning: unless ?all=true,
	// _server answers only the problem events (stream stderr, SPEC §10.3).
	stream := ""
	if step == logstore.ServerStep && r.URL.Query().Get("all") != "true" {
		stream = logstore.Stderr
	}
	data, next, err := s.opts.Logs.ReadStepStream(j.ID, step, stream, off, maxLogRead)
	if err != nil {
		return offsetError(err)
	}
	writeJSON(w, http.StatusOK, api.LogPage{Logs: string(data), NextOffset: next})
	return nil
}

// checkOrigin accepts requests without Origin (CLI, curl), same-origin
// browsers and the configured base URL.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.opts.BaseURL != "" && strings.EqualFold(strings.TrimRight(s.opts.BaseURL, "/"), origin)
}

// wsPongWait is how long a WebSocket may go without a pong.
const wsPongWait = 60 * time.Second

// streamLogs serves GET /api/jobs/{id}/logs/stream (SPEC §10.4): it
// subscribes before the backfill, sends complete lines as text frames,
// pings every 30 s, and closes 1000 when the job is finished or 1013 with
// the resume offset when the client is too slow.
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	j, err := s.existingJob(ps)
	if err != nil {
		return err
	}
	off, err := logOffset(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("skip_backfill") == "true" {
		off = -1
	}
	f, err := s.opts.Logs.Follow(j.ID, off)
	if err != nil {
		return offsetError(err)
	}
	defer f.Close()
	// Check after subscribing: a job finalized before this process started
	// ends at the current end of its file. One finalized in this process
	// may still be writing its last lines (they follow the commit that ends
	// it): the log's Finish ends the stream then.
	if cur, err := s.opts.Jobs.Get(j.ID); err == nil && cur.Finalized && !s.opts.Logs.Writing(j.ID) {
		f.EndAtCurrent()
	}
	up := websocket.Upgrader{CheckOrigin: s.checkOrigin, ReadBufferSize: 1024, WriteBufferSize: 32 << 10}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Reader: control frames only; client messages are read and ignored.
	conn.SetReadLimit(64 << 10)
	conn.SetReadDeadline(time.Now().Add(wsPongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	go func() {
		defer cancel()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// Pinger: WriteControl may run concurrently with the data writer.
	go func() {
		t := time.NewTicker(s.opts.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.opts.StreamWriteWait)); err != nil {
					cancel()
					return
				}
			}
		}
	}()
	closeWith := func(code int, text string) {
		msg := websocket.FormatCloseMessage(code, text)
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.opts.StreamWriteWait))
		// Give the client a moment to answer the close handshake.
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	for {
		data, _, err := f.Next(ctx)
		var slow *logstore.SlowReaderError
		switch {
		case errors.Is(err, io.EOF):
			closeWith(websocket.CloseNormalClosure, "job finished")
			return nil
		case errors.As(err, &slow):
			closeWith(websocket.CloseTryAgainLater, slow.Error())
			return nil
		case err != nil:
			return nil
		}
		conn.SetWriteDeadline(time.Now().Add(s.opts.StreamWriteWait))
		if err := conn.WriteMessage(websocket.TextMessage, data); err != nil {
			return nil
		}
	}
}
