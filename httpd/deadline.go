package httpd

// This file bounds how long a client may take to send a request body.

import (
	"io"
	"net/http"
	"time"
)

// DefaultBodyTimeout is how long a client has, after its headers, to send
// the whole request body.
const DefaultBodyTimeout = 60 * time.Second

// errBodyTimeout answers a request whose body did not arrive in time.
var errBodyTimeout = errorf(http.StatusRequestTimeout, "Request body not received in time")

// bodyDeadline gives a request with a body Options.BodyTimeout to send it
// (through http.ResponseController, per request). The deadline is lifted
// when the body has been read to its end, so what follows — a worker's
// claim long-poll, a sync webhook's wait, a workspace refresh — is never
// cut, and a client gone meanwhile still cancels the request's context.
// Requests without a body (GET, the WebSocket upgrade, ?wait=true) have
// nothing to drip: their headers were bounded by ReadHeaderTimeout. A body
// left unread (a webhook refused before reading it) keeps the deadline,
// which then bounds the server's discarding of it.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)); err == nil {
				// Put the server's own body back afterwards: net/http looks
				// at its type to close, rather than drain, a connection
				// whose large body was left unread.
				orig := r.Body
				r.Body = &deadlineBody{ReadCloser: orig, rc: rc}
				defer func() { r.Body = orig }()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
