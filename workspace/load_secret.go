package workspace

// This file reads and renders secrets (SPEC §3.6).

import (
	"errors"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// secrets reads a file's `secrets:` section into the snapshot.
func (l *loader) secrets(d *yamlDoc, e entry) {
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "'secrets' must be a mapping of names to values")
		l.secretsBroken = true
		return
	}
	for _, x := range es {
		v, ok := l.secret(d, x, x.key)
		if first, dup := l.secretFiles[x.key]; dup {
			l.definedTwice("secret", x.key, first, x)
			continue
		}
		l.secretFiles[x.key] = d.file
		if ok {
			l.snap.Secrets[x.key] = v
		} else {
			l.secretsBroken = true
		}
	}
}

// validSecretKey implements [A-Za-z0-9_]+.
func validSecretKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// secret reads one secret (a string, or a mapping of secrets) named by its
// dotted path; it renders strings holding "{{" with get_env.
func (l *loader) secret(d *yamlDoc, x entry, name string) (any, bool) {
	if !validSecretKey(x.key) {
		l.errorAt(x.keyAt, "secret name '%s' contains invalid characters", name)
	}
	switch r := d.resolve(x.val).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.mappingEntries(r)
		out := make(map[string]any, len(es))
		ok := true
		for _, y := range es {
			v, good := l.secret(d, y, name+"."+y.key)
			ok = ok && good
			out[y.key] = v
		}
		return out, ok
	case *ast.SequenceNode:
		d.errorf(x.val, "secret '%s' must be a string or a mapping", name)
		return nil, false
	}
	s, _ := d.scalarText(x.val)
	if s == "" {
		d.errorf(x.val, "secret '%s' has an empty value", name)
		return nil, false
	}
	if strings.HasPrefix(s, "ref+") {
		d.errorf(x.val, "'ref+' secret references are not supported yet")
		return nil, false
	}
	if !strings.Contains(s, "{{") {
		return s, true
	}
	t, err := l.parse(s)
	if err != nil {
		d.errorf(x.val, "secret '%s': template error: %v", name, err)
		return nil, false
	}
	unset := false
	out, err := t.RenderEnv(func(v string) (string, bool) {
		val, ok := l.opts.Getenv(v)
		if !ok {
			unset = true
		}
		return val, ok
	})
	if err == nil {
		return out, true
	}
	msg := err.Error()
	var te *tmpl.Error
	if errors.As(err, &te) {
		msg = te.Msg
	}
	a := d.at(x.val)
	p := Problem{File: a.file, Line: a.line, Col: a.col, Message: "secret '" + name + "': " + msg}
	if unset && l.opts.Warn != nil {
		l.opts.Warn(p)
		return "", true
	}
	l.add(p)
	return nil, false
}
