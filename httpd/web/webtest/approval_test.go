package webtest_test

import (
	"testing"

	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
)

// TestApproveThroughForm: a job waiting for approval shows the step's
// message and a form; approving without the required field shows the
// server's 400 at the field, then approving with it completes the job,
// whose next step printed the approver's value.
func TestApproveThroughForm(t *testing.T) {
	chromiumPath(t)
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  release:
    flow:
      confirm:
        type: approval
        message: "Deploy build 42 to production?"
        fields:
          ticket: { type: string, required: true, description: change ticket }
          hosts: { type: integer, default: 2 }
      deploy:
        depends_on: [confirm]
        type: shell
        cmd: echo "deploying {{ input.t }} to {{ input.n }} hosts"
        input: { t: "{{ confirm.output.ticket }}", n: "{{ confirm.output.hosts }}" }
`})
	id := s.Execute("release", nil)
	jobstest.Eventually(t, "confirm waiting", func() bool {
		j, err := s.Query.Get(id)
		return err == nil && j.Steps[0].Status == "waiting"
	})
	b := newTab(t, s.URL)
	b.open("/jobs/" + id)
	b.waitVisible(heading("is waiting for approval"))
	b.waitVisible(text("Deploy build 42 to production?"))
	b.waitJS("graph shows waiting", `document.querySelector('.dag g.node[data-step=confirm]').dataset.status === 'waiting'`)
	b.screenshot("job-approval")
	b.expect("status of 400 (Bad Request) (" + s.URL + "/api/jobs/" + id + "/steps/confirm/approve)")
	b.click(button("Approve"))
	b.waitVisible(`//*[@id="ap-confirm-ticket-err"][contains(., "required")]`)
	b.fill("ticket", "CHG-7")
	b.fill("hosts", "3")
	b.fill("Comment", "looks good")
	b.click(button("Approve"))
	b.waitJS("status completed", `document.getElementById('job-status').textContent === 'completed'`)
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"deploying CHG-7 to 3 hosts")]`)
	b.waitVisible(text("approved by anonymous"))
	j := s.WaitJob(id)
	step := j["steps"].([]any)[0].(map[string]any)
	ap := step["approval"].(map[string]any)
	if j["status"] != "completed" || ap["comment"] != "looks good" || ap["decision"] != "approved" {
		t.Fatalf("job %v, approval %v", j["status"], ap)
	}
}
