package httpd_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
)

// TestWhenThroughAPI runs a when: branch on a real server: the skipped
// step shows status skipped with its skip_reason, the other branch and the
// dependant of the skipped step completed, and the job completed.
func TestWhenThroughAPI(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  release:
    input:
      env: { type: string, default: staging }
    flow:
      prod:
        when: "{{ input.env == 'production' }}"
        type: script
        script: echo deploying to production
      staging:
        when: "{{ input.env == 'staging' }}"
        type: script
        script: echo deploying to staging
      report:
        depends_on: [prod, staging]
        type: script
        script: echo prod={{ input.p }} staging={{ input.s }}
        input: { p: "{{ prod.status }}", s: "{{ staging.status }}" }
`})
	j := s.WaitJob(s.Execute("release", nil))
	type stepView struct{ Status, SkipReason any }
	got := map[string]stepView{}
	for _, raw := range j["steps"].([]any) {
		st := raw.(map[string]any)
		got[st["step_name"].(string)] = stepView{st["status"], st["skip_reason"]}
	}
	want := map[string]stepView{
		"prod":    {"skipped", "when: {{ input.env == 'production' }} was false"},
		"staging": {"completed", nil},
		"report":  {"completed", nil},
	}
	if j["status"] != "completed" {
		t.Errorf("job status %v", j["status"])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
