package tmpl_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"runnel/workspace/tmpl"
	"runnel/workspace/waittest"
)

// manyItems is a list over half the item limit.
var manyItems = make([]any, 600_000)

// budgetCtx holds the sizes an API caller controls.
func budgetCtx() map[string]any {
	return map[string]any{
		"input": map[string]any{"w": 2000000000.0, "n": 100000.0, "small": 3.0},
		"big":   strings.Repeat("x", 600<<10),
		"mid":   strings.Repeat("x", 200<<10),
		"items": manyItems,
		"lines": strings.Repeat("a\n", 300<<10),
		"words": strings.Repeat("ab ", 200<<10),
	}
}

// sizeLimits are the default output budget with a time budget no busy
// machine reaches, for the tests of the other budgets.
var sizeLimits = tmpl.Limits{Output: tmpl.DefaultOutput, Time: time.Minute}

// TestBudgetBoundsConstructs runs each construct that allocates by an
// argument with a size that would take the process down, and checks that it
// fails with a budget error before allocating it (the test would otherwise
// run out of memory).
func TestBudgetBoundsConstructs(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"repeat", `{{ '=' * (input.w|int) }}`, "string repetition '*' would make 2000000000 bytes: exceeded the 1 MiB output budget"},
		{"repeat reversed size", `{{ 'ab' * 600000 }}`, "exceeded the 1 MiB output budget"},
		{"repeat in set", `{% set s = '=' * input.w %}{{ s|length }}`, "exceeded the 1 MiB output budget"},
		{"repeat in if", `{% if ('=' * input.w) %}x{% endif %}`, "exceeded the 1 MiB output budget"},
		{"concat tilde", `{{ big ~ big }}`, "concatenation '~' would make 1228800 bytes: exceeded the 1 MiB output budget"},
		{"concat plus", `{{ big + big }}`, "string concatenation '+' would make 1228800 bytes"},
		{"doubling macro", `{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('ab', 40) }}`, "concatenation '~' would make 2 MiB: exceeded the 1 MiB output budget"},
		{"center", `{{ 'x' | center(2000000000) }}`, "filter 'center' would make 2000000000 bytes"},
		{"center from input", `{{ 'x' | center(input.w) }}`, "exceeded the 1 MiB output budget"},
		{"indent width", `{{ 'x' | indent(2000000000) }}`, "filter 'indent' would make"},
		{"indent lines", `{{ lines | indent(8) }}`, "filter 'indent' would make"},
		{"indent string", `{{ lines | indent(width='        ') }}`, "filter 'indent' would make"},
		{"replace", `{{ big | replace('x', 'yy') }}`, "filter 'replace' would make"},
		{"replace empty", `{{ big | replace('', 'y') }}`, "filter 'replace' would make"},
		{"join", `{{ (mid|list) | join('xxxxxx') }}`, "filter 'join' would make"},
		{"format width", `{{ '%900000d%900000d' | format(1, 2) }}`, "filter 'format' would make"},
		{"batch", `{{ [1] | batch(2000000000, 0) }}`, "filter 'batch': 2000000000 items"},
		{"slice", `{{ [1] | slice(2000000000) }}`, "filter 'slice': 2000000000 items"},
		{"tojson indent", `{{ [1] | tojson(indent=2000000000) }}`, "indent 2000000000 is more than 32"},
		{"method center", `{{ 'x'.center(2000000000) }}`, "method 'center': argument 2000000000 exceeds the 1 MiB output budget"},
		{"method ljust", `{{ 'x'.ljust(input.w) }}`, "method 'ljust'"},
		{"method rjust", `{{ 'x'.rjust(input.w) }}`, "method 'rjust'"},
		{"method zfill", `{{ '1'.zfill(input.w) }}`, "method 'zfill'"},
		{"method rsplit", `{{ 'a b'.rsplit(' ', input.w) }}`, "method 'rsplit'"},
		{"method expandtabs", `{% set t = '\t' * 1000 %}{{ t.expandtabs(100000) }}`, "method 'expandtabs': would make"},
		{"method format", `{{ '{:>900000}{:>900000}'.format(1, 2) }}`, "method 'format': would make"},
		{"method replace", `{{ big.replace('x', 'yy') }}`, "method 'replace': would make"},
		{"method join", `{{ 'xxxxxx'.join(mid|list) }}`, "method 'join': would make"},
		{"list concat", `{{ (items + items)|length }}`, "list concatenation '+' would make 1200000 items"},
		// The outer loop is 100000 long; 1000 keeps the test quick
		// (the inner loop is refused before it materialises either way).
		{"nested loops", `{% for c in 'a'*1000 %}{% for d in 'a'*100000 %}{{ d }}{% endfor %}{% endfor %}`, "loops exceeded 100000 iterations"},
		{"nested empty loops", `{% for c in 'a'*1000 %}{% for d in 'a'*100000 %}{% endfor %}{% endfor %}`, "loops exceeded 100000 iterations"},
		{"loop output", `{% set chunk = big[:4000] %}{% for c in 'a'*1000 %}{{ chunk }}{% endfor %}`, "exceeded the 1 MiB output budget"},
		{"loop text in set", `{% set x %}{% for c in 'a'*10000 %}` + strings.Repeat("t", 64000) + `{% endfor %}{% endset %}`, "strings built exceeded 32 times the 1 MiB output budget"},
		{"loop in macro", `{% macro f() %}{% for i in 'a'*100001 %}{% endfor %}{% endmacro %}{{ f() }}`, "loops exceeded 100000 iterations"},
		{"output total", `{% for c in 'a'*3 %}{{ big }}{% endfor %}`, "exceeded the 1 MiB output budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := tmpl.Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := tp.RenderLimits(budgetCtx(), sizeLimits)
			if err == nil {
				t.Fatalf("Render succeeded with %d bytes, want an error", len(out))
			}
			var te *tmpl.Error
			if !errors.As(err, &te) {
				t.Fatalf("error %T %v, want *tmpl.Error", err, err)
			}
			if !containsAny(te.Msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", te.Msg, tc.want)
			}
		})
	}
}

// containsAny reports whether s contains one of the "|"-separated wants.
func containsAny(s, wants string) bool {
	for _, w := range strings.Split(wants, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// TestBudgetAllowsNormalWork checks that ordinary templates near, but under,
// the budgets still render exactly.
func TestBudgetAllowsNormalWork(t *testing.T) {
	ctx := budgetCtx()
	for _, tc := range []struct {
		name, src string
		wantLen   int
	}{
		{"repeat", `{{ '=' * 80 }}`, 80},
		{"repeat near budget", `{{ 'ab' * 500000 }}`, 1000000},
		{"negative repeat", `{{ 'ab' * -3 }}`, 0},
		{"center", `{{ 'x' | center(20) }}`, 20},
		{"method center", `{{ 'x'.center(9, '*') }}`, 9},
		{"loop", `{% for i in 'a' * 1000 %}{{ i }}{% endfor %}`, 1000},
		{"nested loops", `{% for i in 'a' * 50 %}{% for j in 'b' * 50 %}.{% endfor %}{% endfor %}`, 2500},
		{"list concat", `{{ ([1, 2] + [3]) | length }}`, 1},
		{"wordwrap", `{{ words | wordwrap(40) | length }}`, 6},
		{"join", `{{ ['a', 'b'] | join(', ') }}`, 4},
		{"replace", `{{ 'aXa' | replace('X', 'yy') }}`, 4},
		{"format", `{{ '%5d' | format(3) }}`, 5},
		{"big output", `{{ big }}`, 600 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tmpl.MustParse(tc.src).RenderLimits(ctx, sizeLimits)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if len(out) != tc.wantLen {
				t.Errorf("output is %d bytes, want %d", len(out), tc.wantLen)
			}
		})
	}
}

// TestWordwrap checks the linear wordwrap against gonja's semantics.
func TestWordwrap(t *testing.T) {
	ctx := map[string]any{}
	for _, tc := range []struct{ src, want string }{
		{`{{ 'a bb ccc dddd' | wordwrap(6) }}`, "a bb\nccc\ndddd"},
		{`{{ 'one two\n\nthree  four' | wordwrap(width=9) }}`, "one two\n\nthree\nfour"},
		{`{{ 'verylongword x' | wordwrap(4) }}`, "verylongword\nx"},
		{`{{ 'a b' | wordwrap(0) }}`, "a b"},
		{`{{ 'ä ö ü' | wordwrap(3) }}`, "ä ö\nü"},
	} {
		if got := mustRender(t, tc.src, ctx); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestRecursiveLoopRefused(t *testing.T) {
	_, err := tmpl.Parse(`{% for x in list recursive %}{{ loop(list) }}{% endfor %}`)
	var te *tmpl.Error
	if !errors.As(err, &te) || !strings.Contains(te.Msg, "recursive loops are not supported") {
		t.Fatalf("Parse error %v, want recursive loops refused", err)
	}
}

// TestLimitsOptions checks that the limits are options: a smaller output
// budget and a shorter time budget apply, and the watchdog returns at the
// deadline and the render goroutine stops soon after.
func TestLimitsOptions(t *testing.T) {
	tp := tmpl.MustParse(`{% for i in 'a' * 10 %}{{ '=' * 100 }}{% endfor %}`)
	if _, err := tp.RenderLimits(nil, tmpl.Limits{Output: 1000}); err != nil {
		t.Fatalf("1000 bytes within a 1000-byte budget: %v", err)
	}
	_, err := tp.RenderLimits(nil, tmpl.Limits{Output: 999})
	if err == nil || !strings.Contains(err.Error(), "exceeded the 999 bytes output budget") {
		t.Fatalf("error %v, want the 999-byte output budget", err)
	}

	// About a million cheap passes: far more than 1 ms of work.
	slow := tmpl.MustParse(`{% for i in 'a' * 999 %}{% for j in 'b' * 999 %}{% if j == i %}{% endif %}{% endfor %}{% endfor %}`)
	before := runtime.NumGoroutine()
	start := time.Now()
	_, err = slow.RenderLimits(nil, tmpl.Limits{Time: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "render exceeded the 1ms time budget") {
		t.Fatalf("error %v, want the 1ms time budget", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("render returned after %s", d)
	}
	// The abandoned render goroutine stops at its next check.
	waitGoroutines(t, before)

	// A macro fanning out to 2^40 calls: the watchdog returns at the
	// deadline, and the per-call check stops the abandoned goroutine.
	fan := tmpl.MustParse(`{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}`)
	_, err = fan.RenderLimits(nil, tmpl.Limits{Time: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "render exceeded the 1ms time budget") {
		t.Fatalf("macro fan-out: error %v, want the 1ms time budget", err)
	}
	waitGoroutines(t, before)

	v := tmpl.MustParse(`x`)
	if _, err := v.RenderLimits(nil, tmpl.Limits{}); err != nil {
		t.Fatalf("zero limits take the defaults: %v", err)
	}
	val, err := tmpl.Compile(map[string]any{"a": `{{ '=' * 50 }}`, "b": `{{ '=' * 60 }}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = val.RenderLimits(nil, tmpl.Limits{Output: 55})
	var pe *tmpl.PathError
	if !errors.As(err, &pe) || pe.Path != "b" || !strings.Contains(pe.Err.Msg, "output budget") {
		t.Fatalf("Value.RenderLimits error %v, want field b over the budget", err)
	}
}

// waitGoroutines waits (waittest.Patience at most) until no more than n
// goroutines run: an ended goroutine sends no event, so this polls.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	if !waittest.Until(func() bool { return runtime.NumGoroutine() <= n }) {
		t.Errorf("%d goroutines left, %d before the render", runtime.NumGoroutine(), n)
	}
}
