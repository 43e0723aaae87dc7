package workspace

// This file reads actions (SPEC §3.2), named ones under `actions:` and
// inline ones in steps.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// Runners.
const (
	RunnerLocal = "local"
	RunnerNone  = "none"
)

// actionDef is an action with what the cross-file checks need.
type actionDef struct {
	a *Action
	// owner names the action in messages: "action 'x'" or, inline,
	// "task 'ci' step 'build'".
	owner string
	keyAt at
	// broken: the type is missing or invalid; references get no further
	// checks.
	broken bool
	// fieldsOK: the input fields parsed cleanly.
	fieldsOK bool
	// taskAt is the position of a task action's `task` value.
	taskAt at
	// queueAt is the position of the action's `queue` value.
	queueAt at
	// sites are the action's templates (cmd, inline script, env values)
	// for the scope checks (load_scope.go).
	sites []tmplSite
}

// actionKeyTypes lists, per action key, the types that accept it; "later"
// marks [later] keys.
var actionKeyTypes = map[string]string{
	"type": "shell script task approval", "cmd": "shell", "script": "shell script",
	"source": "script", "task": "task", "runner": "shell script",
	"env": "shell script", "tags": "shell script", "retry": "shell script", "output": "shell script task approval",
	"name": "shell script task approval", "description": "shell script task approval",
	"input": "shell script task approval", "queue": "shell script task approval",
	"message": "approval", "fields": "approval", "approvers": "approval", "timeout": "approval",
	"on_timeout": "approval",
	"language":   "later", "args": "later", "dependencies": "later", "interpreter": "later",
	"image": "later", "command": "later", "entrypoint": "later", "manifest": "later",
	"resources": "later", "workdir": "later",
}

// namedAction reads one entry of `actions:`.
func (l *loader) namedAction(d *yamlDoc, e entry) {
	l.checkName("action", e)
	owner := fmt.Sprintf("action '%s'", e.key)
	var def *actionDef
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s must be a mapping", owner)
		// Registered anyway, so references to it report nothing more.
		def = &actionDef{a: &Action{}, owner: owner, keyAt: e.keyAt, broken: true}
	} else {
		var body []entry
		for _, x := range es {
			if _, known := actionKeyTypes[x.key]; !known {
				l.errorAt(x.keyAt, "unknown field %q in %s%s", x.key, owner, didYouMean(x.key, supportedKeys(actionKeyTypes, "later")))
				continue
			}
			body = append(body, x)
		}
		def = l.action(d, owner, e.keyAt, body, false)
	}
	def.a.Name = e.key
	if prev, dup := l.actions[e.key]; dup {
		l.definedTwice("action", e.key, prev.keyAt.file, e)
		return
	}
	l.actions[e.key] = def
	l.actionList = append(l.actionList, def)
	l.snap.Actions[e.key] = def.a
}

// action reads an action body: es holds only action keys (for inline
// actions without name, description and input, which belong to the step).
func (l *loader) action(d *yamlDoc, owner string, keyAt at, es []entry, inline bool) *actionDef {
	def := &actionDef{a: &Action{}, owner: owner, keyAt: keyAt, fieldsOK: true}
	a := def.a
	byKey := make(map[string]entry, len(es))
	for _, e := range es {
		byKey[e.key] = e
	}
	te, hasType := byKey["type"]
	if !hasType {
		l.errorAt(keyAt, "%s has no 'type' (expected shell, script, task or approval)", owner)
		def.broken = true
	} else {
		t, _ := d.scalarText(te.val)
		switch t {
		case TypeShell, TypeScript, TypeTask, TypeApproval:
			a.Type = t
		case "docker", "pod":
			d.errorf(te.val, "'type: %s' is not supported yet", t)
			def.broken = true
		default:
			d.errorf(te.val, "%s has invalid type '%s' (expected shell, script, task or approval)", owner, t)
			def.broken = true
		}
	}
	for _, e := range es {
		types := actionKeyTypes[e.key]
		if types == "later" {
			l.errorAt(e.keyAt, "'%s' is not supported yet", e.key)
			continue
		}
		if a.Type != "" && !strings.Contains(types, a.Type) {
			l.errorAt(e.keyAt, "%s is type '%s' but has '%s' field", owner, a.Type, e.key)
			delete(byKey, e.key)
		}
	}
	if def.broken {
		return def
	}
	a.Runner = RunnerLocal
	switch a.Type {
	case TypeShell:
		l.exactlyOne(d, def, byKey, "cmd", "script")
		if e, ok := byKey["cmd"]; ok {
			l.actionTemplate(d, def, e, "cmd", &a.Inline)
		}
		if e, ok := byKey["script"]; ok {
			a.File = l.scriptFile(d, e, owner)
		}
	case TypeScript:
		l.exactlyOne(d, def, byKey, "script", "source")
		if e, ok := byKey["script"]; ok {
			l.actionTemplate(d, def, e, "script", &a.Inline)
			l.checkInlineScript(d, def, e)
		}
		if e, ok := byKey["source"]; ok {
			a.File = l.scriptFile(d, e, owner)
		}
	case TypeTask:
		a.Runner = RunnerNone
		e, ok := byKey["task"]
		if !ok {
			l.errorAt(keyAt, "%s is type 'task' but has no 'task'", owner)
			def.broken = true
		} else {
			a.Task, _ = l.text(d, e.val, owner+": 'task'")
			def.taskAt = d.at(e.val)
		}
	case TypeApproval:
		a.Runner = RunnerNone
		l.approval(d, def, byKey)
	}
	for _, e := range es {
		if _, kept := byKey[e.key]; !kept {
			continue
		}
		switch e.key {
		case "runner":
			r, _ := d.scalarText(e.val)
			switch r {
			case RunnerLocal:
			case "docker", "pod":
				d.errorf(e.val, "'runner: %s' is not supported yet", r)
			default:
				d.errorf(e.val, "%s has invalid runner '%s' (expected local)", owner, r)
			}
		case "env":
			a.Env = l.env(d, def, e)
		case "tags":
			a.Tags = l.stringList(d, e.val, owner+": 'tags'")
		case "retry":
			a.Retry = l.retry(d, e, owner)
		case "name":
			l.textField(d, e, owner, &a.DisplayName)
		case "description":
			l.textField(d, e, owner, &a.Description)
		case "input":
			if !inline {
				a.Input, def.fieldsOK = l.fields(d, e.val, owner)
			}
		case "queue":
			l.actionQueue(d, def, e)
		}
	}
	return def
}

// exactlyOne reports an action holding neither or both of two keys.
func (l *loader) exactlyOne(d *yamlDoc, def *actionDef, byKey map[string]entry, k1, k2 string) {
	_, has1 := byKey[k1]
	e2, has2 := byKey[k2]
	switch {
	case !has1 && !has2:
		l.errorAt(def.keyAt, "%s is type '%s' but has neither '%s' nor '%s'", def.owner, def.a.Type, k1, k2)
	case has1 && has2:
		l.errorAt(e2.keyAt, "%s is type '%s' but has both '%s' and '%s'", def.owner, def.a.Type, k1, k2)
		delete(byKey, k2)
	}
}

// actionTemplate parses an inline shell text (`cmd`, inline `script`)
// into *dst.
func (l *loader) actionTemplate(d *yamlDoc, def *actionDef, e entry, key string, dst **tmpl.Template) {
	owner := def.owner
	src, ok := l.text(d, e.val, fmt.Sprintf("%s: '%s'", owner, key))
	if !ok {
		return
	}
	l.parseLater(src, func(t *tmpl.Template, err error) {
		if err != nil {
			d.errorf(e.val, "%s %s: template error: %v", owner, key, err)
			return
		}
		*dst = t
		def.sites = append(def.sites, tmplSite{d: d, node: e.val, t: t, label: key, command: true})
	})
}

// checkInlineScript warns when the inline script of a `type: script`
// action is one word naming a workspace file: that text runs as a command
// (SPEC §3.2), where `source:` would run the file.
func (l *loader) checkInlineScript(d *yamlDoc, def *actionDef, e entry) {
	src, _ := d.scalarText(e.val)
	word := strings.TrimSpace(src)
	if word == "" || strings.ContainsAny(word, " \t\n\r'\"$;&|<>(){}`*?") {
		return
	}
	clean := path.Clean(filepath.ToSlash(word))
	fc, cached := l.files[clean]
	if !cached {
		fc = l.checkFile(word, clean)
		l.files[clean] = fc
	}
	if fc.outside || fc.missing || fc.notFile {
		return
	}
	a := d.at(e.val)
	l.warn(Problem{File: a.file, Line: a.line, Col: a.col, Message: fmt.Sprintf(
		"%s: 'script: %s' runs that text as an inline shell command, and '%s' is a file in the workspace (did you mean 'source: %s'?)",
		def.owner, word, word, word)})
}

// env reads an action's env map of templates.
func (l *loader) env(d *yamlDoc, def *actionDef, e entry) map[string]*tmpl.Template {
	owner := def.owner
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s: 'env' must be a mapping", owner)
		return nil
	}
	out := make(map[string]*tmpl.Template, len(es))
	for _, x := range es {
		if !validEnvName(x.key) {
			l.errorAt(x.keyAt, "%s has invalid env name '%s'", owner, x.key)
			continue
		}
		src, ok := l.text(d, x.val, fmt.Sprintf("%s: env '%s'", owner, x.key))
		if !ok {
			continue
		}
		l.parseLater(src, func(t *tmpl.Template, err error) {
			if err != nil {
				d.errorf(x.val, "%s env '%s': template error: %v", owner, x.key, err)
				return
			}
			out[x.key] = t
			def.sites = append(def.sites, tmplSite{d: d, node: x.val, t: t, label: fmt.Sprintf("env '%s'", x.key)})
		})
	}
	return out
}

// validEnvName implements ^[A-Za-z_][A-Za-z0-9_]*$.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// stringList reads a list of non-empty strings.
func (l *loader) stringList(d *yamlDoc, n ast.Node, what string) []string {
	items, isSeq := d.sequence(n)
	if !isSeq {
		d.errorf(n, "%s must be a list", what)
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := d.scalarText(it)
		if !ok || s == "" {
			d.errorf(it, "%s must hold non-empty strings", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

// fileCheck is the cached outcome of checking one workspace path.
type fileCheck struct {
	outside, missing, notFile bool
}

// scriptFile checks the script path of e (shell `script`, script `source`):
// relative to the workspace root, inside it after resolving symlinks, and an
// existing regular file. It returns the cleaned "/"-separated path, "" on
// a problem.
func (l *loader) scriptFile(d *yamlDoc, e entry, owner string) string {
	p, ok := l.text(d, e.val, fmt.Sprintf("%s: '%s'", owner, e.key))
	if !ok {
		return ""
	}
	if p == "" {
		d.errorf(e.val, "%s: '%s' is empty", owner, e.key)
		return ""
	}
	clean := path.Clean(filepath.ToSlash(p))
	fc, cached := l.files[clean]
	if !cached {
		fc = l.checkFile(p, clean)
		l.files[clean] = fc
	}
	switch {
	case fc.outside:
		d.errorf(e.val, "%s: %s '%s' is outside the workspace", owner, e.key, p)
	case fc.missing:
		d.errorf(e.val, "%s: %s file '%s' not found", owner, e.key, p)
	case fc.notFile:
		d.errorf(e.val, "%s: %s '%s' is not a file", owner, e.key, p)
	default:
		return clean
	}
	return ""
}

func (l *loader) checkFile(p, clean string) fileCheck {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		return fileCheck{outside: true}
	}
	full := filepath.Join(l.dir, filepath.FromSlash(clean))
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if _, lerr := os.Lstat(full); lerr == nil {
			// A dangling symlink: say where it points only if outside.
			if target, rerr := os.Readlink(full); rerr == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Join(filepath.Dir(full), target)
				}
				if !l.inside(target) {
					return fileCheck{outside: true}
				}
			}
		}
		return fileCheck{missing: true}
	}
	if !l.inside(real) {
		return fileCheck{outside: true}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fileCheck{missing: true}
	}
	if !fi.Mode().IsRegular() {
		return fileCheck{notFile: true}
	}
	return fileCheck{}
}
