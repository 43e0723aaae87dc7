package httpd_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"runnel/httpd/httpdtest"
)

const manyLinesWorkflow = `
tasks:
  chatty:
    flow:
      count: { type: script, script: "seq 1 20000" }
      after: { type: script, script: "echo done", depends_on: [count] }
`

type tailPage struct {
	Logs        string `json:"logs"`
	NextOffset  int64  `json:"next_offset"`
	StartOffset *int64 `json:"start_offset"`
}

// readForward reads a log endpoint from offset 0 to the end.
func readForward(t *testing.T, s *httpdtest.Server, path string) string {
	t.Helper()
	var b strings.Builder
	for off := int64(0); ; {
		var p tailPage
		if st := s.JSON("GET", fmt.Sprintf("%s?offset=%d", path, off), nil, &p); st != 200 {
			t.Fatalf("read %s at %d: %d", path, off, st)
		}
		b.WriteString(p.Logs)
		if p.NextOffset == off {
			return b.String()
		}
		off = p.NextOffset
	}
}

func TestLogTailPagesBackwards(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": manyLinesWorkflow})
	id := s.Execute("chatty", nil)
	s.WaitJob(id)

	for _, path := range []string{"/api/jobs/" + id + "/logs", "/api/jobs/" + id + "/steps/count/logs"} {
		t.Run(path, func(t *testing.T) {
			whole := readForward(t, s, path)
			var pages []string
			before := ""
			for n := 0; ; n++ {
				var p tailPage
				if st := s.JSON("GET", path+"?tail_bytes=8192"+before, nil, &p); st != 200 {
					t.Fatalf("tail page %d: %d", n, st)
				}
				if p.StartOffset == nil {
					t.Fatalf("no start_offset: %+v", p)
				}
				if n == 0 && p.NextOffset != int64(len(whole)) && strings.HasSuffix(path, "/logs") && !strings.Contains(path, "/steps/") {
					t.Errorf("first page ends at %d, log is %d bytes", p.NextOffset, len(whole))
				}
				if len(p.Logs) > 8192 || (len(p.Logs) > 0 && !strings.HasSuffix(p.Logs, "\n")) {
					t.Fatalf("page %d: %d bytes, whole lines %v", n, len(p.Logs), strings.HasSuffix(p.Logs, "\n"))
				}
				for _, l := range strings.Split(strings.TrimSuffix(p.Logs, "\n"), "\n") {
					var v map[string]any
					if err := json.Unmarshal([]byte(l), &v); err != nil {
						t.Fatalf("page %d holds a partial line %q", n, l)
					}
				}
				if n == 0 && strings.Contains(path, "/steps/") && !strings.Contains(p.Logs, `"line":"20000"`) {
					t.Errorf("step tail lacks the last line: %s", p.Logs[max(0, len(p.Logs)-200):])
				}
				pages = append(pages, p.Logs)
				if *p.StartOffset == 0 {
					break
				}
				if n > 10000 {
					t.Fatal("paging does not end")
				}
				before = fmt.Sprintf("&before=%d", *p.StartOffset)
			}
			var joined strings.Builder
			for i := len(pages) - 1; i >= 0; i-- {
				joined.WriteString(pages[i])
			}
			if joined.String() != whole {
				t.Fatalf("pages joined (%d bytes) differ from the log read forwards (%d bytes)", joined.Len(), len(whole))
			}
			if len(pages) < 20 {
				t.Errorf("only %d pages of 8 KiB for %d bytes", len(pages), len(whole))
			}
		})
	}

	for _, c := range []struct{ query, want string }{
		{"?tail_bytes=0", "Invalid tail_bytes"},
		{"?tail_bytes=x", "Invalid tail_bytes"},
		{fmt.Sprintf("?tail_bytes=%d", 16<<20+1), "Invalid tail_bytes"},
		{"?before=10", "before requires tail_bytes"},
		{"?tail_bytes=100&before=-1", "Invalid before"},
		{"?tail_bytes=100&before=1", "Invalid before"},
	} {
		var e map[string]string
		if st := s.JSON("GET", "/api/jobs/"+id+"/logs"+c.query, nil, &e); st != 400 || e["error"] != c.want {
			t.Errorf("%s: %d %v, want 400 %q", c.query, st, e, c.want)
		}
	}
	// Without tail_bytes the answer keeps its seed shape.
	_, _, raw := s.Do("GET", "/api/jobs/"+id+"/logs?offset=0", nil)
	if strings.Contains(string(raw), "start_offset") {
		t.Error("start_offset in a plain read")
	}
}
