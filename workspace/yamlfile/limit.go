package yamlfile

import (
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

const (
	// MaxSize is the largest YAML file accepted, in bytes (1 MiB).
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting of lists and mappings accepted
	// (block and flow collections counted alike). The YAML parser's cost
	// grows faster than linearly with depth; real files stay below 15.
	MaxDepth = 64
)

// Error is input over a limit. Line and Col (1-based, Col in characters)
// locate the collection that went deeper than MaxDepth; both are 0 when the
// input is too large.
type Error struct {
	Line, Col int
	Message   string
}

// Error formats the error as "line <l> col <c>: <message>" (or the message
// alone when there is no position).
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d col %d: %s", e.Line, e.Col, e.Message)
}

func sizeError() *Error {
	return &Error{Message: fmt.Sprintf("the file is larger than %d bytes (1 MiB); split it into several files", MaxSize)}
}

// ReadFile is os.ReadFile reading at most MaxSize+1 bytes: a larger file
// is a *Error (its size is not read into memory). Other errors are those of
// the os package, unwrapped, so errors.Is(err, fs.ErrNotExist) works.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxSize {
		return nil, sizeError()
	}
	return src, nil
}

// Check returns a *Error when src is larger than MaxSize or nests lists
// and mappings deeper than MaxDepth, else nil. It does not validate YAML;
// it errs towards counting a level too many on odd input (a plain scalar
// continued on a line that starts with "[" or "- "), never towards missing
// the nesting of a line that starts a collection, so a file it accepts
// parses to a tree at most about 2×MaxDepth deep.
func Check(src []byte) error {
	if len(src) > MaxSize {
		return sizeError()
	}
	s := scanner{src: src}
	return s.run()
}

// blockLevel is one open block collection: the column of its entries and
// whether it is a sequence ("- ") or a mapping ("key:", "? ").
type blockLevel struct {
	col int
	seq bool
}

// scanner finds the nesting depth of a YAML text line by line. Quoted
// scalars, comments and block scalars ("|", ">") are skipped, so brackets
// and indentation inside them are not counted; brackets inside flow
// collections always are (plain scalars cannot hold them there), and in
// block context only where a node starts.
type scanner struct {
	src []byte

	flow  int          // open flow collections ("[", "{")
	block []blockLevel // open block collections, columns increasing
	// quote is the open quoted scalar's quote character (0 if none); it
	// may span lines.
	quote byte
	// While inScalar, a block scalar's lines are skipped: blank ones, and
	// those indented at least as deep as its first non-blank line
	// (scalarIndent, -1 until seen), which must be deeper than the
	// collection holding the scalar (scalarParent, -1 at the top).
	inScalar     bool
	scalarParent int
	scalarIndent int

	line      int // 1-based number of the current line
	lineStart int // offset of the current line
}

func (s *scanner) run() error {
	src := s.src
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		src = src[3:] // byte order mark
		s.src = src
	}
	nodeStart := true
	for s.lineStart = 0; s.lineStart < len(src); {
		// Lines end at "\n", "\r\n" or a lone "\r", as in YAML.
		end := s.lineStart
		for end < len(src) && src[end] != '\n' && src[end] != '\r' {
			end++
		}
		s.line++
		var err error
		nodeStart, err = s.scanLine(src[s.lineStart:end], nodeStart)
		if err != nil {
			return err
		}
		if end+1 < len(src) && src[end] == '\r' && src[end+1] == '\n' {
			end++
		}
		s.lineStart = end + 1
	}
	return nil
}

// scanLine scans one line (without its newline); nodeStart says whether a
// node may start where the line starts (kept across lines inside flow
// collections), and the result is the same at its end.
func (s *scanner) scanLine(line []byte, nodeStart bool) (bool, error) {
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	blank := true
	for _, c := range line[indent:] {
		if c != ' ' && c != '\t' && c != '\r' {
			blank = false
			break
		}
	}
	if s.inScalar {
		switch {
		case blank:
			return nodeStart, nil
		case s.scalarIndent < 0 && indent > s.scalarParent:
			s.scalarIndent = indent
			return nodeStart, nil
		case s.scalarIndent >= 0 && indent >= s.scalarIndent:
			return nodeStart, nil
		}
		s.inScalar = false
	}
	i := 0
	if s.quote == 0 && s.flow == 0 {
		if blank || line[indent] == '#' {
			return true, nil
		}
		// A block node on this line is inside no block collection deeper
		// than its indentation.
		for len(s.block) > 0 && s.block[len(s.block)-1].col > indent {
			s.block = s.block[:len(s.block)-1]
		}
		if indent == 0 && (marker(line, "---") || marker(line, "...")) {
			s.block = s.block[:0]
			i = 3
		} else if indent == 0 && line[0] == '%' {
			return true, nil // a directive
		} else {
			i = indent
		}
		nodeStart = true
	}
	nodeCol := i // where the current block node started
	for ; i < len(line); i++ {
		c := line[i]
		if s.quote != 0 {
			switch {
			case s.quote == '"' && c == '\\':
				i++ // an escaped character
			case c == s.quote && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
				i++ // '' in a single-quoted scalar
			case c == s.quote:
				s.quote = 0
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r':
			continue
		case '#':
			if i == 0 || line[i-1] == ' ' || line[i-1] == '\t' {
				return nodeStart, nil // a comment
			}
		}
		if nodeStart {
			switch {
			case c == '"' || c == '\'':
				s.quote = c
				nodeStart, nodeCol = false, i
				continue
			case c == '[' || c == '{':
				s.flow++
				if err := s.depthAt(line, i); err != nil {
					return false, err
				}
				continue
			case s.flow == 0 && (c == '-' || c == '?' || c == ':') && separated(line, i+1):
				// "- " starts a sequence entry, "? " a mapping key, ": "
				// (after "? key") a mapping value.
				if err := s.startBlock(line, i, c == '-'); err != nil {
					return false, err
				}
				continue
			case s.flow == 0 && (c == '|' || c == '>'):
				s.inScalar = true
				s.scalarParent, s.scalarIndent = -1, -1
				if n := len(s.block); n > 0 {
					s.scalarParent = s.block[n-1].col
				}
				return true, nil // the rest is the header and a comment
			case c == '&' || c == '!':
				// An anchor or a tag: the node follows it.
				for i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
					i++
				}
				continue
			case s.flow > 0 && c == ',':
				continue
			case s.flow > 0 && (c == ']' || c == '}'):
				s.flow--
				nodeStart = false
				continue
			}
			nodeStart, nodeCol = false, i // a plain scalar or an alias
			continue
		}
		switch {
		case c == ':' && s.flow > 0:
			nodeStart = true // a value follows (JSON-like "a":b too)
		case c == ':' && separated(line, i+1):
			// The node that just ended is a key of a block mapping.
			if err := s.startBlock(line, nodeCol, false); err != nil {
				return false, err
			}
			nodeStart = true
		case s.flow > 0 && c == ',':
			nodeStart = true
		case s.flow > 0 && (c == '[' || c == '{'):
			s.flow++
			nodeStart = true
			if err := s.depthAt(line, i); err != nil {
				return false, err
			}
		case s.flow > 0 && (c == ']' || c == '}'):
			s.flow--
		}
	}
	return nodeStart, nil
}

// startBlock records a block collection entry at column col: the same
// collection as an open one at that column, or a new nested one (a
// sequence may sit at the column of the mapping key that holds it).
func (s *scanner) startBlock(line []byte, col int, seq bool) error {
	for len(s.block) > 0 && s.block[len(s.block)-1].col > col {
		s.block = s.block[:len(s.block)-1]
	}
	if n := len(s.block); n > 0 && s.block[n-1].col == col {
		top := s.block[n-1]
		switch {
		case top.seq == seq:
			return nil
		case top.seq: // a key after a sequence held by the previous key
			s.block = s.block[:n-1]
			if m := len(s.block); m > 0 && s.block[m-1].col == col && !s.block[m-1].seq {
				return nil
			}
		}
	}
	s.block = append(s.block, blockLevel{col: col, seq: seq})
	return s.depthAt(line, col)
}

// depthAt fails when the open collections are more than MaxDepth; i is the
// byte offset in line of the one just opened.
func (s *scanner) depthAt(line []byte, i int) error {
	if s.flow+len(s.block) <= MaxDepth {
		return nil
	}
	return &Error{
		Line:    s.line,
		Col:     utf8.RuneCount(line[:i]) + 1,
		Message: fmt.Sprintf("lists and mappings are nested more than %d levels deep", MaxDepth),
	}
}

// separated reports whether line[i] is the end of the line or a blank.
func separated(line []byte, i int) bool {
	return i >= len(line) || line[i] == ' ' || line[i] == '\t' || line[i] == '\r'
}

// marker reports whether line starts with the document marker m followed
// by a blank or the end of the line.
func marker(line []byte, m string) bool {
	return len(line) >= len(m) && string(line[:len(m)]) == m && separated(line, len(m))
}
