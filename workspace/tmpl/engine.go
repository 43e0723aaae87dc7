package tmpl

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Names starting with reservedPrefix belong to runnel: the private filters
// below use it, and templates may not mention such names at all.
const reservedPrefix = "__runnel"

// fmtFilter is the private filter that every output expression of a template
// with control structures is rewritten through (see rewriteOutputs). Its two
// integer arguments are the line and column of the output tag.
const fmtFilter = reservedPrefix + "_fmt"

// checkFilter passes the condition of an inline "x if c" through unchanged,
// turning an error into a position marker like fmtFilter.
const checkFilter = reservedPrefix + "_check"

// engine is runnel's private gonja environment. It is built once, when the
// package is initialised, and never changed afterwards, so it is shared by all
// templates and goroutines like a constant table.
type engine struct {
	cfg      *config.Config
	filters  *exec.FilterSet
	tests    *exec.TestSet
	controls *exec.ControlStructureSet
	methods  exec.Methods
	loader   loaders.Loader
	// carrier is an empty template. gonja's Renderer takes the loader of its
	// evaluators from Renderer.Template, so renders of our own parsed trees
	// borrow this one.
	carrier *exec.Template
}

// eng is the package's only engine (immutable after init, see engine).
var eng = newEngine()

func newEngine() *engine {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.AutoEscape = false
	// Keep text exactly as written: a script's final newline stays.
	cfg.KeepTrailingNewline = true

	// A private copy: builtins.Filters is a shared global that must not change.
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	mustDo(filters.Replace("default", filterDefault))
	mustDo(filters.Replace("d", filterDefault))
	mustDo(filters.Register("json_encode", filterJSONEncode))
	mustDo(filters.Replace("wordwrap", filterWordwrap))
	// Every filter checks the render's budget (guard_filters.go).
	for _, name := range gonjaFilters {
		f, ok := filters.Get(name)
		if !ok {
			panic("tmpl: gonja has no filter " + name)
		}
		mustDo(filters.Replace(name, guardFilter(name, f)))
	}
	mustDo(filters.Register(fmtFilter, filterFormat))
	mustDo(filters.Register(checkFilter, filterCheck))
	mustDo(filters.Register(opFilter, filterOp))
	mustDo(filters.Register(loopFilter, filterLoop))
	mustDo(filters.Register(tickFilter, filterTick))

	controls := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{}).Update(builtins.ControlStructures)
	// Templates never read other templates or files.
	for _, name := range []string{"include", "import", "from", "extends"} {
		mustDo(controls.Replace(name, unsupportedTag(name)))
	}
	set, ok := controls.Get("set")
	if !ok {
		panic("tmpl: gonja has no 'set' tag")
	}
	mustDo(controls.Replace("set", guardedSet(set)))
	// gonja's raw tag panics on an empty body.
	mustDo(controls.Replace("raw", rawTag))
	macro, ok := controls.Get("macro")
	if !ok {
		panic("tmpl: gonja has no 'macro' tag")
	}
	mustDo(controls.Replace("macro", guardedMacro(macro)))

	methods := builtins.Methods
	// list.append and list.reverse modify the caller's slice in place, which
	// would change (and race on) the render context. Only copy stays.
	listCopy, ok := builtins.Methods.List.Get("copy")
	if !ok {
		panic("tmpl: gonja has no list.copy method")
	}
	methods.List = exec.NewMethodSet(map[string]exec.Method[[]any]{"copy": listCopy})
	// String methods that pad or repeat are checked before they allocate.
	str := make(map[string]exec.Method[string], len(gonjaStrMethods))
	for _, name := range gonjaStrMethods {
		m, ok := builtins.Methods.Str.Get(name)
		if !ok {
			panic("tmpl: gonja has no string method " + name)
		}
		str[name] = guardStrMethod(name, m)
	}
	methods.Str = exec.NewMethodSet(str)

	loader := loaders.MustNewMemoryLoader(map[string]string{"/carrier": ""})
	e := &engine{
		cfg:      cfg,
		filters:  filters,
		tests:    builtins.Tests,
		controls: controls,
		methods:  methods,
		loader:   loader,
	}
	carrier, err := exec.NewTemplate("/carrier", cfg, loader, e.environment(exec.EmptyContext()))
	mustDo(err)
	e.carrier = carrier
	return e
}

func mustDo(err error) {
	if err != nil {
		panic("tmpl: build template engine: " + err.Error())
	}
}

// environment returns a gonja environment over ctx.
func (e *engine) environment(ctx *exec.Context) *exec.Environment {
	return &exec.Environment{
		Context:           ctx,
		Filters:           e.filters,
		Tests:             e.tests,
		ControlStructures: e.controls,
		Methods:           e.methods,
	}
}

// parseTokens parses a token list (as made by lex) into a tree.
func (e *engine) parseTokens(toks []*tokens.Token) (*nodes.Template, error) {
	p := parser.NewParser("/tpl", tokens.NewStream(toks), e.cfg, e.loader, e.controls)
	return p.Parse()
}

// unsupportedTag replaces the tags that would load other templates.
func unsupportedTag(name string) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		msg := fmt.Sprintf("'%s' is not supported: templates cannot load other templates", name)
		if tok := args.Current(); tok != nil && tok.Line > 0 {
			return nil, args.Error(msg, tok)
		}
		return nil, errors.New(msg)
	}
}

// guardedSet allows only plain names as 'set' targets: gonja's
// "set a.b = …" and "set a[k] = …" write into the maps of the render
// context, which belong to the caller.
func guardedSet(orig parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		if args.Current(tokens.Name) != nil {
			if next := args.Peek(tokens.Dot, tokens.LeftBracket); next != nil {
				return nil, args.Error("'set' can only assign a plain name", next)
			}
		}
		return orig(p, args)
	}
}

// maxMacroDepth bounds macro recursion: gonja has no limit, and a macro that
// calls itself would otherwise overflow the goroutine stack, which kills the
// process.
const maxMacroDepth = 50

// guardedMacro makes every macro a depth-limited function.
func guardedMacro(orig parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		cs, err := orig(p, args)
		if err != nil {
			return nil, err
		}
		m, ok := cs.(*controlStructures.MacroControlStructure)
		if !ok {
			return nil, fmt.Errorf("unexpected macro structure %T", cs)
		}
		return &limitedMacro{MacroControlStructure: m}, nil
	}
}

// limitedMacro defines a macro like gonja does, then wraps the function it
// put into the render context with a call depth counter. Execute runs once
// per render, so each render has its own counter.
type limitedMacro struct {
	*controlStructures.MacroControlStructure
}

func (m *limitedMacro) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	if err := m.MacroControlStructure.Execute(r, tag); err != nil {
		return err
	}
	v, _ := r.Environment.Context.Get(m.Name)
	fn, ok := v.(exec.Macro)
	if !ok {
		return fmt.Errorf("macro '%s' is not a function", m.Name)
	}
	depth := 0
	b := budgetIn(r.Environment.Context)
	r.Environment.Context.Set(m.Name, exec.Macro(func(params *exec.VarArgs) *exec.Value {
		if err := b.tick(1); err != nil {
			return budgetValue(err)
		}
		if depth >= maxMacroDepth {
			return markerError(fmt.Sprintf("macro '%s' nests deeper than %d calls", m.Name, maxMacroDepth))
		}
		depth++
		defer func() { depth-- }()
		return fn(params)
	}))
	return nil
}

// rawTag is gonja's {% raw %}…{% endraw %} without its panic on an empty
// body: the body is printed exactly as written.
func rawTag(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	at := p.Current()
	wrapper, _, err := p.WrapUntil("endraw")
	if err != nil {
		return nil, err
	}
	if !args.End() {
		return nil, args.Error("raw takes no arguments", args.Current())
	}
	var text strings.Builder
	for _, n := range wrapper.Nodes {
		data, ok := n.(*nodes.Data)
		if !ok {
			return nil, p.Error("raw can only contain text", n.Position())
		}
		text.WriteString(data.Data.Val)
	}
	return &rawText{at: at, text: text.String()}, nil
}

// rawText is the body of a raw tag.
type rawText struct {
	at   *tokens.Token
	text string
}

func (r *rawText) Position() *tokens.Token { return r.at }
func (r *rawText) String() string {
	return fmt.Sprintf("RawControlStructure(Line=%d Col=%d)", r.at.Line, r.at.Col)
}

func (r *rawText) Execute(rr *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	_, err := io.WriteString(rr.Output, r.text)
	return err
}
