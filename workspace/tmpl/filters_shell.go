package tmpl

import (
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// ShellQuoteFilter is the name of the filter that quotes a value as one
// POSIX sh word (SPEC §4.1, runnel): {{ input.who | shell_quote }}.
const ShellQuoteFilter = "shell_quote"

// The shell_quote filter is part of the engine; it is registered while the
// package is initialised, right after eng is built and before any template
// is parsed, so the engine stays immutable for every caller.
func init() {
	mustDo(eng.filters.Register(ShellQuoteFilter, filterShellQuote))
}

// filterShellQuote formats its input like an output tag (SPEC §4.2: a
// string as is, numbers as JSON, true/false, objects and arrays as compact
// JSON, null as nothing) and returns that text as one single-quoted POSIX
// sh word (see ShellQuote); null and the empty string give an empty quoted
// word. The shell expands nothing inside single quotes, so the word arrives
// verbatim as one argument. It takes no arguments; an undefined input stays
// an error.
func filterShellQuote(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(params.Args) > 0 || len(params.KwArgs) > 0 {
		return markerError("filter 'shell_quote' takes no arguments")
	}
	var text strings.Builder
	if err := appendFormatted(&text, in); err != nil {
		return markerError("filter 'shell_quote': " + clip(err.Error()))
	}
	return exec.AsValue(ShellQuote(text.String()))
}

// ShellQuote returns s as one single-quoted POSIX sh word. An embedded
// single quote becomes the four characters quote, backslash, quote, quote
// (close the quoted part, an escaped quote, reopen).
func ShellQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(`'\''`)
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('\'')
	return b.String()
}
