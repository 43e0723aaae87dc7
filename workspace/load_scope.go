package workspace

// This file resolves every variable reference of every template against the
// context that template gets at run time (SPEC §4.3), so a reference that
// cannot exist fails the load instead of the job:
//
//   - a step input sees input (the job input), secret, and the steps of its
//     task by template name, of which only those it depends on (directly or
//     through other steps) are sure to have finished;
//   - an action's cmd, inline script and env see input (the step's rendered
//     input: the keys every using step or hook passes, plus the action's
//     input fields with a default) and secret;
//   - a hook input sees hook (SPEC §8.2) and secret.
//
// The job input is open (undeclared keys pass through, SPEC §5.2), so a
// reference to an undeclared task input is only a warning, and only when the
// task declares inputs and no static caller (trigger, webhook, calling step
// or hook) passes that key. References guarded by default or a test, names
// the template binds itself and anything below a dynamic subscript are never
// reported (tmpl.Ref); a reference in a conditional branch is checked like
// any other (it fails whenever the branch runs). The file also warns when webhook text reaches a
// command unquoted (SPEC §7.2: input.body, headers and query are the
// caller's).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"runnel/workspace/tmpl"
)

// tmplSite is one template of the workspace and where it is written.
type tmplSite struct {
	d    *yamlDoc
	node ast.Node
	// t is the parsed template; nil for input leaves, parsed when checked.
	t   *tmpl.Template
	src string
	// label names the field: "cmd", "script", "env 'URL'", "input 'a.b'".
	label string
	// key is the top-level key of a step or hook input leaf.
	key string
	// command: the text runs as a shell command (cmd, inline script).
	command bool
}

// inputSites lists the templates below a step or hook input mapping.
func (l *loader) inputSites(d *yamlDoc, n ast.Node) []tmplSite {
	es, _ := d.mappingEntries(n)
	var out []tmplSite
	for _, e := range es {
		out = l.appendInputSites(out, d, e.val, e.key, e.key, 0)
	}
	return out
}

func (l *loader) appendInputSites(out []tmplSite, d *yamlDoc, n ast.Node, key, p string, depth int) []tmplSite {
	if depth > 100 || d.visit() {
		return out
	}
	switch r := d.resolve(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.mappingEntries(r)
		for _, e := range es {
			out = l.appendInputSites(out, d, e.val, key, p+"."+e.key, depth+1)
		}
	case *ast.SequenceNode:
		for i, it := range r.Values {
			out = l.appendInputSites(out, d, it, key, fmt.Sprintf("%s[%d]", p, i), depth+1)
		}
	default:
		s, isStr := d.value(n).(string)
		if isStr && (strings.Contains(s, "{{") || strings.Contains(s, "{%")) {
			out = append(out, tmplSite{d: d, node: n, src: s, label: fmt.Sprintf("input '%s'", p), key: key})
		}
	}
	return out
}

// use is one place that runs an action: a step or a hook entry.
type use struct {
	// label: "step 'b' of task 'ci'" or "task 'ci' on_error[0]".
	label string
	// keys are the top-level keys of its input; nil when invalid.
	keys map[string]bool
	task *taskDef // nil for workspace hooks
	step *stepDef // nil for hooks
}

// webhookInput are the job input keys a webhook sets (SPEC §7.2).
var webhookInput = []string{"body", "headers", "method", "query"}

// callerText are the webhook input keys whose content the caller chooses.
var callerText = map[string]bool{"body": true, "headers": true, "query": true}

// stepAttrs are a finished step's keys in templates (SPEC §4.3).
var stepAttrs = []string{"output", "status", "error_message"}

// hookAttrs are the keys of the hook context (SPEC §8.2).
var hookAttrs = []string{"workspace", "task_name", "job_id", "status", "is_success", "error_message",
	"source_type", "source_id", "started_at", "completed_at", "duration_secs", "failed_steps",
	"event", "revision", "output"}

// scopeCheck holds what the scope checks of one load share.
type scopeCheck struct {
	l    *loader
	uses map[*actionDef][]use
	// passed maps a task to the input keys static callers pass to it.
	passed map[string]map[string]bool
	// webhook marks the tasks a webhook trigger starts.
	webhook map[string]bool
	// tainted maps a step of a webhook task to its input keys holding
	// caller text, with the reference that put it there.
	tainted map[*stepDef]map[string]string
	refs    map[*tmpl.Template]refsResult
}

type refsResult struct {
	refs     []tmpl.Ref
	complete bool
}

// checkScopes runs the scope checks over the whole workspace.
func (l *loader) checkScopes() {
	sc := &scopeCheck{
		l:       l,
		uses:    map[*actionDef][]use{},
		passed:  map[string]map[string]bool{},
		webhook: map[string]bool{},
		tainted: map[*stepDef]map[string]string{},
		refs:    map[*tmpl.Template]refsResult{},
	}
	sc.prepare()
	for _, td := range l.taskList {
		sc.task(td)
	}
	for _, hd := range l.hookList {
		sc.hook(hd)
	}
	for _, def := range l.actionList {
		sc.action(def)
	}
	for _, td := range l.taskList {
		for _, sd := range td.steps {
			if sd.inline != nil {
				sc.action(sd.inline)
			}
		}
	}
}

// prepare collects the uses of each action, the keys static callers pass
// to each task, and the webhook tasks.
func (sc *scopeCheck) prepare() {
	l := sc.l
	pass := func(task string, keys map[string]bool) {
		if sc.passed[task] == nil {
			sc.passed[task] = map[string]bool{}
		}
		for k := range keys {
			sc.passed[task][k] = true
		}
	}
	for _, td := range l.taskList {
		for _, sd := range td.steps {
			def := sd.inline
			if sd.ref {
				def = l.actions[sd.s.Action]
			}
			if def == nil {
				continue
			}
			sc.uses[def] = append(sc.uses[def], use{
				label: fmt.Sprintf("step '%s' of task '%s'", sd.s.Name, td.t.Name),
				keys:  sd.inputKeys, task: td, step: sd,
			})
			if def.a.Type == TypeTask && !def.broken {
				pass(def.a.Task, sd.inputKeys)
			}
		}
	}
	for _, hd := range l.hookList {
		def := l.actions[hd.action]
		if def == nil {
			continue
		}
		sc.uses[def] = append(sc.uses[def], use{label: hd.label, keys: hd.inputKeys, task: l.tasks[hd.task]})
		if def.a.Type == TypeTask && !def.broken {
			pass(def.a.Task, hd.inputKeys)
		}
	}
	for _, trd := range l.triggerList {
		keys := map[string]bool{}
		for k := range trd.tr.Input {
			keys[k] = true
		}
		if trd.tr.Type == TriggerWebhook {
			sc.webhook[trd.tr.Task] = true
			for _, k := range webhookInput {
				keys[k] = true
			}
		}
		pass(trd.tr.Task, keys)
	}
}

// refsOf returns the references of a site's template (nil when it did not
// parse or the analysis is incomplete).
func (sc *scopeCheck) refsOf(s *tmplSite) []tmpl.Ref {
	if s.t == nil {
		t, err := sc.l.parse(s.src)
		if err != nil {
			return nil
		}
		s.t = t
	}
	r, ok := sc.refs[s.t]
	if !ok {
		r.refs, r.complete = s.t.Refs()
		sc.refs[s.t] = r
	}
	if !r.complete {
		return nil
	}
	return r.refs
}

// task checks the step inputs of a task and records which input keys of
// a webhook task's steps carry caller text.
func (sc *scopeCheck) task(td *taskDef) {
	byTemplate := map[string]*stepDef{}
	var names []string
	for _, sd := range td.steps {
		tn := TemplateName(sd.s.Name)
		if byTemplate[tn] == nil {
			byTemplate[tn] = sd
			names = append(names, tn)
		}
	}
	upstream := upstreamSteps(td)
	for _, sd := range td.steps {
		label := fmt.Sprintf("task '%s' step '%s'", td.t.Name, sd.s.Name)
		if site := sd.when; site != nil {
			// A condition sees what the step's input sees; it prints
			// nothing into a command.
			for _, r := range sc.refsOf(site) {
				if !r.Guarded {
					sc.stepRef(td, sd, label+" "+site.label, site, r, byTemplate, names, upstream[sd.s.Name])
				}
			}
		}
		for i := range sd.forEach {
			// A loop's list sees what the step's input sees, without
			// item and index.
			site := &sd.forEach[i]
			for _, r := range sc.refsOf(site) {
				if !r.Guarded {
					sc.stepRef(td, sd, label+" "+site.label, site, r, byTemplate, names, upstream[sd.s.Name])
				}
			}
		}
		for i := range sd.sites {
			site := &sd.sites[i]
			for _, r := range sc.refsOf(site) {
				if sc.webhook[td.t.Name] && r.Printed && r.Path[0] == "input" && (len(r.Path) == 1 || callerText[r.Path[1]]) {
					if sc.tainted[sd] == nil {
						sc.tainted[sd] = map[string]string{}
					}
					if _, seen := sc.tainted[sd][site.key]; !seen {
						sc.tainted[sd][site.key] = r.String()
					}
				}
				if r.Guarded {
					continue
				}
				sc.stepRef(td, sd, label+" "+site.label, site, r, byTemplate, names, upstream[sd.s.Name])
			}
		}
	}
}

// upstreamSteps maps each step of td to the steps it depends on directly or
// through other steps.
func upstreamSteps(td *taskDef) map[string]map[string]bool {
	deps := map[string][]string{}
	for _, sd := range td.steps {
		if _, dup := deps[sd.s.Name]; !dup {
			deps[sd.s.Name] = sd.s.DependsOn
		}
	}
	out := map[string]map[string]bool{}
	for name := range deps {
		seen := map[string]bool{}
		stack := slices.Clone(deps[name])
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] {
				continue
			}
			seen[n] = true
			stack = append(stack, deps[n]...)
		}
		out[name] = seen
	}
	return out
}

// stepRef checks one unguarded reference of a step input.
func (sc *scopeCheck) stepRef(td *taskDef, sd *stepDef, label string, site *tmplSite, r tmpl.Ref, byTemplate map[string]*stepDef, names []string, upstream map[string]bool) {
	root := r.Path[0]
	switch {
	case root == "input":
		if len(r.Path) < 2 || !td.fieldsOK || len(td.t.Input) == 0 {
			return
		}
		k := r.Path[1]
		if hasField(td.t.Input, k) || sc.passed[td.t.Name][k] {
			return
		}
		sc.warnAt(site, r, "%s: '%s' is not a declared input of task '%s'%s; it is undefined unless every caller passes it",
			label, r, td.t.Name, didYouMean(k, fieldNames(td.t.Input)))
	case root == "secret":
		sc.secretRef(label, site, r)
	case root == "hook":
		sc.errorAt(site, r, "%s: '%s' is undefined: 'hook' exists only in the input of on_success, on_error and on_cancel hooks", label, r)
	case byTemplate[root] != nil:
		dep := byTemplate[root]
		switch {
		case dep == sd:
			sc.errorAt(site, r, "%s: '%s' is the step's own result, which does not exist while its input is rendered", label, r)
		case !upstream[dep.s.Name]:
			sc.errorAt(site, r, "%s: step '%s' reads '%s' but does not depend on '%s' (add it to depends_on)", label, sd.s.Name, r, dep.s.Name)
		case len(r.Path) > 1 && !slices.Contains(stepAttrs, r.Path[1]):
			sc.errorAt(site, r, "%s: '%s' is undefined: a finished step has output, status and error_message%s", label, r, didYouMean(r.Path[1], stepAttrs))
		}
	case slices.Contains(LoopVars, root):
		sc.loopVarRef(sd, label, site, r)
	default:
		known := append([]string{"input", "secret"}, names...)
		list := names
		if len(list) > 8 {
			list = append(slices.Clone(list[:8]), "…")
		}
		sc.errorAt(site, r, "%s: '%s' is undefined: a step input sees input, secret and the steps of its task (%s)%s",
			label, r, strings.Join(list, ", "), didYouMean(root, known))
	}
}

// hook checks the input of a hook entry.
func (sc *scopeCheck) hook(hd *hookDef) {
	for i := range hd.sites {
		site := &hd.sites[i]
		label := hd.label + " " + site.label
		for _, r := range sc.refsOf(site) {
			if r.Guarded {
				continue
			}
			switch root := r.Path[0]; root {
			case "hook":
				if len(r.Path) > 1 && !slices.Contains(hookAttrs, r.Path[1]) {
					sc.errorAt(site, r, "%s: '%s' is undefined: no hook field '%s'%s", label, r, r.Path[1], didYouMean(r.Path[1], hookAttrs))
				}
			case "secret":
				sc.secretRef(label, site, r)
			default:
				sc.errorAt(site, r, "%s: '%s' is undefined: a hook input sees only hook (the finished job: task_name, status, output, …) and secret%s",
					label, r, didYouMean(root, []string{"hook", "secret"}))
			}
		}
	}
}

// action checks an action's cmd, inline script and env against the inputs
// of the steps and hooks that run it.
func (sc *scopeCheck) action(def *actionDef) {
	if def.broken || len(def.sites) == 0 {
		return
	}
	uses := sc.uses[def]
	for i := range def.sites {
		site := &def.sites[i]
		label := def.owner + " " + site.label
		kind := site.label
		if !site.command && site.label != "message" {
			kind = "env"
		}
		for _, r := range sc.refsOf(site) {
			if site.command && r.Printed && r.Path[0] == "input" {
				sc.taint(def, uses, label, site, r)
			}
			if r.Guarded {
				continue
			}
			switch root := r.Path[0]; {
			case root == "input":
				sc.actionInput(def, uses, label, kind, site, r)
			case root == "secret":
				sc.secretRef(label, site, r)
			case isStepOf(root, uses):
				sc.errorAt(site, r, "%s: '%s' is not visible in an action's %s (only input and secret are); pass it through the step's input: input: {%s: \"{{ %s }}\"} and use {{ input.%s }}",
					label, r, kind, root, r, root)
			case root == "hook":
				sc.errorAt(site, r, "%s: '%s' is not visible in an action's %s (only input and secret are); pass what you need through the hook's input", label, r, kind)
			default:
				sc.errorAt(site, r, "%s: '%s' is undefined: an action's %s sees only input and secret%s", label, r, kind, didYouMean(root, []string{"input", "secret"}))
			}
		}
	}
}

// actionInput checks a reference input.<k> of an action template.
func (sc *scopeCheck) actionInput(def *actionDef, uses []use, label, kind string, site *tmplSite, r tmpl.Ref) {
	if len(r.Path) < 2 || !def.fieldsOK {
		return // broken fields are reported already
	}
	k := r.Path[1]
	// A field with a default is always there; a required one missing from
	// a step or hook input is reported by checkRequired.
	if slices.ContainsFunc(def.a.Input, func(f Field) bool { return f.Name == k && (f.HasDefault || f.Required) }) {
		return
	}
	if len(uses) == 0 {
		if len(def.a.Input) > 0 && !hasField(def.a.Input, k) {
			sc.errorAt(site, r, "%s: '%s' is undefined: action '%s' has no input '%s'%s", label, r, def.a.Name, k, didYouMean(k, fieldNames(def.a.Input)))
		}
		return
	}
	var missing []use
	for _, u := range uses {
		if u.keys != nil && !u.keys[k] {
			missing = append(missing, u)
		}
	}
	if len(missing) == 0 {
		return
	}
	var hint string
	switch {
	case slices.ContainsFunc(missing, func(u use) bool { return u.task != nil && hasField(u.task.t.Input, k) }):
		hint = fmt.Sprintf("; the task's input is not visible in an action's %s: pass it through the step's input: input: {%s: \"{{ input.%s }}\"}", kind, k, k)
	case hasField(def.a.Input, k):
		hint = fmt.Sprintf(" (give input field '%s' a default, or pass it everywhere)", k)
	default:
		known := fieldNames(def.a.Input)
		for key := range missing[0].keys {
			known = append(known, key)
		}
		hint = didYouMean(k, known)
	}
	if strings.HasPrefix(def.a.Name, InlinePrefix) {
		sc.errorAt(site, r, "%s: '%s' is undefined: the step's input has no '%s' (an inline %s sees only the step's own input)%s", label, r, k, kind, hint)
		return
	}
	where := make([]string, 0, 3)
	for i, u := range missing {
		if i == 3 {
			where = append(where, fmt.Sprintf("%d more", len(missing)-3))
			break
		}
		where = append(where, u.label)
	}
	sc.errorAt(site, r, "%s: '%s' is undefined when run by %s, whose input has no '%s'%s", label, r, strings.Join(where, ", "), k, hint)
}

// taint warns when a command prints an input key that carries webhook text
// in some step of a webhook task.
func (sc *scopeCheck) taint(def *actionDef, uses []use, label string, site *tmplSite, r tmpl.Ref) {
	for _, u := range uses {
		if u.step == nil {
			continue
		}
		keys := sc.tainted[u.step]
		from, bad := "", false
		if len(r.Path) == 1 {
			for _, v := range keys {
				from, bad = v, true
				break
			}
		} else {
			from, bad = keys[r.Path[1]]
		}
		if !bad {
			continue
		}
		sc.warnAt(site, r, "%s: '%s' carries webhook text ('%s' of %s) into the command unquoted; write {{ %s | shell_quote }} or pass it through env:",
			label, r, from, u.label, r)
		return
	}
}

// secretRef checks secret.<path> against the secrets tree.
func (sc *scopeCheck) secretRef(label string, site *tmplSite, r tmpl.Ref) {
	if sc.l.secretsBroken {
		return
	}
	var v any = sc.l.snap.Secrets
	for i, k := range r.Path[1:] {
		m, isMap := v.(map[string]any)
		if !isMap {
			return
		}
		next, ok := m[k]
		if !ok {
			if i == 0 && len(m) == 0 {
				sc.errorAt(site, r, "%s: '%s' is undefined: the workspace defines no secrets", label, r)
				return
			}
			keys := make([]string, 0, len(m))
			for key := range m {
				keys = append(keys, key)
			}
			sc.errorAt(site, r, "%s: '%s' is undefined: no secret '%s'%s", label, r, strings.Join(r.Path[1:i+2], "."), didYouMean(k, keys))
			return
		}
		v = next
	}
}

// isStepOf reports whether name is the template name of a step of a task
// that runs the action.
func isStepOf(name string, uses []use) bool {
	for _, u := range uses {
		if u.task == nil {
			continue
		}
		for _, sd := range u.task.steps {
			if TemplateName(sd.s.Name) == name {
				return true
			}
		}
	}
	return false
}

func hasField(fields []Field, name string) bool {
	return slices.ContainsFunc(fields, func(f Field) bool { return f.Name == name })
}

func fieldNames(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// errorAt reports a problem at a reference.
func (sc *scopeCheck) errorAt(site *tmplSite, r tmpl.Ref, format string, args ...any) {
	sc.l.add(sc.problem(site, r, format, args...))
}

// warnAt records a warning at a reference.
func (sc *scopeCheck) warnAt(site *tmplSite, r tmpl.Ref, format string, args ...any) {
	sc.l.warn(sc.problem(site, r, format, args...))
}

// problem places a message at the reference's position in the file, or at
// the template's value with the position inside the template appended
// when the text cannot be mapped (folded and multi-line scalars, escapes).
func (sc *scopeCheck) problem(site *tmplSite, r tmpl.Ref, format string, args ...any) Problem {
	msg := fmt.Sprintf(format, args...)
	a, exact := textPos(site.d, site.node, r.Line, r.Column)
	if !exact {
		msg += fmt.Sprintf(" (template line %d, column %d)", r.Line, r.Column)
	}
	return Problem{File: a.file, Line: a.line, Col: a.col, Message: msg}
}

// textPos maps a position inside the text of scalar n to the file: exact
// for single-line plain and quoted scalars without escapes, and for literal
// block scalars (|); otherwise the scalar's own position.
func textPos(d *yamlDoc, n ast.Node, line, col int) (at, bool) {
	a := d.at(n)
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		tk := v.GetToken()
		if line != 1 || tk == nil || tk.Position == nil || strings.Contains(v.Value, "\n") {
			return a, false
		}
		raw := strings.TrimSpace(tk.Origin)
		shift := 0
		switch tk.Type {
		case token.SingleQuoteType:
			raw, shift = strings.TrimSuffix(strings.TrimPrefix(raw, "'"), "'"), 1
		case token.DoubleQuoteType:
			raw, shift = strings.TrimSuffix(strings.TrimPrefix(raw, `"`), `"`), 1
		}
		if raw != v.Value {
			return a, false
		}
		return at{file: d.file, line: tk.Position.Line, col: tk.Position.Column + shift + col - 1}, true
	case *ast.LiteralNode:
		switch {
		case v.Start == nil || v.Start.Position == nil || v.Value == nil:
			return a, false
		case v.Start.Value != "|" && v.Start.Value != "|-" && v.Start.Value != "|+":
			// Folded text moves words between lines, and an explicit
			// indentation indicator keeps spaces in the text.
			return a, false
		}
		tk := v.Value.GetToken()
		if tk == nil {
			return a, false
		}
		lines := strings.Split(tk.Origin, "\n")
		if line > len(lines) {
			return a, false
		}
		indent := -1
		for _, ln := range lines {
			if strings.TrimSpace(ln) != "" {
				indent = len(ln) - len(strings.TrimLeft(ln, " "))
				break
			}
		}
		if indent < 0 || len(lines[line-1]) < indent || strings.TrimLeft(lines[line-1][:indent], " ") != "" {
			return a, false
		}
		return at{file: d.file, line: v.Start.Position.Line + line, col: indent + col}, true
	}
	return a, false
}
