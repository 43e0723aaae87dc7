package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Client talks to one runnel server.
type Client struct {
	// BaseURL is the server, e.g. "http://127.0.0.1:8080" (no trailing /).
	BaseURL string
	// HTTP is the underlying client (default: no overall timeout, so
	// long-polls and waits work; callers bound requests with ctx).
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string

	mu    sync.Mutex
	token string
	// Refresh, when set, is called once after a 401 to obtain a new token
	// (the CLI's stored login); the request is then retried once.
	Refresh func(ctx context.Context) (string, error)
}

// New returns a client for baseURL with an optional bearer token.
func New(baseURL, token string) *Client {
	return &Client{
		BaseURL:   strings.TrimRight(baseURL, "/"),
		HTTP:      &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}},
		UserAgent: "runnel",
		token:     token,
	}
}

// SetToken replaces the bearer token.
func (c *Client) SetToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

// Token returns the current bearer token.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// APIError is a non-2xx answer: the HTTP status and the server's message.
type APIError struct {
	Status  int
	Message string
	// Body is the raw answer (for extra fields such as retry_after_secs).
	Body []byte
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// ConnError is a request that never got an HTTP answer.
type ConnError struct {
	Addr string
	Err  error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("cannot reach runnel at %s: %v", e.Addr, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// Do sends a request with an optional JSON body (in) and decodes a JSON
// answer into out (if non-nil). Non-2xx answers are *APIError, transport
// failures *ConnError. A 401 is retried once after Refresh when set.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s answer: %w", method, path, err)
	}
	return nil
}

// Raw sends a request and returns the response for the caller to read
// (status 2xx or 304 only; others become *APIError). The caller closes the
// body.
func (c *Client) Raw(ctx context.Context, method, path string, in any, header http.Header) (*http.Response, error) {
	return c.sendHeader(ctx, method, path, in, header)
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	return c.sendHeader(ctx, method, path, in, nil)
}

func (c *Client) sendHeader(ctx context.Context, method, path string, in any, header http.Header) (*http.Response, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	resp, err := c.once(ctx, method, path, body, header)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && c.Refresh != nil {
		resp.Body.Close()
		tok, rerr := c.Refresh(ctx)
		if rerr != nil {
			return nil, rerr
		}
		c.SetToken(tok)
		if resp, err = c.once(ctx, method, path, body, header); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		defer resp.Body.Close()
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
		return nil, &APIError{Status: resp.StatusCode, Message: msg, Body: raw}
	}
	return resp, nil
}

func (c *Client) once(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	if t := c.Token(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnError{Addr: c.BaseURL, Err: unwrapURL(err)}
	}
	return resp, nil
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
