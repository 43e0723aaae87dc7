package workspace

// This file reads tasks (SPEC §3.3), their steps (§3.4) and hook lists
// (§3.6, §8), and checks each task's step graph.

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// Task modes.
const (
	ModeDistributed = "distributed"
	ModeLocal       = "local"
)

// taskDef is a task with what the cross-file checks need.
type taskDef struct {
	t     *Task
	keyAt at
	// queueAt is the position of the task's `queue` or `concurrency`
	// value; concurrency is the latter's limit (0 = none).
	queueAt     at
	concurrency int
	// fieldsOK: the input fields parsed cleanly.
	fieldsOK bool
	steps    []*stepDef
}

// stepDef is a step with positions.
type stepDef struct {
	s     *Step
	keyAt at
	// actionAt is the position of the `action` value.
	actionAt at
	// ref is true when the step names an action (checked across files).
	ref bool
	// inline is the step's inline action.
	inline *actionDef
	// inputKeys are the top-level keys of the step input; nil when the
	// input is invalid.
	inputKeys map[string]bool
	deps      []depRef
	// sites are the templates of the step input (load_scope.go).
	sites []tmplSite
	// when is the step's when: template (nil = none), checked like an
	// input (load_scope.go).
	when *tmplSite
	// retryAt is the position of the step's own retry key (nil = none).
	retryAt *at
	// loop: the step has a for_each; forEach are its templates, checked
	// like an input without item and index (load_loop.go).
	loop    bool
	forEach []tmplSite
}

type depRef struct {
	name string
	at   at
}

// hookDef is one hook entry with positions.
type hookDef struct {
	// label names it: "task 'ci' on_error[0]", "workspace on_error[0]".
	label     string
	keyAt     at
	action    string
	actionAt  at
	inputKeys map[string]bool
	// task is the task of a task hook, "" for a workspace hook.
	task string
	// sites are the templates of the hook input (load_scope.go).
	sites []tmplSite
}

// taskKeys are a task's keys; true = [later].
var taskKeys = map[string]bool{
	"name": false, "description": false, "mode": false, "folder": false, "input": false,
	"flow": false, "timeout": false, "on_success": false, "on_error": false, "on_cancel": false,
	"queue": false, "concurrency": false,
	"retry": true, "on_suspended": true,
}

// stepKeys are a step's own keys; true = [later].
var stepKeys = map[string]bool{
	"action": false, "depends_on": false, "input": false, "continue_on_failure": false,
	"timeout": false, "name": false, "description": false,
	"when": false, "for_each": false, "sequential": false, "max_parallel": false, "retry": false,
}

// hookKeys are the keys of a hook entry.
var hookKeys = []string{"action", "input"}

// stepFieldNames lists what a step may hold: its own supported keys and
// the keys of an inline action.
func stepFieldNames() []string {
	out := supportedKeys(stepKeys, true)
	for k, types := range actionKeyTypes {
		if types != "later" && k != "name" && k != "description" {
			out = append(out, k)
		}
	}
	return out
}

// reservedStepNames are template names a step may not take.
var reservedStepNames = map[string]bool{"input": true, "secret": true, "hook": true, "each": true}

// task reads one entry of `tasks:`.
func (l *loader) task(d *yamlDoc, e entry) {
	l.checkName("task", e)
	owner := fmt.Sprintf("task '%s'", e.key)
	t := &Task{Name: e.key, Mode: ModeDistributed, File: d.file, Folder: fileFolder(d.file)}
	td := &taskDef{t: t, keyAt: e.keyAt, fieldsOK: true}
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s must be a mapping", owner)
	}
	hasFlow := false
	for _, x := range es {
		later, known := taskKeys[x.key]
		switch {
		case !known:
			l.errorAt(x.keyAt, "unknown field %q in %s%s", x.key, owner, didYouMean(x.key, supportedKeys(taskKeys, true)))
			continue
		case later:
			l.errorAt(x.keyAt, "'%s' is not supported yet", x.key)
			continue
		}
		switch x.key {
		case "name":
			l.textField(d, x, owner, &t.DisplayName)
		case "description":
			l.textField(d, x, owner, &t.Description)
		case "mode":
			m, _ := d.scalarText(x.val)
			if m != ModeDistributed && m != ModeLocal {
				d.errorf(x.val, "%s has invalid mode '%s'", owner, m)
			} else {
				t.Mode = m
			}
		case "folder":
			f, _ := d.scalarText(x.val)
			if !validFolder(f) {
				d.errorf(x.val, "%s has invalid folder '%s'", owner, f)
			} else {
				t.Folder = f
			}
		case "input":
			t.Input, td.fieldsOK = l.fields(d, x.val, owner)
		case "timeout":
			t.Timeout = l.duration(d, x.val, owner)
		case "flow":
			hasFlow = true
			l.flow(d, td, x)
		case "on_success":
			l.hooks(d, x, e.key, &t.Hooks.OnSuccess)
		case "on_error":
			l.hooks(d, x, e.key, &t.Hooks.OnError)
		case "on_cancel":
			l.hooks(d, x, e.key, &t.Hooks.OnCancel)
		case "queue", "concurrency":
			l.taskQueue(d, td, x)
		}
	}
	if isMap && !hasFlow {
		l.errorAt(e.keyAt, "%s has an empty flow", owner)
	}
	l.checkGraph(td)
	if prev, dup := l.tasks[e.key]; dup {
		l.definedTwice("task", e.key, prev.keyAt.file, e)
		return
	}
	l.tasks[e.key] = td
	l.taskList = append(l.taskList, td)
	l.privateQueue(td)
	l.snap.Tasks[e.key] = t
	for _, sd := range td.steps {
		if sd.inline != nil {
			l.snap.Actions[sd.s.Action] = sd.inline.a
		}
	}
}

// fileFolder returns the folder of a file below .workflows ("" at the top).
func fileFolder(rel string) string {
	dir := path.Dir(rel)
	if dir == ".workflows" || !strings.HasPrefix(dir, ".workflows/") {
		return ""
	}
	return strings.TrimPrefix(dir, ".workflows/")
}

// validFolder: "/"-separated rule-N names.
func validFolder(f string) bool {
	if f == "" {
		return false
	}
	for seg := range strings.SplitSeq(f, "/") {
		if !validName(seg) {
			return false
		}
	}
	return true
}

// duration reads a timeout; 0 after a reported problem.
func (l *loader) duration(d *yamlDoc, n ast.Node, owner string) time.Duration {
	s, _ := d.scalarText(n)
	v, err := ParseDuration(s)
	switch {
	case err == nil:
		return v
	case errors.Is(err, ErrDurationRange):
		d.errorf(n, "%s has invalid timeout '%s' (must be between 1s and 365d)", owner, s)
	default:
		d.errorf(n, "%s has invalid timeout '%s' (use e.g. 30s, 5m, 1h30m, 2d or seconds)", owner, s)
	}
	return 0
}

// flow reads a task's steps.
func (l *loader) flow(d *yamlDoc, td *taskDef, x entry) {
	owner := fmt.Sprintf("task '%s'", td.t.Name)
	es, isMap := d.mappingEntries(x.val)
	if !isMap {
		d.errorf(x.val, "%s: 'flow' must be a mapping of step names to steps", owner)
		return
	}
	if len(es) == 0 {
		d.errorf(x.val, "%s has an empty flow", owner)
		return
	}
	byTemplate := make(map[string]string, len(es))
	for _, e := range es {
		l.checkStepName(td.t.Name, e)
		tn := TemplateName(e.key)
		if other, clash := byTemplate[tn]; clash {
			l.errorAt(e.keyAt, "steps '%s' and '%s' of %s have the same template name '%s'", other, e.key, owner, tn)
		} else {
			byTemplate[tn] = e.key
		}
		sd := l.step(d, td.t.Name, e)
		td.steps = append(td.steps, sd)
		td.t.Steps = append(td.t.Steps, sd.s)
	}
	l.checkLoopNames(td)
}

// checkStepName applies rule N and the reserved template names.
func (l *loader) checkStepName(task string, e entry) {
	tn := TemplateName(e.key)
	switch {
	case strings.ContainsAny(e.key, "[]"):
		l.errorAt(e.keyAt, "invalid step name '%s' ('[' and ']' are reserved for loop instances)", e.key)
	case strings.HasPrefix(e.key, "_"):
		l.errorAt(e.keyAt, "invalid step name '%s' (names starting with '_' are reserved)", e.key)
	case !validName(e.key):
		l.errorAt(e.keyAt, "invalid step name '%s'", e.key)
	case reservedStepNames[tn]:
		l.errorAt(e.keyAt, "step name '%s' is reserved", e.key)
	}
}

// step reads one step of task.
func (l *loader) step(d *yamlDoc, task string, e entry) *stepDef {
	owner := fmt.Sprintf("task '%s' step '%s'", task, e.key)
	s := &Step{Name: e.key, DependsOn: []string{}}
	sd := &stepDef{s: s, keyAt: e.keyAt}
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s must be a mapping", owner)
		s.Input = l.emptyInput()
		return sd
	}
	var actionE, typeE *entry
	var inlineKeys []entry
	var inputNode ast.Node
	var lp loopKeys
	for i := range es {
		x := es[i]
		if later, known := stepKeys[x.key]; known {
			if later {
				l.errorAt(x.keyAt, "'%s' is not supported yet", x.key)
				continue
			}
			switch x.key {
			case "action":
				actionE = &es[i]
			case "depends_on":
				sd.deps = l.deps(d, x, owner)
				for _, dep := range sd.deps {
					s.DependsOn = append(s.DependsOn, dep.name)
				}
			case "input":
				inputNode = x.val
			case "continue_on_failure":
				l.boolField(d, x, owner, &s.ContinueOnFailure)
			case "when":
				sd.when = l.when(d, x, owner, s)
			case "for_each", "sequential", "max_parallel":
				lp.add(x)
			case "timeout":
				s.Timeout = l.duration(d, x.val, owner)
			case "retry":
				s.Retry, sd.retryAt = l.retry(d, x, owner), &es[i].keyAt
			case "name":
				l.textField(d, x, owner, &s.DisplayName)
			case "description":
				l.textField(d, x, owner, &s.Description)
			}
			continue
		}
		if _, isAction := actionKeyTypes[x.key]; !isAction || x.key == "name" || x.key == "description" {
			l.errorAt(x.keyAt, "unknown field %q in step '%s' of task '%s'%s", x.key, e.key, task, didYouMean(x.key, stepFieldNames()))
			continue
		}
		if x.key == "type" {
			typeE = &es[i]
		}
		inlineKeys = append(inlineKeys, x)
	}
	switch {
	case actionE != nil:
		name, ok := l.text(d, actionE.val, owner+": 'action'")
		if ok {
			s.Action, sd.ref, sd.actionAt = name, true, d.at(actionE.val)
		}
		if typeE != nil {
			l.errorAt(typeE.keyAt, "%s has both 'action' and 'type'", owner)
			break
		}
		for _, x := range inlineKeys {
			l.errorAt(x.keyAt, "%s has both 'action' and '%s'", owner, x.key)
		}
	case typeE != nil:
		sd.inline = l.action(d, owner, e.keyAt, inlineKeys, true)
		sd.inline.a.Name = InlinePrefix + task + ":" + e.key
		s.Action = sd.inline.a.Name
	case len(inlineKeys) > 0:
		l.errorAt(inlineKeys[0].keyAt, "%s has '%s' but no 'type'", owner, inlineKeys[0].key)
	default:
		l.errorAt(e.keyAt, "%s has neither 'action' nor 'type'", owner)
	}
	sd.inputKeys = l.templateInput(d, inputNode, owner, func(v *tmpl.Value) { s.Input = v })
	if sd.inputKeys != nil {
		sd.sites = l.inputSites(d, inputNode)
	}
	l.loop(d, sd, lp, owner)
	return sd
}

// when reads a step's when: a template, or true/false. Static text
// other than true/false is refused (it would always be true).
func (l *loader) when(d *yamlDoc, x entry, owner string, s *Step) *tmplSite {
	var src string
	switch v := d.value(x.val).(type) {
	case bool:
		src = strconv.FormatBool(v)
	case string:
		src = v
	default:
		d.errorf(x.val, "%s: 'when' must be a template such as \"{{ input.deploy }}\", or true or false", owner)
		return nil
	}
	if t, err := l.parse(src); err == nil && t.Static() && src != "true" && src != "false" {
		d.errorf(x.val, "%s: 'when' must be a template such as \"{{ %s }}\", or true or false (plain text is always true)", owner, src)
		return nil
	}
	l.parseLater(src, func(t *tmpl.Template, err error) {
		if err != nil {
			d.errorf(x.val, "%s 'when': template error: %v", owner, err)
			return
		}
		s.When = t
	})
	return &tmplSite{d: d, node: x.val, src: src, label: "when"}
}

// deps reads depends_on, dropping repeats.
func (l *loader) deps(d *yamlDoc, x entry, owner string) []depRef {
	items, isSeq := d.sequence(x.val)
	if !isSeq {
		d.errorf(x.val, "%s: 'depends_on' must be a list of step names", owner)
		return nil
	}
	var out []depRef
	seen := map[string]bool{}
	for _, it := range items {
		name, ok := l.text(d, it, owner+": each 'depends_on' entry")
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, depRef{name: name, at: d.at(it)})
	}
	return out
}

// hooks reads a hook list, appending its entries to *dst; task is "" for
// workspace hooks.
func (l *loader) hooks(d *yamlDoc, e entry, task string, dst *[]Hook) {
	event := e.key
	where := "workspace"
	if task != "" {
		where = fmt.Sprintf("task '%s'", task)
	}
	items, isSeq := d.sequence(e.val)
	if !isSeq {
		d.errorf(e.val, "%s: '%s' must be a list of {action, input}", where, event)
		return
	}
	for i, it := range items {
		label := fmt.Sprintf("%s %s[%d]", where, event, i)
		hd := &hookDef{label: label, keyAt: d.at(it), task: task}
		es, isMap := d.mappingEntries(it)
		if !isMap {
			d.errorf(it, "%s must be a mapping with 'action' and 'input'", label)
			continue
		}
		var inputNode ast.Node
		hasAction := false
		for _, x := range es {
			switch x.key {
			case "action":
				hasAction = true
				hd.action, _ = l.text(d, x.val, label+": 'action'")
				hd.actionAt = d.at(x.val)
			case "input":
				inputNode = x.val
			default:
				if task != "" {
					l.errorAt(x.keyAt, "unknown field %q in %s[%d] of task '%s'%s", x.key, event, i, task, didYouMean(x.key, hookKeys))
				} else {
					l.errorAt(x.keyAt, "unknown field %q in %s%s", x.key, label, didYouMean(x.key, hookKeys))
				}
			}
		}
		if !hasAction {
			l.errorAt(hd.keyAt, "%s has no 'action'", label)
		}
		// Later appends may move *dst: the compiled input is stored by
		// index when it arrives.
		idx := len(*dst)
		*dst = append(*dst, Hook{Action: hd.action})
		hd.inputKeys = l.templateInput(d, inputNode, label, func(v *tmpl.Value) { (*dst)[idx].Input = v })
		if hd.inputKeys != nil {
			hd.sites = l.inputSites(d, inputNode)
		}
		if hasAction {
			l.hookList = append(l.hookList, hd)
		}
	}
}

// checkGraph reports unknown dependencies and dependency cycles of a task.
func (l *loader) checkGraph(td *taskDef) {
	index := make(map[string]int, len(td.steps))
	for i, sd := range td.steps {
		if _, dup := index[sd.s.Name]; !dup {
			index[sd.s.Name] = i
		}
	}
	edges := make([][]int, len(td.steps))
	for i, sd := range td.steps {
		for _, dep := range sd.deps {
			j, ok := index[dep.name]
			if !ok {
				l.errorAt(dep.at, "task '%s' step '%s' depends on non-existent step '%s'", td.t.Name, sd.s.Name, dep.name)
				continue
			}
			edges[i] = append(edges[i], j)
		}
	}
	for _, cyc := range findCycles(len(td.steps), edges) {
		names := make([]string, len(cyc))
		for k, i := range cyc {
			names[k] = td.steps[i].s.Name
		}
		first := td.steps[cyc[0]]
		pos := first.keyAt
		for _, dep := range first.deps {
			if dep.name == names[1] {
				pos = dep.at
				break
			}
		}
		l.errorAt(pos, "task '%s' has a dependency cycle: %s", td.t.Name, strings.Join(names, " -> "))
	}
}

// findCycles returns one cycle per strongly connected component that has
// one, as node lists starting and ending at the component's lowest node
// (e.g. [0 2 0]); the cycle is a shortest one through that node.
func findCycles(n int, edges [][]int) [][]int {
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
		comp[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	var comps [][]int
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var members []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = ncomp
				members = append(members, w)
				if w == v {
					break
				}
			}
			comps = append(comps, members)
			ncomp++
		}
	}
	for v := range n {
		if index[v] < 0 {
			strong(v)
		}
	}
	var out [][]int
	for c, members := range comps {
		start := members[0]
		for _, m := range members {
			start = min(start, m)
		}
		// BFS from start inside the component back to start.
		prev := map[int]int{start: -1}
		queue := []int{start}
		end := -1
	search:
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, w := range edges[v] {
				if comp[w] != c {
					continue
				}
				if w == start {
					end = v
					break search
				}
				if _, seen := prev[w]; !seen {
					prev[w] = v
					queue = append(queue, w)
				}
			}
		}
		if end < 0 {
			continue // a single node without a self-loop
		}
		var rev []int
		for v := end; v != -1; v = prev[v] {
			rev = append(rev, v)
		}
		cyc := make([]int, 0, len(rev)+1)
		for i := len(rev) - 1; i >= 0; i-- {
			cyc = append(cyc, rev[i])
		}
		out = append(out, append(cyc, start))
	}
	return out
}
