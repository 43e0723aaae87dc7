package tmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// maxDepth bounds the nesting of values converted to JSON.
const maxDepth = 200

// appendFormatted writes v formatted per SPEC §4.2: strings as is, numbers as
// JSON, booleans true/false, null as nothing, objects and arrays as compact
// JSON with sorted keys. A nil v (a skipped output) writes nothing.
func appendFormatted(b *strings.Builder, v *exec.Value) error {
	if v == nil || v.IsNil() {
		return nil
	}
	rv := v.Val
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		if rv.Kind() == reflect.Pointer && rv.Type() == reflect.TypeFor[*exec.Dict]() {
			break
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.String:
		b.WriteString(rv.String())
	case reflect.Bool:
		if rv.Bool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var buf [24]byte
		b.Write(strconv.AppendInt(buf[:0], rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var buf [24]byte
		b.Write(strconv.AppendUint(buf[:0], rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		var buf [32]byte
		b.Write(appendFloat(buf[:0], rv.Float()))
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer:
		if !v.IsDict() && !v.IsList() {
			b.WriteString(v.String())
			return nil
		}
		plain, err := toPlain(v, 0)
		if err != nil {
			return err
		}
		out, err := encodeJSON(plain, false)
		if err != nil {
			return err
		}
		b.Write(out)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return fmt.Errorf("cannot print a value of type %s", rv.Type())
	default:
		b.WriteString(v.String())
	}
	return nil
}

// appendFloat formats f like encoding/json does (5, 2.5, 1e+21), and NaN and
// infinities (which JSON lacks) like Go.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// encodeJSON encodes a plain value (see toPlain) compactly or indented, with
// sorted keys and without HTML escaping.
func encodeJSON(plain any, pretty bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(plain); err != nil {
		return nil, fmt.Errorf("cannot encode value as JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var errTooDeep = errors.New("value is nested too deeply")

// toPlain converts a template value into a newly built JSON-like Go value:
// nil, bool, string, int, int64, uint64, float64, map[string]any, []any.
func toPlain(x any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch v := x.(type) {
	case nil:
		return nil, nil
	case string, bool, int, int64, float64:
		return v, nil
	case json.Number:
		return normalizeNumber(v), nil
	case *exec.Value:
		if v == nil || v.IsNil() {
			return nil, nil
		}
		if v.IsError() {
			return nil, errors.New(v.Error())
		}
		if d, ok := v.Interface().(*exec.Dict); ok {
			return toPlain(d, depth+1)
		}
		if !v.Val.CanInterface() {
			return nil, errors.New("value cannot be read")
		}
		return toPlain(v.Val.Interface(), depth+1)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			p, err := toPlain(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			p, err := toPlain(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case exec.ValuesList:
		out := make([]any, len(v))
		for i, e := range v {
			p, err := toPlain(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case *exec.Dict:
		if v == nil {
			return nil, nil
		}
		return dictToPlain(v, depth)
	case exec.Dict:
		return dictToPlain(&v, depth)
	case error:
		msg, _ := describe(v)
		return nil, errors.New(msg)
	}
	return reflectToPlain(reflect.ValueOf(x), depth)
}

func dictToPlain(d *exec.Dict, depth int) (any, error) {
	out := make(map[string]any, len(d.Pairs))
	for _, p := range d.Pairs {
		val, err := toPlain(p.Value, depth+1)
		if err != nil {
			return nil, err
		}
		out[keyString(p.Key)] = val
	}
	return out, nil
}

// keyString renders an object key: strings as is, anything else formatted.
func keyString(k *exec.Value) string {
	if k == nil {
		return ""
	}
	var b strings.Builder
	if err := appendFormatted(&b, k); err != nil {
		return k.String()
	}
	return b.String()
}

// reflectToPlain handles the Go types not listed in toPlain.
func reflectToPlain(rv reflect.Value, depth int) (any, error) {
	switch rv.Kind() {
	case reflect.Invalid:
		return nil, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return reflectToPlain(rv.Elem(), depth+1)
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			val, err := toPlain(valueOf(it.Value()), depth+1)
			if err != nil {
				return nil, err
			}
			out[keyString(exec.ToValue(it.Key()))] = val
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			val, err := toPlain(valueOf(rv.Index(i)), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot convert a value of type %s to JSON", rv.Type())
}

// valueOf returns rv's content as an interface, or nil when it cannot be read.
func valueOf(rv reflect.Value) any {
	if !rv.IsValid() || !rv.CanInterface() {
		return nil
	}
	return rv.Interface()
}

// Normalize returns v (a JSON-like value) with integral float64 and
// json.Number values at any depth turned into int (other json.Number into
// float64), copying only the maps and slices that change; v itself is never
// modified. Render, Eval and Value.Render do this on every call; a caller
// that renders many templates with one context can normalise it once, so
// that each render only checks it.
func Normalize(v any) any {
	n, _ := normalize(v, 0)
	return n
}

// normalizeContext returns ctx with integral float64 and json.Number values
// (at any depth) turned into ints, so that gonja treats them as integers.
// Maps and slices are copied only where something changes; ctx itself is
// never modified.
func normalizeContext(ctx map[string]any) map[string]any {
	if out, changed := normalizeMap(ctx, 0); changed {
		return out
	}
	return ctx
}

func normalize(v any, depth int) (any, bool) {
	if depth > maxDepth {
		return v, false
	}
	switch x := v.(type) {
	case float64:
		if n, ok := integral(x); ok {
			return n, true
		}
	case json.Number:
		return normalizeNumber(x), true
	case map[string]any:
		return normalizeMap(x, depth)
	case []any:
		var out []any
		for i, e := range x {
			n, changed := normalize(e, depth+1)
			if !changed {
				continue
			}
			if out == nil {
				out = slices.Clone(x)
			}
			out[i] = n
		}
		if out != nil {
			return out, true
		}
	}
	return v, false
}

func normalizeMap(m map[string]any, depth int) (map[string]any, bool) {
	var out map[string]any
	for k, e := range m {
		n, changed := normalize(e, depth+1)
		if !changed {
			continue
		}
		if out == nil {
			out = maps.Clone(m)
		}
		out[k] = n
	}
	if out != nil {
		return out, true
	}
	return m, false
}

// integral returns f as an int when it is a whole number an int holds.
func integral(f float64) (int, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 || math.IsInf(f, 0) {
		return 0, false
	}
	return int(f), true
}

// normalizeNumber converts a json.Number to int or float64.
func normalizeNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return int(i)
	}
	if f, err := n.Float64(); err == nil {
		if i, ok := integral(f); ok {
			return i
		}
		return f
	}
	return string(n)
}

// filterFormat is the private filter every output expression of a template
// with control structures goes through: fmt(line, col). It prints the value
// per SPEC §4.2; errors become position markers (see marker).
func filterFormat(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	line, col := filterPos(params)
	if in.IsError() {
		return positioned(in, line, col)
	}
	var b strings.Builder
	if err := appendFormatted(&b, in); err != nil {
		return exec.AsValue(errors.New(marker(line, col, clip(err.Error()))))
	}
	if err := budgetOf(e).grow("output", b.Len()); err != nil {
		return exec.AsValue(errors.New(marker(line, col, err.Msg)))
	}
	return exec.AsValue(b.String())
}

// filterCheck is the private pass-through filter for inline-if conditions:
// check(line, col).
func filterCheck(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		line, col := filterPos(params)
		return positioned(in, line, col)
	}
	return in
}

// filterPos returns the (line, col) arguments of the private filters.
func filterPos(params *exec.VarArgs) (int, int) {
	if len(params.Args) == 2 {
		return params.Args[0].Integer(), params.Args[1].Integer()
	}
	return 0, 0
}

// positioned turns the error value in into a marker error placed at line
// and col, unless it already carries a position.
func positioned(in *exec.Value, line, col int) *exec.Value {
	if m, ok := findMarker(in.Error()); ok {
		if m.Line == 0 {
			m.Line, m.Column = line, col
		}
		return exec.AsValue(errors.New(marker(m.Line, m.Column, m.Msg)))
	}
	msg, _ := describe(in)
	return exec.AsValue(errors.New(marker(line, col, msg)))
}

// filterDefault is Tera's default(value=…), also callable as default(x) and
// Jinja's default(x, true): it yields the argument when the input is
// undefined or null (with boolean true, also when it is falsy).
func filterDefault(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	var def *exec.Value
	boolean := false
	for k, v := range params.KwArgs {
		switch k {
		case "value", "default_value":
			if def != nil {
				return markerError("filter 'default': value given twice")
			}
			def = v
		case "boolean":
			boolean = v.IsTrue()
		default:
			return markerError(fmt.Sprintf("filter 'default': unexpected argument '%s'", k))
		}
	}
	switch len(params.Args) {
	case 0:
	case 1, 2:
		if def != nil {
			return markerError("filter 'default': value given twice")
		}
		def = params.Args[0]
		if len(params.Args) == 2 {
			boolean = params.Args[1].IsTrue()
		}
	default:
		return markerError("filter 'default': too many arguments")
	}
	if def == nil {
		return markerError("filter 'default': missing argument 'value'")
	}
	switch {
	case in.IsError():
		if isUndefined(in) {
			return def
		}
		return in
	case in.IsNil(), boolean && !in.IsTrue():
		return def
	}
	return in
}

// filterJSONEncode is Tera's json_encode (compact, sorted keys;
// pretty=true indents).
func filterJSONEncode(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	pretty := false
	for k, v := range params.KwArgs {
		if k != "pretty" {
			return markerError(fmt.Sprintf("filter 'json_encode': unexpected argument '%s'", k))
		}
		pretty = v.IsTrue()
	}
	if len(params.Args) > 0 {
		return markerError("filter 'json_encode': takes only pretty=…")
	}
	plain, err := toPlain(in, 0)
	if err != nil {
		return markerError("filter 'json_encode': " + err.Error())
	}
	out, err := encodeJSON(plain, pretty)
	if err != nil {
		return markerError("filter 'json_encode': " + err.Error())
	}
	return exec.AsValue(string(out))
}

// getEnvFunc is Tera's get_env(name=…, default=…) over lookup.
func getEnvFunc(lookup func(string) (string, bool)) func(*exec.VarArgs) *exec.Value {
	return func(params *exec.VarArgs) *exec.Value {
		var name, def *exec.Value
		for k, v := range params.KwArgs {
			switch k {
			case "name":
				name = v
			case "default":
				def = v
			default:
				return markerError(fmt.Sprintf("get_env: unexpected argument '%s'", k))
			}
		}
		for i, v := range params.Args {
			switch {
			case i == 0 && name == nil:
				name = v
			case i == 1 && def == nil:
				def = v
			default:
				return markerError("get_env: too many arguments")
			}
		}
		if name == nil || !name.IsString() {
			return markerError("get_env: argument 'name' must be a string")
		}
		if val, ok := lookup(name.String()); ok {
			return exec.AsValue(val)
		}
		if def != nil {
			return def
		}
		return markerError(fmt.Sprintf("environment variable '%s' is not set", name.String()))
	}
}
