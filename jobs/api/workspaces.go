package api

import "encoding/json"

// Workspace is an item of GET /api/workspaces. Revision is "" (null) while
// the workspace loads for the first time; Error is set while its newest
// attempt failed, and ErrorRevision then names that attempt (a pointer to
// "" sends null: unknown; nil omits the key).
type Workspace struct {
	Name          string          `json:"name"`
	TasksCount    int             `json:"tasks_count"`
	ActionsCount  int             `json:"actions_count"`
	TriggersCount int             `json:"triggers_count"`
	Revision      OptString       `json:"revision"`
	Error         string          `json:"error,omitempty"`
	ErrorRevision *OptString      `json:"error_revision,omitempty"`
	Source        WorkspaceSource `json:"source"`
	Commit        *Commit         `json:"commit"`
}

// WorkspaceSource is where a workspace comes from (runnel): a git remote
// (credentials stripped) and ref, or a folder.
type WorkspaceSource struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
}

// Commit describes a git revision (runnel).
type Commit struct {
	Hash    string `json:"hash"`
	Message string `json:"message"`
	Author  string `json:"author"`
	Time    Time   `json:"time"`
}

// RefreshResult is POST /api/workspaces/{ws}/refresh.
type RefreshResult struct {
	Workspace string `json:"workspace"`
	Revision  string `json:"revision"`
	Refreshed bool   `json:"refreshed"`
	Changed   bool   `json:"changed"`
}

// TaskItem is an item of GET /api/workspaces/{ws}/tasks.
type TaskItem struct {
	Name        string `json:"name"`
	Workspace   string `json:"workspace"`
	Mode        string `json:"mode"`
	Folder      string `json:"folder,omitempty"`
	HasTriggers bool   `json:"has_triggers"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Task is GET /api/workspaces/{ws}/tasks/{name}.
type Task struct {
	Name        string              `json:"name"`
	Mode        string              `json:"mode"`
	Folder      string              `json:"folder,omitempty"`
	DisplayName string              `json:"display_name,omitempty"`
	Description string              `json:"description,omitempty"`
	TimeoutSecs int64               `json:"timeout_secs,omitempty"`
	Input       map[string]Field    `json:"input"`
	Flow        map[string]FlowStep `json:"flow"`
	Triggers    []Trigger           `json:"triggers"`
}

// Field is a declared input field of a task; Default is meaningful only
// when HasDefault (a default may be JSON null).
type Field struct {
	Type        string          `json:"type"`
	Required    bool            `json:"required"`
	Default     json.RawMessage `json:"default,omitempty"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Secret      bool            `json:"secret,omitempty"`
}

// HasDefault reports whether the field declares a default.
func (f Field) HasDefault() bool { return len(f.Default) > 0 }

// FlowStep is a step of a task definition; Input is raw (templates
// unrendered); inline actions are named "_inline:<task>:<step>".
type FlowStep struct {
	Action            string   `json:"action"`
	DependsOn         []string `json:"depends_on"`
	Input             any      `json:"input"`
	ContinueOnFailure bool     `json:"continue_on_failure"`
	Name              string   `json:"name,omitempty"`
	Description       string   `json:"description,omitempty"`
	TimeoutSecs       int64    `json:"timeout_secs,omitempty"`
}

// Trigger is a TriggerInfo (SPEC §11.4). NextRuns are in the trigger's
// zone, layout NextRunLayout; empty for webhooks.
type Trigger struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Cron        string         `json:"cron,omitempty"`
	Task        string         `json:"task"`
	Enabled     bool           `json:"enabled"`
	Input       map[string]any `json:"input"`
	NextRuns    []string       `json:"next_runs"`
	Timezone    string         `json:"timezone,omitempty"`
	Concurrency string         `json:"concurrency,omitempty"`
	Path        string         `json:"path,omitempty"`
	Mode        string         `json:"mode,omitempty"`
}

// NextRunLayout is the layout of Trigger.NextRuns.
const NextRunLayout = "2006-01-02T15:04:05-07:00"
