package jobs

import (
	"time"

	"runnel/jobs/api"
	"runnel/workspace"
)

// Job statuses (SPEC §5.1): the wire's, defined once in jobs/api.
const (
	JobPending   = api.JobPending
	JobRunning   = api.JobRunning
	JobCompleted = api.JobCompleted
	JobFailed    = api.JobFailed
	JobCancelled = api.JobCancelled
	JobSkipped   = api.JobSkipped
)

// Step statuses (SPEC §5.1).
const (
	StepPending   = "pending"
	StepReady     = "ready"
	StepRunning   = "running"
	StepCompleted = "completed"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
	StepCancelled = "cancelled"
	// StepWaiting: an approval step waits for a decision (approval.go).
	StepWaiting = "waiting"
)

// Source types (seed API).
const (
	SourceAPI     = "api"
	SourceUser    = "user"
	SourceTrigger = "trigger"
	SourceWebhook = "webhook"
	SourceHook    = "hook"
	SourceTask    = "task"
)

// JobStatuses lists every job status, for filter validation.
var JobStatuses = []string{JobPending, JobRunning, JobCompleted, JobFailed, JobCancelled, JobSkipped}

// SourceTypes lists every source type, for filter validation.
var SourceTypes = []string{SourceAPI, SourceUser, SourceTrigger, SourceWebhook, SourceHook, SourceTask}

// JobTerminal reports whether a job status never changes again.
func JobTerminal(status string) bool { return api.Terminal(status) }

// StepTerminal reports whether a step status never changes again.
func StepTerminal(status string) bool {
	switch status {
	case StepCompleted, StepFailed, StepSkipped, StepCancelled:
		return true
	}
	return false
}

// Job is one execution of a task as stored. Values in Input and Output are
// JSON-decoded (map[string]any, []any, float64, string, bool, nil).
type Job struct {
	ID         string         `json:"job_id"`
	Workspace  string         `json:"workspace"`
	Task       string         `json:"task_name"`
	Mode       string         `json:"mode"`
	Input      map[string]any `json:"input"`
	Output     any            `json:"output"`
	Status     string         `json:"status"`
	SourceType string         `json:"source_type"`
	SourceID   string         `json:"source_id,omitempty"`
	WorkerID   string         `json:"worker_id,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	// CompletedAt is set when the status becomes terminal.
	CompletedAt    time.Time `json:"completed_at,omitzero"`
	Revision       string    `json:"revision"`
	HookEvent      string    `json:"hook_event,omitempty"`
	ParentJobID    string    `json:"parent_job_id,omitempty"`
	ParentStepName string    `json:"parent_step_name,omitempty"`

	// Depth is 0 for top-level jobs, parent depth + 1 for children.
	Depth int `json:"depth,omitempty"`
	// NoHooks is set on hook jobs and every job below one.
	NoHooks bool `json:"no_hooks,omitempty"`
	// Deadline is the job timeout instant (zero = none).
	Deadline time.Time `json:"deadline,omitzero"`
	// Timeout is the task timeout that set Deadline.
	Timeout time.Duration `json:"timeout,omitempty"`
	// EndReason explains a status set before the steps stopped: "timeout"
	// or the canceller ("api", an email, "trigger x", "parent job <id>").
	EndReason string `json:"end_reason,omitempty"`
	// Finalized is set once the job is terminal, no step runs any more and
	// its terminal actions (parent propagation, hooks) are done.
	Finalized bool `json:"finalized,omitempty"`
	// Scrubbed is set once secret values were masked in the stored record.
	Scrubbed bool `json:"scrubbed,omitempty"`
	// RerunOf is the job this one re-runs; RestartOf the job it restarts
	// from step RestartFrom (restart.go).
	RerunOf     string `json:"rerun_of,omitempty"`
	RestartOf   string `json:"restart_of,omitempty"`
	RestartFrom string `json:"restart_from,omitempty"`
	// Queue is the queue of the job's task ("" = none): the job holds one
	// of its slots from Admitted until it is finalized (admit.go).
	Queue    string `json:"queue,omitempty"`
	Admitted bool   `json:"admitted,omitempty"`
	// QueuePosition is the job's 1-based place among the waiters of its
	// queue while it waits (0 otherwise); filled by Get and List, never
	// stored.
	QueuePosition int `json:"-"`

	// Steps in DAG order; filled by Get, not by List.
	Steps []*Step `json:"-"`
}

// Step is one flow node of a job as stored.
type Step struct {
	Name       string `json:"step_name"`
	Action     string `json:"action_name"`
	ActionType string `json:"action_type"`
	Runner     string `json:"runner"`
	// Input is the raw template map until dispatch, then the rendered input.
	Input        any       `json:"input"`
	Output       any       `json:"output"`
	Status       string    `json:"status"`
	WorkerID     string    `json:"worker_id,omitempty"`
	DependsOn    []string  `json:"depends_on"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	CompletedAt  time.Time `json:"completed_at,omitzero"`
	ErrorMessage string    `json:"error_message,omitempty"`
	SkipReason   string    `json:"skip_reason,omitempty"`
	ChildJobID   string    `json:"child_job_id,omitempty"`

	// Order is the step's position in DAG order.
	Order int `json:"order"`
	// ContinueOnFailure is copied from the flow.
	ContinueOnFailure bool `json:"continue_on_failure,omitempty"`
	// Timeout is the step timeout (0 = none).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Tags are the worker tags required to run the step.
	Tags []string `json:"tags,omitempty"`
	// ReadyAt is when the step became ready (queue order).
	ReadyAt time.Time `json:"ready_at,omitzero"`
	// Rendered is set once Input holds the rendered input.
	Rendered bool `json:"rendered,omitempty"`
	// FailureSkip marks skips caused by failures (they propagate).
	FailureSkip bool `json:"failure_skip,omitempty"`
	// Acked is set when a remote worker confirmed the start (/start).
	Acked bool `json:"acked,omitempty"`
	// When is the step's when: template as written ("" = none).
	When string `json:"when,omitempty"`
	// CarriedOver marks a completed step a restart took over with its
	// output instead of running it; CarriedFrom is the job it ran in.
	CarriedOver bool   `json:"carried_over,omitempty"`
	CarriedFrom string `json:"carried_from,omitempty"`
	// Approval is the wait and decision of an approval step (approval.go).
	Approval *StepApproval `json:"approval,omitempty"`
	// Retry is the step's retry policy, its own else its action's (nil =
	// one attempt).
	Retry *workspace.Retry `json:"retry,omitempty"`
	// Attempt is the number of the current or last attempt (0 before the
	// first start).
	Attempt int `json:"attempt,omitempty"`
	// Attempts are the finished attempts of a step with a retry policy, in
	// order.
	Attempts []Attempt `json:"attempts,omitempty"`
	// RetryAt is when a pending step waiting for its next attempt becomes
	// ready (zero = not waiting).
	RetryAt time.Time `json:"retry_at,omitzero"`
	// ForEach is a loop step's for_each as written ("" = not a loop; a
	// literal list as JSON); MaxParallel bounds its ready and running
	// instances (0 = no bound). A loop step runs as its instances (loop.go).
	ForEach     string `json:"for_each,omitempty"`
	MaxParallel int    `json:"max_parallel,omitempty"`
	// Instances is a loop's instance count once expanded; Started counts
	// those that left pending and Ended those that ended (kept by moveStep,
	// read by completeInstance only: plan reads the statuses).
	Instances int `json:"instances,omitempty"`
	Started   int `json:"started,omitempty"`
	Ended     int `json:"ended,omitempty"`
	// Loop names an instance's loop step ("" = not an instance); Index is
	// its position in the loop's list and Item the element.
	Loop  string `json:"loop,omitempty"`
	Index int    `json:"index,omitempty"`
	Item  any    `json:"item,omitempty"`
	// Queue is the queue of the step's action ("" = none). QueuedAt is the
	// step's arrival in it (when it would have been ready); it holds a slot
	// from Admitted until it is terminal (admit.go).
	Queue    string    `json:"queue,omitempty"`
	QueuedAt time.Time `json:"queued_at,omitzero"`
	Admitted bool      `json:"admitted,omitempty"`
	// QueuePosition is the step's 1-based place among the waiters of its
	// queue while it waits (0 otherwise); filled by Get, never stored.
	QueuePosition int `json:"-"`
}

// Attempt is one finished run of a step with a retry policy.
type Attempt struct {
	Attempt int `json:"attempt"`
	// ExitCode is the process exit code: 0 on success, -1 for a signal, a
	// timeout, a lost worker or an infrastructure error.
	ExitCode     int       `json:"exit_code"`
	ErrorMessage string    `json:"error_message,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	CompletedAt  time.Time `json:"completed_at"`
	WorkerID     string    `json:"worker_id,omitempty"`
}
