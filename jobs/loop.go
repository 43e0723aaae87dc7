package jobs

// This file holds for_each loops (issue 13). A loop step waits like any
// step; when it would be dispatched, its list is rendered (outside the
// store's write transaction, render.go) and, in the same commit, one
// instance step per item is created (`name[0]`, `name[1]`, …, event
// stepInstance) and the loop step moves to running (stepExpand). Instances
// are steps of the job like any other: queued, claimed by local or remote
// workers, logged, recovered; their input is rendered at their dispatch
// with item and index in scope. plan (state.go) makes them ready in index
// order while fewer than the loop's max_parallel run, and ends the loop
// once they have all ended (loopEnd). A list that is not a list, or longer
// than workspace.MaxLoopItems, fails the loop step before any instance
// exists.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"runnel/workspace"
	"runnel/workspace/tmpl"
)

// loopPlan is what plan knows about a job's loops.
type loopPlan struct {
	// steps are the loop steps, in DAG order.
	steps []*Step
	// instances holds each loop's instances in index order.
	instances map[string][]*Step
	// active counts each loop's instances ready, running or being
	// dispatched in this plan.
	active map[string]int
	limit  map[string]int
	// output holds the outputs of loops this plan completes.
	output map[string]any
}

func newLoopPlan(steps []*Step) *loopPlan {
	lp := &loopPlan{}
	for _, s := range steps {
		switch {
		case s.ForEach != "":
			lp.steps = append(lp.steps, s)
			if lp.limit == nil {
				lp.instances, lp.active, lp.limit = map[string][]*Step{}, map[string]int{}, map[string]int{}
			}
			lp.limit[s.Name] = s.MaxParallel
		case s.Loop != "":
			if lp.instances == nil {
				lp.instances, lp.active, lp.limit = map[string][]*Step{}, map[string]int{}, map[string]int{}
			}
			lp.instances[s.Loop] = append(lp.instances[s.Loop], s)
			if s.Status == StepReady || s.Status == StepRunning {
				lp.active[s.Loop]++
			}
		}
	}
	return lp
}

// outputOf is a step's output, or the one this plan gives a loop it ends.
func (lp *loopPlan) outputOf(s *Step) any {
	if out, ok := lp.output[s.Name]; ok {
		return out
	}
	return s.Output
}

// mayStart reports whether a pending instance may become ready: its loop
// runs (it is not stopped) and has room under its max_parallel.
func (lp *loopPlan) mayStart(s *Step, cur map[string]string) bool {
	if cur[s.Loop] != StepRunning {
		return false
	}
	limit := lp.limit[s.Loop]
	return limit == 0 || lp.active[s.Loop] < limit
}

// loopEnd decides how a running loop step ends once all its instances
// (insts, in index order) have ended in cur: ok is false while one has not.
func loopEnd(j *Job, l *Step, insts []*Step, cur map[string]string) (stepMove, bool) {
	var notDone []string
	for _, in := range insts {
		switch cur[in.Name] {
		case StepCompleted:
		case StepFailed, StepCancelled, StepSkipped:
			notDone = append(notDone, in.Name)
		default:
			return stepMove{}, false
		}
	}
	if ev, msg, stopped := stoppedEnd(j); stopped {
		return stepMove{step: l, ev: ev, reason: msg}, true
	}
	if len(notDone) > 0 && !l.ContinueOnFailure {
		return stepMove{step: l, ev: stepFail, reason: loopFailure(notDone, len(insts))}, true
	}
	out := make([]any, len(insts))
	for i, in := range insts {
		if cur[in.Name] == StepCompleted {
			out[i] = in.Output
		}
	}
	return stepMove{step: l, ev: stepComplete, output: out}, true
}

// loopFailure is the error message of a loop whose instances failed:
// "2 of 5 instances failed: deploy[1], deploy[3]" (at most 5 named).
func loopFailure(names []string, of int) string {
	shown := names
	if len(shown) > 5 {
		shown = append(slices.Clone(shown[:5]), "…")
	}
	noun := "instances"
	if of == 1 {
		noun = "instance"
	}
	return fmt.Sprintf("%d of %d %s failed: %s", len(names), of, noun, strings.Join(shown, ", "))
}

// instanceName names item i of loop step name: "name[i]" (SPEC §10.3).
func instanceName(name string, i int) string { return fmt.Sprintf("%s[%d]", name, i) }

// flowName is the flow step a step record runs: its loop's for an instance.
func flowName(s *Step) string {
	if s.Loop != "" {
		return s.Loop
	}
	return s.Name
}

// withLoopVars adds an instance's item and index to a step input context.
func withLoopVars(ctx map[string]any, s *Step) map[string]any {
	if s.Loop != "" {
		ctx[workspace.LoopVars[0]], ctx[workspace.LoopVars[1]] = s.Item, s.Index
	}
	return ctx
}

// forEachSource is a loop's for_each as the step record keeps it: the
// template text, or a literal list as JSON.
func forEachSource(v *tmpl.Value) string {
	raw, _ := v.Raw().(map[string]any)
	if s, ok := raw[workspace.ForEachKey].(string); ok {
		return s
	}
	b, err := json.Marshal(raw[workspace.ForEachKey])
	if err != nil {
		return "[…]"
	}
	return string(b)
}

// stepBefore orders step records: by DAG order, a loop's instances right
// after it in index order.
func stepBefore(a, b *Step) bool {
	if a.Order != b.Order {
		return a.Order < b.Order
	}
	if (a.Loop == "") != (b.Loop == "") {
		return a.Loop == ""
	}
	return a.Index < b.Index
}

// expand turns a loop step that plan found ready into its instances: the
// list is rendered outside the transaction (until then the step stays
// pending), then the instances are created and the loop step runs, all in
// this update's one commit. A render error, a non-list or a list over the
// cap fails the step.
func (e *Engine) expand(t *txn, st *jobState, s *Step, snap *workspace.Snapshot, now time.Time) error {
	var list *tmpl.Value
	if task := snap.Tasks[st.job.Task]; task != nil {
		if fs := task.Step(s.Name); fs != nil {
			list = fs.ForEach
		}
	}
	ctx := stepContext(st, snap)
	r, ok := t.rendered(renderKey("loop", st.job.ID, s.Name), ctx, func() renderResult {
		return renderList(list, ctx)
	})
	if !ok {
		return nil
	}
	if r.msg != "" {
		if strings.HasPrefix(r.msg, "Template error") {
			e.logProblem(t, st.job.ID, now, "[template] Step '%s': %s", s.Name, r.msg)
		}
		return e.rejectStep(t, st, s, now, r.msg)
	}
	items, _ := r.val.([]any)
	insts := make([]*Step, len(items))
	for i, item := range items {
		insts[i] = &Step{
			Name: instanceName(s.Name, i), Action: s.Action, ActionType: s.ActionType, Runner: s.Runner,
			Input: s.Input, DependsOn: []string{}, Order: s.Order, ContinueOnFailure: s.ContinueOnFailure,
			Timeout: s.Timeout, Tags: s.Tags, Loop: s.Name, Index: i, Item: item,
		}
	}
	st.insertAfter(s, insts)
	for _, in := range insts {
		if err := st.moveStep(in, stepInstance, now, ""); err != nil {
			return err
		}
	}
	if err := st.moveStep(s, stepExpand, now, ""); err != nil {
		return err
	}
	s.Instances = len(insts)
	bound := ""
	if s.MaxParallel > 0 {
		bound = fmt.Sprintf(", at most %d at a time", s.MaxParallel)
	}
	e.logLifecycle(t, st.job.ID, now, "Step '%s' loops over %d items%s", s.Name, len(items), bound)
	return nil
}

// countInstance keeps an instance's loop counters as the instance moves
// from its current status to to (the loop record is in st: full states hold
// every step, and completeInstance reads it).
func (st *jobState) countInstance(s *Step, to string) {
	l := st.byName[s.Loop]
	if l == nil {
		return
	}
	if s.Status == StepPending {
		l.Started++
	}
	if StepTerminal(to) {
		l.Ended++
	}
	st.touchStep(l)
}

// completeInstance records a loop instance's report from the instance's and
// its loop's records alone when nothing else can follow from it: the job
// runs, and the loop has other instances still running and none waiting for
// a slot (so plan would move nothing). Reading the whole job for each
// instance would cost every instance its loop's size. done is false when
// the caller must take the normal path (which also words every refusal).
func (e *Engine) completeInstance(t *txn, jobID, step, workerID string, res StepResult) (done bool, err error) {
	st, s, err := t.loadStep(jobID, step, true)
	if err != nil || s == nil || s.Loop == "" || s.Status != StepRunning || JobTerminal(st.job.Status) ||
		(workerID != "" && s.WorkerID != workerID) {
		return false, nil
	}
	k, _ := idKey(jobID)
	raw := t.Bucket(bucketSteps).Get(append(k, s.Loop...))
	l := new(Step)
	if raw == nil || json.Unmarshal(raw, l) != nil || l.Status != StepRunning ||
		l.Ended+1 >= l.Instances || (l.MaxParallel > 0 && l.Started < l.Instances) {
		return false, nil
	}
	st.steps = append(st.steps, l)
	st.byName[l.Name], st.origSteps[l.Name] = l, l.Status
	now := time.Now()
	ev, msg := stepComplete, ""
	if res.Error == "" {
		s.Output = res.Output
	} else {
		if res.TimedOut {
			e.logProblem(t, jobID, now, "%s", stepTimeoutMessage(s.Name, s.Timeout))
		}
		ev, msg = stepFail, res.Error
	}
	if err := e.endStep(t, st, s, ev, now, msg); err != nil {
		return true, err
	}
	t.keep(st)
	return true, nil
}

// insertAfter adds new step records right after s (in DAG order).
func (st *jobState) insertAfter(s *Step, steps []*Step) {
	i := slices.Index(st.steps, s) + 1
	st.steps = slices.Insert(st.steps, i, steps...)
	for _, x := range steps {
		st.byName[x.Name] = x
	}
}

// renderList renders a loop's list (outside any transaction): a list of
// at most workspace.MaxLoopItems items, or msg.
func renderList(list *tmpl.Value, ctx map[string]any) renderResult {
	if list == nil {
		return renderResult{msg: "Template error in for_each: the list is not defined in the job's revision"}
	}
	v, err := list.Render(ctx)
	if err != nil {
		var pe *tmpl.PathError
		if errors.As(err, &pe) {
			return renderResult{msg: fmt.Sprintf("Template error in %s: %s", pe.Path, pe.Err.Error())}
		}
		return renderResult{msg: "Template error in for_each: " + err.Error()}
	}
	m, _ := v.(map[string]any)
	items, isList := m[workspace.ForEachKey].([]any)
	switch {
	case !isList:
		return renderResult{msg: "for_each must be a list; it rendered " + describeValue(m[workspace.ForEachKey])}
	case len(items) > workspace.MaxLoopItems:
		return renderResult{msg: fmt.Sprintf("for_each has %d items; at most %d are allowed", len(items), workspace.MaxLoopItems)}
	}
	return renderResult{val: items}
}

// describeValue words a value that should have been a list, shortened.
func describeValue(v any) string {
	kind := "a string"
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		kind = "an object"
	case bool:
		kind = "a boolean"
	case float64, int, int64:
		kind = "a number"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:77], "") + "…"
	}
	return kind + ": " + s
}
