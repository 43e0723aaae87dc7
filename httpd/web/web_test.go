package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"runnel/httpd/web"
)

// TestVendorChecksums checks every vendored browser file, embedded and on
// disk, against vendor.json, offline.
func TestVendorChecksums(t *testing.T) {
	vs, err := web.Vendor()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("vendor.json lists nothing")
	}
	listed := map[string]bool{}
	for _, v := range vs {
		if v.Package == "" || v.Version == "" || v.File == "" || len(v.SHA256) != 64 {
			t.Errorf("incomplete entry %+v", v)
		}
		rel, ok := strings.CutPrefix(v.Dest, "static/")
		if !ok {
			t.Errorf("%s: dest %q is not under static/", v.Package, v.Dest)
			continue
		}
		listed[rel] = true
		data, err := fs.ReadFile(web.Static(), rel)
		if err != nil {
			t.Errorf("%s: %v", v.Package, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != v.SHA256 {
			t.Errorf("%s@%s %s: embedded sha256 %s, vendor.json says %s", v.Package, v.Version, v.Dest, got, v.SHA256)
		}
		disk, err := os.ReadFile(filepath.FromSlash(v.Dest))
		if err != nil || !bytes.Equal(disk, data) {
			t.Errorf("%s: the file on disk differs from the embedded one (%v)", v.Dest, err)
		}
	}
	// Every file under vendor/ is recorded.
	fs.WalkDir(web.Static(), "vendor", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			t.Errorf("%s is not listed in vendor.json", p)
		}
		return err
	})
}

// TestSize keeps the whole UI's JS+CSS under 200 KB gzip-compressed.
func TestSize(t *testing.T) {
	var raw, gz int
	fs.WalkDir(web.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (path.Ext(p) != ".js" && path.Ext(p) != ".css") {
			return err
		}
		data, _ := fs.ReadFile(web.Static(), p)
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write(data)
		w.Close()
		raw += len(data)
		gz += b.Len()
		return nil
	})
	t.Logf("UI JS+CSS: %d bytes, %d gzip-compressed", raw, gz)
	if gz == 0 || gz > 200<<10 {
		t.Errorf("UI JS+CSS is %d bytes compressed, budget 200 KiB", gz)
	}
}

func TestHandler(t *testing.T) {
	h, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	shell, err := fs.ReadFile(web.Static(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, ctype string
		status      int
		body        []byte // nil: not checked
	}{
		{"/", "text/html; charset=utf-8", 200, shell},
		{"/jobs/01a2-deep-link", "text/html; charset=utf-8", 200, shell},
		{"/tasks/default/hello-world/run", "text/html; charset=utf-8", 200, shell},
		{"/assets/app.css", "text/css; charset=utf-8", 200, nil},
		{"/assets/js/main.js", "text/javascript; charset=utf-8", 200, nil},
		{"/assets/vendor/dagre.esm.js", "text/javascript; charset=utf-8", 200, nil},
		{"/favicon.ico", "image/svg+xml", 200, nil},
		{"/assets/nope.js", "text/plain; charset=utf-8", 404, nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != c.ctype {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.ctype)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != web.CSP {
				t.Errorf("CSP %q", got)
			}
			if c.body != nil && !bytes.Equal(body.Bytes(), c.body) {
				t.Errorf("body is not the app shell")
			}
			if c.status != 200 {
				return
			}
			etag := resp.Header.Get("ETag")
			if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
			}
			req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
			req.Header.Set("If-None-Match", etag)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation answered %d, want 304", resp.StatusCode)
			}
		})
	}
	if !strings.Contains(web.CSP, "default-src 'self'") || strings.Contains(web.CSP, "unsafe") {
		t.Errorf("CSP is not strict: %s", web.CSP)
	}
}

func TestOwns(t *testing.T) {
	cases := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", true},
		{"GET", "/jobs/x", true},
		{"HEAD", "/workspaces", true},
		{"GET", "/apifoo", true},
		{"POST", "/", false},
		{"GET", "/api", false},
		{"GET", "/api/nope", false},
		{"GET", "/hooks/x", false},
		{"GET", "/push/x", false},
		{"GET", "/worker/jobs/x", false},
		{"GET", "/healthz", false},
		{"GET", "/debug/pprof/", false},
	}
	for _, c := range cases {
		if got := web.Owns(httptest.NewRequest(c.method, c.path, nil)); got != c.want {
			t.Errorf("Owns(%s %s) = %v, want %v", c.method, c.path, got, c.want)
		}
	}
}
