package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Approval is the approval part of a step (README "Approvals"). Times are
// zero when unset; Decision is "" while the step waits.
type Approval struct {
	Message     string          `json:"message"`
	Fields      []ApprovalField `json:"fields"`
	Approvers   []string        `json:"approvers"`
	TimeoutSecs float64         `json:"timeout_secs"`
	Deadline    time.Time       `json:"deadline"`
	OnTimeout   string          `json:"on_timeout"`
	Decision    string          `json:"decision"`
	By          string          `json:"by"`
	At          time.Time       `json:"at"`
	Comment     string          `json:"comment"`
}

// ApprovalField is one field an approver fills in.
type ApprovalField struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default"`
	DisplayName string `json:"display_name"`
	Description string `json:"description"`
}

// Decision is the body of an approve or reject.
type Decision struct {
	Fields  map[string]any `json:"fields,omitempty"`
	Comment string         `json:"comment,omitempty"`
}

// Approve approves a waiting approval step; a step that is not waiting is
// a 409 *APIError, invalid fields a 400, a caller not among the approvers
// a 403.
func (c *Client) Approve(ctx context.Context, jobID, step string, d Decision) error {
	return c.Do(ctx, http.MethodPost, approvalPath(jobID, step, "approve"), d, nil)
}

// Reject rejects a waiting approval step (errors as Approve).
func (c *Client) Reject(ctx context.Context, jobID, step string, d Decision) error {
	return c.Do(ctx, http.MethodPost, approvalPath(jobID, step, "reject"), d, nil)
}

func approvalPath(jobID, step, verb string) string {
	return JobPath(jobID) + "/steps/" + url.PathEscape(step) + "/" + verb
}
