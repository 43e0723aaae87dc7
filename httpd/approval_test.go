package httpd_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// approvalWorkflow: ask waits for a decision; deploy reads its fields.
const approvalWorkflow = `
tasks:
  release:
    flow:
      ask:
        type: approval
        message: "Deploy {{ input.v }}?"
        input: { v: "1.2" }
        approvers: [ops@example.com, admins]
        fields:
          ticket: { type: string, required: true, name: Ticket }
          force: { type: boolean, default: false }
      deploy:
        depends_on: [ask]
        type: shell
        cmd: |
          echo 'OUTPUT: {"got": "{{ input.t }}"}'
        input: { t: "{{ ask.output.ticket }}" }
`

// startRelease executes release and waits until ask is waiting.
func (e *authEnv) startRelease(t *testing.T, token string) string {
	t.Helper()
	r := e.do(t, "POST", "/api/workspaces/default/tasks/release/execute", token, map[string]any{})
	r.want(t, "execute release", http.StatusOK, "")
	var out struct {
		JobID string `json:"job_id"`
	}
	r.json(t, &out)
	jobstest.Eventually(t, "ask waiting", func() bool {
		j, err := e.srv.Query.Get(out.JobID)
		return err == nil && j.Steps[0].Status == jobs.StepWaiting
	})
	return out.JobID
}

// jobDetail returns GET /api/jobs/{id}?wait=true (the job once terminal).
func (e *authEnv) jobDetail(t *testing.T, token, id string, wait bool) map[string]any {
	t.Helper()
	q := ""
	if wait {
		q = "?wait=true&timeout=60"
	}
	r := e.do(t, "GET", "/api/jobs/"+id+q, token, nil)
	r.want(t, "get job", http.StatusOK, "")
	var j map[string]any
	r.json(t, &j)
	return j
}

func stepOf(j map[string]any, name string) map[string]any {
	for _, raw := range j["steps"].([]any) {
		if s := raw.(map[string]any); s["step_name"] == name {
			return s
		}
	}
	return nil
}

// TestApprovalAPI: with auth off, the waiting step shows its message and
// fields; an approval with fields completes it (recorded as anonymous) and
// the dependant reads them; every refused decision answers its status and
// message and changes nothing.
func TestApprovalAPI(t *testing.T) {
	e := startAuthServer(t, withoutAuth, func(c *envConfig) { c.workflow = approvalWorkflow })
	id := e.startRelease(t, "")
	ask := stepOf(e.jobDetail(t, "", id, false), "ask")
	wantWaiting := map[string]any{
		"message":   "Deploy 1.2?",
		"approvers": []any{"ops@example.com", "admins"},
		"fields": []any{
			map[string]any{"name": "ticket", "type": "string", "required": true, "default": nil, "display_name": "Ticket"},
			map[string]any{"name": "force", "type": "boolean", "required": false, "default": false},
		},
		"timeout_secs": nil, "deadline": nil, "on_timeout": "fail",
		"decision": nil, "by": nil, "at": nil, "comment": nil,
	}
	if diff := cmp.Diff(wantWaiting, ask["approval"]); diff != "" || ask["status"] != "waiting" || ask["started_at"] == nil {
		t.Fatalf("waiting step %v; approval (-want +got):\n%s", ask, diff)
	}

	other := e.startRelease(t, "")
	base := "/api/jobs/" + id + "/steps/"
	refusals := []struct {
		name, path string
		body       any
		status     int
		msg        string
	}{
		{"missing field", base + "ask/approve", map[string]any{}, 400, "Input validation failed: missing required field 'ticket'"},
		{"wrong type", base + "ask/approve", map[string]any{"fields": map[string]any{"ticket": 7}}, 400, "Input validation failed: field 'ticket' must be a string"},
		{"bad body", base + "ask/approve", `{"fields": [1]}`, 400, ""},
		{"unknown step", base + "nope/approve", map[string]any{}, 404, "Step not found"},
		{"unknown job", "/api/jobs/00000000-0000-4000-8000-000000000000/steps/ask/reject", nil, 404, "Job not found"},
		{"invalid job id", "/api/jobs/xyz/steps/ask/approve", nil, 400, "Invalid job ID"},
		{"step not started", base + "deploy/approve", map[string]any{}, 409, "Step is not waiting for approval"},
	}
	for _, c := range refusals {
		e.do(t, "POST", c.path, "", c.body).want(t, c.name, c.status, c.msg)
	}
	r := e.do(t, "POST", base+"ask/approve", "", map[string]any{"fields": map[string]any{"ticket": "T-7"}, "comment": "  go  "})
	r.want(t, "approve", http.StatusOK, "")
	if strings.TrimSpace(string(r.body)) != `{"status":"approved"}` {
		t.Errorf("approve answer %s", r.body)
	}
	for _, c := range []struct{ name, path string }{
		{"second approve", base + "ask/approve"},
		{"reject after approve", base + "ask/reject"},
		{"a shell step", base + "deploy/reject"},
	} {
		e.do(t, "POST", c.path, "", map[string]any{"fields": map[string]any{"ticket": "T-8"}}).want(t, c.name, 409, "Step is not waiting for approval")
	}
	j := e.jobDetail(t, "", id, true)
	ask = stepOf(j, "ask")
	ap := ask["approval"].(map[string]any)
	if j["status"] != "completed" || ap["decision"] != "approved" || ap["by"] != "anonymous" || ap["comment"] != "go" || ap["at"] == nil {
		t.Fatalf("job %v, approval %v", j["status"], ap)
	}
	if diff := cmp.Diff(map[string]any{"ticket": "T-7", "force": false}, ask["output"]); diff != "" {
		t.Errorf("ask output (-want +got):\n%s", diff)
	}
	if got := stepOf(j, "deploy")["output"]; !cmp.Equal(got, map[string]any{"got": "T-7"}) {
		t.Errorf("deploy output %v", got)
	}

	// Reject: the step fails with who and why, the job fails.
	r = e.do(t, "POST", "/api/jobs/"+other+"/steps/ask/reject", "", map[string]any{"comment": "frozen"})
	r.want(t, "reject", http.StatusOK, "")
	j = e.jobDetail(t, "", other, true)
	if ask := stepOf(j, "ask"); j["status"] != "failed" || ask["error_message"] != "Rejected by anonymous: frozen" {
		t.Fatalf("rejected job %v, ask %v", j["status"], ask)
	}
	var audit []struct {
		Action, Target string
		Status         int
	}
	e.do(t, "GET", "/api/audit?action=step.reject", "", nil).json(t, &audit)
	var ok []string
	for _, a := range audit {
		if a.Status == 200 {
			ok = append(ok, a.Target)
		}
	}
	if !cmp.Equal(ok, []string{other + "/ask"}) || len(audit) < 3 {
		t.Errorf("audit of the rejections (one accepted, the refused ones too): %+v", audit)
	}
}

// TestApprovalApprovers: with auth on, only the listed users and groups
// decide (403 for anyone else, the step still waits); an API key decides
// as its user and is named in the record; an admin decides as a member of
// admins.
func TestApprovalApprovers(t *testing.T) {
	e := startAuthServer(t, withAuth, func(c *envConfig) { c.workflow = approvalWorkflow })
	admin := e.login(t, adminEmail, adminPassword).AccessToken
	e.addUser(t, admin, "bob@example.com", "bob-password-1", false)
	e.addUser(t, admin, "OPS@example.com", "ops-password-1", false)
	bob := e.login(t, "bob@example.com", "bob-password-1").AccessToken
	ops := e.login(t, "ops@example.com", "ops-password-1").AccessToken
	key, _ := e.createKey(t, ops, map[string]any{"name": "ci"})

	id := e.startRelease(t, admin)
	path := "/api/jobs/" + id + "/steps/ask/"
	e.do(t, "POST", path+"approve", "", map[string]any{}).want(t, "no token", 401, "Authentication required")
	e.do(t, "POST", path+"approve", bob, map[string]any{"fields": map[string]any{"ticket": "T"}}).
		want(t, "bob approves", 403, "You are not an approver of this step")
	e.do(t, "POST", path+"reject", bob, map[string]any{}).want(t, "bob rejects", 403, "You are not an approver of this step")
	if s := stepOf(e.jobDetail(t, admin, id, false), "ask"); s["status"] != "waiting" {
		t.Fatalf("after refusals: %v", s)
	}
	e.do(t, "POST", path+"approve", key, map[string]any{"fields": map[string]any{"ticket": "T-1"}}).want(t, "ops key approves", 200, "")
	j := e.jobDetail(t, admin, id, true)
	if ap := stepOf(j, "ask")["approval"].(map[string]any); j["status"] != "completed" || ap["by"] != "OPS@example.com (API key 'ci')" {
		t.Fatalf("job %v, approval %v", j["status"], ap)
	}

	id = e.startRelease(t, admin)
	e.do(t, "POST", "/api/jobs/"+id+"/steps/ask/reject", admin, map[string]any{"comment": "no"}).want(t, "admin rejects", 200, "")
	if s := stepOf(e.jobDetail(t, admin, id, true), "ask"); s["error_message"] != "Rejected by "+adminEmail+": no" {
		t.Fatalf("admin rejection: %v", s)
	}
}
