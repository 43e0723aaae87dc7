package tmpl_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace/tmpl"
)

// decode returns JSON text as decoded by encoding/json (numbers are float64),
// which is how contexts reach the renderer.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

const ctxJSON = `{
	"input": {"name": "Ada", "count": 5, "ratio": 2.5, "run_checks": true, "x": null, "html": "<b>&'"},
	"name": "ada",
	"enabled": false,
	"flag": true,
	"nothing": null,
	"obj": {"b": [true, null, "x"], "a": 1, "c": {"z": 1.5, "y": "s"}},
	"build": {"output": {"files": ["a.txt", "b.txt"], "status": "ok", "n": 3}},
	"say_hello": {"output": {"greeting": "Hello"}},
	"list": [1, 2, 3],
	"big": 100000000000000000000,
	"neg": -7
}`

// mustRender renders src and fails the test on error.
func mustRender(t *testing.T, src string, ctx map[string]any) string {
	t.Helper()
	tp, err := tmpl.Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	out, err := tp.Render(ctx)
	if err != nil {
		t.Fatalf("Render(%q): %v", src, err)
	}
	return out
}

func TestRender(t *testing.T) {
	ctx := decode(t, ctxJSON)
	for _, tc := range []struct {
		name, src, want string
	}{
		// SPEC §4.1 examples
		{"input field", `{{ input.name }}`, "Ada"},
		{"step output", `{{ say_hello.output.greeting }}, {{ input.name }}!`, "Hello, Ada!"},
		{"filter", `{{ name | upper }}`, "ADA"},
		{"default keyword, undefined", `{{ input.nosuch | default(value='y') }}`, "y"},
		{"default keyword, null", `{{ input.x | default(value="y") }}`, "y"},
		{"default positional, undefined", `{{ nosuch | default('y') }}`, "y"},
		{"default positional, null", `{{ nothing | default('y') }}`, "y"},
		{"default keeps value", `{{ input.name | default(value='y') }}`, "Ada"},
		{"default keeps false", `{{ enabled | default(value='y') }}`, "false"},
		{"default boolean", `{{ '' | default('y', true) }}`, "y"},
		{"default below undefined parent", `{{ nosuch.deep | default(value='y') }}`, "y"},
		{"default below null parent", `{{ input.x.deep | default(value='y') }}`, "y"},
		{"default then filter", `{{ input.x | default(value='y') | upper }}`, "Y"},
		{"if false", `{% if enabled %}on{% else %}off{% endif %}`, "off"},
		{"if true", `{% if flag %}on{% else %}off{% endif %}`, "on"},
		{"if input", `{% if input.run_checks %}check{% endif %}`, "check"},
		{"if comparison", `{% if build.output.status == 'ok' %}ok{% endif %}`, "ok"},
		{"if null", `{% if nothing %}a{% elif input.count > 3 %}b{% endif %}`, "b"},
		{"if is defined", `{% if input.nosuch is defined %}a{% else %}b{% endif %}`, "b"},

		// SPEC §4.2 formatting
		{"integer", `{{ input.count }}`, "5"},
		{"float", `{{ input.ratio }}`, "2.5"},
		{"integral float arithmetic", `{{ input.count + 1 }}`, "6"},
		{"division", `{{ 10 / 4 }} {{ 10 / 2 }}`, "2.5 5"},
		{"negative", `{{ neg }}`, "-7"},
		{"large", `{{ big }}`, "100000000000000000000"},
		{"true", `{{ input.run_checks }}`, "true"},
		{"false", `{{ enabled }}`, "false"},
		{"bool literal", `{{ true }}`, "true"},
		{"bool expression", `{{ build.output.status == 'ok' }}`, "true"},
		{"bool expression false", `{{ build.output.status == 'bad' }}`, "false"},
		{"bool expression in block", `{% if flag %}{{ name == 'x' }}{% endif %}`, "false"},
		{"bool in loop", `{% for v in [true, false] %}{{ v }} {% endfor %}`, "true false "},
		{"null", `[{{ nothing }}]`, "[]"},
		{"null field", `[{{ input.x }}]`, "[]"},
		{"object", `{{ obj }}`, `{"a":1,"b":[true,null,"x"],"c":{"y":"s","z":1.5}}`},
		{"array", `{{ build.output.files }}`, `["a.txt","b.txt"]`},
		{"array in text", `files: {{ build.output.files }}`, `files: ["a.txt","b.txt"]`},
		{"object in block", `{% if flag %}{{ obj.c }}{% endif %}`, `{"y":"s","z":1.5}`},
		{"list literal", `{{ [1, 'a', None] }}`, `[1,"a",null]`},
		{"dict literal", `{{ {'b': 1, 'a': [2.5]} }}`, `{"a":[2.5],"b":1}`},
		{"string as is", `{{ input.html }}`, `<b>&'`},
		{"no html escaping in json", `{{ [input.html] }}`, `["<b>&'"]`},
		{"inline if", `{{ 'yes' if flag else 'no' }}`, "yes"},
		{"inline if without else", `[{{ 'yes' if enabled }}]`, "[]"},
		{"inline if typed", `{{ obj.a if enabled else flag }}`, "true"},
		{"inline if without else in block", `{% if flag %}[{{ 'x' if enabled }}]{% endif %}`, "[]"},
		{"inline if in block", `{% if flag %}{{ 1 if enabled else obj.c.z }}{% endif %}`, "1.5"},

		// json_encode and tojson
		{"json_encode object", `{{ obj | json_encode }}`, `{"a":1,"b":[true,null,"x"],"c":{"y":"s","z":1.5}}`},
		{"json_encode string", `{{ name | json_encode }}`, `"ada"`},
		{"json_encode null", `{{ nothing | json_encode }}`, `null`},
		{"json_encode number", `{{ input.count | json_encode }}`, `5`},
		{"json_encode pretty", `{{ build.output.files | json_encode(pretty=true) }}`, "[\n  \"a.txt\",\n  \"b.txt\"\n]"},
		{"tojson", `{{ build.output.files | tojson }}`, `["a.txt","b.txt"]`},

		// text handling
		{"trailing newline kept", "echo {{ name }}\n", "echo ada\n"},
		{"multi-line", "#!/bin/sh\necho {{ input.name }}\nexit 0\n", "#!/bin/sh\necho Ada\nexit 0\n"},
		{"whitespace control", "a  {{- name -}}  b", "aadab"},
		{"comment", `{# note #}{{ name }}`, "ada"},
		{"loop", `{% for f in build.output.files %}{{ loop.index }}={{ f }};{% endfor %}`, "1=a.txt;2=b.txt;"},
		{"set", `{% set greeting = 'Hi ' ~ input.name %}{{ greeting }}`, "Hi Ada"},
		{"string method", `{{ name.upper() }}`, "ADA"},
		{"macro", `{% macro hi(who) %}hi {{ who }}{% endmacro %}{{ hi(name) }}`, "hi ada"},
		{"raw", `{% raw %}{{ x }}{% endraw %}`, "{{ x }}"},
		{"empty raw", `[{% raw %}{% endraw %}]`, "[]"},
		{"join", `{{ list | join(',') }}`, "1,2,3"},
		{"length", `{{ build.output.files | length }}`, "2"},
		{"index", `{{ list[1] }} {{ list.0 }}`, "2 1"},
		{"static", `plain } text {`, `plain } text {`},
		{"empty", ``, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustRender(t, tc.src, ctx); got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

func TestRenderNumberTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"int", 5, "5"},
		{"int64", int64(-3), "-3"},
		{"uint8", uint8(7), "7"},
		{"integral float64", 5.0, "5"},
		{"float64", 2.5, "2.5"},
		{"tiny float", 1e-7, "1e-7"},
		{"huge float", 1e21, "1e+21"},
		{"json.Number int", json.Number("5"), "5"},
		{"json.Number float", json.Number("2.50"), "2.5"},
		{"nested integral float", map[string]any{"a": []any{1.0, 2.0}}, "[1,2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "{{ v }}"
			if _, nested := tc.v.(map[string]any); nested {
				src = "{{ v.a }}"
			}
			if got := mustRender(t, src, map[string]any{"v": tc.v}); got != tc.want {
				t.Errorf("Render(%v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
	// Integral float64 take part in integer arithmetic.
	if got := mustRender(t, "{{ v // 2 }} {{ v % 3 }} {{ v * 2 }}", map[string]any{"v": 5.0}); got != "2 2 10" {
		t.Errorf("integer arithmetic = %q, want %q", got, "2 2 10")
	}
}

func TestNormalize(t *testing.T) {
	in := map[string]any{
		"i": 5.0, "f": 2.5, "n": json.Number("7"), "nf": json.Number("1.5"), "s": "5.0",
		"l": []any{1.0, "x", map[string]any{"z": 0.0}}, "keep": []any{"a"}, "big": 1e30,
	}
	before := map[string]any{
		"i": 5.0, "f": 2.5, "n": json.Number("7"), "nf": json.Number("1.5"), "s": "5.0",
		"l": []any{1.0, "x", map[string]any{"z": 0.0}}, "keep": []any{"a"}, "big": 1e30,
	}
	want := map[string]any{
		"i": 5, "f": 2.5, "n": 7, "nf": 1.5, "s": "5.0",
		"l": []any{1, "x", map[string]any{"z": 0}}, "keep": []any{"a"}, "big": 1e30,
	}
	if diff := cmp.Diff(want, tmpl.Normalize(in)); diff != "" {
		t.Errorf("Normalize mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("Normalize changed its input (-before +after):\n%s", diff)
	}
	same := map[string]any{"a": 1, "b": []any{"x"}}
	allocs := testing.AllocsPerRun(100, func() { tmpl.Normalize(same) })
	if allocs > 1 { // boxing the result
		t.Errorf("Normalize of a normal value allocates %v times", allocs)
	}
}

func TestEval(t *testing.T) {
	ctx := decode(t, ctxJSON)
	for _, tc := range []struct {
		name, src string
		want      any
	}{
		{"typed array", `{{ build.output.files }}`, []any{"a.txt", "b.txt"}},
		{"typed object", `{{ obj }}`, map[string]any{"a": 1, "b": []any{true, nil, "x"}, "c": map[string]any{"y": "s", "z": 1.5}}},
		{"outer whitespace ignored", "  {{ obj.c }}\n", map[string]any{"y": "s", "z": 1.5}},
		{"typed through filter", `{{ build.output.files | reverse | list }}`, []any{"b.txt", "a.txt"}},
		{"typed literal", `{{ {'k': [1, true]} }}`, map[string]any{"k": []any{1, true}}},
		{"typed inline if", `{{ obj.c if flag else 1 }}`, map[string]any{"y": "s", "z": 1.5}},
		{"text around is string", `x {{ obj.c }}`, `x {"y":"s","z":1.5}`},
		{"two tags are string", `{{ list }}{{ list }}`, `[1,2,3][1,2,3]`},
		{"comment makes string", `{{ list }}{# c #}`, `[1,2,3]`},
		{"block makes string", `{% if flag %}{{ list }}{% endif %}`, `[1,2,3]`},
		{"number is string", `{{ input.count }}`, "5"},
		{"bool is string", `{{ flag }}`, "true"},
		{"null is string", `{{ nothing }}`, ""},
		{"whitespace kept for strings", " {{ name }} ", " ada "},
		{"skipped inline if", " {{ obj if enabled }} ", "  "},
		{"static", `plain`, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := tmpl.Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			got, err := tp.Eval(ctx)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tc.src, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Eval(%q) mismatch (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}

func TestEvalReturnsCopy(t *testing.T) {
	ctx := decode(t, ctxJSON)
	before := decode(t, ctxJSON)
	got, err := tmpl.MustParse("{{ build.output }}").Eval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	m["status"] = "changed"
	m["files"].([]any)[0] = "changed"
	if diff := cmp.Diff(before, ctx); diff != "" {
		t.Errorf("changing the Eval result changed the context (-before +after):\n%s", diff)
	}
}

// renderErr renders src (parsing must succeed) and returns the *Error.
func renderErr(t *testing.T, src string, ctx map[string]any) *tmpl.Error {
	t.Helper()
	tp, err := tmpl.Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	out, err := tp.Render(ctx)
	if err == nil {
		t.Fatalf("Render(%q) = %q, want error", src, out)
	}
	var te *tmpl.Error
	if !errors.As(err, &te) {
		t.Fatalf("Render(%q) error %T (%v), want *tmpl.Error", src, err, err)
	}
	checkClean(t, te)
	return te
}

// checkClean fails on messages that leak engine internals.
func checkClean(t *testing.T, e *tmpl.Error) {
	t.Helper()
	for _, bad := range []string{"\x00", "goroutine", ".go:", "Token[", "filtered_expression", "\n"} {
		if strings.Contains(e.Msg, bad) {
			t.Errorf("message %q contains %q", e.Msg, bad)
		}
	}
	if len(e.Msg) > 500 {
		t.Errorf("message is %d bytes long", len(e.Msg))
	}
}

func TestRenderErrors(t *testing.T) {
	ctx := decode(t, ctxJSON)
	for _, tc := range []struct {
		name, src string
		want      tmpl.Error
	}{
		{"undefined input field", `{{ input.nosuch }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'input.nosuch' is undefined"}},
		{"undefined step", `{{ nosuch_step.output }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'nosuch_step' is undefined"}},
		{"undefined name", `echo {{ missing }}`, tmpl.Error{Line: 1, Column: 6, Msg: "'missing' is undefined"}},
		{"undefined deep", `{{ missing.deep }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'missing' is undefined"}},
		{"undefined nested field", "a\n  {{ build.output.nope.x }}", tmpl.Error{Line: 2, Column: 3, Msg: "'build.output.nope' is undefined"}},
		{"attribute of null", `{{ input.x.y }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'input.x.y' is undefined ('input.x' is null)"}},
		{"index out of range", `{{ list[7] }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'list[7]' is undefined"}},
		{"undefined through filter", `{{ missing | upper }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'missing' is undefined"}},
		{"undefined in arithmetic", `{{ input.count + missing }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'missing' is undefined"}},
		{"undefined in inline if", `{{ 1 if missing }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'missing' is undefined"}},
		{"undefined in inline if in block", "{% if flag %}\n {{ 1 if missing else 2 }}{% endif %}", tmpl.Error{Line: 2, Column: 2, Msg: "'missing' is undefined"}},
		{"undefined in inline else in block", "{% if flag %}{{ 1 if enabled else missing }}{% endif %}", tmpl.Error{Line: 1, Column: 14, Msg: "'missing' is undefined"}},
		{"undefined in if", "{% if flag %}\n{% if input.nope %}x{% endif %}{% endif %}", tmpl.Error{Line: 2, Column: 7, Msg: "'input.nope' is undefined"}},
		{"undefined in if body", "{% if flag %}\n  {{ input.nope }}{% endif %}", tmpl.Error{Line: 2, Column: 3, Msg: "'input.nope' is undefined"}},
		{"undefined in for", `{% for x in nope %}{% endfor %}`, tmpl.Error{Line: 1, Column: 20, Msg: "'nope' is undefined"}},
		{"undefined in macro", "{% macro m(a) %}{{ a.q }}{% endmacro %}\n{{ m(obj) }}", tmpl.Error{Line: 1, Column: 17, Msg: "'a.q' is undefined"}},
		{"print a macro", `{% macro m() %}{% endmacro %}{{ m }}`, tmpl.Error{Line: 1, Column: 30, Msg: "cannot print a value of type exec.Macro"}},
		{"function", `{{ get_env(name='HOME') }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'get_env' is not callable"}},
		{"filter misuse", `{{ obj | join(1, 2, 3) }}`, tmpl.Error{Line: 1, Column: 1, Msg: "invalid call to filter 'join': received 1 unexpected positional argument"}},
		{"default without value", `{{ x | default }}`, tmpl.Error{Line: 1, Column: 1, Msg: "filter 'default': missing argument 'value'"}},
		{"unknown filter by name", `{{ list | map('shout') }}`, tmpl.Error{Line: 1, Column: 1, Msg: "unknown filter 'shout'"}},
		{"list append is gone", `{% do list.append(4) %}`, tmpl.Error{Line: 1, Column: 24, Msg: "unknown method 'append' for '[1, 2, 3]'"}},
		{"macro recursion", `{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}`, tmpl.Error{Line: 1, Column: 16, Msg: "macro 'm' nests deeper than 50 calls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderErr(t, tc.src, ctx)
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("Render(%q) error mismatch (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      tmpl.Error
	}{
		{"unknown filter", `{{ name | shout }}`, tmpl.Error{Line: 1, Column: 11, Msg: "unknown filter 'shout'"}},
		{"unknown filter later", "ok {{ a | upper }}\n{{ b | upper | shout(1) }}", tmpl.Error{Line: 2, Column: 16, Msg: "unknown filter 'shout'"}},
		{"unknown filter in block", `{% filter shout %}x{% endfilter %}`, tmpl.Error{Line: 1, Column: 11, Msg: "unknown filter 'shout'"}},
		{"unknown test", `{% if a is shouting %}x{% endif %}`, tmpl.Error{Line: 1, Column: 12, Msg: "unknown test 'shouting'"}},
		{"unknown negated test", `{{ a is not shouting }}`, tmpl.Error{Line: 1, Column: 13, Msg: "unknown test 'shouting'"}},
		{"syntax", "line one\n{{ a b }}", tmpl.Error{Line: 2, Column: 6, Msg: `'}}' expected here near "b"`}},
		{"unclosed tag", `{{ a`, tmpl.Error{Line: 1, Column: 5, Msg: `'}}' expected here`}},
		{"empty tag", `{{ }}`, tmpl.Error{Line: 1, Column: 4, Msg: `expected either a number, string, keyword or identifier near "}}"`}},
		{"unterminated string", `{{ "abc }}`, tmpl.Error{Line: 1, Column: 11, Msg: `unterminated string "abc }}"`}},
		{"unclosed block", `{% if a %}x`, tmpl.Error{Line: 1, Column: 12, Msg: "in 'if' tag: Unexpected EOF, expected tag elif or else or endif"}},
		{"unknown tag", `{% frobnicate %}`, tmpl.Error{Line: 1, Column: 4, Msg: "ControlStructure 'frobnicate' not found (or beginning not provided) near \"frobnicate\""}},
		{"include", `{% include '/etc/passwd' %}`, tmpl.Error{Line: 1, Column: 12, Msg: `in 'include' tag: 'include' is not supported: templates cannot load other templates near "/etc/passwd"`}},
		{"import", `{% import 'x.j2' as x %}`, tmpl.Error{Line: 1, Column: 11, Msg: `in 'import' tag: 'import' is not supported: templates cannot load other templates near "x.j2"`}},
		{"from import", `{% from 'x.j2' import y %}`, tmpl.Error{Line: 1, Column: 9, Msg: `in 'from' tag: 'from' is not supported: templates cannot load other templates near "x.j2"`}},
		{"extends", `{% extends '/tpl' %}`, tmpl.Error{Line: 1, Column: 12, Msg: `in 'extends' tag: 'extends' is not supported: templates cannot load other templates near "/tpl"`}},
		{"set attribute", `{% set input.x = 1 %}`, tmpl.Error{Line: 1, Column: 13, Msg: `in 'set' tag: 'set' can only assign a plain name near "."`}},
		{"set item", `{% set input['x'] = 1 %}`, tmpl.Error{Line: 1, Column: 13, Msg: `in 'set' tag: 'set' can only assign a plain name near "["`}},
		{"reserved name", `{{ __runnel_fmt }}`, tmpl.Error{Line: 1, Column: 4, Msg: "name '__runnel_fmt' is reserved"}},
		{"deep brackets", "{{ " + strings.Repeat("(", 150) + "1" + strings.Repeat(")", 150) + " }}", tmpl.Error{Line: 1, Column: 104, Msg: "expression nests deeper than 100 brackets"}},
		{"deep blocks", strings.Repeat("{% if a %}", 150), tmpl.Error{Line: 1, Column: 1004, Msg: "tags nest deeper than 100 levels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := tmpl.Parse(tc.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tc.src, tp)
			}
			var te *tmpl.Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse(%q) error %T (%v), want *tmpl.Error", tc.src, err, err)
			}
			checkClean(t, te)
			if diff := cmp.Diff(tc.want, *te); diff != "" {
				t.Errorf("Parse(%q) error mismatch (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  tmpl.Error
		want string
	}{
		{tmpl.Error{Line: 1, Column: 12, Msg: "boom"}, "boom (line 1, column 12)"},
		{tmpl.Error{Line: 3, Msg: "boom"}, "boom (line 3)"},
		{tmpl.Error{Msg: "boom"}, "boom"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestStatic(t *testing.T) {
	for _, tc := range []struct {
		src    string
		static bool
	}{
		{"", true},
		{"echo hello", true},
		{"a } b { c }} {", true},
		{"json {\"a\": 1}", true},
		{"{{ x }}", false},
		{"{% if x %}{% endif %}", false},
		{"{# note #}", false},
		{"trailing {", true},
	} {
		tp, err := tmpl.Parse(tc.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.src, err)
		}
		if tp.Static() != tc.static {
			t.Errorf("Parse(%q).Static() = %v, want %v", tc.src, tp.Static(), tc.static)
		}
		if tp.Source() != tc.src {
			t.Errorf("Source() = %q, want %q", tp.Source(), tc.src)
		}
		if tc.static {
			out, err := tp.Render(nil)
			if err != nil || out != tc.src {
				t.Errorf("Render(%q) = %q, %v; want the text unchanged", tc.src, out, err)
			}
		}
	}
	// A comment-only template is not static but renders empty.
	if got := mustRender(t, "{# note #}", nil); got != "" {
		t.Errorf("comment rendered %q", got)
	}
}

func TestStaticRenderDoesNotAllocate(t *testing.T) {
	tp := tmpl.MustParse("echo hello world")
	ctx := map[string]any{"input": map[string]any{"name": "x"}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tp.Render(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("static Render allocates %v times, want 0", allocs)
	}
	v, err := tmpl.Compile("echo hello world")
	if err != nil {
		t.Fatal(err)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := v.Render(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("static Value.Render allocates %v times, want 0", allocs)
	}
}

func TestRenderEnv(t *testing.T) {
	env := map[string]string{"SLACK_URL": "https://hooks.example/x", "EMPTY": ""}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"set", `{{ get_env(name='SLACK_URL') }}`, "https://hooks.example/x"},
		{"set with default", `{{ get_env(name="SLACK_URL", default="d") }}`, "https://hooks.example/x"},
		{"set but empty", `[{{ get_env(name="EMPTY", default="d") }}]`, "[]"},
		{"unset with default", `{{ get_env(name="NOPE", default="fallback") }}`, "fallback"},
		{"positional", `{{ get_env("SLACK_URL") }}`, "https://hooks.example/x"},
		{"in text", `Bearer {{ get_env(name='SLACK_URL') | upper }}`, "Bearer HTTPS://HOOKS.EXAMPLE/X"},
		{"in block", `{% if true %}{{ get_env(name='NOPE', default=1) }}{% endif %}`, "1"},
		{"static", `plain`, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tmpl.MustParse(tc.src).RenderEnv(lookup)
			if err != nil {
				t.Fatalf("RenderEnv(%q): %v", tc.src, err)
			}
			if got != tc.want {
				t.Errorf("RenderEnv(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, src string
		want      tmpl.Error
	}{
		{"unset", `{{ get_env(name='SLACK_TOKEN') }}`, tmpl.Error{Line: 1, Column: 1, Msg: "environment variable 'SLACK_TOKEN' is not set"}},
		{"unset in text", "x\n y {{ get_env(name='SLACK_TOKEN') | upper }}", tmpl.Error{Line: 2, Column: 4, Msg: "environment variable 'SLACK_TOKEN' is not set"}},
		{"unset in block", "{% if true %}{{ get_env(name='SLACK_TOKEN') }}{% endif %}", tmpl.Error{Line: 1, Column: 14, Msg: "environment variable 'SLACK_TOKEN' is not set"}},
		{"no name", `{{ get_env() }}`, tmpl.Error{Line: 1, Column: 1, Msg: "get_env: argument 'name' must be a string"}},
		{"bad argument", `{{ get_env(nam='X') }}`, tmpl.Error{Line: 1, Column: 1, Msg: "get_env: unexpected argument 'nam'"}},
		{"other names are undefined", `{{ input.x }}`, tmpl.Error{Line: 1, Column: 1, Msg: "'input' is undefined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tmpl.MustParse(tc.src).RenderEnv(lookup)
			var te *tmpl.Error
			if !errors.As(err, &te) {
				t.Fatalf("RenderEnv(%q) error %T (%v), want *tmpl.Error", tc.src, err, err)
			}
			if diff := cmp.Diff(tc.want, *te); diff != "" {
				t.Errorf("RenderEnv(%q) error mismatch (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}

func TestRenderDoesNotModifyContext(t *testing.T) {
	for _, src := range []string{
		`{% set input = 1 %}{{ input }}`,
		`{% set name = 'changed' %}{{ name }}`,
		`{% do obj.update({'a': 2}) %}{{ obj }}`,
		`{% do obj.clear() %}{{ obj }}`,
		`{% do obj.pop('a') %}`,
		`{% do list.reverse() %}{{ list }}`,
		`{% do list.append(9) %}`,
		`{{ name.upper() }}{{ name }}`,
		`{% for x in list %}{% set list = 1 %}{% endfor %}`,
		`{% with input = 3 %}{{ input }}{% endwith %}`,
		`{% macro name() %}m{% endmacro %}{{ name() }}`,
		`{{ build.output.files | reverse | list }}{{ build.output.files | sort }}`,
	} {
		ctx := decode(t, ctxJSON)
		if _, err := tmpl.MustParse(src).Render(ctx); err != nil {
			t.Logf("Render(%q): %v", src, err)
		}
		if diff := cmp.Diff(decode(t, ctxJSON), ctx); diff != "" {
			t.Errorf("Render(%q) changed the context (-before +after):\n%s", src, diff)
		}
	}
}

func TestConcurrentRender(t *testing.T) {
	ctx := decode(t, ctxJSON)
	cases := []struct{ src, want string }{
		{`echo "Hello {{ input.name }}"`, `echo "Hello Ada"`},
		{`{% if flag %}{{ obj.c }}{% else %}no{% endif %}`, `{"y":"s","z":1.5}`},
		{`{% for f in build.output.files %}{{ f | upper }},{% endfor %}`, "A.TXT,B.TXT,"},
		{`{% set n = input.count * 2 %}{{ n }} {{ input.count }}`, "10 5"},
		{`{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{{ m(flag) }}`, "<1><true>"},
		{`{{ input.nosuch | default(value=name) }}`, "ada"},
		{`{{ name.upper() }}`, "ADA"},
	}
	tps := make([]*tmpl.Template, len(cases))
	for i, c := range cases {
		tps[i] = tmpl.MustParse(c.src)
	}
	val, err := tmpl.Compile(map[string]any{"a": "{{ input.count }}", "b": []any{"{{ obj }}", 1}})
	if err != nil {
		t.Fatal(err)
	}
	wantVal := map[string]any{"a": "5", "b": []any{map[string]any{"a": 1, "b": []any{true, nil, "x"}, "c": map[string]any{"y": "s", "z": 1.5}}, 1}}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				for j, tp := range tps {
					got, err := tp.Render(ctx)
					if err != nil || got != cases[j].want {
						errs <- fmt.Errorf("Render(%q) = %q, %v; want %q", cases[j].src, got, err, cases[j].want)
						return
					}
				}
				got, err := val.Render(ctx)
				if err != nil {
					errs <- err
					return
				}
				if diff := cmp.Diff(wantVal, got); diff != "" {
					errs <- fmt.Errorf("Value.Render mismatch:\n%s", diff)
					return
				}
				if _, err := tps[0].Render(map[string]any{}); err == nil {
					errs <- errors.New("render without input succeeded")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
