package api

// Job statuses (SPEC §5.1).
const (
	JobPending   = "pending"
	JobRunning   = "running"
	JobCompleted = "completed"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
	JobSkipped   = "skipped"
)

// Terminal reports whether a job status is final.
func Terminal(status string) bool {
	switch status {
	case JobCompleted, JobFailed, JobCancelled, JobSkipped:
		return true
	}
	return false
}

// JobItem is an item of GET /api/jobs (and of a worker's jobs, and the
// data of a "job" event).
type JobItem struct {
	JobID          string    `json:"job_id"`
	Workspace      string    `json:"workspace"`
	TaskName       string    `json:"task_name"`
	Mode           string    `json:"mode"`
	Status         string    `json:"status"`
	SourceType     string    `json:"source_type"`
	SourceID       OptString `json:"source_id"`
	WorkerID       OptString `json:"worker_id"`
	CreatedAt      Time      `json:"created_at"`
	StartedAt      Time      `json:"started_at"`
	CompletedAt    Time      `json:"completed_at"`
	Revision       string    `json:"revision"`
	HookEvent      OptString `json:"hook_event"`
	ParentJobID    OptString `json:"parent_job_id"`
	ParentStepName OptString `json:"parent_step_name"`
	// Queue is the queue of the job's task (runnel; null for none) and
	// QueuePosition its 1-based place among the jobs and steps waiting in
	// it (null when not waiting).
	Queue         OptString `json:"queue"`
	QueuePosition *int      `json:"queue_position"`
	// RerunOf, RestartOf and RestartFrom link a second chance to its
	// source job (runnel; present only on those jobs).
	RerunOf     OptString `json:"rerun_of,omitempty"`
	RestartOf   OptString `json:"restart_of,omitempty"`
	RestartFrom OptString `json:"restart_from,omitempty"`
}

// Job is GET /api/jobs/{id}: a job with its input, output and steps.
type Job struct {
	JobID       string         `json:"job_id"`
	Workspace   string         `json:"workspace"`
	TaskName    string         `json:"task_name"`
	Mode        string         `json:"mode"`
	Input       map[string]any `json:"input"`
	Output      any            `json:"output"`
	Status      string         `json:"status"`
	SourceType  string         `json:"source_type"`
	SourceID    OptString      `json:"source_id"`
	WorkerID    OptString      `json:"worker_id"`
	CreatedAt   Time           `json:"created_at"`
	StartedAt   Time           `json:"started_at"`
	CompletedAt Time           `json:"completed_at"`
	// Steps are in DAG order.
	Steps          []Step    `json:"steps"`
	Revision       string    `json:"revision"`
	HookEvent      OptString `json:"hook_event"`
	ParentJobID    OptString `json:"parent_job_id"`
	ParentStepName OptString `json:"parent_step_name"`
	// Queue and QueuePosition are as in JobItem (runnel).
	Queue         OptString `json:"queue"`
	QueuePosition *int      `json:"queue_position"`
	// RerunOf, RestartOf and RestartFrom link a second chance to its
	// source job (runnel; present only on those jobs).
	RerunOf     OptString `json:"rerun_of,omitempty"`
	RestartOf   OptString `json:"restart_of,omitempty"`
	RestartFrom OptString `json:"restart_from,omitempty"`
}

// Item is the job as an item of GET /api/jobs.
func (j Job) Item() JobItem {
	return JobItem{JobID: j.JobID, Workspace: j.Workspace, TaskName: j.TaskName, Mode: j.Mode,
		Status: j.Status, SourceType: j.SourceType, SourceID: j.SourceID, WorkerID: j.WorkerID,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, CompletedAt: j.CompletedAt, Revision: j.Revision,
		HookEvent: j.HookEvent, ParentJobID: j.ParentJobID, ParentStepName: j.ParentStepName,
		RerunOf: j.RerunOf, RestartOf: j.RestartOf, RestartFrom: j.RestartFrom,
		Queue: j.Queue, QueuePosition: j.QueuePosition}
}

// Step is a step of a Job. ActionImage is always null (runnel runs no
// containers).
type Step struct {
	StepName     string    `json:"step_name"`
	ActionName   string    `json:"action_name"`
	ActionType   string    `json:"action_type"`
	ActionImage  OptString `json:"action_image"`
	Runner       string    `json:"runner"`
	Input        any       `json:"input"`
	Output       any       `json:"output"`
	Status       string    `json:"status"`
	WorkerID     OptString `json:"worker_id"`
	DependsOn    []string  `json:"depends_on"`
	StartedAt    Time      `json:"started_at"`
	CompletedAt  Time      `json:"completed_at"`
	ErrorMessage OptString `json:"error_message"`
	SkipReason   OptString `json:"skip_reason"`
	ChildJobID   OptString `json:"child_job_id"`
	// CarriedOver marks a step a restart took over from CarriedFrom, the
	// job it ran in (runnel; present only on such steps).
	CarriedOver bool      `json:"carried_over,omitempty"`
	CarriedFrom OptString `json:"carried_from,omitempty"`
	// Approval is set on approval steps (runnel).
	Approval *Approval `json:"approval,omitempty"`
	// Attempt, MaxAttempts, RetryAt and Attempts are runnel's retry:
	// fields: the current or last attempt (0 before the first start), the
	// policy's attempts (1 without one), when a step waiting for its next
	// attempt becomes ready (null otherwise), and the finished attempts.
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	RetryAt     Time      `json:"retry_at"`
	Attempts    []Attempt `json:"attempts"`
	// Queue is the queue of the step's action (runnel; null for none) and
	// QueuePosition the step's 1-based place among those waiting in it
	// (null when not waiting: a waiting step is pending).
	Queue         OptString `json:"queue"`
	QueuePosition *int      `json:"queue_position"`
}

// Attempt is one finished attempt of a step with a retry policy.
type Attempt struct {
	Attempt      int       `json:"attempt"`
	ExitCode     int       `json:"exit_code"`
	ErrorMessage OptString `json:"error_message"`
	StartedAt    Time      `json:"started_at"`
	CompletedAt  Time      `json:"completed_at"`
	WorkerID     OptString `json:"worker_id"`
}

// StepEvent is the data of a "step" event of GET /api/events.
type StepEvent struct {
	JobID        string    `json:"job_id"`
	StepName     string    `json:"step_name"`
	Status       string    `json:"status"`
	StartedAt    Time      `json:"started_at"`
	CompletedAt  Time      `json:"completed_at"`
	WorkerID     OptString `json:"worker_id"`
	ErrorMessage OptString `json:"error_message"`
	SkipReason   OptString `json:"skip_reason"`
	ChildJobID   OptString `json:"child_job_id"`
}

// Worker is an item of GET /api/workers; GET /api/workers/{id} adds Jobs,
// the newest jobs it ran a step of.
type Worker struct {
	WorkerID      string    `json:"worker_id"`
	Name          string    `json:"name"`
	Status        string    `json:"status"`
	Tags          []string  `json:"tags"`
	LastHeartbeat Time      `json:"last_heartbeat"`
	RegisteredAt  Time      `json:"registered_at"`
	Version       OptString `json:"version"`
	Builtin       bool      `json:"builtin"`
	Jobs          []JobItem `json:"jobs,omitzero"`
}

// LogPage is one answer of the REST log routes: complete JSONL lines and
// the byte offset to ask from next (equal to the request's offset when
// there was nothing more).
type LogPage struct {
	Logs       string `json:"logs"`
	NextOffset int64  `json:"next_offset"`
	// StartOffset is where Logs begins; set by tail reads only (runnel).
	StartOffset *int64 `json:"start_offset,omitempty"`
}

// AuditEntry is an item of GET /api/audit (runnel).
type AuditEntry struct {
	ID string `json:"id"`
	// Actor names who acted; ActorType says what it is (user, api_key,
	// worker, trigger, webhook, system, anonymous).
	Actor     string `json:"actor"`
	ActorType string `json:"actor_type"`
	Address   string `json:"address"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	// Status is the HTTP status of the answer; nil for non-HTTP actions.
	Status *int           `json:"status"`
	Detail map[string]any `json:"detail"`
	Time   Time           `json:"time"`
}
