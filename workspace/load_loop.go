package workspace

// This file reads a step's loop keys (SPEC §3.4, issue 13): for_each (a
// template rendering to a list, or a literal list whose strings are
// templates), sequential and max_parallel; and it decides where the loop
// variables item and index exist: in the input of a for_each step only
// (not in its when:, which is evaluated once before the loop, nor in its
// for_each, which makes the list).

import (
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// ForEachKey is the key under which a step's loop list is compiled
// (Step.ForEach renders to {"for_each": list}); render errors name it.
const ForEachKey = "for_each"

// LoopVars are the names a for_each step's input sees besides its usual
// context: the item of the instance and its index (from 0).
var LoopVars = []string{"item", "index"}

// loopKeys are a step's loop entries as read.
type loopKeys struct {
	forEach, sequential, maxParallel *entry
}

func (k *loopKeys) add(x entry) {
	switch x.key {
	case "for_each":
		k.forEach = &x
	case "sequential":
		k.sequential = &x
	case "max_parallel":
		k.maxParallel = &x
	}
}

// loop reads a step's loop keys into sd.
func (l *loader) loop(d *yamlDoc, sd *stepDef, k loopKeys, owner string) {
	s := sd.s
	if k.forEach == nil {
		for _, x := range []*entry{k.sequential, k.maxParallel} {
			if x != nil {
				l.errorAt(x.keyAt, "%s has '%s' but no 'for_each'", owner, x.key)
			}
		}
		return
	}
	sd.loop = true
	n := k.forEach.val
	switch v := d.value(n).(type) {
	case []any:
	case string:
		if t, err := l.parse(v); err == nil && t.Static() {
			d.errorf(n, "%s: 'for_each' must be a list or a template such as \"{{ input.hosts }}\" (plain text is not a list)", owner)
			return
		}
	default:
		d.errorf(n, "%s: 'for_each' must be a list or a template such as \"{{ input.hosts }}\"", owner)
		return
	}
	for _, site := range l.appendInputSites(nil, d, n, ForEachKey, ForEachKey, 0) {
		site.label = strings.TrimSuffix(strings.TrimPrefix(site.label, "input '"), "'")
		sd.forEach = append(sd.forEach, site)
	}
	raw := map[string]any{ForEachKey: d.value(n)}
	l.compiles = append(l.compiles, &compileJob{raw: raw, apply: func(v *tmpl.Value, err error) {
		if err == nil {
			s.ForEach = v
			return
		}
		before := len(l.problems)
		l.templateLeaves(d, n, owner, ForEachKey)
		if len(l.problems) == before {
			d.errorf(n, "%s 'for_each': template error: %v", owner, err)
		}
	}})
	if k.sequential != nil {
		var seq bool
		if l.boolField(d, *k.sequential, owner, &seq) && seq {
			s.MaxParallel = 1
		}
	}
	if x := k.maxParallel; x != nil {
		if k.sequential != nil {
			l.errorAt(x.keyAt, "%s has both 'sequential' and 'max_parallel'", owner)
			return
		}
		n := -1
		if _, isInt := d.resolve(x.val).(*ast.IntegerNode); isInt {
			txt, _ := d.scalarText(x.val)
			if v, err := strconv.ParseInt(txt, 0, 64); err == nil && v >= 1 && v <= MaxLoopItems {
				n = int(v)
			}
		}
		if n < 0 {
			d.errorf(x.val, "%s: 'max_parallel' must be an integer from 1 to %d", owner, MaxLoopItems)
			return
		}
		s.MaxParallel = n
	}
}

// MaxLoopItems caps the length of a for_each list (a longer list fails the
// step when it is rendered).
const MaxLoopItems = 1000

// checkLoopNames refuses steps named like a loop variable in a task with a
// for_each step: the loop's input could not read them.
func (l *loader) checkLoopNames(td *taskDef) {
	loop := ""
	for _, sd := range td.steps {
		if sd.loop {
			loop = sd.s.Name
			break
		}
	}
	if loop == "" {
		return
	}
	for _, sd := range td.steps {
		if tn := TemplateName(sd.s.Name); tn == LoopVars[0] || tn == LoopVars[1] {
			l.errorAt(sd.keyAt, "step name '%s' is reserved in task '%s': it is a loop variable of for_each step '%s'", sd.s.Name, td.t.Name, loop)
		}
	}
}

// loopVarRef checks a reference to item or index in a template of sd:
// allowed in the input of a for_each step, an error anywhere else.
func (sc *scopeCheck) loopVarRef(sd *stepDef, label string, site *tmplSite, r tmpl.Ref) {
	input := strings.HasPrefix(site.label, "input ")
	switch {
	case sd.loop && input:
	case sd.loop && site.label == "when":
		sc.errorAt(site, r, "%s: '%s' is undefined: when: is evaluated once, before the loop (item and index exist in the step's input)", label, r)
	case sd.loop:
		sc.errorAt(site, r, "%s: '%s' is undefined: for_each makes the list (item and index exist in the step's input)", label, r)
	default:
		sc.errorAt(site, r, "%s: '%s' is undefined: item and index exist only in the input of a for_each step", label, r)
	}
}
