package client

import (
	"context"
	"net/http"
	"net/url"

	"runnel/jobs/api"
)

// Approve approves a waiting approval step; a step that is not waiting is
// a 409 *APIError, invalid fields a 400, a caller not among the approvers
// a 403.
func (c *Client) Approve(ctx context.Context, jobID, step string, d api.Decision) error {
	return c.Do(ctx, http.MethodPost, approvalPath(jobID, step, "approve"), d, nil)
}

// Reject rejects a waiting approval step (errors as Approve).
func (c *Client) Reject(ctx context.Context, jobID, step string, d api.Decision) error {
	return c.Do(ctx, http.MethodPost, approvalPath(jobID, step, "reject"), d, nil)
}

func approvalPath(jobID, step, verb string) string {
	return JobPath(jobID) + "/steps/" + url.PathEscape(step) + "/" + verb
}
