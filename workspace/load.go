package workspace

// This file fixes the loader API that the rest of runnel builds against.
// The body of Load is filled in by the loader implementation.

import (
	"errors"
	"fmt"
	"strings"
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
	// those are errors, as in the server.
	Warn func(Problem)
}

// ErrNotImplemented is returned by API stubs that are not written yet.
var ErrNotImplemented = errors.New("workspace: not implemented")

// Load reads every *.yaml/*.yml file under dir/.workflows (recursively,
// depth ≤ 10, sorted by path, names starting with "." skipped), validates
// the whole (SPEC §3.9) and returns a snapshot with Dir = dir (Name and
// Revision are left for the caller). Any problem returns a *LoadError
// listing all of them.
func Load(dir string, opts LoadOptions) (*Snapshot, error) {
	return nil, ErrNotImplemented
}
