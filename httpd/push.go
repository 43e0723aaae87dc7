package httpd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"runnel/workspace"
)

// readBody reads at most limit bytes of the body: 413 beyond.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, errBodyTimeout
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "Invalid request body: %s", err)
	}
	return body, nil
}

// validHMAC checks "sha256=<hex>" (or bare hex) against HMAC-SHA256(secret,
// body) in constant time.
func validHMAC(sig, secret string, body []byte) bool {
	if sig == "" || secret == "" {
		return false
	}
	sig = strings.TrimPrefix(sig, "sha256=")
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// equalSecret compares in constant time.
func equalSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

type pushView struct {
	Workspace string `json:"workspace"`
	Accepted  bool   `json:"accepted"`
}

// push serves POST /push/{ws} for git hosts (SPEC §6.4): a valid GitHub,
// Gitea or GitLab proof, or the plain secret as ?secret= or Bearer (for git
// servers that sign nothing), starts a background refresh unless the push was for
// another ref.
func (s *Server) push(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	ws := ps.ByName("ws")
	_, src, err := s.opts.Workspaces.Get(ws)
	if err != nil || src.Kind != workspace.KindGit || src.WebhookSecret == "" {
		return errorf(http.StatusNotFound, "Push webhook not configured")
	}
	// A GitLab token or the plain secret (?secret=, Bearer: git servers
	// that sign nothing) is checked before the body is read; a request
	// with neither and no signature is refused without reading it.
	secret := src.WebhookSecret
	errSig := errorf(http.StatusUnauthorized, "Invalid or missing signature")
	ok := equalSecret(r.Header.Get("X-Gitlab-Token"), secret)
	ok = sharedSecret(r, secret) || ok
	hubSig, giteaSig := r.Header.Get("X-Hub-Signature-256"), r.Header.Get("X-Gitea-Signature")
	if !ok && hubSig == "" && giteaSig == "" {
		return errSig
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	if !ok && !validHMAC(hubSig, secret, body) && !validHMAC(giteaSig, secret, body) {
		return errSig
	}
	var payload struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(body, &payload)
	ref := src.Ref
	if ref == "" {
		ref = "main"
	}
	auditDetail(r, "ref", payload.Ref)
	if payload.Ref != "" && payload.Ref != "refs/heads/"+ref && payload.Ref != "refs/tags/"+ref {
		auditDetail(r, "refresh", false)
		writeJSON(w, http.StatusOK, pushView{ws, false})
		return nil
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := s.opts.Workspaces.Refresh(ctx, ws); err != nil {
			s.log.Warn("push refresh", "workspace", ws, "err", err)
		}
	}()
	auditDetail(r, "refresh", true)
	writeJSON(w, http.StatusAccepted, pushView{ws, true})
	return nil
}
