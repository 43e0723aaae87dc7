package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	// Offset is the byte offset of the job's log to start from: 0 or a
	// line start (a previous Follow's result, or a NextOffset).
	Offset int64
	// MinBackoff and MaxBackoff bound the wait between reconnects; it
	// doubles after each attempt that delivered nothing (defaults 250 ms
	// and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, when set, is told why the stream is being reopened and how
	// long Follow waits first (0 for a slow-reader close, which resumes at
	// once).
	OnRetry func(err error, wait time.Duration)
}

// SlowReaderError is the server closing the stream with 1013 because the
// client fell more than its queue behind; Follow resumes from Offset.
type SlowReaderError struct {
	// Offset is the resume offset the server named (-1 if unreadable).
	Offset int64
}

func (e *SlowReaderError) Error() string {
	return fmt.Sprintf("slow reader; resume at offset %d", e.Offset)
}

// streamReadTimeout is how long a stream may stay silent: the server pings
// every 30 s, so twice that without a frame means the connection is dead.
const streamReadTimeout = 75 * time.Second

// Follow streams a job's log over the WebSocket (SPEC §10.4), calling fn
// with each chunk — one or more complete JSONL lines, byte-identical to
// the log file — and the offset after it, until the server closes
// 1000 "job finished"; Follow then returns that offset and nil.
//
// Every line is delivered exactly once, in order: after a dropped
// connection, a 1013 slow-reader close, a connection failure or a 5xx
// answer Follow reopens the stream at the offset it has reached, backing
// off between attempts, for as long as ctx lasts (the job may still end
// while the server is down). Other refusals of the handshake end Follow
// with an *APIError (400/404, and 401/403 once Refresh has been tried);
// an error from fn or ctx ends it too.
func (c *Client) Follow(ctx context.Context, jobID string, opts FollowOptions, fn func(chunk []byte, next int64) error) (int64, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	offset := opts.Offset
	backoff := opts.MinBackoff
	refreshed := false
	for {
		before := offset
		done, err := c.followOnce(ctx, jobID, &offset, fn)
		if done {
			return offset, nil
		}
		if ctx.Err() != nil {
			return offset, ctx.Err()
		}
		var fe *fnError
		if errors.As(err, &fe) {
			return offset, fe.err
		}
		var ae *APIError
		if errors.As(err, &ae) {
			switch {
			case ae.Status == http.StatusUnauthorized && c.Refresh != nil && !refreshed:
				tok, rerr := c.Refresh(ctx)
				if rerr != nil {
					return offset, rerr
				}
				c.SetToken(tok)
				refreshed = true
				continue
			case ae.Status < 500:
				return offset, ae
			}
		}
		if offset > before {
			refreshed = false
			backoff = opts.MinBackoff
		}
		var slow *SlowReaderError
		wait := backoff
		if errors.As(err, &slow) {
			wait = 0
		} else {
			backoff = min(2*backoff, opts.MaxBackoff)
		}
		if opts.OnRetry != nil {
			opts.OnRetry(err, wait)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return offset, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// fnError carries the callback's error out of followOnce untouched.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// streamURL is the WebSocket URL of a job's stream from offset.
func (c *Client) streamURL(jobID string, offset int64) string {
	base := c.BaseURL
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + JobPath(jobID) + "/logs/stream?offset=" + strconv.FormatInt(offset, 10)
}

// followOnce runs one connection: done is true after a 1000 close.
// *offset advances as chunks are handed to fn.
func (c *Client) followOnce(ctx context.Context, jobID string, offset *int64, fn func([]byte, int64) error) (done bool, err error) {
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 15 * time.Second}
	if tr, ok := c.HTTP.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		d.TLSClientConfig = tr.TLSClientConfig.Clone()
	}
	h := http.Header{}
	h.Set("User-Agent", c.UserAgent)
	if t := c.Token(); t != "" {
		h.Set("Authorization", "Bearer "+t)
	}
	conn, resp, err := d.DialContext(ctx, c.streamURL(jobID, *offset), h)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return false, handshakeError(resp)
		}
		return false, &ConnError{Addr: c.BaseURL, Err: unwrapURL(err)}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	conn.SetReadLimit(64 << 20)
	extend := func() { conn.SetReadDeadline(time.Now().Add(streamReadTimeout)) }
	extend()
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				switch ce.Code {
				case websocket.CloseNormalClosure:
					return true, nil
				case websocket.CloseTryAgainLater:
					return false, &SlowReaderError{Offset: resumeOffset(ce.Text)}
				case websocket.CloseAbnormalClosure:
					return false, &ConnError{Addr: c.BaseURL, Err: errors.New("log stream dropped")}
				}
				return false, fmt.Errorf("log stream closed: %d %s", ce.Code, ce.Text)
			}
			return false, &ConnError{Addr: c.BaseURL, Err: err}
		}
		extend()
		if len(data) == 0 {
			continue
		}
		*offset += int64(len(data))
		if err := fn(data, *offset); err != nil {
			return false, &fnError{err}
		}
	}
}

// resumeOffset reads N from "slow reader; resume at offset N".
func resumeOffset(text string) int64 {
	i := strings.LastIndexByte(text, ' ')
	n, err := strconv.ParseInt(text[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// handshakeError turns a refused upgrade into an *APIError.
func handshakeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: msg, Body: raw}
}
