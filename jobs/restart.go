package jobs

// This file holds second chances for ended jobs (issue 13 §4): a re-run is a
// new job of the same task, by default on the same pinned revision and with
// the same input; a restart is a new job of a failed or cancelled one on the
// same revision and input in which a chosen step and everything downstream
// of it run again while the other completed steps are carried over with
// their output. Either new job is created whole in one store commit, then
// runs like any other.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"runnel/workspace"
)

// StepNotFoundError is a restart that named a step the job does not have
// (HTTP 400); Msg names the job's steps.
type StepNotFoundError struct{ Msg string }

func (e *StepNotFoundError) Error() string { return e.Msg }

// RerunRequest asks for a new job like an earlier one.
type RerunRequest struct {
	JobID string
	// Input replaces the source job's input when non-nil (defaults and
	// checks apply as for a new job).
	Input map[string]any
	// Current runs on the workspace's serving revision instead of the
	// source job's pinned one.
	Current bool
	// SourceType (default "api") and SourceID say who asked.
	SourceType string
	SourceID   string
}

// Rerun creates a new job of the source job's task, linked to it by RerunOf.
// Errors: ErrNotFound (no such job), *ConflictError (a hook job, a revision
// or task that can no longer be loaded, an input whose secrets were
// scrubbed), *InputError, or the store's. ctx is Trigger's.
func (e *Engine) Rerun(ctx context.Context, req RerunRequest) (*Job, error) {
	src, _, err := e.sourceJob(req.JobID)
	if err != nil {
		return nil, err
	}
	if err := secondChance(src); err != nil {
		return nil, err
	}
	input := req.Input
	if input == nil {
		if f := maskedField(src.Input, ""); f != "" {
			return nil, &ConflictError{Msg: fmt.Sprintf("Job %s's input '%s' held a secret, which is not kept after a job ends; give the input again", src.ID, f)}
		}
		input = copyMap(src.Input)
	}
	var snap *workspace.Snapshot
	if req.Current {
		if snap, err = e.defs.Current(src.Workspace); err != nil {
			return nil, &ConflictError{Msg: fmt.Sprintf("Workspace '%s' has no revision to run on: %v", src.Workspace, err)}
		}
	} else if snap, err = e.pinned(src, "re-run it on the newest revision with \"revision\": \"current\""); err != nil {
		return nil, err
	}
	if snap.Tasks[src.Task] == nil {
		return nil, &ConflictError{Msg: fmt.Sprintf("Task '%s' is not defined in revision %s of workspace '%s'", src.Task, snap.Revision, src.Workspace)}
	}
	return e.Trigger(ctx, TriggerRequest{
		Workspace: src.Workspace, Task: src.Task, Input: input,
		SourceType: req.SourceType, SourceID: req.SourceID,
		Lines: []string{fmt.Sprintf("Re-run of job %s (revision %s)", src.ID, src.Revision)},
		snap:  snap, rerunOf: src.ID, noHooks: src.NoHooks,
	})
}

// RestartRequest asks for a new job of a failed or cancelled one that runs
// FromStep and everything downstream of it again.
type RestartRequest struct {
	JobID    string
	FromStep string
	// SourceType (default "api") and SourceID say who asked.
	SourceType string
	SourceID   string
}

// RestartPlan says which steps of a restart run again and which are
// carried over, each in DAG order.
type RestartPlan struct {
	Run         []string `json:"run"`
	CarriedOver []string `json:"carried_over"`
}

// PlanRestart answers what Restart would do now, creating nothing. Errors
// as Restart's.
func (e *Engine) PlanRestart(req RestartRequest) (RestartPlan, error) {
	src, steps, err := e.sourceJob(req.JobID)
	if err != nil {
		return RestartPlan{}, err
	}
	plan, _, err := planRestart(src, steps, req.FromStep)
	if err != nil {
		return RestartPlan{}, err
	}
	if _, err := e.restartSnapshot(src, steps, plan); err != nil {
		return RestartPlan{}, err
	}
	return plan, nil
}

// Restart creates the new job, linked to the source by RestartOf, with the
// carried-over steps completed from the start, and dispatches what is
// ready, all in one commit. Errors: ErrNotFound (no such job),
// *StepNotFoundError, *ConflictError (the job completed or has not ended, a
// hook job, a revision that can no longer be loaded, a scrubbed secret the
// new job would need), or the store's. ctx bounds the wait to join a
// commit, as for Trigger.
func (e *Engine) Restart(ctx context.Context, req RestartRequest) (*Job, error) {
	src, steps, err := e.sourceJob(req.JobID)
	if err != nil {
		return nil, err
	}
	plan, _, err := planRestart(src, steps, req.FromStep)
	if err != nil {
		return nil, err
	}
	snap, err := e.restartSnapshot(src, steps, plan)
	if err != nil {
		return nil, err
	}
	task := snap.Tasks[src.Task]
	if req.SourceType == "" {
		req.SourceType = SourceAPI
	}
	id, created := newJobID()
	e.prepareLog(&Job{ID: id, Task: src.Task, Input: src.Input, SourceType: req.SourceType, SourceID: req.SourceID}, snap)
	var job *Job
	err = e.store.updateCtx(ctx, func(t *txn) error {
		// Decide again on the committed state: the plan stands or falls
		// with the commit that creates the job.
		src, err := t.getJob(req.JobID)
		if err != nil {
			return err
		}
		steps, err := t.getSteps(req.JobID)
		if err != nil {
			return err
		}
		_, run, err := planRestart(src, steps, req.FromStep)
		if err != nil {
			return err
		}
		now := time.Now()
		st, err := e.createJob(t, snap, jobSpec{
			id: id, created: created, task: task, taskName: task.Name, input: src.Input,
			sourceType: req.SourceType, sourceID: req.SourceID, noHooks: src.NoHooks,
			restartOf: src.ID, restartFrom: req.FromStep,
			lines: []string{fmt.Sprintf("Restart of job %s from step '%s'", src.ID, req.FromStep)},
		}, now)
		if err != nil {
			return err
		}
		old := make(map[string]*Step, len(steps))
		for _, s := range steps {
			old[s.Name] = s
		}
		byOrigin := map[string][]string{}
		for _, s := range st.steps {
			if o := old[s.Name]; o != nil && !run[s.Name] {
				origin, err := carryOver(st, s, o, src.ID, created)
				if err != nil {
					return err
				}
				byOrigin[origin] = append(byOrigin[origin], s.Name)
			}
		}
		origins := make([]string, 0, len(byOrigin))
		for o := range byOrigin {
			origins = append(origins, o)
		}
		sort.Strings(origins)
		for _, o := range origins {
			e.logLifecycle(t, id, now, "Steps carried over from job %s: %s", o, strings.Join(byOrigin[o], ", "))
		}
		job = st.job
		return e.advance(t, st, snap, now)
	})
	if err != nil {
		e.forgetLog(id)
		return nil, err
	}
	return job, nil
}

// carryOver completes a new job's step from the step of the job it
// restarts: its input, output, worker and child job stay, it is marked
// CarriedOver with the job it really ran in, and it never started in this
// job (StartedAt stays zero; CompletedAt is the new job's creation). It
// returns that origin job.
func carryOver(st *jobState, s, from *Step, srcID string, created time.Time) (string, error) {
	origin := srcID
	if from.CarriedOver && from.CarriedFrom != "" {
		origin = from.CarriedFrom
	}
	if err := st.moveStep(s, stepCarry, created, ""); err != nil {
		return "", err
	}
	s.Input = from.Input
	s.Rendered = true
	s.Output = from.Output
	s.WorkerID = from.WorkerID
	s.ChildJobID = from.ChildJobID
	s.CarriedOver = true
	s.CarriedFrom = origin
	st.touchStep(s)
	return origin, nil
}

// sourceJob reads a job and its steps.
func (e *Engine) sourceJob(id string) (*Job, []*Step, error) {
	var (
		j     *Job
		steps []*Step
	)
	err := e.store.view(func(t *txn) error {
		var err error
		if j, err = t.getJob(id); err != nil {
			return err
		}
		steps, err = t.getSteps(id)
		return err
	})
	return j, steps, err
}

// secondChance refuses jobs that cannot be re-run or restarted: hook jobs
// (their one step is made from a hook, not a task).
func secondChance(j *Job) error {
	if j.SourceType == SourceHook || j.HookEvent != "" {
		return &ConflictError{Msg: fmt.Sprintf("Job %s is a hook job; re-run or restart the job it reported on", j.ID)}
	}
	return nil
}

// planRestart decides a restart of j from step from: the step, every
// step that did not complete, and everything downstream of either run
// again; every other step completed and is carried over (so a carried step's
// dependencies are all carried too). It also returns the run set.
func planRestart(j *Job, steps []*Step, from string) (RestartPlan, map[string]bool, error) {
	if err := secondChance(j); err != nil {
		return RestartPlan{}, nil, err
	}
	switch {
	case j.Status == JobCompleted:
		return RestartPlan{}, nil, &ConflictError{Msg: fmt.Sprintf("Job %s completed; only a failed or cancelled job can be restarted (re-run it instead)", j.ID)}
	case j.Status != JobFailed && j.Status != JobCancelled:
		return RestartPlan{}, nil, &ConflictError{Msg: fmt.Sprintf("Job %s is %s; only a failed or cancelled job can be restarted", j.ID, j.Status)}
	case !j.Finalized:
		return RestartPlan{}, nil, &ConflictError{Msg: fmt.Sprintf("Job %s is still stopping; restart it once its steps have ended", j.ID)}
	}
	names := make([]string, 0, len(steps))
	found := false
	for _, s := range steps {
		names = append(names, s.Name)
		found = found || s.Name == from
	}
	if !found {
		return RestartPlan{}, nil, &StepNotFoundError{Msg: fmt.Sprintf("Job %s has no step '%s' (its steps: %s)", j.ID, from, strings.Join(names, ", "))}
	}
	run := map[string]bool{from: true}
	for _, s := range steps {
		if s.Status != StepCompleted {
			run[s.Name] = true
		}
	}
	// Steps are in DAG order: one pass marks everything downstream.
	for _, s := range steps {
		for _, d := range s.DependsOn {
			if run[d] {
				run[s.Name] = true
			}
		}
	}
	plan := RestartPlan{Run: []string{}, CarriedOver: []string{}}
	for _, s := range steps {
		if run[s.Name] {
			plan.Run = append(plan.Run, s.Name)
		} else {
			plan.CarriedOver = append(plan.CarriedOver, s.Name)
		}
	}
	return plan, run, nil
}

// restartSnapshot loads the source job's revision and checks that the new
// job has what it needs: the task, an unscrubbed input and carried-over
// outputs that still hold their values.
func (e *Engine) restartSnapshot(src *Job, steps []*Step, plan RestartPlan) (*workspace.Snapshot, error) {
	snap, err := e.pinned(src, "re-run it on the newest revision instead")
	if err != nil {
		return nil, err
	}
	if snap.Tasks[src.Task] == nil {
		return nil, &ConflictError{Msg: fmt.Sprintf("Task '%s' is not defined in revision %s of workspace '%s'", src.Task, src.Revision, src.Workspace)}
	}
	if f := maskedField(src.Input, ""); f != "" {
		return nil, &ConflictError{Msg: fmt.Sprintf("Job %s's input '%s' held a secret, which is not kept after a job ends; re-run it with the input instead", src.ID, f)}
	}
	carried := map[string]bool{}
	for _, n := range plan.CarriedOver {
		carried[n] = true
	}
	for _, s := range steps {
		if carried[s.Name] {
			if hasMask(s.Output) {
				return nil, &ConflictError{Msg: fmt.Sprintf("The output of step '%s' held a secret, which is not kept after a job ends; restart from '%s' or an earlier step", s.Name, s.Name)}
			}
		}
	}
	return snap, nil
}

// pinned loads a job's own revision; a revision that is no longer kept or
// no longer loads is a conflict whose message ends with hint.
func (e *Engine) pinned(j *Job, hint string) (*workspace.Snapshot, error) {
	snap, err := e.defs.Snapshot(j.Workspace, j.Revision)
	var gone *workspace.RevisionNotAvailableError
	switch {
	case err == nil:
		return snap, nil
	case errors.As(err, &gone):
		return nil, &ConflictError{Msg: fmt.Sprintf("Revision %s of workspace '%s' that job %s ran on is no longer kept; %s", j.Revision, j.Workspace, j.ID, hint)}
	case errors.Is(err, workspace.ErrNotFound):
		return nil, &ConflictError{Msg: fmt.Sprintf("Workspace '%s' of job %s is no longer configured", j.Workspace, j.ID)}
	}
	return nil, &ConflictError{Msg: fmt.Sprintf("Revision %s of workspace '%s' no longer loads (%v); %s", j.Revision, j.Workspace, err, hint)}
}

// maskedField returns the path of the first string in v that holds Mask
// (a secret scrubbed from a finalized job), "" when none does.
func maskedField(v any, path string) string {
	switch v := v.(type) {
	case string:
		if strings.Contains(v, Mask) {
			if path == "" {
				return "(value)"
			}
			return path
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if f := maskedField(v[k], p); f != "" {
				return f
			}
		}
	case []any:
		for i, x := range v {
			if f := maskedField(x, fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f
			}
		}
	}
	return ""
}

// hasMask reports whether any string in v holds Mask.
func hasMask(v any) bool { return maskedField(v, "") != "" }
