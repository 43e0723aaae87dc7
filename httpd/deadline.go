package httpd

// This file bounds how long a client may take to send a request body.

import (
	"net/http"
	"time"
)

// DefaultBodyTimeout is how long a client has, after its headers, to send
// the whole request body.
const DefaultBodyTimeout = 60 * time.Second

// errBodyTimeout answers a request whose body did not arrive in time.
var errBodyTimeout = errorf(http.StatusRequestTimeout, "Request body not received in time")

// bodyDeadline gives a request with a body Options.BodyTimeout to send it:
// a read deadline on the connection, set per request through
// http.ResponseController. net/http clears the read deadline itself when
// the body has been read to its end (it then starts its background read,
// which notices a client that goes away), so what follows — a worker's
// claim long-poll, a sync webhook's wait, a workspace refresh — is never
// cut. Requests without a body (GET, the WebSocket upgrade, ?wait=true)
// get no deadline: their background read is already running, and a
// deadline would cancel their context. A body left unread (a webhook
// refused before reading it) keeps the deadline, which bounds the
// server's draining of it.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}
