package httpd

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"runnel/httpd/accounts"
	"runnel/jobs"
	"runnel/jobs/api"
	"runnel/jobs/audit"
	"runnel/workspace"
	"runnel/workspace/cron"
)

// This file is the one place where engine and workspace records become
// the wire types of jobs/api (the inverse, request bodies into engine
// calls, is each handler's). Nullable values are api.OptString and
// api.Time: "" and the zero time are sent as null.

func wireJobItem(j *jobs.Job) api.JobItem {
	return api.JobItem{
		JobID: j.ID, Workspace: j.Workspace, TaskName: j.Task, Mode: j.Mode, Status: j.Status,
		SourceType: j.SourceType, SourceID: api.OptString(j.SourceID), WorkerID: api.OptString(j.WorkerID),
		CreatedAt: api.At(j.CreatedAt), StartedAt: api.At(j.StartedAt), CompletedAt: api.At(j.CompletedAt),
		Revision: j.Revision, HookEvent: api.OptString(j.HookEvent), ParentJobID: api.OptString(j.ParentJobID),
		ParentStepName: api.OptString(j.ParentStepName),
		RerunOf:        api.OptString(j.RerunOf), RestartOf: api.OptString(j.RestartOf), RestartFrom: api.OptString(j.RestartFrom),
		Queue: api.OptString(j.Queue), QueuePosition: queuePosition(j.QueuePosition),
	}
}

// queuePosition is a 1-based queue position, null when not waiting (0).
func queuePosition(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

func wireJob(j *jobs.Job) api.Job {
	v := api.Job{
		JobID: j.ID, Workspace: j.Workspace, TaskName: j.Task, Mode: j.Mode, Input: j.Input,
		Output: j.Output, Status: j.Status, SourceType: j.SourceType, SourceID: api.OptString(j.SourceID),
		WorkerID: api.OptString(j.WorkerID), CreatedAt: api.At(j.CreatedAt), StartedAt: api.At(j.StartedAt),
		CompletedAt: api.At(j.CompletedAt), Steps: make([]api.Step, 0, len(j.Steps)), Revision: j.Revision,
		HookEvent: api.OptString(j.HookEvent), ParentJobID: api.OptString(j.ParentJobID),
		ParentStepName: api.OptString(j.ParentStepName),
		RerunOf:        api.OptString(j.RerunOf), RestartOf: api.OptString(j.RestartOf), RestartFrom: api.OptString(j.RestartFrom),
		Queue: api.OptString(j.Queue), QueuePosition: queuePosition(j.QueuePosition),
	}
	if v.Input == nil {
		v.Input = map[string]any{}
	}
	for _, s := range j.Steps {
		v.Steps = append(v.Steps, wireStep(s))
	}
	return v
}

func wireStep(s *jobs.Step) api.Step {
	deps := s.DependsOn
	if deps == nil {
		deps = []string{}
	}
	v := api.Step{
		StepName: s.Name, ActionName: s.Action, ActionType: s.ActionType, Runner: s.Runner,
		Input: s.Input, Output: s.Output, Status: s.Status, WorkerID: api.OptString(s.WorkerID),
		DependsOn: deps, StartedAt: api.At(s.StartedAt), CompletedAt: api.At(s.CompletedAt),
		ErrorMessage: api.OptString(s.ErrorMessage), SkipReason: api.OptString(s.SkipReason),
		ChildJobID: api.OptString(s.ChildJobID), CarriedOver: s.CarriedOver, CarriedFrom: api.OptString(s.CarriedFrom),
		Approval: wireApproval(s.Approval),
		Attempt:  s.Attempt, MaxAttempts: 1, RetryAt: api.At(s.RetryAt), Attempts: wireAttempts(s),
		Queue: api.OptString(s.Queue), QueuePosition: queuePosition(s.QueuePosition),
	}
	if s.Retry != nil {
		v.MaxAttempts = s.Retry.Attempts
	}
	return v
}

// wireAttempts returns a step's finished attempts (never nil).
func wireAttempts(s *jobs.Step) []api.Attempt {
	out := make([]api.Attempt, 0, len(s.Attempts))
	for _, a := range s.Attempts {
		out = append(out, api.Attempt{Attempt: a.Attempt, ExitCode: a.ExitCode,
			ErrorMessage: api.OptString(a.ErrorMessage), StartedAt: api.At(a.StartedAt),
			CompletedAt: api.At(a.CompletedAt), WorkerID: api.OptString(a.WorkerID)})
	}
	return out
}

// wireStepEvent is a step change as an event; msg is its error message,
// masked by the caller.
func wireStepEvent(jobID string, s *jobs.Step, msg string) api.StepEvent {
	return api.StepEvent{JobID: jobID, StepName: s.Name, Status: s.Status,
		StartedAt: api.At(s.StartedAt), CompletedAt: api.At(s.CompletedAt),
		WorkerID: api.OptString(s.WorkerID), ErrorMessage: api.OptString(msg),
		SkipReason: api.OptString(s.SkipReason), ChildJobID: api.OptString(s.ChildJobID)}
}

func wireWorker(wk *jobs.Worker) api.Worker {
	tags := wk.Tags
	if tags == nil {
		tags = []string{}
	}
	return api.Worker{WorkerID: wk.ID, Name: wk.Name, Status: wk.Status, Tags: tags,
		LastHeartbeat: api.At(wk.LastHeartbeat), RegisteredAt: api.At(wk.RegisteredAt),
		Version: api.OptString(wk.Version), Builtin: wk.Builtin}
}

func wireUser(u *accounts.User) api.User {
	methods := u.AuthMethods
	if methods == nil {
		methods = []string{}
	}
	return api.User{UserID: u.ID, Name: u.Name, Email: u.Email, AuthMethods: methods,
		CreatedAt: api.At(u.CreatedAt), LastLoginAt: api.At(u.LastLoginAt), IsAdmin: u.IsAdmin}
}

func wireMe(u *accounts.User) api.Me {
	return api.Me{UserID: u.ID, Name: u.Name, Email: u.Email, CreatedAt: api.At(u.CreatedAt), IsAdmin: u.IsAdmin}
}

func wireAPIKey(k *accounts.APIKey) api.APIKey {
	return api.APIKey{Prefix: k.Prefix, Name: k.Name, CreatedAt: api.At(k.CreatedAt),
		ExpiresAt: api.At(k.ExpiresAt), LastUsedAt: api.At(k.LastUsedAt)}
}

func wireAuditEntry(e audit.Entry) api.AuditEntry {
	d := e.Detail
	if d == nil {
		d = map[string]any{}
	}
	return api.AuditEntry{ID: e.ID, Actor: e.Actor, ActorType: e.ActorType, Address: e.Address,
		Action: e.Action, Target: e.Target, Status: e.Status, Detail: d, Time: api.At(e.Time)}
}

func wireWorkspace(st workspace.Status, src workspace.Source) api.Workspace {
	v := api.Workspace{Name: st.Name, Source: api.WorkspaceSource{Type: src.Kind}}
	if src.Kind == workspace.KindGit {
		v.Source.URL, v.Source.Ref = publicURL(src.URL), src.Ref
	} else {
		v.Source.Path = src.Path
	}
	if snap := st.Snapshot; snap != nil {
		v.TasksCount = len(snap.Tasks)
		for name := range snap.Actions {
			if !strings.HasPrefix(name, workspace.InlinePrefix) {
				v.ActionsCount++
			}
		}
		v.TriggersCount = len(snap.Triggers)
		v.Revision = api.OptString(snap.Revision)
		v.Commit = wireCommit(snap.Commit)
	}
	if st.Error != "" {
		v.Error = st.Error
		rev := api.OptString(st.ErrorRevision)
		v.ErrorRevision = &rev
	}
	return v
}

// publicURL removes credentials from a git URL: all user info of http(s)
// URLs (a token often sits in the user name), the password of others.
// scp-like "user@host:path" addresses carry no password and stay as is.
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User == nil {
		return raw
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		u.User = nil
	} else {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

func wireCommit(c *workspace.Commit) *api.Commit {
	if c == nil {
		return nil
	}
	return &api.Commit{Hash: c.Hash, Message: c.Message, Author: c.Author, Time: api.At(c.Time)}
}

func wireTaskItem(ws string, t *workspace.Task, triggered bool) api.TaskItem {
	return api.TaskItem{Name: t.Name, Workspace: ws, Mode: t.Mode, Folder: t.Folder,
		HasTriggers: triggered, DisplayName: t.DisplayName, Description: t.Description}
}

// wireTask is a task's definition with its triggers (already wired).
func wireTask(t *workspace.Task, triggers []api.Trigger) (api.Task, error) {
	v := api.Task{Name: t.Name, Mode: t.Mode, Folder: t.Folder, DisplayName: t.DisplayName,
		Description: t.Description, TimeoutSecs: int64(t.Timeout / time.Second),
		Input: map[string]api.Field{}, Flow: map[string]api.FlowStep{}, Triggers: triggers}
	for _, f := range t.Input {
		def, err := wireDefault(f)
		if err != nil {
			return api.Task{}, err
		}
		v.Input[f.Name] = api.Field{Type: f.Type, Required: f.Required, Default: def,
			Name: f.DisplayName, Description: f.Description, Secret: f.Secret}
	}
	for _, st := range t.Steps {
		var in any = map[string]any{}
		if st.Input != nil && st.Input.Raw() != nil {
			in = st.Input.Raw()
		}
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		v.Flow[st.Name] = api.FlowStep{Action: st.Action, DependsOn: deps, Input: in,
			ContinueOnFailure: st.ContinueOnFailure, Name: st.DisplayName, Description: st.Description,
			TimeoutSecs: int64(st.Timeout / time.Second)}
	}
	return v, nil
}

// wireDefault is a field's default as JSON (null for a nil default), nil
// without one; HTML characters stay as they are, as in every answer.
func wireDefault(f workspace.Field) (json.RawMessage, error) {
	if !f.HasDefault {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f.Default); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wireTrigger is a trigger with its next runs (scheduler triggers only).
func wireTrigger(tr *workspace.Trigger, next []time.Time) api.Trigger {
	v := api.Trigger{Name: tr.Name, Type: tr.Type, Task: tr.Task, Enabled: tr.Enabled,
		Input: tr.Input, NextRuns: []string{}}
	if v.Input == nil {
		v.Input = map[string]any{}
	}
	switch tr.Type {
	case workspace.TriggerScheduler:
		v.Cron, v.Timezone, v.Concurrency = tr.Cron, tr.Timezone, tr.Concurrency
		if v.Timezone == "" {
			v.Timezone = "UTC"
		}
		for _, t := range next {
			v.NextRuns = append(v.NextRuns, cron.FormatRun(t))
		}
	case workspace.TriggerWebhook:
		v.Path = "/hooks/" + tr.WebhookName
		v.Mode = tr.Mode
	}
	return v
}

func wireApproval(ap *jobs.StepApproval) *api.Approval {
	if ap == nil {
		return nil
	}
	v := &api.Approval{Message: ap.Message, Fields: make([]api.ApprovalField, 0, len(ap.Fields)),
		Approvers: ap.Approvers, Deadline: api.At(ap.Deadline), OnTimeout: ap.OnTimeout,
		Decision: api.OptString(ap.Decision), By: api.OptString(ap.By), At: api.At(ap.At),
		Comment: api.OptString(ap.Comment)}
	if v.Approvers == nil {
		v.Approvers = []string{}
	}
	if ap.Timeout > 0 {
		secs := ap.Timeout.Seconds()
		v.TimeoutSecs = &secs
	}
	for _, f := range ap.Fields {
		var def any
		if f.HasDefault {
			def = f.Default
		}
		v.Fields = append(v.Fields, api.ApprovalField{Name: f.Name, Type: f.Type, Required: f.Required,
			Default: def, DisplayName: f.DisplayName, Description: f.Description})
	}
	return v
}
