package workspace

import (
	"time"

	"runnel/workspace/cron"
	"runnel/workspace/tmpl"
)

// Action types.
const (
	TypeShell  = "shell"
	TypeScript = "script"
	TypeTask   = "task"
	// TypeApproval waits for a person's decision (approval.go).
	TypeApproval = "approval"
)

// Trigger types.
const (
	TriggerScheduler = "scheduler"
	TriggerWebhook   = "webhook"
)

// InlinePrefix starts the action name of an inline step action:
// "_inline:<task>:<step>".
const InlinePrefix = "_inline:"

// Snapshot is one loaded and validated revision of a workspace. It is never
// mutated after it is published.
type Snapshot struct {
	// Name is the workspace name.
	Name string
	// Revision is the 40-hex commit (git) or 64-hex content hash (folder).
	Revision string
	// Dir is the immutable revision tree; scripts run from here.
	Dir string
	// LoadedAt is when the snapshot was built.
	LoadedAt time.Time
	// Commit describes the git commit of Revision (nil for folders, or
	// when the source could not describe it).
	Commit *Commit

	// Actions holds named actions and inline step actions ("_inline:…").
	Actions map[string]*Action
	// Tasks, by name.
	Tasks map[string]*Task
	// Triggers, by name.
	Triggers map[string]*Trigger
	// Queues, by name: the declared ones and the private queue of each task
	// with `concurrency:` (named PrivateQueue(task)).
	Queues map[string]*Queue
	// Secrets is the rendered secrets tree: nested map[string]any of strings.
	Secrets map[string]any
	// Hooks are the workspace-level hook lists (SPEC §8.1), in file order.
	Hooks Hooks
	// Warnings are problems that do not reject the revision (webhook text
	// printed into a command unquoted, an inline script naming a file, a
	// reference to an undeclared task input), sorted like LoadError's.
	Warnings []Problem
}

// SecretValues returns every leaf string of Secrets (for masking).
func (s *Snapshot) SecretValues() []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(s.Secrets)
	return out
}

// Hooks are hook lists for the three terminal events.
type Hooks struct {
	OnSuccess []Hook
	OnError   []Hook
	OnCancel  []Hook
}

// Hook is one hook entry: an action run as its own job with a rendered input.
type Hook struct {
	Action string
	Input  *tmpl.Value
}

// Field is one declared input field (SPEC §3.7).
type Field struct {
	Name        string
	Type        string // string, integer, number, boolean, array, object (aliases resolved)
	Required    bool
	Default     any // valid only if HasDefault
	HasDefault  bool
	DisplayName string
	Description string
	Secret      bool
}

// Action is a unit of work (SPEC §3.2).
type Action struct {
	Name string
	// Type is TypeShell, TypeScript, TypeTask or TypeApproval as written
	// in YAML.
	Type string
	// Inline is the inline shell text (shell `cmd`, script `script`); nil
	// when the action runs a file or a task.
	Inline *tmpl.Template
	// File is the workspace-relative script path (shell `script`, script
	// `source`); "" otherwise. Never rendered.
	File string
	// Task is the called task of a TypeTask action.
	Task string
	// Env maps variable names to templates.
	Env map[string]*tmpl.Template
	// Input declares the step input fields; defaults fill omitted keys.
	Input []Field
	// Tags are extra worker tags required to run the action.
	Tags []string
	// Approval is the wait of a TypeApproval action; nil otherwise.
	Approval *Approval
	// Runner is "local" for shell/script, "none" for task and approval.
	Runner string
	// Queue is the queue a step of this action waits in ("" = none).
	Queue       string
	DisplayName string
	Description string
	// Retry is the action's retry policy (nil = one attempt); a step's own
	// retry wins.
	Retry *Retry
}

// Task is a named DAG of steps (SPEC §3.3).
type Task struct {
	Name        string
	DisplayName string
	Description string
	// Mode is "distributed" (default) or "local"; informational.
	Mode string
	// Folder is the "/"-separated folder, "" if none.
	Folder string
	Input  []Field
	// Steps in YAML order.
	Steps []*Step
	// Timeout is the job timeout; 0 = none.
	Timeout time.Duration
	Hooks   Hooks
	// File is the workspace-relative YAML file defining the task.
	File string
	// Queue is the queue a job of this task waits in ("" = none); a task
	// with `concurrency: N` has its private queue here.
	Queue string
}

// Step returns the step with the given name, or nil.
func (t *Task) Step(name string) *Step {
	for _, s := range t.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Step is one flow node (SPEC §3.4).
type Step struct {
	Name string
	// Action names the action; inline actions are "_inline:<task>:<step>".
	Action    string
	DependsOn []string
	// Input is the step input with compiled templates; Raw() for the API.
	Input             *tmpl.Value
	ContinueOnFailure bool
	// Timeout counted from the step start; 0 = none.
	Timeout     time.Duration
	DisplayName string
	Description string
	// When is the step's condition (nil = none): evaluated once its
	// dependencies are done; false skips the step (SPEC §5.3).
	When *tmpl.Template
	// Retry is the step's own retry policy (nil = its action's).
	Retry *Retry
	// ForEach makes the step a loop (nil = not a loop): {"for_each": v}
	// where v is a template rendering to a list or a literal list whose
	// strings are templates. Its instances see item and index.
	ForEach *tmpl.Value
	// MaxParallel bounds the loop's instances running at once (0 = no
	// bound; sequential: true is 1).
	MaxParallel int
}

// TemplateName is the step's name in template contexts ("-" → "_").
func TemplateName(step string) string {
	b := []byte(step)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Trigger starts jobs (SPEC §3.5).
type Trigger struct {
	Name    string
	Type    string // TriggerScheduler or TriggerWebhook
	Task    string
	Input   map[string]any
	Enabled bool

	// Scheduler fields.
	Cron        string
	Timezone    string // "" = UTC as written; Schedule has the location
	Schedule    *cron.Schedule
	Concurrency string // allow, skip, cancel_previous

	// Webhook fields.
	WebhookName string
	Secret      string
	Mode        string // async or sync
	TimeoutSecs int
}
