package httpd

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/jobs"
	"runnel/workspace"
)

// Event types of GET /api/events.
const (
	eventJob       = "job"
	eventStep      = "step"
	eventWorkspace = "workspace"
	eventWorker    = "worker"
)

// eventBuffer is how many events a subscriber may fall behind before it is
// dropped (it gets "event: overflow" and reconnects).
const eventBuffer = 256

// eventWriteWait bounds one write to an event stream.
const eventWriteWait = 10 * time.Second

// eventPing is the interval of ": ping" comments on an idle stream.
const eventPing = 15 * time.Second

// event is one encoded server-sent event.
type event struct {
	typ   string
	jobID string // job and step events
	frame []byte // "event: …\ndata: …\n\n"
}

// subscriber is one /api/events stream. ch is closed by the hub when the
// subscriber overflowed (overflow set) or left.
type subscriber struct {
	jobID    string
	types    map[string]bool // nil = all
	ch       chan []byte
	overflow bool
}

func (s *subscriber) wants(e *event) bool {
	if s.types != nil && !s.types[e.typ] {
		return false
	}
	return s.jobID == "" || s.jobID == e.jobID
}

// hub fans events out to subscribers. Publishing never blocks: a
// subscriber whose buffer is full is dropped.
type hub struct {
	mu   sync.Mutex // guards subs and each subscriber's ch and overflow
	subs map[*subscriber]struct{}
}

func newHub() *hub { return &hub{subs: make(map[*subscriber]struct{})} }

// active reports whether anyone listens (events are encoded only then).
func (h *hub) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func (h *hub) subscribe(sub *subscriber) {
	sub.ch = make(chan []byte, eventBuffer)
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[sub]; ok {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

func (h *hub) publish(evs []event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range evs {
		e := &evs[i]
		for sub := range h.subs {
			if !sub.wants(e) {
				continue
			}
			select {
			case sub.ch <- e.frame:
			default:
				sub.overflow = true
				delete(h.subs, sub)
				close(sub.ch)
			}
		}
	}
}

func encodeEvent(typ, jobID string, v any) (event, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return event{}, err
	}
	frame := make([]byte, 0, len(typ)+len(data)+16)
	frame = append(frame, "event: "...)
	frame = append(frame, typ...)
	frame = append(frame, "\ndata: "...)
	frame = append(frame, data...)
	frame = append(frame, "\n\n"...)
	return event{typ: typ, jobID: jobID, frame: frame}, nil
}

// PublishCommit sends the job, step and worker events of committed store
// changes to /api/events subscribers; wire it with jobs.Store.OnCommit. It
// never blocks.
func (s *Server) PublishCommit(cs []jobs.Change) {
	if !s.events.active() {
		return
	}
	evs := make([]event, 0, len(cs))
	for _, c := range cs {
		var e event
		var err error
		switch {
		case c.Job != nil:
			e, err = encodeEvent(eventJob, c.Job.ID, wireJobItem(c.Job))
		case c.Step != nil:
			st := c.Step
			msg := st.ErrorMessage
			if msg != "" && !c.Scrubbed {
				// A running job's masks are cached by the engine: no I/O
				// on the store's writer.
				msg = maskString(s.opts.Masks.Values(c.JobID), msg)
			}
			e, err = encodeEvent(eventStep, c.JobID, wireStepEvent(c.JobID, st, msg))
		case c.Worker != nil:
			e, err = encodeEvent(eventWorker, "", wireWorker(c.Worker))
		default:
			continue
		}
		if err != nil {
			s.log.Error("encode event", "err", err)
			continue
		}
		evs = append(evs, e)
	}
	s.events.publish(evs)
}

// PublishWorkspace sends a workspace event after a load attempt; wire it
// with workspace.Manager.OnLoad.
func (s *Server) PublishWorkspace(st workspace.Status) {
	if !s.events.active() {
		return
	}
	e, err := encodeEvent(eventWorkspace, "", s.workspaceView(st))
	if err != nil {
		s.log.Error("encode event", "err", err)
		return
	}
	s.events.publish([]event{e})
}

// maskString replaces every value in vals (longest first) with jobs.Mask.
func maskString(vals []string, s string) string {
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, jobs.Mask)
	}
	return s
}

// streamEvents serves GET /api/events: server-sent events until the client
// leaves, the server shuts down or the client falls behind.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := r.URL.Query()
	sub := &subscriber{jobID: q.Get("job_id")}
	if sub.jobID != "" {
		if _, err := uuid.Parse(sub.jobID); err != nil || len(sub.jobID) != 36 {
			return errorf(http.StatusBadRequest, "Invalid job ID")
		}
	}
	if raw := q.Get("types"); raw != "" {
		sub.types = map[string]bool{}
		for _, t := range strings.Split(raw, ",") {
			switch t {
			case eventJob, eventStep, eventWorkspace, eventWorker:
				sub.types[t] = true
			default:
				return errorf(http.StatusBadRequest, "Invalid types: '%s' (job, step, workspace, worker)", t)
			}
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.events.subscribe(sub)
	defer s.events.unsubscribe(sub)
	w.WriteHeader(http.StatusOK)
	rc.SetWriteDeadline(time.Now().Add(eventWriteWait))
	if _, err := w.Write([]byte(": connected\n\n")); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	ping := time.NewTicker(eventPing)
	defer ping.Stop()
	for {
		var out []byte
		select {
		case <-r.Context().Done():
			return nil
		case <-s.quit:
			return nil
		case <-ping.C:
			out = []byte(": ping\n\n")
		case frame, ok := <-sub.ch:
			if !ok {
				s.events.mu.Lock()
				over := sub.overflow
				s.events.mu.Unlock()
				if over {
					rc.SetWriteDeadline(time.Now().Add(eventWriteWait))
					w.Write([]byte("event: overflow\ndata: {}\n\n"))
					rc.Flush()
				}
				return nil
			}
			out = frame
			// Take what else is queued, then flush once.
			for more := true; more; {
				select {
				case f, ok := <-sub.ch:
					if !ok {
						more = false
						break
					}
					out = append(out[:len(out):len(out)], f...)
				default:
					more = false
				}
			}
		}
		// A client that stops reading cannot hold the handler: the
		// write fails after eventWriteWait.
		rc.SetWriteDeadline(time.Now().Add(eventWriteWait))
		if _, err := w.Write(out); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
