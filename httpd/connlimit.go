package httpd

// This file bounds concurrent connections (SPEC §11 "Server hygiene").

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Connection cap defaults.
const (
	// DefaultMaxConnections is the cap on connections to ordinary routes
	// (max_connections).
	DefaultMaxConnections = 1024
	// DefaultReserveConnections are the connections kept, beyond
	// MaxConnections, for the worker protocol and /healthz.
	DefaultReserveConnections = 64
)

// connLimiter is a listener that holds at most max+reserve connections
// open. A listener cannot know a connection's route, so it sorts them in
// two steps: at accept, a connection takes an ordinary slot while fewer
// than max are in use, else a reserve slot; once its request headers are
// read (admit), a request on a reserve slot may continue only if it is
// for a reserved route (/worker/*, /healthz) or an ordinary slot has come
// free since. Anything else is answered 503 and its connection closed,
// freeing the slot at once. With every slot taken, Accept waits (new
// connections queue in the kernel's backlog) until one closes; slow
// clients cannot hold a slot for long because headers and bodies have
// deadlines. The counts (ordinary, reserve) are owned by mu.
type connLimiter struct {
	net.Listener
	max, reserve int
	slots        chan struct{} // one token per open connection (max+reserve)
	done         chan struct{} // closed by Close: a waiting Accept returns
	closeOnce    sync.Once

	mu       sync.Mutex
	ordinary int
	reserved int
}

func newConnLimiter(ln net.Listener, max, reserve int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, reserve: reserve,
		slots: make(chan struct{}, max+reserve), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l}
	l.mu.Lock()
	if l.ordinary < l.max {
		l.ordinary++
	} else {
		l.reserved++
		lc.onReserve = true
	}
	l.mu.Unlock()
	return lc, nil
}

// Close closes the listener and wakes a waiting Accept.
func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// admit reports whether a request on c may be served: always on an
// ordinary slot; on a reserve slot if reserved, or after moving c to an
// ordinary slot that has come free.
func (l *connLimiter) admit(c *limitedConn, reserved bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !c.onReserve || reserved {
		return true
	}
	if l.ordinary < l.max {
		l.ordinary++
		l.reserved--
		c.onReserve = false
		return true
	}
	return false
}

// release frees c's slot.
func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	if c.onReserve {
		l.reserved--
	} else {
		l.ordinary--
	}
	l.mu.Unlock()
	<-l.slots
}

// limitedConn is a connection holding a slot until it is closed (also
// after a WebSocket hijack: the hijacker closes this same conn).
type limitedConn struct {
	net.Conn
	l         *connLimiter
	once      sync.Once
	onReserve bool // guarded by l.mu
}

// Close frees the connection's slot (once) and closes it.
func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

type connKey struct{}

// connContext is http.Server.ConnContext: it remembers the limited
// connection under the request context (below TLS, if any).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// reservedRoute reports the routes the reserve slots are kept for.
func reservedRoute(r *http.Request) bool {
	return r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/worker/")
}

// errBusy answers a request that arrived on a reserve slot for an ordinary
// route while every ordinary slot is taken.
var errBusy = &Error{Status: http.StatusServiceUnavailable, Msg: "Server is busy: too many connections; retry later",
	Extra: map[string]any{"retry_after_secs": 1}}

// limitConnections refuses requests that arrived on a reserve slot for an
// ordinary route while the ordinary slots are all taken; the connection
// is closed after the answer.
func (s *Server) limitConnections(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc, ok := r.Context().Value(connKey{}).(*limitedConn)
		if ok && !lc.l.admit(lc, reservedRoute(r)) {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			s.writeError(w, r, errBusy)
			return
		}
		next.ServeHTTP(w, r)
	})
}
