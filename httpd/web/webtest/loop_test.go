package webtest_test

import (
	"testing"

	"runnel/httpd/httpdtest"
)

// TestLoopJobPage: a job with a for_each loop draws its graph with the loop
// once (its instances counted in the node), lists every instance name[i]
// as a step, and filters the log by an instance.
func TestLoopJobPage(t *testing.T) {
	chromiumPath(t)
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  fan:
    flow:
      hosts:
        for_each: [ada, bob, cy]
        type: shell
        cmd: echo "hello {{ input.who }}"
        input: { who: "{{ item }}" }
      after: { depends_on: [hosts], type: shell, cmd: echo done }
`})
	id := s.Execute("fan", nil)
	if j := s.WaitJob(id); j["status"] != "completed" {
		t.Fatalf("job status %v", j["status"])
	}
	b := newTab(t, s.URL)
	b.open("/jobs/" + id)
	b.waitVisible(`//*[@id="job-status"]`)
	b.waitJS("status completed", `document.getElementById('job-status').textContent === 'completed'`)
	b.waitJS("graph: the loop once, counted", `(() => { const n = [...document.querySelectorAll('.dag g.node')];
		return n.length === 2 && n.map(x => x.dataset.step).sort().join() === 'after,hosts' &&
			document.querySelector('.dag g.node[data-step="hosts"] text.state').textContent === 'completed · 3/3 instances' })()`)
	b.waitJS("instances listed", `[...document.querySelectorAll('.steps-list td:first-child .mono')].map(e => e.textContent).join() === 'hosts,hosts[0],hosts[1],hosts[2],after'`)
	b.screenshot("job-loop")
	b.click(`//button[@role="tab"][normalize-space(.)="Logs"]`)
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"hello cy")]`)
	eval[bool](b, `(() => { const s = [...document.querySelectorAll('label')].find(l => l.textContent.startsWith('Step')).querySelector('select');
		s.value = 'hosts[1]'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	b.waitJS("instance log", `(() => { const l = [...document.querySelectorAll('[role=log] .ln')]; return l.length === 1 && l[0].textContent.includes('hello bob') })()`)
}
