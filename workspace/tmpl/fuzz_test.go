package tmpl_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"runnel/workspace/tmpl"
)

// FuzzRender checks that no template text makes Parse, Render, Eval or
// RenderEnv panic, and that every error they return is a clean *tmpl.Error.
// Seeds live in testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	ctx := decode(f, ctxJSON)
	lookup := func(name string) (string, bool) {
		if name == "HOME" {
			return "/root", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src string) {
		tp, err := tmpl.Parse(src)
		if err != nil {
			checkFuzzError(t, src, err)
			return
		}
		if tp.Source() != src {
			t.Fatalf("Source() = %q, want %q", tp.Source(), src)
		}
		out, err := tp.Render(ctx)
		if err != nil {
			checkFuzzError(t, src, err)
		} else if tp.Static() && out != src {
			t.Fatalf("static Render(%q) = %q", src, out)
		}
		if _, err := tp.Eval(ctx); err != nil {
			checkFuzzError(t, src, err)
		}
		if _, err := tp.RenderEnv(lookup); err != nil {
			checkFuzzError(t, src, err)
		}
	})
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
