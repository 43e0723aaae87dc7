package workspace

// This file holds the loader's template work (SPEC §4): every templated
// field is parsed at load. Parses and compiles are queued while the files
// are read and run afterwards on all cores, each distinct source once.

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// parseJob is a queued template parse and what to do with its result.
type parseJob struct {
	src   string
	apply func(*tmpl.Template, error)
}

// compileJob is a queued tmpl.Compile of a step or hook input.
type compileJob struct {
	raw   map[string]any
	apply func(*tmpl.Value, error)
	// Results, filled by runTemplates.
	v   *tmpl.Value
	err error
}

// parse parses a template now, once per distinct source text.
func (l *loader) parse(src string) (*tmpl.Template, error) {
	if r, ok := l.tmplCache[src]; ok {
		return r.t, r.err
	}
	t, err := safeParse(l.opts.Templates, src)
	l.tmplCache[src] = tmplResult{t, err}
	return t, err
}

// parseLater queues a parse; apply runs in queue order in runTemplates.
func (l *loader) parseLater(src string, apply func(*tmpl.Template, error)) {
	l.parses = append(l.parses, parseJob{src: src, apply: apply})
}

// emptyInput returns the compiled empty input (shared; values are
// immutable).
func (l *loader) emptyInput() *tmpl.Value {
	if l.empty == nil {
		l.empty, _ = tmpl.Compile(map[string]any{})
	}
	return l.empty
}

// templateInput reads a step or hook input mapping (strings at any depth
// are templates) and queues its compilation; set receives the empty input
// now and the compiled one when it succeeds. It returns the input's
// top-level keys, nil when the input is not a mapping.
func (l *loader) templateInput(d *yamlDoc, n ast.Node, owner string, set func(*tmpl.Value)) map[string]bool {
	set(l.emptyInput())
	es, isMap := d.mappingEntries(n)
	if !isMap {
		d.errorf(n, "%s: 'input' must be a mapping", owner)
		return nil
	}
	keys := make(map[string]bool, len(es))
	if len(es) == 0 {
		return keys
	}
	raw := make(map[string]any, len(es))
	for _, e := range es {
		keys[e.key] = true
		raw[e.key] = d.value(e.val)
	}
	l.compiles = append(l.compiles, &compileJob{raw: raw, apply: func(v *tmpl.Value, err error) {
		if err == nil {
			set(v)
			return
		}
		before := len(l.problems)
		for _, e := range es {
			l.templateLeaves(d, e.val, owner, e.key)
		}
		if len(l.problems) == before {
			d.errorf(n, "%s input: template error: %v", owner, err)
		}
	}})
	return keys
}

// templateLeaves parses every string below n, reporting template errors at
// their position with their path ("msg", "a.b", "list[2]").
func (l *loader) templateLeaves(d *yamlDoc, n ast.Node, owner, p string) {
	if d.visit() {
		return
	}
	switch r := d.resolve(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.mappingEntries(r)
		for _, e := range es {
			l.templateLeaves(d, e.val, owner, p+"."+e.key)
		}
	case *ast.SequenceNode:
		for i, it := range r.Values {
			l.templateLeaves(d, it, owner, fmt.Sprintf("%s[%d]", p, i))
		}
	default:
		s, isStr := d.value(n).(string)
		if !isStr {
			return
		}
		if _, err := l.parse(s); err != nil {
			d.errorf(n, "%s input '%s': template error: %v", owner, p, err)
		}
	}
}

// runTemplates runs the queued parses (each distinct source once) and
// compiles on all cores, then applies the results in queue order.
func (l *loader) runTemplates() {
	var srcs []string
	for _, j := range l.parses {
		if _, done := l.tmplCache[j.src]; !done {
			l.tmplCache[j.src] = tmplResult{} // placeholder: claimed
			srcs = append(srcs, j.src)
		}
	}
	results := make([]tmplResult, len(srcs))
	parallel(len(srcs)+len(l.compiles), func(i int) {
		if i < len(srcs) {
			t, err := safeParse(l.opts.Templates, srcs[i])
			results[i] = tmplResult{t, err}
			return
		}
		j := l.compiles[i-len(srcs)]
		j.v, j.err = safeCompile(l.opts.Templates, j.raw)
	})
	for i, src := range srcs {
		l.tmplCache[src] = results[i]
	}
	for _, j := range l.parses {
		r := l.tmplCache[j.src]
		j.apply(r.t, r.err)
	}
	for _, j := range l.compiles {
		j.apply(j.v, j.err)
	}
	l.parses, l.compiles = nil, nil
}

// parallel calls fn(0) … fn(n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// safeParse is tmpl.Parse turning a panic of the engine into an error, so
// user input can never crash a load.
func safeParse(c *tmpl.Cache, src string) (t *tmpl.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &tmpl.Error{Msg: fmt.Sprintf("internal template engine error: %v", r)}
		}
	}()
	return c.Parse(src)
}

// safeCompile is tmpl.Compile turning a panic into an error.
func safeCompile(c *tmpl.Cache, raw map[string]any) (v *tmpl.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("internal template engine error: %v", r)
		}
	}()
	return c.Compile(raw)
}
