package workspace

// This file reads queues (issue 13 item 6): the top-level `queues:` map,
// the `queue:` of tasks and actions, a task's `concurrency:` shorthand for
// a private queue, and the checks that every named queue is declared and
// that nothing waits for a second slot of a queue it already holds.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Queue limits how many jobs or steps naming it run at once in a
// workspace; the others wait, in arrival order.
type Queue struct {
	Name string
	// MaxConcurrent is the number of slots, ≥ 1.
	MaxConcurrent int
	// Private marks the queue of a task's `concurrency:`.
	Private bool
}

// PrivateQueue is the name of the private queue of a task with
// `concurrency:` ("_task:<task>"; '_' and ':' never start or appear in a
// declared queue name, so it cannot clash).
func PrivateQueue(task string) string { return "_task:" + task }

// queueDef is a declared queue with its position.
type queueDef struct {
	q     *Queue
	keyAt at
}

// queueRef is one use of a queue name.
type queueRef struct {
	owner, name string
	at          at
}

// queueKeys are a queue declaration's keys.
var queueKeys = []string{"max_concurrent"}

// queue reads one entry of `queues:`.
func (l *loader) queue(d *yamlDoc, e entry) {
	l.checkName("queue", e)
	owner := fmt.Sprintf("queue '%s'", e.key)
	q := &Queue{Name: e.key}
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s must be a mapping such as {max_concurrent: 1}", owner)
	}
	for _, x := range es {
		if x.key != "max_concurrent" {
			l.errorAt(x.keyAt, "unknown field %q in %s%s", x.key, owner, didYouMean(x.key, queueKeys))
			continue
		}
		q.MaxConcurrent = l.positiveInt(d, x.val, owner+" max_concurrent")
	}
	if isMap && q.MaxConcurrent == 0 && !slices.ContainsFunc(es, func(x entry) bool { return x.key == "max_concurrent" }) {
		l.errorAt(e.keyAt, "%s has no 'max_concurrent'", owner)
	}
	if prev, dup := l.queues[e.key]; dup {
		l.definedTwice("queue", e.key, prev.keyAt.file, e)
		return
	}
	l.queues[e.key] = &queueDef{q: q, keyAt: e.keyAt}
	l.snap.Queues[e.key] = q
}

// positiveInt reads an integer ≥ 1; 0 after a reported problem.
func (l *loader) positiveInt(d *yamlDoc, n ast.Node, what string) int {
	if _, isInt := d.resolve(n).(*ast.IntegerNode); isInt {
		s, _ := d.scalarText(n)
		if v, err := strconv.ParseInt(s, 0, 32); err == nil && v >= 1 {
			return int(v)
		}
	}
	s, _ := d.scalarText(n)
	d.errorf(n, "%s must be an integer of at least 1 (got '%s')", what, s)
	return 0
}

// taskQueue reads a task's `queue` or `concurrency`.
func (l *loader) taskQueue(d *yamlDoc, td *taskDef, x entry) {
	owner := fmt.Sprintf("task '%s'", td.t.Name)
	if td.t.Queue != "" || td.concurrency > 0 {
		l.errorAt(x.keyAt, "%s has both 'queue' and 'concurrency' (concurrency: N is a private queue of the task)", owner)
		return
	}
	td.queueAt = d.at(x.val)
	if x.key == "concurrency" {
		td.concurrency = l.positiveInt(d, x.val, owner+" concurrency")
		if td.concurrency > 0 {
			td.t.Queue = PrivateQueue(td.t.Name)
		}
		return
	}
	name, ok := l.text(d, x.val, owner+": 'queue'")
	if ok {
		td.t.Queue = name
		l.queueRefs = append(l.queueRefs, queueRef{owner: owner, name: name, at: td.queueAt})
	}
}

// privateQueue declares the private queue of a task with `concurrency:`.
func (l *loader) privateQueue(td *taskDef) {
	if td.concurrency > 0 {
		name := PrivateQueue(td.t.Name)
		l.snap.Queues[name] = &Queue{Name: name, MaxConcurrent: td.concurrency, Private: true}
	}
}

// actionQueue reads an action's `queue`.
func (l *loader) actionQueue(d *yamlDoc, def *actionDef, e entry) {
	name, ok := l.text(d, e.val, def.owner+": 'queue'")
	if ok {
		def.a.Queue = name
		def.queueAt = d.at(e.val)
		l.queueRefs = append(l.queueRefs, queueRef{owner: def.owner, name: name, at: def.queueAt})
	}
}

// checkQueues reports queue names that are not declared, and holders of a
// queue that would wait for another slot of the same queue: a job of a
// task in queue Q whose steps (or child jobs, at any depth) need Q, or a
// step in Q whose child job needs Q. With max_concurrent N, N such
// holders take every slot and wait forever for an N+1st, so this is an
// error whatever N is.
func (l *loader) checkQueues() {
	names := make([]string, 0, len(l.queues))
	for n := range l.queues {
		names = append(names, n)
	}
	for _, r := range l.queueRefs {
		if l.queues[r.name] == nil {
			l.errorAt(r.at, "%s references non-existent queue '%s'%s", r.owner, r.name, didYouMean(r.name, names))
		}
	}
	needs := map[string]map[string]string{}
	for _, td := range l.taskList {
		q := td.t.Queue
		if q == "" {
			continue
		}
		if via, ok := l.queueNeeds(td.t.Name, needs, nil)[q]; ok {
			l.errorAt(td.queueAt, "task '%s' holds a slot of queue '%s' while it waits for another slot of it (%s): it would deadlock", td.t.Name, queueLabel(q), via)
		}
	}
	defs := slices.Clone(l.actionList)
	for _, td := range l.taskList {
		for _, sd := range td.steps {
			if sd.inline != nil {
				defs = append(defs, sd.inline)
			}
		}
	}
	for _, def := range defs {
		a := def.a
		if def.broken || a.Queue == "" || a.Type != TypeTask || l.tasks[a.Task] == nil {
			continue
		}
		child := l.tasks[a.Task].t
		via, ok := "task '"+child.Name+"'", child.Queue == a.Queue
		if !ok {
			via, ok = l.queueNeeds(child.Name, needs, nil)[a.Queue]
			via = "task '" + child.Name + "' " + via
		}
		if ok {
			l.errorAt(def.queueAt, "%s holds a slot of queue '%s' while its child job waits for another slot of it (%s): it would deadlock", def.owner, a.Queue, via)
		}
	}
}

// queueLabel names a queue in messages (a private queue as its task's
// concurrency).
func queueLabel(q string) string {
	if t, ok := strings.CutPrefix(q, PrivateQueue("")); ok {
		return "concurrency of task '" + t + "'"
	}
	return q
}

// queueNeeds returns the queues a job of task needs slots of while it runs
// (its steps' action queues, and its child jobs' task queues and needs),
// each with the first path that needs it. Call cycles are reported
// elsewhere; visiting cuts them.
func (l *loader) queueNeeds(task string, memo map[string]map[string]string, visiting map[string]bool) map[string]string {
	if m, ok := memo[task]; ok {
		return m
	}
	td := l.tasks[task]
	if td == nil || visiting[task] {
		return nil
	}
	if visiting == nil {
		visiting = map[string]bool{}
	}
	visiting[task] = true
	defer delete(visiting, task)
	out := map[string]string{}
	add := func(q, via string) {
		if _, seen := out[q]; q != "" && !seen {
			out[q] = via
		}
	}
	for _, s := range td.t.Steps {
		a := l.snap.Actions[s.Action]
		if a == nil {
			continue
		}
		step := "step '" + s.Name + "'"
		add(a.Queue, step)
		if a.Type != TypeTask || l.tasks[a.Task] == nil {
			continue
		}
		child := l.tasks[a.Task].t
		add(child.Queue, step+" runs task '"+child.Name+"'")
		sub := l.queueNeeds(child.Name, memo, visiting)
		for _, q := range slices.Sorted(maps.Keys(sub)) {
			add(q, step+" runs task '"+child.Name+"' whose "+sub[q])
		}
	}
	memo[task] = out
	return out
}
