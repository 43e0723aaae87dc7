package config

// This file holds how problems are reported.

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration. Line and Col (1-based)
// are set when the value came from File; Env names the RUNNEL__ variable
// when it came from the environment; both are empty for defaults and for
// configs built in code.
type Problem struct {
	File      string
	Line, Col int
	Env       string
	// Key is the dotted key the problem is about ("" for the whole file).
	Key string
	// Message is self-contained and names the key.
	Message string
}

// String formats p as `file:line:col: message`, `VAR: message` or `message`.
func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	case p.File != "":
		return p.File + ": " + p.Message
	case p.Env != "":
		return p.Env + ": " + p.Message
	}
	return p.Message
}

// Error lists every problem found while loading or validating a
// configuration; Error joins them with "\n". Problems from the file come
// first in file order, then those from the environment, then the rest.
type Error struct {
	Problems []Problem
}

// Error is one problem a line, in order.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

type cfgProblems []Problem

func (ps *cfgProblems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (ps *cfgProblems) tags(key string, tags []string) {
	for i, t := range tags {
		if strings.TrimSpace(t) == "" {
			k := fmt.Sprintf("%s[%d]", key, i)
			ps.add(k, "%s must not be empty", k)
		}
	}
}

func cfgProblemsError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &Error{Problems: ps}
}

func cfgValidPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func cfgStatReason(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "no such file"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func cfgSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cfgLookupEnv(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
