package httpd_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
)

// TestLoopThroughAPI runs a for_each loop on a real server: the job shows
// the loop step followed by its instances name[i] (their input rendered
// with item and index), the loop's output is the list of theirs, and each
// instance's log lines are served by the step log route (an unknown
// instance is 404).
func TestLoopThroughAPI(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  greet:
    flow:
      hello:
        for_each: [ada, bob]
        type: script
        script: |
          echo "hello {{ input.who }}"
          echo 'OUTPUT: "{{ input.n }}:{{ input.who }}"'
        input: { who: "{{ item }}", n: "{{ index }}" }
`})
	id := s.Execute("greet", nil)
	j := s.WaitJob(id)
	if j["status"] != "completed" {
		t.Fatalf("job status %v", j["status"])
	}
	var names []string
	inputs := map[string]any{}
	for _, raw := range j["steps"].([]any) {
		st := raw.(map[string]any)
		names = append(names, st["step_name"].(string))
		inputs[st["step_name"].(string)] = st["input"]
	}
	if diff := cmp.Diff([]string{"hello", "hello[0]", "hello[1]"}, names); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"who": "bob", "n": "1"}, inputs["hello[1]"]); diff != "" {
		t.Errorf("hello[1] input (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"hello": []any{"0:ada", "1:bob"}}, j["output"]); diff != "" {
		t.Errorf("job output (-want +got):\n%s", diff)
	}
	var logs struct {
		Logs string `json:"logs"`
	}
	if code := s.JSON("GET", "/api/jobs/"+id+"/steps/hello%5B1%5D/logs", nil, &logs); code != http.StatusOK ||
		!strings.Contains(logs.Logs, `"step":"hello[1]","line":"hello bob"`) || strings.Contains(logs.Logs, "ada") {
		t.Errorf("hello[1] logs: %d %q", code, logs.Logs)
	}
	if code, _, body := s.Do("GET", "/api/jobs/"+id+"/steps/hello%5B2%5D/logs", nil); code != http.StatusNotFound {
		t.Errorf("unknown instance: %d %s", code, body)
	}
}
