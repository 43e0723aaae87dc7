package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"runnel/jobs/api"
	"runnel/workspace"
)

// Hook events.
const (
	EventSuccess = "on_success"
	EventError   = "on_error"
	EventCancel  = "on_cancel"
)

// hookList selects a finished job's hooks (SPEC §8.1): the task's list for
// the event, else the workspace's list for top-level jobs.
func hookList(j *Job, snap *workspace.Snapshot) (string, []workspace.Hook) {
	var event string
	pick := func(h workspace.Hooks) []workspace.Hook {
		switch event {
		case EventSuccess:
			return h.OnSuccess
		case EventError:
			return h.OnError
		default:
			return h.OnCancel
		}
	}
	switch j.Status {
	case JobCompleted:
		event = EventSuccess
	case JobFailed:
		event = EventError
	case JobCancelled:
		event = EventCancel
	default:
		return "", nil
	}
	if task := snap.Tasks[j.Task]; task != nil {
		if list := pick(task.Hooks); len(list) > 0 {
			return event, list
		}
	}
	switch j.SourceType {
	case SourceAPI, SourceUser, SourceTrigger, SourceWebhook:
		return event, pick(snap.Hooks)
	}
	return event, nil
}

// hookContext is the `hook` template value of SPEC §8.2.
func hookContext(st *jobState, event string) map[string]any {
	j := st.job
	var failed []any
	var msgs []string
	for _, s := range st.steps {
		if s.Status != StepFailed {
			continue
		}
		failed = append(failed, map[string]any{
			"step_name": s.Name, "action_name": s.Action,
			"error_message": s.ErrorMessage, "continue_on_failure": s.ContinueOnFailure,
		})
		msgs = append(msgs, fmt.Sprintf("Step '%s': %s", s.Name, s.ErrorMessage))
	}
	if failed == nil {
		failed = []any{}
	}
	ctx := map[string]any{
		"workspace": j.Workspace, "task_name": j.Task, "job_id": j.ID, "status": j.Status,
		"is_success": j.Status == JobCompleted, "error_message": nil,
		"source_type": j.SourceType, "source_id": nilIfEmpty(j.SourceID),
		"started_at": apiTime(j.StartedAt), "completed_at": apiTime(j.CompletedAt),
		"duration_secs": nil, "failed_steps": failed, "event": event,
		"revision": j.Revision, "output": j.Output,
	}
	if len(msgs) > 0 {
		ctx["error_message"] = strings.Join(msgs, "; ")
	}
	if !j.StartedAt.IsZero() && !j.CompletedAt.IsZero() {
		ctx["duration_secs"] = j.CompletedAt.Sub(j.StartedAt).Seconds()
	}
	return ctx
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// APITimeLayout is the API's time layout: RFC 3339 UTC with milliseconds.
const APITimeLayout = api.TimeLayout

// apiTime formats t for templates and the API; zero is nil.
func apiTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(APITimeLayout)
}

// fireHooks creates the hook jobs of a finalized job in the same
// transaction, so each fires exactly once (SPEC §5.9, §8).
func (e *Engine) fireHooks(t *txn, st *jobState, snap *workspace.Snapshot, now time.Time) error {
	event, list := hookList(st.job, snap)
	if len(list) == 0 {
		return nil
	}
	hctx := map[string]any{"hook": hookContext(st, event), "secret": secrets(snap)}
	for i, h := range list {
		fail := func(err error) {
			e.logProblem(t, st.job.ID, now, "[hooks] Failed to fire hook %s[%d] for action '%s': %s", event, i, h.Action, err)
		}
		in := map[string]any{}
		if h.Input != nil {
			// Rendered outside the transaction (render.go); until then the
			// update creates nothing that is kept.
			input := h.Input
			r, ok := t.rendered(renderKey("hook", st.job.ID, event, strconv.Itoa(i)), hctx, func() renderResult {
				v, err := input.Render(hctx)
				if err != nil {
					return renderResult{msg: templateError("hook input", err)}
				}
				return renderResult{val: v}
			})
			if !ok {
				continue
			}
			if r.msg != "" {
				fail(errors.New(r.msg))
				continue
			}
			if m, ok := r.val.(map[string]any); ok {
				in = copyMap(m)
			}
		}
		a := snap.Actions[h.Action]
		if a == nil {
			fail(fmt.Errorf("action is not defined in revision %s", snap.Revision))
			continue
		}
		id, created := t.newJobID(renderKey("hook", st.job.ID, event, strconv.Itoa(i)))
		spec := jobSpec{id: id, created: created, sourceType: SourceHook, sourceID: st.job.ID, hookEvent: event, noHooks: true}
		if a.Type == workspace.TypeTask {
			task := snap.Tasks[a.Task]
			if task == nil {
				fail(fmt.Errorf("task '%s' is not defined", a.Task))
				continue
			}
			checked, err := workspace.CheckInput(task.Input, in)
			if err != nil {
				fail(fmt.Errorf("Input validation failed: %s", err))
				continue
			}
			spec.task, spec.taskName, spec.input = task, task.Name, checked
		} else {
			step := &Step{Name: "hook", Action: h.Action, Status: StepPending, DependsOn: []string{},
				Input: withDefaults(copyMap(in), a.Input), Rendered: true}
			setAction(step, a)
			spec.taskName, spec.input, spec.steps = "_hook:"+h.Action, in, []*Step{step}
		}
		hj, err := e.createJob(t, snap, spec, now)
		if err != nil {
			return err
		}
		if err := e.advance(t, hj, snap, now); err != nil {
			return err
		}
	}
	return nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// reportHookFailure writes a failed hook job's outcome on the original job.
func (e *Engine) reportHookFailure(t *txn, st *jobState, now time.Time) {
	msg := ""
	for _, s := range st.steps {
		if s.Status == StepFailed {
			msg = firstLine(s.ErrorMessage)
			break
		}
	}
	orig := st.job.SourceID
	e.logProblem(t, orig, now, "[hooks] Hook '%s' failed: %s", st.job.Task, msg)
	// The original job's log was finished already: close it again.
	t.after(func() { e.finishLog(orig) })
}
