package tmpl_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"runnel/workspace/tmpl"
)

// fuzzLimits are small budgets, so the fuzzer spends its time on shapes,
// not on megabytes.
var fuzzLimits = tmpl.Limits{Time: 200 * time.Millisecond, Output: 64 << 10}

// fuzzGrace is how far past its time budget a render may return on a busy
// machine (flat templates render inline, checked at every step).
const fuzzGrace = 5 * time.Second

// FuzzRender checks that no template text makes Parse, Render, Eval or
// RenderEnv panic, that every error they return is a clean *tmpl.Error, and
// that every render stays within its budgets: no output over the output
// budget, no render running over its time budget (seeds budget_* are the
// shapes that once stalled or killed the server). Seeds live in
// testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	ctx := decode(f, ctxJSON)
	lookup := func(name string) (string, bool) {
		if name == "HOME" {
			return "/root", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src string) {
		// A render stuck where no budget check runs would stall the
		// fuzzer without a report; crashing names the input.
		stuck := time.AfterFunc(4*(fuzzLimits.Time+fuzzGrace), func() {
			panic(fmt.Sprintf("%q: Parse and renders still running after %s", src, 4*(fuzzLimits.Time+fuzzGrace)))
		})
		defer stuck.Stop()
		tp, err := tmpl.Parse(src)
		if err != nil {
			checkFuzzError(t, src, err)
			return
		}
		if tp.Source() != src {
			t.Fatalf("Source() = %q, want %q", tp.Source(), src)
		}
		start := time.Now()
		out, err := tp.RenderLimits(ctx, fuzzLimits)
		checkFuzzBudget(t, src, tp.Static(), start, out)
		if err != nil {
			checkFuzzError(t, src, err)
		} else if tp.Static() && out != src {
			t.Fatalf("static Render(%q) = %q", src, out)
		}
		start = time.Now()
		v, err := tp.EvalLimits(ctx, fuzzLimits)
		s, _ := v.(string)
		checkFuzzBudget(t, src, tp.Static(), start, s)
		if err != nil {
			checkFuzzError(t, src, err)
		}
		if _, err := tp.RenderEnv(lookup); err != nil {
			checkFuzzError(t, src, err)
		}
	})
}

// checkFuzzBudget checks one render against fuzzLimits (static text is
// returned as written, whatever its length).
func checkFuzzBudget(t *testing.T, src string, static bool, start time.Time, out string) {
	t.Helper()
	if d := time.Since(start); d > fuzzLimits.Time+fuzzGrace {
		t.Fatalf("%q: render took %s, budget %s", src, d, fuzzLimits.Time)
	}
	if !static && len(out) > fuzzLimits.Output {
		t.Fatalf("%q: output of %d bytes, budget %d", src, len(out), fuzzLimits.Output)
	}
}

func checkFuzzError(t *testing.T, src string, err error) {
	t.Helper()
	var te *tmpl.Error
	if !errors.As(err, &te) {
		t.Fatalf("%q: error %T (%v), want *tmpl.Error", src, err, err)
	}
	if strings.Contains(te.Msg, "\x00") || strings.Contains(te.Msg, "goroutine ") {
		t.Fatalf("%q: message leaks internals: %q", src, te.Msg)
	}
	// A recovered gonja panic is a handled error; set TMPL_FUZZ_PANICS=1
	// to stop at them while hunting engine bugs.
	if strings.HasPrefix(te.Msg, "template engine failure") && os.Getenv("TMPL_FUZZ_PANICS") != "" {
		t.Fatalf("%q: gonja panicked: %s", src, te.Msg)
	}
	if utf8.ValidString(src) && len(te.Msg) > 600 {
		t.Fatalf("%q: message is %d bytes long", src, len(te.Msg))
	}
}
