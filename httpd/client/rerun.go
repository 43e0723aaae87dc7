package client

import (
	"context"
	"net/http"
)

// RestartPlan is the answer of a restart dry run: the steps that would run
// again and those that would be carried over, each in DAG order.
type RestartPlan struct {
	Run         []string `json:"run"`
	CarriedOver []string `json:"carried_over"`
}

// Rerun starts a new job like job id: on its revision unless current, with
// its input unless input is non-nil. It returns the new job's id.
func (c *Client) Rerun(ctx context.Context, id string, input map[string]any, current bool) (string, error) {
	body := map[string]any{}
	if input != nil {
		body["input"] = input
	}
	if current {
		body["revision"] = "current"
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	err := c.Do(ctx, http.MethodPost, JobPath(id)+"/rerun", body, &out)
	return out.JobID, err
}

// Restart starts a new job of the failed or cancelled job id that runs step
// from and everything downstream of it again; it returns the new job's id.
func (c *Client) Restart(ctx context.Context, id, from string) (string, error) {
	var out struct {
		JobID string `json:"job_id"`
	}
	err := c.Do(ctx, http.MethodPost, JobPath(id)+"/restart", map[string]any{"from_step": from}, &out)
	return out.JobID, err
}

// PlanRestart answers what Restart would run and carry over, creating
// nothing.
func (c *Client) PlanRestart(ctx context.Context, id, from string) (RestartPlan, error) {
	var out RestartPlan
	err := c.Do(ctx, http.MethodPost, JobPath(id)+"/restart?dry_run=true", map[string]any{"from_step": from}, &out)
	return out, err
}
