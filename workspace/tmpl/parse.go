package tmpl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// parse parses a non-static template.
func parse(src string) (*Template, error) {
	if i := strings.IndexByte(src, 0); i >= 0 {
		line, col := tokens.ReadablePosition(i, src)
		return nil, &Error{Line: line, Column: col, Msg: "template text contains a NUL byte"}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if err := checkTokens(toks); err != nil {
		return nil, err
	}
	root, err := eng.parseTokens(toks)
	if err != nil {
		return nil, parseError(err)
	}
	t := &Template{src: src}
	if t.flatten(root) {
		for _, p := range t.pieces {
			if p.out != nil {
				if err := guardTree(p.out); err != nil {
					return nil, err
				}
			}
		}
		return t, nil
	}
	// Control structures hide their bodies in private fields, so the output
	// tags inside them cannot be reached in the tree. Instead, the tokens of
	// every output tag are rewritten through the private formatting filter
	// and parsed again; the first parse above reported the user's errors.
	root, err = eng.parseTokens(rewriteOutputs(toks))
	if err != nil {
		return nil, &Error{Msg: "internal error: rewritten template does not parse: " + clip(err.Error())}
	}
	if err := guardTree(root); err != nil {
		return nil, err
	}
	t.root = root
	return t, nil
}

// lex tokenises src, dropping whitespace tokens like gonja's token stream
// does. gonja's parser silently stops at a lexer error token, so lex reports
// it instead.
func lex(src string) ([]*tokens.Token, error) {
	s := tokens.LexAll(src, eng.cfg)
	toks := make([]*tokens.Token, 0, len(src)/4+4)
	for {
		tok := s.Current()
		if tok == nil {
			break
		}
		if tok.Type == tokens.Error {
			return nil, lexError(src, tok)
		}
		toks = append(toks, tok)
		if tok.Type == tokens.EOF {
			break
		}
		s.Next()
	}
	return toks, nil
}

// lexError turns a lexer error token into an *Error. The lexer records only
// the byte offset, and for an unterminated string only the text after it.
func lexError(src string, tok *tokens.Token) *Error {
	msg := tok.Val
	known := false
	for _, prefix := range []string{"Unexpected", "Unbalanced", "Unable to find raw", "unclosed comment", "invalid numeric", "two dots"} {
		if strings.HasPrefix(msg, prefix) {
			known = true
			break
		}
	}
	if !known {
		msg = fmt.Sprintf("unterminated string %q", clip(msg))
	}
	// Positions are offsets into gonja's normalised input (CR LF → LF).
	norm := strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	pos := min(max(tok.Pos, 0), len(norm))
	line, col := tokens.ReadablePosition(pos, norm)
	return &Error{Line: line, Column: col, Msg: msg}
}

// maxNesting bounds bracket and block nesting: gonja's parser recurses
// once per level, and a stack overflow would kill the process.
const maxNesting = 100

// blockTags are the tags that open a block closed by "end<tag>".
var blockTags = map[string]bool{
	"if": true, "for": true, "macro": true, "call": true, "filter": true, "with": true,
	"block": true, "autoescape": true, "trans": true, "raw": true,
}

// checkTokens reports unknown filters and tests, reserved names and too deep
// nesting. gonja itself would only notice an unknown filter when rendering
// reaches it.
func checkTokens(toks []*tokens.Token) error {
	brackets, blocks := 0, 0
	for i, tok := range toks {
		switch tok.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			if brackets++; brackets > maxNesting {
				return posError(tok, fmt.Sprintf("expression nests deeper than %d brackets", maxNesting))
			}
			continue
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			brackets--
			continue
		case tokens.VariableBegin, tokens.BlockBegin:
			brackets = 0
			continue
		case tokens.Name:
		default:
			continue
		}
		if strings.HasPrefix(tok.Val, reservedPrefix) {
			return posError(tok, fmt.Sprintf("name '%s' is reserved", tok.Val))
		}
		if i == 0 {
			continue
		}
		prev := toks[i-1]
		switch {
		case prev.Type == tokens.BlockBegin:
			// A tag name: track block nesting ({% set x %} blocks included).
			name := tok.Val
			if end, ok := strings.CutPrefix(name, "end"); ok && (blockTags[end] || end == "set") {
				blocks--
			} else if blockTags[name] || name == "set" && isBlockSet(toks[i+1:]) {
				if blocks++; blocks > maxNesting {
					return posError(tok, fmt.Sprintf("tags nest deeper than %d levels", maxNesting))
				}
			}
		case prev.Type == tokens.Pipe,
			// {% filter upper %}…{% endfilter %}
			prev.Type == tokens.Name && prev.Val == "filter" && i >= 2 && toks[i-2].Type == tokens.BlockBegin:
			if !eng.filters.Exists(tok.Val) {
				return posError(tok, fmt.Sprintf("unknown filter '%s'", tok.Val))
			}
		case prev.Type == tokens.Is,
			prev.Type == tokens.Not && i >= 2 && toks[i-2].Type == tokens.Is:
			if !eng.tests.Exists(tok.Val) {
				return posError(tok, fmt.Sprintf("unknown test '%s'", tok.Val))
			}
		}
	}
	return nil
}

// isBlockSet reports whether the tag arguments (up to "%}") have no "=", as
// in the block form {% set x %}…{% endset %}.
func isBlockSet(args []*tokens.Token) bool {
	for _, tok := range args {
		switch tok.Type {
		case tokens.Assign:
			return false
		case tokens.BlockEnd, tokens.EOF:
			return true
		}
	}
	return true
}

func posError(tok *tokens.Token, msg string) *Error {
	return &Error{Line: tok.Line, Column: tok.Col, Msg: clip(msg)}
}

// parseError turns a gonja parse error into an *Error.
func parseError(err error) *Error {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		msg := strings.TrimSuffix(se.Message, ".")
		if se.Raw != "" {
			msg += fmt.Sprintf(" near %q", clip(se.Raw))
		}
		return &Error{Line: se.Line, Column: se.Column, Msg: clip(tagContext(err) + msg)}
	}
	return &Error{Msg: clip(tagContext(err) + strings.TrimSuffix(innermost(err), "."))}
}

// tagContext names the tag a parse error happened in: gonja wraps such
// errors as `Unable to parse controlStructure "if": …`.
func tagContext(err error) string {
	const prefix = `Unable to parse controlStructure "`
	s := err.Error()
	i := strings.LastIndex(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return fmt.Sprintf("in '%s' tag: ", rest[:j])
}

// flatten fills t.pieces when root holds only text, comments and output
// tags, and reports whether it did.
func (t *Template) flatten(root *nodes.Template) bool {
	pieces := make([]piece, 0, len(root.Nodes))
	outputs, comments := 0, 0
	blank := true
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *nodes.Data:
			text := dataText(n)
			if strings.TrimSpace(n.Data.Val) != "" {
				blank = false
			}
			if text != "" {
				pieces = append(pieces, piece{text: text})
			}
		case *nodes.Comment:
			comments++
		case *nodes.Output:
			outputs++
			pieces = append(pieces, piece{out: n})
		default:
			return false
		}
	}
	t.pieces = pieces
	if outputs == 1 && comments == 0 && blank {
		for i, p := range pieces {
			if p.out != nil {
				t.single = i + 1
			}
		}
	}
	return true
}

// dataText is the text gonja's renderer prints for a data node
// (exec.Renderer.Visit), computed once at parse time.
func dataText(n *nodes.Data) string {
	out := n.Data.Val
	if n.RemoveFirstLineReturn {
		out = strings.TrimPrefix(out, "\r\n")
		out = strings.TrimPrefix(out, "\n")
	}
	if n.Trim.Left {
		out = strings.TrimLeft(out, " \r\n\t")
	}
	if n.Trim.Right {
		out = strings.TrimRight(out, " \r\n\t")
	}
	if n.RemoveTrailingWhiteSpaceFromLastLine {
		lines := strings.Split(out, "\n")
		lines = append(lines[0:len(lines)-1], strings.TrimRight(lines[len(lines)-1], " \n\t\r"))
		out = strings.Join(lines, "\n")
	}
	return out
}

// rewriteOutputs returns toks with every output tag "{{ E }}" turned into
// "{{ (E) | __runnel_fmt(L, C) }}" and "{{ E if C else A }}" into
// "{{ (E) | __runnel_fmt(L, C) if (C) | __runnel_check(L, C) else (A) | __runnel_fmt(L, C) }}",
// where L and C are the position of the tag. The inline "if" and "else" are
// found at bracket depth 0, which is where gonja's grammar allows them.
func rewriteOutputs(toks []*tokens.Token) []*tokens.Token {
	out := make([]*tokens.Token, 0, len(toks)+16)
	for i := 0; i < len(toks); i++ {
		begin := toks[i]
		out = append(out, begin)
		if begin.Type != tokens.VariableBegin {
			continue
		}
		end := i + 1
		for end < len(toks) && toks[end].Type != tokens.VariableEnd && toks[end].Type != tokens.EOF {
			end++
		}
		body := toks[i+1 : end]
		ifAt, elseAt := len(body), len(body)
		depth := 0
		for j, tok := range body {
			switch tok.Type {
			case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
				depth++
			case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
				depth--
			case tokens.Name:
				if depth == 0 && ifAt == len(body) && tok.Val == "if" {
					ifAt = j
				} else if depth == 0 && ifAt < len(body) && elseAt == len(body) && tok.Val == "else" {
					elseAt = j
				}
			}
		}
		out = wrapFilter(out, begin, body[:ifAt], fmtFilter)
		if ifAt < len(body) {
			out = append(out, body[ifAt])
			out = wrapFilter(out, begin, body[ifAt+1:elseAt], checkFilter)
		}
		if elseAt < len(body) {
			out = append(out, body[elseAt])
			out = wrapFilter(out, begin, body[elseAt+1:], fmtFilter)
		}
		i = end - 1
	}
	return out
}

// wrapFilter appends "( expr ) | filter ( line , col )" to out; an empty
// expr is appended as is (it cannot occur after a successful parse).
func wrapFilter(out []*tokens.Token, at *tokens.Token, expr []*tokens.Token, filter string) []*tokens.Token {
	if len(expr) == 0 {
		return out
	}
	mk := func(typ tokens.Type, val string) *tokens.Token {
		return &tokens.Token{Type: typ, Val: val, Pos: at.Pos, Line: at.Line, Col: at.Col}
	}
	out = append(out, mk(tokens.LeftParenthesis, "("))
	out = append(out, expr...)
	return append(out,
		mk(tokens.RightParenthesis, ")"),
		mk(tokens.Pipe, "|"),
		mk(tokens.Name, filter),
		mk(tokens.LeftParenthesis, "("),
		mk(tokens.Integer, strconv.Itoa(at.Line)),
		mk(tokens.Comma, ","),
		mk(tokens.Integer, strconv.Itoa(at.Col)),
		mk(tokens.RightParenthesis, ")"),
	)
}
