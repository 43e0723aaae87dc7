package webtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"runnel/httpd/httpdtest"
)

// restartWorkflow: prepare → deploy; deploy fails until <dir>/fixed exists.
const restartWorkflow = `
tasks:
  release:
    input:
      dir: { type: string, required: true }
    flow:
      prepare:
        type: shell
        cmd: echo "prepared once"
      deploy:
        depends_on: [prepare]
        type: shell
        input: { dir: "{{ input.dir }}" }
        cmd: |
          echo "deploying"
          test -f {{ input.dir }}/fixed || { echo "deploy failed" >&2; exit 4; }
`

// TestRestartFromHereAndRerun: on a failed job's page, "Restart from here"
// on the failed step opens the new job, which carries the first step over
// (and says so) and completes once the cause is fixed; its "Re-run" button
// then opens a re-run that links back to it.
func TestRestartFromHereAndRerun(t *testing.T) {
	chromiumPath(t)
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": restartWorkflow})
	dir := t.TempDir()
	failed := s.Execute("release", map[string]any{"dir": dir})
	if j := s.WaitJob(failed); j["status"] != "failed" {
		t.Fatalf("first job %v", j["status"])
	}
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := newTab(t, s.URL)
	b.open("/jobs/" + failed)
	b.waitJS("failed", `(document.getElementById('job-status') || {}).textContent === 'failed'`)
	b.click(button("Restart from deploy"))
	b.waitJS("the new job opened", `location.pathname !== '/jobs/`+failed+`' && document.getElementById('job-status') !== null`)
	b.waitJS("restart completed", `(document.getElementById('job-status') || {}).textContent === 'completed'`)
	b.waitVisible(text("Carried over from job " + failed[:8]))
	b.waitVisible(`//dt[normalize-space(.)="Restart of"]/following-sibling::dd[1][contains(., "from step deploy")]`)
	restarted := eval[string](b, `location.pathname.slice('/jobs/'.length)`)
	if j := s.WaitJob(restarted); j["restart_of"] != failed {
		t.Fatalf("restarted job %v: restart_of %v", restarted, j["restart_of"])
	}
	// A completed job offers Re-run but no restart.
	if n := eval[int](b, `document.querySelectorAll('button[aria-label^="Restart from"]').length`); n != 0 {
		t.Errorf("%d restart buttons on a completed job", n)
	}
	b.click(button("Re-run"))
	b.waitJS("the re-run opened", `location.pathname !== '/jobs/`+restarted+`' && document.getElementById('job-status') !== null`)
	b.waitJS("re-run completed", `(document.getElementById('job-status') || {}).textContent === 'completed'`)
	b.waitVisible(`//dt[normalize-space(.)="Re-run of"]/following-sibling::dd[1][contains(., "` + restarted[:8] + `")]`)
}
