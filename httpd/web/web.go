package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static vendor.json
var embedded embed.FS

// CSP is the Content-Security-Policy of every UI response: scripts, styles,
// images and connections (fetch, server-sent events, WebSockets) only from
// the serving origin; no inline script or style attribute runs.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'"

// Vendored is one third-party browser file taken from the npm registry.
type Vendored struct {
	Package string `json:"package"`
	Version string `json:"version"`
	License string `json:"license"`
	// File is the path inside the package tarball (under "package/").
	File string `json:"file"`
	// Dest is the path of the copy, relative to this package's directory.
	Dest   string `json:"dest"`
	SHA256 string `json:"sha256"`
}

// Vendor returns the recorded third-party files (vendor.json).
func Vendor() ([]Vendored, error) {
	raw, err := embedded.ReadFile("vendor.json")
	if err != nil {
		return nil, fmt.Errorf("read vendor.json: %w", err)
	}
	var vs []Vendored
	if err := json.Unmarshal(raw, &vs); err != nil {
		return nil, fmt.Errorf("parse vendor.json: %w", err)
	}
	return vs, nil
}

// Static returns the embedded UI files (paths relative to the static root).
func Static() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

type file struct {
	data  []byte
	ctype string
	etag  string
}

// Handler serves the UI: /assets/… are the embedded files, /favicon.ico the
// icon, and every other path the app shell (index.html), which routes on
// the client so deep links and back/forward work.
type Handler struct {
	files map[string]file // by URL path
	shell file
}

// contentTypes are the types of the embedded files by extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".map":  "application/json", // a vendored library's source map, for devtools
}

// New reads the embedded files and computes their ETags.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		h.files["/assets/"+p] = file{data: data, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded ui: %w", err)
	}
	shell, ok := h.files["/assets/index.html"]
	if !ok {
		return nil, fmt.Errorf("embedded ui has no index.html")
	}
	h.shell = shell
	h.files["/favicon.ico"] = h.files["/assets/favicon.svg"]
	return h, nil
}

// Owns reports whether a request is the UI's: GET or HEAD outside the API,
// webhook, push, worker, health and debug (pprof) routes.
func Owns(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	for _, prefix := range []string{"/api", "/hooks", "/push", "/worker", "/healthz", "/debug"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return false
		}
	}
	return true
}

// ServeHTTP answers with the file, the app shell, or 404 for a missing
// asset; every answer carries the CSP and an ETag to revalidate against.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	f, ok := h.files[r.URL.Path]
	if !ok && strings.HasPrefix(r.URL.Path, "/assets/") {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "not found")
		return
	}
	if !ok {
		f = h.shell
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	// Revalidate every time: a 304 costs one round trip, and a new binary's
	// files are never mixed with an old one's.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
