package httpd_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"runnel/httpd/httpdtest"
)

// TestFullLog: ?full=true streams the whole log as NDJSON, byte-identical
// to the file, from ?offset=; X-Next-Offset says where it ended.
func TestFullLog(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": streamWorkflow})
	id := s.Execute("flood", nil)
	s.WaitJob(id)
	file, err := os.ReadFile(filepath.Join(s.DataDir, "logs", id+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) (*http.Response, string) {
		resp, err := s.Client.Get(s.URL + "/api/jobs/" + id + "/logs?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := get("full=true")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || body != string(file) {
		t.Fatalf("full: %d %s, %d bytes of %d", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(file))
	}
	if resp.Header.Get("X-Next-Offset") != strconv.Itoa(len(file)) {
		t.Errorf("X-Next-Offset %q, file %d bytes", resp.Header.Get("X-Next-Offset"), len(file))
	}
	mid := strings.IndexByte(string(file[len(file)/2:]), '\n') + len(file)/2 + 1
	if resp, body := get("full=true&offset=" + strconv.Itoa(mid)); resp.StatusCode != 200 || body != string(file[mid:]) {
		t.Errorf("full from %d: %d, %d bytes", mid, resp.StatusCode, len(body))
	}
	for _, q := range []string{"full=true&offset=1", "full=true&tail_bytes=10"} {
		if resp, body := get(q); resp.StatusCode != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}
