package workspace

// This file holds the cross-file checks of a load (SPEC §3.9): references
// between actions, tasks, hooks and triggers, required inputs, task-call
// cycles and webhook names.

import (
	"slices"
	"strings"
)

// check runs every check that needs the whole workspace.
func (l *loader) check() {
	// Task actions must name an existing task.
	for _, def := range l.actionList {
		l.checkTaskRef(def)
	}
	calls := map[string][]call{}
	for _, td := range l.taskList {
		for _, sd := range td.steps {
			var def *actionDef
			switch {
			case sd.inline != nil:
				def = sd.inline
				l.checkTaskRef(def)
			case sd.ref:
				def = l.actions[sd.s.Action]
				if def == nil {
					l.errorAt(sd.actionAt, "task '%s' step '%s' references non-existent action '%s'", td.t.Name, sd.s.Name, sd.s.Action)
					continue
				}
			default:
				continue
			}
			if def.broken {
				continue
			}
			label := "task '" + td.t.Name + "' step '" + sd.s.Name + "'"
			l.checkRequired(def, sd.inputKeys, label, sd.keyAt)
			if sd.retryAt != nil && def.a.Type == TypeTask {
				l.errorAt(*sd.retryAt, "%s: 'retry' is not supported on a type: task step (give the called task's steps a retry)", label)
			}
			if def.a.Type == TypeTask && l.tasks[def.a.Task] != nil {
				pos := sd.actionAt
				if sd.inline != nil {
					pos = def.taskAt
				}
				calls[td.t.Name] = append(calls[td.t.Name], call{to: def.a.Task, at: pos})
			}
		}
	}
	for _, hd := range l.hookList {
		def := l.actions[hd.action]
		if def == nil {
			l.errorAt(hd.actionAt, "%s references non-existent action '%s'", hd.label, hd.action)
			continue
		}
		if !def.broken {
			l.checkRequired(def, hd.inputKeys, hd.label, hd.keyAt)
		}
	}
	l.checkCalls(calls)
	l.checkTriggers()
}

// call is one task-to-task edge through a `type: task` step.
type call struct {
	to string
	at at
}

// checkTaskRef reports a task action naming a missing task.
func (l *loader) checkTaskRef(def *actionDef) {
	if def.broken || def.a.Type != TypeTask || def.a.Task == "" {
		return
	}
	if l.tasks[def.a.Task] == nil {
		l.errorAt(def.taskAt, "%s references non-existent task '%s'", def.owner, def.a.Task)
	}
}

// checkRequired reports required inputs missing from a step or hook input
// (keys nil = the input itself was invalid): the action's required fields
// without default and, for a task action, the called task's.
func (l *loader) checkRequired(def *actionDef, keys map[string]bool, label string, pos at) {
	if keys == nil {
		return
	}
	if def.fieldsOK {
		for _, f := range def.a.Input {
			if f.Required && !f.HasDefault && !keys[f.Name] {
				l.errorAt(pos, "%s: action '%s' requires input '%s'", label, def.a.Name, f.Name)
			}
		}
	}
	if def.a.Type != TypeTask {
		return
	}
	td := l.tasks[def.a.Task]
	if td == nil || !td.fieldsOK {
		return
	}
	for _, f := range td.t.Input {
		if !f.Required || f.HasDefault || keys[f.Name] {
			continue
		}
		if def.fieldsOK && slices.ContainsFunc(def.a.Input, func(af Field) bool { return af.Name == f.Name && af.HasDefault }) {
			continue
		}
		l.errorAt(pos, "%s: task '%s' requires input '%s'", label, td.t.Name, f.Name)
	}
}

// checkCalls reports cycles of task calls (self-calls included), one per
// strongly connected group, starting at its alphabetically first task.
func (l *loader) checkCalls(calls map[string][]call) {
	if len(calls) == 0 {
		return
	}
	names := make([]string, 0, len(l.tasks))
	for n := range l.tasks {
		names = append(names, n)
	}
	slices.Sort(names)
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	edges := make([][]int, len(names))
	for from, cs := range calls {
		for _, c := range cs {
			edges[index[from]] = append(edges[index[from]], index[c.to])
		}
	}
	for i := range edges {
		slices.Sort(edges[i])
	}
	for _, cyc := range findCycles(len(names), edges) {
		path := make([]string, len(cyc))
		for k, i := range cyc {
			path[k] = names[i]
		}
		pos := l.tasks[path[0]].keyAt
		for _, c := range calls[path[0]] {
			if c.to == path[1] {
				pos = c.at
				break
			}
		}
		l.errorAt(pos, "task calls form a cycle: %s", strings.Join(path, " -> "))
	}
}

// checkTriggers reports triggers naming missing tasks, trigger inputs that
// do not satisfy the task input, and webhook names used twice.
func (l *loader) checkTriggers() {
	hooks := map[string]*triggerDef{}
	for _, td := range l.triggerList {
		tr := td.tr
		if tr.WebhookName != "" {
			if first, dup := hooks[tr.WebhookName]; dup {
				l.errorAt(td.nameAt, "webhook name '%s' is used by triggers '%s' and '%s'", tr.WebhookName, first.tr.Name, tr.Name)
			} else {
				hooks[tr.WebhookName] = td
			}
		}
		if tr.Task == "" {
			continue
		}
		task := l.tasks[tr.Task]
		if task == nil {
			l.errorAt(td.taskAt, "trigger '%s' references non-existent task '%s'", tr.Name, tr.Task)
			continue
		}
		if !task.fieldsOK || !td.inputOK {
			continue
		}
		fields := task.t.Input
		if tr.Type == TriggerWebhook {
			// Webhook jobs also get body, headers, method and query,
			// which the trigger input never overrides.
			fields = slices.DeleteFunc(slices.Clone(fields), func(f Field) bool {
				switch f.Name {
				case "body", "headers", "method", "query":
					return true
				}
				return false
			})
		}
		if _, err := CheckInput(fields, tr.Input); err != nil {
			l.errorAt(td.inputAt, "trigger '%s' input: %v", tr.Name, err)
		}
	}
}
