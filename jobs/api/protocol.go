package api

import (
	"encoding/json"
	"math"
	"time"
)

// This file is the remote worker protocol (SPEC §9.2): the bodies of the
// /worker routes, and the Assignment a worker runs.

// RegisterRequest is the body of POST /worker/register.
type RegisterRequest struct {
	Name string `json:"name"`
	// Tags the worker advertises (Strøm workers send Capabilities).
	Tags         []string `json:"tags,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Version      string   `json:"version,omitempty"`
}

// RegisterResponse is the answer of POST /worker/register.
type RegisterResponse struct {
	WorkerID string `json:"worker_id"`
	// HeartbeatIntervalSecs is 0 when the server did not say (Strøm).
	HeartbeatIntervalSecs int `json:"heartbeat_interval_secs"`
}

// WorkerIDRequest is the body of POST /worker/heartbeat and of .../start.
type WorkerIDRequest struct {
	WorkerID string `json:"worker_id"`
}

// ClaimRequest is the body of POST /worker/jobs/claim.
type ClaimRequest struct {
	WorkerID string `json:"worker_id"`
	// Tags the step must be covered by (Strøm workers send Capabilities;
	// neither: the registered tags).
	Tags         []string `json:"tags,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	// WaitSecs is the long-poll (nil: the server's default, 25 s).
	WaitSecs *float64 `json:"wait_secs,omitempty"`
}

// ClaimResponse is a claimed step, the Strøm ClaimResponse plus (runnel)
// task_name, revision and timeout_secs; every key is null when there is
// no work.
type ClaimResponse struct {
	Workspace   *string        `json:"workspace"`
	JobID       *string        `json:"job_id"`
	StepName    *string        `json:"step_name"`
	ActionName  *string        `json:"action_name"`
	ActionType  *string        `json:"action_type"`
	ActionImage *string        `json:"action_image"`
	ActionSpec  *ActionSpec    `json:"action_spec"`
	Input       map[string]any `json:"input"`
	Runner      *string        `json:"runner"`
	TaskName    *string        `json:"task_name"`
	Revision    *string        `json:"revision"`
	TimeoutSecs *int64         `json:"timeout_secs"`
}

// ActionSpec is the rendered action of a claim as a Strøm worker reads it:
// both YAML dialects are type "shell" with Cmd (sh -c text) or Script (a
// workspace-relative file).
type ActionSpec struct {
	Type   string            `json:"type"`
	Cmd    *string           `json:"cmd,omitempty"`
	Script *string           `json:"script,omitempty"`
	Env    map[string]string `json:"env"`
	Tags   []string          `json:"tags"`
	Input  map[string]any    `json:"input"`
}

// CompleteRequest is the body of .../complete: the step fails iff ExitCode
// ≠ 0 or Error is set; Output counts on success only.
type CompleteRequest struct {
	Output   json.RawMessage `json:"output,omitempty"`
	ExitCode *int            `json:"exit_code,omitempty"`
	Error    *string         `json:"error,omitempty"`
	WorkerID string          `json:"worker_id,omitempty"`
}

// LogsRequest is the body of POST /worker/jobs/{job}/logs: at most 1000
// lines of one running step.
type LogsRequest struct {
	StepName string    `json:"step_name"`
	Lines    []LogLine `json:"lines"`
	WorkerID string    `json:"worker_id,omitempty"`
}

// LogLine is one pushed line.
type LogLine struct {
	TS     Stamp  `json:"ts"`
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// Stamp is a pushed line's time: written in RFC 3339 with nanoseconds
// (UTC) and read leniently, so a line is never refused for its time:
// anything but an RFC 3339 string (any fraction or offset) reads as the
// zero time, which the server replaces with the time of receipt.
type Stamp struct{ time.Time }

// MarshalJSON writes the UTC time in RFC 3339 with nanoseconds.
func (s Stamp) MarshalJSON() ([]byte, error) {
	b := append([]byte{'"'}, s.UTC().Format(time.RFC3339Nano)...)
	return append(b, '"'), nil
}

// UnmarshalJSON reads an RFC 3339 string; anything else is the zero time.
func (s *Stamp) UnmarshalJSON(b []byte) error {
	var str string
	*s = Stamp{}
	if json.Unmarshal(b, &str) != nil {
		return nil
	}
	if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
		*s = Stamp{t}
	}
	return nil
}

// CancelledResponse is the answer of GET /worker/jobs/{job}/cancelled:
// true once the job's running steps must stop (cancelled or timed out).
type CancelledResponse struct {
	Cancelled bool `json:"cancelled"`
}

// Assignment is a claimed step with everything a worker, built-in or
// remote, needs to run it.
type Assignment struct {
	JobID     string
	Workspace string
	Task      string
	Step      string
	Action    string
	// ActionType is the YAML type (shell or script); both run the same way.
	ActionType string
	Revision   string
	// Command is the rendered inline shell text ("" when File is set).
	Command string
	// File is the workspace-relative script path.
	File string
	// Env is the rendered action environment.
	Env map[string]string
	// Tags are the step's required worker tags.
	Tags []string
	// Input is the rendered step input.
	Input map[string]any
	// Timeout is the step timeout (0 = none).
	Timeout time.Duration
	// Dir is the revision tree on this server (built-in workers; empty for
	// a remote worker, which fetches the tree itself).
	Dir string
	// Attempt is the step's attempt number (1 = first; retry:); the lines
	// of a later attempt are marked with it. Not on the wire: the server
	// marks a remote worker's lines with the step's current attempt.
	Attempt int
}

// StepEnv returns the RUNNEL_* and STROEM_* variables of the step (SPEC
// §5.5).
func (a *Assignment) StepEnv() map[string]string {
	return map[string]string{
		"RUNNEL_JOB_ID": a.JobID, "RUNNEL_WORKSPACE": a.Workspace, "RUNNEL_TASK": a.Task,
		"RUNNEL_STEP": a.Step, "RUNNEL_REVISION": a.Revision,
		"STROEM_JOB_ID": a.JobID, "STROEM_WORKSPACE": a.Workspace,
		"STROEM_TASK_NAME": a.Task, "STROEM_STEP_NAME": a.Step,
	}
}

// ClaimOf is the claim answer that hands a over to a remote worker: the
// action as a Strøm "shell" spec whose tags are the step's required tags
// without the implied "shell", the timeout rounded up to whole seconds.
func ClaimOf(a *Assignment) ClaimResponse {
	str := func(s string) *string { return &s }
	spec := &ActionSpec{Type: "shell", Env: a.Env, Tags: []string{}, Input: map[string]any{}}
	for _, t := range a.Tags {
		if t != "shell" {
			spec.Tags = append(spec.Tags, t)
		}
	}
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	if a.File != "" {
		spec.Script = str(a.File)
	} else {
		spec.Cmd = str(a.Command)
	}
	in := a.Input
	if in == nil {
		in = map[string]any{}
	}
	c := ClaimResponse{
		Workspace: str(a.Workspace), JobID: str(a.JobID), StepName: str(a.Step),
		ActionName: str(a.Action), ActionType: str("shell"), ActionSpec: spec,
		Input: in, Runner: str("local"), TaskName: str(a.Task), Revision: str(a.Revision),
	}
	if a.Timeout > 0 {
		secs := int64(math.Ceil(a.Timeout.Seconds()))
		c.TimeoutSecs = &secs
	}
	return c
}

// Assignment is the step a claim answer hands over (nil when there was no
// work): required tags are "shell" and the action's; Dir is left empty.
func (c *ClaimResponse) Assignment() *Assignment {
	if c.JobID == nil {
		return nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	a := &Assignment{
		JobID: str(c.JobID), Workspace: str(c.Workspace), Task: str(c.TaskName), Step: str(c.StepName),
		Action: str(c.ActionName), ActionType: str(c.ActionType), Revision: str(c.Revision), Input: c.Input,
	}
	if spec := c.ActionSpec; spec != nil {
		a.Command, a.File, a.Env = str(spec.Cmd), str(spec.Script), spec.Env
		a.Tags = append([]string{"shell"}, spec.Tags...)
	}
	if c.TimeoutSecs != nil && *c.TimeoutSecs > 0 {
		a.Timeout = time.Duration(*c.TimeoutSecs) * time.Second
	}
	return a
}
