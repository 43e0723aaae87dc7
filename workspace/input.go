package workspace

// This file holds input field declarations (SPEC §3.7): parsing them from
// YAML, and CheckInput, which applies them to a job input (SPEC §5.2).

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Input field types (aliases resolved).
const (
	FieldString  = "string"
	FieldInteger = "integer"
	FieldNumber  = "number"
	FieldBoolean = "boolean"
	FieldArray   = "array"
	FieldObject  = "object"
)

// InputError is an input that does not satisfy its declared fields. Problems
// are in field order, e.g. "missing required field 'name'",
// "field 'count' must be an integer".
type InputError struct {
	Problems []string
}

// Error joins the problems with "; ".
func (e *InputError) Error() string { return strings.Join(e.Problems, "; ") }

// CheckInput applies fields to in (SPEC §5.2 step 2) and returns the
// effective input: a new map holding every key of in, with each declared
// field that is absent or null set to its default, or to nil when it has
// none and is optional. A present value must have the field's JSON type
// (integer = a number without fraction; no coercion). Undeclared keys pass
// through. in holds JSON-decoded values (float64 or json.Number numbers) or
// YAML-decoded ones (int64, float64). A nil in is an empty input. Any
// violation returns an *InputError listing all of them; the map is then nil.
func CheckInput(fields []Field, in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in)+len(fields))
	for k, v := range in {
		out[k] = v
	}
	var probs []string
	for _, f := range fields {
		v, present := out[f.Name]
		if !present || v == nil {
			switch {
			case f.HasDefault:
				out[f.Name] = cloneValue(f.Default)
			case f.Required:
				probs = append(probs, fmt.Sprintf("missing required field '%s'", f.Name))
			default:
				out[f.Name] = nil
			}
			continue
		}
		if !hasType(v, f.Type) {
			probs = append(probs, fmt.Sprintf("field '%s' must be %s", f.Name, typeNoun(f.Type)))
		}
	}
	if len(probs) > 0 {
		return nil, &InputError{Problems: probs}
	}
	return out, nil
}

// typeNoun returns "a string", "an integer", … for a field type.
func typeNoun(t string) string {
	switch t {
	case FieldInteger, FieldArray, FieldObject:
		return "an " + t
	default:
		return "a " + t
	}
}

// hasType reports whether the JSON-like value v has field type t.
func hasType(v any, t string) bool {
	switch t {
	case FieldString:
		_, ok := v.(string)
		return ok
	case FieldBoolean:
		_, ok := v.(bool)
		return ok
	case FieldArray:
		switch v.(type) {
		case []any, []string:
			return true
		}
		return false
	case FieldObject:
		_, ok := v.(map[string]any)
		return ok
	case FieldNumber:
		_, ok := number(v)
		return ok
	case FieldInteger:
		f, ok := number(v)
		if !ok {
			return false
		}
		if n, isNum := v.(json.Number); isNum && !strings.ContainsAny(string(n), ".eE") {
			return true // integer syntax, whatever its size
		}
		return !math.IsInf(f, 0) && f == math.Trunc(f)
	}
	return false
}

// number returns v as a float64 if it is a number of any Go numeric type or
// a valid json.Number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n)
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		if !isJSONNumber(string(n)) {
			return 0, false
		}
		f, _ := strconv.ParseFloat(string(n), 64) // ±Inf when out of range
		return f, true
	}
	return 0, false
}

// isJSONNumber reports whether s has JSON number syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - st
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// cloneValue deep-copies maps and slices so callers may change an effective
// input without touching the snapshot's defaults.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// validFieldName implements ^[A-Za-z_][A-Za-z0-9_-]{0,63}$.
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// fieldKeys are the keys of an input field definition; true = [later].
var fieldKeys = map[string]bool{
	"type": false, "required": false, "default": false, "name": false,
	"description": false, "secret": false,
	"options": true, "allow_custom": true, "multiple": true, "order": true,
}

// fields parses an `input` field-definitions mapping of owner ("task 'ci'",
// "action 'greet'"). ok is false when any problem was reported.
func (l *loader) fields(d *yamlDoc, n ast.Node, owner string) ([]Field, bool) {
	es, isMap := d.mappingEntries(n)
	if !isMap {
		d.errorf(n, "%s: 'input' must be a mapping of field definitions", owner)
		return nil, false
	}
	ok := true
	out := make([]Field, 0, len(es))
	for _, e := range es {
		if !validFieldName(e.key) {
			l.errorAt(e.keyAt, "%s has invalid input field name '%s'", owner, e.key)
			ok = false
		}
		f := Field{Name: e.key}
		what := fmt.Sprintf("%s input '%s'", owner, e.key)
		fes, isMap := d.mappingEntries(e.val)
		if !isMap {
			d.errorf(e.val, "%s must be a mapping with a 'type'", what)
			ok = false
			continue
		}
		var defNode ast.Node
		hasType := false
		for _, fe := range fes {
			later, known := fieldKeys[fe.key]
			if !known {
				l.errorAt(fe.keyAt, "unknown field %q in input '%s' of %s%s", fe.key, e.key, owner, didYouMean(fe.key, supportedKeys(fieldKeys, true)))
				ok = false
				continue
			}
			if later {
				l.errorAt(fe.keyAt, "'%s' is not supported yet", fe.key)
				ok = false
				continue
			}
			switch fe.key {
			case "type":
				hasType = true
				t, _ := d.scalarText(fe.val)
				switch t {
				case "text":
					t = FieldString
				case "bool":
					t = FieldBoolean
				}
				switch t {
				case FieldString, FieldInteger, FieldNumber, FieldBoolean, FieldArray, FieldObject:
					f.Type = t
				case "date", "datetime":
					d.errorf(fe.val, "'type: %s' is not supported yet", t)
					ok = false
				default:
					if _, isScalar := d.scalarText(fe.val); !isScalar {
						t = kind(d.resolve(fe.val))
					}
					d.errorf(fe.val, "%s has invalid type '%s'", what, t)
					ok = false
				}
			case "required":
				ok = l.boolField(d, fe, what, &f.Required) && ok
			case "secret":
				ok = l.boolField(d, fe, what, &f.Secret) && ok
			case "name":
				ok = l.textField(d, fe, what, &f.DisplayName) && ok
			case "description":
				ok = l.textField(d, fe, what, &f.Description) && ok
			case "default":
				defNode = fe.val
			}
		}
		if !hasType {
			l.errorAt(e.keyAt, "%s has no 'type'", what)
			ok = false
		}
		if defNode != nil && d.resolve(defNode) != nil {
			before := len(l.problems)
			v := d.value(defNode)
			if len(l.problems) > before {
				ok = false
			} else if f.Type != "" {
				if v2, good := defaultOfType(v, f.Type); good {
					f.Default, f.HasDefault = v2, true
				} else {
					js, _ := json.Marshal(v)
					d.errorf(defNode, "%s: default %s is not %s", what, js, typeNoun(f.Type))
					ok = false
				}
			}
		}
		out = append(out, f)
	}
	return out, ok
}

// defaultOfType checks a YAML default against a field type, normalising an
// integral float of an integer field to int64.
func defaultOfType(v any, t string) (any, bool) {
	if !hasType(v, t) {
		return nil, false
	}
	if f, isFloat := v.(float64); isFloat && t == FieldInteger && math.Abs(f) < 1<<53 {
		return int64(f), true
	}
	return v, true
}
