package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// gonjaFilters are gonja v2.9.1's built-in filters; each is wrapped so
// that it checks the render's budget, and its string result is charged to
// it. sizeChecks adds, for the filters whose output grows with an
// argument, a check of that size before the filter allocates.
var gonjaFilters = []string{
	"abs", "attr", "batch", "capitalize", "center", "d", "default", "dictsort", "e", "escape",
	"filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int",
	"join", "items", "last", "length", "count", "list", "lower", "map", "max", "min", "pprint",
	"random", "rejectattr", "reject", "replace", "reverse", "round", "safe", "selectattr",
	"select", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
	"truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
	"json_encode",
}

// sizeChecks estimate, from a filter's input and arguments, the size of
// what it is about to build (bytes, or items for list sizes); an error
// stops the filter before it runs.
var sizeChecks = map[string]func(b *budget, in *exec.Value, p *exec.VarArgs) *Error{
	"center": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		return b.grow("filter 'center'", intArg(p, 0, "width", 0))
	},
	"indent": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		w := 4
		if v := arg(p, 0, "width"); v != nil {
			if v.IsString() {
				w = len(v.String())
			} else {
				w = v.Integer()
			}
		}
		if w < 0 {
			w = 0
		}
		s := in.String()
		lines := strings.Count(s, "\n") + 1
		return b.grow("filter 'indent'", addSize(len(s), mulSize(lines, w)))
	},
	"batch": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		return itemCount(b, "filter 'batch'", intArg(p, 0, "linecount", 0))
	},
	"slice": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		return itemCount(b, "filter 'slice'", intArg(p, 0, "slices", 0))
	},
	"tojson": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		if n := intArg(p, -1, "indent", 0); n > maxJSONIndent {
			return b.fail(fmt.Sprintf("filter 'tojson': indent %d is more than %d", n, maxJSONIndent))
		}
		return nil
	},
	"replace": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		old, repl := arg(p, 0, "old"), arg(p, 1, "new")
		if old == nil || repl == nil {
			return nil
		}
		limit := -1
		if c := arg(p, -1, "count"); c != nil && !c.IsNil() {
			limit = c.Integer()
		}
		return b.grow("filter 'replace'", replaceSize(in.String(), old.String(), repl.String(), limit))
	},
	"join": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		sep := ""
		if v := arg(p, 0, "d"); v != nil {
			sep = v.String()
		}
		if !in.IsList() {
			return nil
		}
		n := mulSize(max(in.Len()-1, 0), len(sep))
		in.Iterate(func(_, _ int, item, _ *exec.Value) bool {
			n = addSize(n, len(item.String()))
			return n >= 0 && n <= b.lim.Output
		}, func() {})
		return b.grow("filter 'join'", n)
	},
	"format": func(b *budget, in *exec.Value, p *exec.VarArgs) *Error {
		n := addSize(len(in.String()), numbersIn(in.String()))
		for _, a := range p.Args {
			n = addSize(n, len(a.String()))
		}
		return b.grow("filter 'format'", n)
	},
}

// maxJSONIndent bounds tojson's indent argument.
const maxJSONIndent = 32

func itemCount(b *budget, what string, n int) *Error {
	if n > maxItems {
		return b.fail(fmt.Sprintf("%s: %d items is more than %d", what, n, maxItems))
	}
	return nil
}

// arg returns positional argument i (i < 0: none) or keyword name.
func arg(p *exec.VarArgs, i int, name string) *exec.Value {
	if v, ok := p.KwArgs[name]; ok {
		return v
	}
	if i >= 0 && i < len(p.Args) {
		return p.Args[i]
	}
	return nil
}

func intArg(p *exec.VarArgs, i int, name string, def int) int {
	if v := arg(p, i, name); v != nil && (v.IsInteger() || v.IsFloat()) {
		return v.Integer()
	}
	return def
}

// replaceSize is the length of strings.Replace(s, old, repl, limit).
func replaceSize(s, old, repl string, limit int) int {
	var n int
	if old == "" {
		n = utf8.RuneCountInString(s) + 1
	} else {
		n = strings.Count(s, old)
	}
	if limit >= 0 && limit < n {
		n = limit
	}
	if len(repl) <= len(old) {
		return len(s)
	}
	return addSize(len(s), mulSize(n, len(repl)-len(old)))
}

// numbersIn sums the decimal numbers written in s (the widths and
// precisions of a format string), saturating.
func numbersIn(s string) int {
	total, cur := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if cur < 1<<40 {
				cur = cur*10 + int(s[i]-'0')
			}
			continue
		}
		total = addSize(total, cur)
		if total < 0 {
			return -1
		}
		cur = 0
	}
	return total
}

// guardFilter wraps a filter with the budget checks.
func guardFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	check := sizeChecks[name]
	what := "filter '" + name + "'"
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		b := budgetOf(e)
		if err := b.tick(0); err != nil {
			return budgetValue(err)
		}
		if check != nil && !in.IsError() {
			if err := check(b, in, params); err != nil {
				return budgetValue(err)
			}
		}
		out := f(e, in, params)
		if out != nil && out.IsString() {
			if err := b.grow(what, len(out.String())); err != nil {
				return budgetValue(err)
			}
		}
		return out
	}
}

// filterWordwrap is gonja's wordwrap(width=79) in linear time (gonja's
// appends word by word to one string, quadratic in a paragraph's length).
func filterWordwrap(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	width := 79
	switch {
	case len(params.Args) > 1 || len(params.KwArgs) > 1:
		return markerError("filter 'wordwrap': takes only width")
	case len(params.Args) == 1:
		width = params.Args[0].Integer()
	case len(params.KwArgs) == 1:
		v, ok := params.KwArgs["width"]
		if !ok {
			return markerError("filter 'wordwrap': takes only width")
		}
		width = v.Integer()
	}
	if width <= 0 {
		return in
	}
	var out strings.Builder
	for i, paragraph := range strings.Split(in.String(), "\n") {
		if i > 0 {
			out.WriteByte('\n')
		}
		cur := 0 // runes on the current line
		for j, word := range strings.Fields(paragraph) {
			n := utf8.RuneCountInString(word)
			switch {
			case j == 0:
			case cur+1+n <= width:
				out.WriteByte(' ')
				cur++
			default:
				out.WriteByte('\n')
				cur = 0
			}
			out.WriteString(word)
			cur += n
		}
	}
	return exec.AsValue(out.String())
}

// maxMethodArg bounds the integer arguments of string methods (widths,
// counts): methods do not see the render's budget, so they are held to the
// default output budget.
const maxMethodArg = DefaultOutput

// guardStrMethod wraps a string method with size checks before it runs.
func guardStrMethod(name string, m exec.Method[string]) exec.Method[string] {
	what := fmt.Sprintf("method '%s'", name)
	return func(self string, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
		fail := func(msg string) (any, error) {
			return nil, errors.New(marker(0, 0, what+": "+msg))
		}
		for _, a := range append(append([]*exec.Value{}, args.Args...), mapValues(args.KwArgs)...) {
			if a.IsInteger() && a.Integer() > maxMethodArg {
				return fail(fmt.Sprintf("argument %d exceeds the %s output budget", a.Integer(), sizeText(maxMethodArg)))
			}
		}
		size := len(self)
		switch name {
		case "expandtabs":
			size = addSize(size, mulSize(strings.Count(self, "\t"), intArg(args, 0, "tabsize", 8)))
		case "format", "format_map":
			size = addSize(size, numbersIn(self))
			for _, a := range args.Args {
				size = addSize(size, len(a.String()))
			}
		case "replace":
			if o, r := arg(args, 0, "old"), arg(args, 1, "new"); o != nil && r != nil {
				size = replaceSize(self, o.String(), r.String(), intArg(args, 2, "count", -1))
			}
		case "join":
			if it := arg(args, 0, "iterable"); it != nil && it.IsList() {
				size = mulSize(max(it.Len()-1, 0), len(self))
				it.Iterate(func(_, _ int, item, _ *exec.Value) bool {
					size = addSize(size, len(item.String()))
					return size >= 0 && size <= maxMethodArg
				}, func() {})
			}
		}
		if size < 0 || size > maxMethodArg {
			return fail(fmt.Sprintf("would make %s: exceeded the %s output budget", sizeText(size), sizeText(maxMethodArg)))
		}
		return m(self, selfValue, args)
	}
}

func mapValues(m map[string]*exec.Value) []*exec.Value {
	out := make([]*exec.Value, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// gonjaStrMethods are gonja v2.9.1's string methods.
var gonjaStrMethods = []string{
	"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs",
	"find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
	"islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust",
	"lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust",
	"rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
	"title", "upper", "zfill",
}
