package config

// This file holds decoding the tree onto a struct against its `yaml` tags,
// with ${VAR} expansion.

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"runnel/workspace"
)

// ---- decoding the tree onto a struct ----

var cfgPrefixType = reflect.TypeFor[netip.Prefix]()

type cfgDecoder struct {
	environ  []string
	rejected map[string]string
	problems []Problem
	pos      map[string]cfgSource // dotted key → where its value came from
	bad      map[string]bool      // keys that failed to decode
	seen     map[string]bool      // keys set to a non-null value
}

func cfgJoin(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (d *cfgDecoder) fail(src cfgSource, key, format string, args ...any) {
	d.problems = append(d.problems, src.problem(key, format, args...))
	d.bad[key] = true
}

// badKey reports whether key or one of its parents failed to decode.
func (d *cfgDecoder) badKey(key string) bool {
	for k := key; ; k = cfgParentKey(k) {
		if d.bad[k] {
			return true
		}
		if k == "" {
			return false
		}
	}
}

// sourceOf is the position of key, else of its nearest parent.
func (d *cfgDecoder) sourceOf(key string) cfgSource {
	for k := key; ; k = cfgParentKey(k) {
		if s, ok := d.pos[k]; ok {
			return s
		}
		if k == "" {
			return cfgSource{}
		}
	}
}

func cfgParentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func (d *cfgDecoder) what(key string) string {
	if key == "" {
		return "the config file"
	}
	return key
}

// value decodes n onto v (which already holds the default).
func (d *cfgDecoder) value(n *cfgNode, v reflect.Value, key string) {
	d.pos[key] = n.src
	if n.kind == cfgNull {
		// An empty section is present (auth: turns auth on); an empty
		// scalar keeps its default.
		switch {
		case v.Kind() == reflect.Pointer && v.IsNil():
			v.Set(reflect.New(v.Type().Elem()))
		case v.Kind() == reflect.Map && v.IsNil():
			v.Set(reflect.MakeMap(v.Type()))
		}
		return
	}
	d.seen[key] = true
	if v.Type() == cfgPrefixType {
		s, ok := d.str(n, key)
		if !ok {
			return
		}
		p, err := cfgParsePrefix(s)
		if err != nil {
			d.fail(n.src, key, "%s %q is not a CIDR or IP address", key, s)
			return
		}
		v.Set(reflect.ValueOf(p))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), key)
	case reflect.Struct:
		if n.kind != cfgMap {
			d.fail(n.src, key, "%s must be a mapping", d.what(key))
			return
		}
		for _, e := range n.entries {
			k := cfgJoin(key, e.key)
			if msg, ok := d.rejected[k]; ok {
				d.fail(e.keySrc, k, "%s", msg)
				continue
			}
			f, ok := cfgField(v, e.key)
			if !ok {
				if hint := workspace.Suggest(e.key, cfgKeys(v)); hint != "" {
					d.fail(e.keySrc, k, "unknown key %q (did you mean %q?)", k, cfgJoin(key, hint))
				} else {
					d.fail(e.keySrc, k, "unknown key %q", k)
				}
				continue
			}
			d.value(e.val, f, k)
		}
	case reflect.Map:
		if n.kind != cfgMap {
			d.fail(n.src, key, "%s must be a mapping", d.what(key))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, e := range n.entries {
			k := cfgJoin(key, e.key)
			elem := reflect.New(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(e.key)); old.IsValid() {
				elem.Set(old)
			}
			d.value(e.val, elem, k)
			v.SetMapIndex(reflect.ValueOf(e.key), elem)
		}
	case reflect.Slice:
		if n.kind != cfgSeq {
			d.fail(n.src, key, "%s must be a list", key)
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.items))
		for i, it := range n.items {
			elem := reflect.New(v.Type().Elem()).Elem()
			k := fmt.Sprintf("%s[%d]", key, i)
			if it.kind == cfgNull {
				d.fail(it.src, k, "%s must not be empty", k)
				continue
			}
			d.value(it, elem, k)
			s = reflect.Append(s, elem)
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.str(n, key); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if n.kind != cfgScalar || (n.tag != cfgInt && n.tag != cfgStr) {
			d.fail(n.src, key, "%s must be an integer", key)
			return
		}
		text := n.text
		if n.tag == cfgStr {
			var ok bool
			if text, ok = d.str(n, key); !ok {
				return
			}
		}
		text = strings.ReplaceAll(strings.TrimSpace(text), "_", "")
		base := 10
		if len(text) > 2 && text[0] == '0' && strings.ContainsRune("xXoObB", rune(text[1])) {
			base = 0
		}
		i, err := strconv.ParseInt(text, base, strconv.IntSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.fail(n.src, key, "%s is out of range", key)
			} else {
				d.fail(n.src, key, "%s must be an integer", key)
			}
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.kind != cfgScalar || (n.tag != cfgBool && n.tag != cfgStr) {
			d.fail(n.src, key, "%s must be true or false", key)
			return
		}
		text := n.text
		if n.tag == cfgStr {
			var ok bool
			if text, ok = d.str(n, key); !ok {
				return
			}
		}
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n.src, key, "%s must be true or false", key)
		}
	default:
		panic(fmt.Sprintf("config: field type %s of %q is not supported by the loader", v.Type(), key))
	}
}

// str returns a scalar as a string with ${VAR} references expanded.
func (d *cfgDecoder) str(n *cfgNode, key string) (string, bool) {
	if n.kind != cfgScalar {
		d.fail(n.src, key, "%s must be a string", key)
		return "", false
	}
	s, err := cfgExpand(n.text, d.environ)
	if err != nil {
		d.fail(n.src, key, "%s: %v", key, err)
		return "", false
	}
	return s, true
}

// cfgField finds the field of struct v whose yaml tag is name.
func cfgField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" && tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// cfgKeys are the YAML keys of struct v's fields.
func cfgKeys(v reflect.Value) []string {
	t := v.Type()
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// cfgExpand replaces each ${NAME} in s with that environment variable; an
// unset variable is an error. "$${" stands for a literal "${"; a "$" not
// followed by "{" is kept as is.
func cfgExpand(s string, environ []string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value (write $${ for a literal ${)")
		}
		name := s[i+2 : i+end]
		if !cfgEnvName.MatchString(name) {
			return "", fmt.Errorf("invalid variable reference ${%s} (write $${ for a literal ${)", name)
		}
		v, ok := cfgLookupEnv(environ, name)
		if !ok {
			return "", fmt.Errorf("environment variable '%s' is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

var cfgEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// cfgParsePrefix parses a CIDR, or a bare IP as a single-address prefix.
func cfgParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
