package yamlfile

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxNodes is the most YAML nodes one file may expand to when aliases are
// followed, so alias chains ("billion laughs") cannot make a load run away.
const MaxNodes = 250_000

// Parse checks src against MaxSize and MaxDepth and parses it. A file over
// a limit, a syntax error and a crash of the parser (third-party code fed
// with user input) are all a *Error, positioned where the parser or the
// check says (0, 0 when unknown).
func Parse(src []byte) (f *ast.File, err error) {
	if err := Check(src); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &Error{Message: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	f, err = parser.ParseBytes(src, 0)
	if err != nil {
		return nil, syntaxError(err)
	}
	return f, nil
}

// syntaxError is a parser error as an *Error with the parser's message and
// the position of the token it names.
func syntaxError(err error) *Error {
	e := &Error{Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// Pos returns the 1-based line and column of n as a reader names it in a
// problem: the first key of a mapping, the token of anything else; 0, 0 if
// unknown.
func Pos(n ast.Node) (line, col int) {
	switch v := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(v.Values) > 0 {
			return Pos(v.Values[0])
		}
		if v.Start != nil && v.Start.Position != nil {
			return v.Start.Position.Line, v.Start.Position.Column
		}
		return 0, 0
	case *ast.MappingValueNode:
		return Pos(v.Key)
	case *ast.DocumentNode:
		return Pos(v.Body)
	}
	return TokenPos(n)
}

// TokenPos returns the 1-based line and column of n's own token (for a
// mapping, the token the parser gives it rather than its first key); 0, 0
// if unknown.
func TokenPos(n ast.Node) (line, col int) {
	if n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// Budget counts the nodes one file expands to against MaxNodes. The zero
// value is an unused budget.
type Budget struct {
	used int
}

// Spend adds n nodes. over reports whether the total is now beyond
// MaxNodes; first is true only on the call that went beyond, so the caller
// reports the problem once.
func (b *Budget) Spend(n int) (over, first bool) {
	before := b.used
	b.used += n
	if b.used <= MaxNodes {
		return false, false
	}
	b.used = MaxNodes + 1 // no overflow however often it is called
	return true, before <= MaxNodes
}

// TooManyNodes is the message for a file over MaxNodes.
func TooManyNodes() string {
	return fmt.Sprintf("the file expands to more than %d YAML nodes (aliases)", MaxNodes)
}
