package workspace_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// TestLoadApprovals: named and inline approval actions keep their message,
// fields, approvers, timeout and on_timeout; a step's timeout stays the
// step's (it replaces the action's wait at run time).
func TestLoadApprovals(t *testing.T) {
	s := mustLoad(t, map[string]string{".workflows/ci.yaml": `
actions:
  sign-off:
    type: approval
    message: "Deploy {{ input.version }}?"
    input: { version: { type: string, required: true } }
    fields:
      ticket: { type: string, required: true }
      force: { type: boolean, default: false }
    approvers: [ops@example.com, admins]
    timeout: 2h
    on_timeout: reject
tasks:
  ci:
    flow:
      ask: { action: sign-off, input: { version: "1.2" }, timeout: 30m }
      quick: { type: approval, message: ok?, on_timeout: approve, depends_on: [ask] }
`})
	type view struct {
		Runner, Message, OnTimeout string
		Fields                     []workspace.Field
		Approvers                  []string
		Timeout                    time.Duration
	}
	got := map[string]view{}
	for _, name := range []string{"sign-off", "_inline:ci:quick"} {
		a := s.Actions[name]
		if a == nil || a.Type != workspace.TypeApproval || a.Approval == nil || a.Approval.Message == nil {
			t.Fatalf("action %s = %+v, want an approval with a message", name, a)
		}
		ap := a.Approval
		got[name] = view{Runner: a.Runner, Message: ap.Message.Source(), OnTimeout: ap.OnTimeout,
			Fields: ap.Fields, Approvers: ap.Approvers, Timeout: ap.Timeout}
	}
	want := map[string]view{
		"sign-off": {Runner: "none", Message: "Deploy {{ input.version }}?", OnTimeout: "reject",
			Fields: []workspace.Field{
				{Name: "ticket", Type: "string", Required: true},
				{Name: "force", Type: "boolean", Default: false, HasDefault: true},
			},
			Approvers: []string{"ops@example.com", "admins"}, Timeout: 2 * time.Hour},
		"_inline:ci:quick": {Runner: "none", Message: "ok?", OnTimeout: "approve", Fields: nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	if d := s.Tasks["ci"].Step("ask").Timeout; d != 30*time.Minute {
		t.Errorf("step ask timeout = %v, want 30m", d)
	}
}
