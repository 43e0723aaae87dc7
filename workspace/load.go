package workspace

// This file holds the loader API (Load, Problem, LoadError) and the file
// scan; load_*.go read the sections of a file, validate.go checks the whole.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
	"runnel/workspace/yamlfile"
)

// Problem is one load or validation error (or warning) with its position.
type Problem struct {
	// File is relative to the workspace root (".workflows/ci.yaml"); "" for
	// problems without a file (e.g. "no .workflows/ directory").
	File      string
	Line, Col int
	Message   string
}

// String formats the problem as "<file>:<line>:<col>: <message>", dropping
// the parts that are unknown.
func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line == 0:
		return p.File + ": " + p.Message
	default:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	}
}

// LoadError rejects a revision; it holds every problem, sorted by file,
// line, column and message.
type LoadError struct {
	Problems []Problem
}

// Error joins the problems with "\n": at most 20, then "… and <n> more".
func (e *LoadError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i == 20 {
			fmt.Fprintf(&b, "\n… and %d more", len(e.Problems)-20)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// First returns the first problem as a string ("" if none).
func (e *LoadError) First() string {
	if len(e.Problems) == 0 {
		return ""
	}
	return e.Problems[0].String()
}

// LoadOptions configure Load.
type LoadOptions struct {
	// Getenv answers get_env(name=…) in secret values; nil means
	// os.LookupEnv.
	Getenv func(name string) (string, bool)
	// Warn, when set, receives problems that do not reject a revision in
	// `runnel validate` (a secret's unset environment variable); when nil
	// those are errors, as in the server. It also receives every warning
	// (Snapshot.Warnings), sorted, at the end of the load, even when the
	// load fails.
	Warn func(Problem)
	// Templates, when set, shares parsed templates across loads (the
	// manager keeps one for all reloads); nil uses a cache per load.
	Templates *tmpl.Cache
}

// Load reads every *.yaml/*.yml file under dir/.workflows (recursively,
// depth ≤ 10, sorted by path, names starting with "." skipped), validates
// the whole (SPEC §3.9) and returns a snapshot with Dir = dir (Name and
// Revision are left for the caller). Any problem returns a *LoadError
// listing all of them; warnings (LoadOptions.Warn) do not.
func Load(dir string, opts LoadOptions) (*Snapshot, error) {
	l := newLoader(dir, opts)
	return l.load(l.scan())
}

// LoadFiles is Load over workflow files given in memory, keyed by their
// workspace-relative path (".workflows/ci.yaml"), instead of the files
// under dir/.workflows; dir is still the root that file references (script
// paths) resolve against. It checks a definition without writing a tree,
// and lets the fuzz target run without touching the disk per input.
func LoadFiles(dir string, files map[string][]byte, opts LoadOptions) (*Snapshot, error) {
	l := newLoader(dir, opts)
	l.sources = files
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return l.load(names)
}

// load parses files (workspace-relative), loads and validates them.
func (l *loader) load(files []string) (*Snapshot, error) {
	for _, d := range l.parseFiles(files) {
		l.loadDoc(d)
	}
	l.runTemplates()
	// Cross-file checks run even when files had problems, so every error
	// surfaces at once; they skip whatever a reported problem broke.
	l.check()
	l.checkQueues()
	l.checkScopes()
	warnings := sortProblems(l.warnings)
	if l.opts.Warn != nil {
		for _, w := range warnings {
			l.opts.Warn(w)
		}
	}
	if len(l.problems) > 0 {
		return nil, &LoadError{Problems: sortProblems(l.problems)}
	}
	l.snap.Warnings = warnings
	l.snap.LoadedAt = time.Now()
	return l.snap, nil
}

// sortProblems sorts by file, line, column and message and drops exact
// duplicates (a merged anchor can repeat one).
func sortProblems(ps []Problem) []Problem {
	slices.SortFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(ps)
}

// maxScanDepth is how deep below .workflows directories are scanned.
const maxScanDepth = 10

// loader holds one Load: the snapshot being built, every definition with
// its position, and the problems found so far. One goroutine owns it; the
// parallel phases (parseFiles, runTemplates) write only their own result
// slots.
type loader struct {
	dir      string
	opts     LoadOptions
	problems []Problem
	// warnings never reject the revision (Snapshot.Warnings).
	warnings []Problem
	snap     *Snapshot
	// secretsBroken: a secret had a problem, so the secrets tree is
	// incomplete and references into it are not checked.
	secretsBroken bool
	// sources, when set, holds the workflow files (LoadFiles) instead of
	// the disk.
	sources map[string][]byte

	actions  map[string]*actionDef
	tasks    map[string]*taskDef
	triggers map[string]*triggerDef
	// queues holds the declared queues; queueRefs every use of a queue
	// name (load_queue.go).
	queues    map[string]*queueDef
	queueRefs []queueRef
	// secretFiles maps top-level secret names to their file.
	secretFiles map[string]string
	// Definitions in file order, for deterministic checks.
	actionList  []*actionDef
	taskList    []*taskDef
	triggerList []*triggerDef
	hookList    []*hookDef

	// tmplCache shares parsed templates by source text.
	tmplCache map[string]tmplResult
	// Queued template work (load_template.go).
	parses   []parseJob
	compiles []*compileJob
	empty    *tmpl.Value
	// zones and schedules cache time zones and cron parses.
	zones     map[string]*time.Location
	schedules map[scheduleKey]scheduleResult
	// files caches path checks by cleaned path.
	files    map[string]fileCheck
	realRoot string
	rootErr  error
	rootDone bool
}

type tmplResult struct {
	t   *tmpl.Template
	err error
}

func newLoader(dir string, opts LoadOptions) *loader {
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	if opts.Templates == nil {
		opts.Templates = tmpl.NewCache(0)
	}
	return &loader{
		dir:  dir,
		opts: opts,
		snap: &Snapshot{
			Dir:      dir,
			Actions:  map[string]*Action{},
			Tasks:    map[string]*Task{},
			Triggers: map[string]*Trigger{},
			Queues:   map[string]*Queue{},
			Secrets:  map[string]any{},
		},
		actions:     map[string]*actionDef{},
		tasks:       map[string]*taskDef{},
		triggers:    map[string]*triggerDef{},
		queues:      map[string]*queueDef{},
		secretFiles: map[string]string{},
		tmplCache:   map[string]tmplResult{},
		files:       map[string]fileCheck{},
		zones:       map[string]*time.Location{},
		schedules:   map[scheduleKey]scheduleResult{},
	}
}

// add records a problem.
func (l *loader) add(p Problem) { l.problems = append(l.problems, p) }

// warn records a warning.
func (l *loader) warn(p Problem) { l.warnings = append(l.warnings, p) }

// errorAt records a problem at a.
func (l *loader) errorAt(a at, format string, args ...any) {
	l.add(Problem{File: a.file, Line: a.line, Col: a.col, Message: fmt.Sprintf(format, args...)})
}

// scan lists the workflow files, workspace-relative with "/" separators,
// sorted by path.
func (l *loader) scan() []string {
	root := filepath.Join(l.dir, ".workflows")
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		l.add(Problem{Message: "no .workflows/ directory"})
		return nil
	}
	var out []string
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		rel, relErr := filepath.Rel(l.dir, p)
		if relErr != nil {
			return relErr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			l.add(Problem{File: rel, Message: fmt.Sprintf("cannot read: %v", err)})
			return nil
		}
		if p == root {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			if strings.Count(rel, "/") > maxScanDepth {
				return filepath.SkipDir
			}
			return nil
		}
		ext := path.Ext(e.Name())
		if ext != ".yaml" && ext != ".yml" {
			return nil
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if !l.symlinkedFileOK(p, rel) {
				return nil
			}
		} else if !e.Type().IsRegular() {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		l.add(Problem{File: ".workflows", Message: fmt.Sprintf("cannot scan: %v", err)})
	}
	slices.Sort(out)
	return out
}

// symlinkedFileOK checks that a symlinked workflow file resolves to a
// regular file inside the workspace.
func (l *loader) symlinkedFileOK(p, rel string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		l.add(Problem{File: rel, Message: "broken symbolic link"})
		return false
	}
	if !l.inside(real) {
		l.add(Problem{File: rel, Message: "symbolic link points outside the workspace"})
		return false
	}
	fi, err := os.Stat(real)
	return err == nil && fi.Mode().IsRegular()
}

// inside reports whether the symlink-free path real lies in the workspace.
func (l *loader) inside(real string) bool {
	if !l.rootDone {
		l.rootDone = true
		l.realRoot, l.rootErr = filepath.EvalSymlinks(l.dir)
		if l.rootErr == nil {
			l.realRoot, l.rootErr = filepath.Abs(l.realRoot)
		}
	}
	if l.rootErr != nil {
		return false
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(l.realRoot, abs)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// topKeys are a file's top-level keys; true = [later].
var topKeys = map[string]bool{
	"secrets": false, "actions": false, "tasks": false, "triggers": false,
	"on_success": false, "on_error": false, "on_cancel": false, "queues": false,
	"connection_types": true, "connections": true, "on_suspended": true, "mcp_servers": true,
}

// parseFiles reads and parses the files on all cores; it returns the usable
// documents in file order.
func (l *loader) parseFiles(files []string) []*yamlDoc {
	docs := make([]*yamlDoc, len(files))
	probs := make([][]Problem, len(files))
	parallel(len(files), func(i int) {
		rel := files[i]
		report := func(p Problem) { probs[i] = append(probs[i], p) }
		if strings.HasSuffix(rel, ".sops.yaml") || strings.HasSuffix(rel, ".sops.yml") {
			report(Problem{File: rel, Message: "'*.sops.yaml' is not supported yet"})
			return
		}
		src, ok := l.sources[rel]
		if !ok {
			var err error
			src, err = yamlfile.ReadFile(filepath.Join(l.dir, filepath.FromSlash(rel)))
			var le *yamlfile.Error
			switch {
			case errors.As(err, &le):
				report(fileProblem(rel, le))
				return
			case err != nil:
				report(Problem{File: rel, Message: fmt.Sprintf("cannot read: %v", err)})
				return
			}
		}
		docs[i] = parseYAML(rel, src, report)
	})
	out := docs[:0]
	for i, d := range docs {
		l.problems = append(l.problems, probs[i]...)
		if d != nil && d.body != nil {
			d.report = l.add
			out = append(out, d)
		}
	}
	return out
}

// loadDoc reads one parsed workflow file into the loader.
func (l *loader) loadDoc(d *yamlDoc) {
	es, ok := d.mappingEntries(d.body)
	if !ok {
		d.errorf(d.body, "a workflow file must be a mapping (secrets, actions, tasks, triggers, on_success, on_error, on_cancel)")
		return
	}
	for _, e := range es {
		later, known := topKeys[e.key]
		switch {
		case !known:
			l.errorAt(e.keyAt, "unknown field %q at the top level%s", e.key, didYouMean(e.key, supportedKeys(topKeys, true)))
			continue
		case later:
			l.errorAt(e.keyAt, "'%s' is not supported yet", e.key)
			continue
		}
		switch e.key {
		case "secrets":
			l.secrets(d, e)
		case "on_success":
			l.hooks(d, e, "", &l.snap.Hooks.OnSuccess)
		case "on_error":
			l.hooks(d, e, "", &l.snap.Hooks.OnError)
		case "on_cancel":
			l.hooks(d, e, "", &l.snap.Hooks.OnCancel)
		default:
			defs, isMap := d.mappingEntries(e.val)
			if !isMap {
				d.errorf(e.val, "'%s' must be a mapping of names to definitions", e.key)
				continue
			}
			for _, def := range defs {
				switch e.key {
				case "actions":
					l.namedAction(d, def)
				case "tasks":
					l.task(d, def)
				case "triggers":
					l.trigger(d, def)
				case "queues":
					l.queue(d, def)
				}
			}
		}
	}
}

// validName implements name rule N: ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkName reports an invalid action, task or trigger name.
func (l *loader) checkName(kind string, e entry) {
	switch {
	case strings.HasPrefix(e.key, "_"):
		l.errorAt(e.keyAt, "invalid %s name '%s' (names starting with '_' are reserved)", kind, e.key)
	case !validName(e.key):
		l.errorAt(e.keyAt, "invalid %s name '%s'", kind, e.key)
	}
}

// text reads a scalar as text; a mapping or list is reported as
// "<what> must be a string".
func (l *loader) text(d *yamlDoc, n ast.Node, what string) (string, bool) {
	s, ok := d.scalarText(n)
	if !ok {
		d.errorf(n, "%s must be a string", what)
	}
	return s, ok
}

// textField reads a string field of owner into dst.
func (l *loader) textField(d *yamlDoc, e entry, owner string, dst *string) bool {
	s, ok := l.text(d, e.val, fmt.Sprintf("%s: '%s'", owner, e.key))
	*dst = s
	return ok
}

// boolField reads a boolean field of owner into dst.
func (l *loader) boolField(d *yamlDoc, e entry, owner string, dst *bool) bool {
	b, ok := d.resolve(e.val).(*ast.BoolNode)
	if !ok {
		d.errorf(e.val, "%s: '%s' must be true or false", owner, e.key)
		return false
	}
	*dst = b.Value
	return true
}

// definedTwice reports a name defined in an earlier file too.
func (l *loader) definedTwice(kind, name, first string, e entry) {
	if first == e.keyAt.file {
		l.errorAt(e.keyAt, "%s '%s' is defined twice in %s", kind, name, first)
		return
	}
	l.errorAt(e.keyAt, "%s '%s' is defined in both %s and %s", kind, name, first, e.keyAt.file)
}
