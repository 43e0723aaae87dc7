package tmpl_test

import (
	"os/exec"
	"strings"
	"testing"

	"runnel/workspace/tmpl"
)

// hostile are strings a webhook body could carry into a command.
var hostile = []string{
	"",
	"plain",
	"two words",
	"$(id -un)",
	"`id -un`",
	"${HOME}",
	"$HOME",
	"it's",
	"'",
	"''",
	`'\''`,
	`"double" and 'single'`,
	`back\slash\`,
	"a;echo pwned",
	"a && echo pwned || echo pwned",
	"a | cat",
	"> /tmp/pwned",
	"*",
	"~",
	"-n",
	"--help",
	"line1\nline2\n",
	"tab\there",
	"\x01\x7f control",
	"ünïcødé ✓",
	"#not a comment",
	"!history",
	"$'\\x41'",
}

// TestShellQuoteRunsVerbatim runs each quoted string through a real sh -c
// and checks it arrives as exactly one argument, byte for byte.
func TestShellQuoteRunsVerbatim(t *testing.T) {
	tp := tmpl.MustParse(`printf '%s|' "$#"; printf '%s' {{ input.who | shell_quote }}`)
	for _, s := range hostile {
		cmd, err := tp.Render(map[string]any{"input": map[string]any{"who": s}})
		if err != nil {
			t.Fatalf("render %q: %v", s, err)
		}
		// sh -c CMD sh: "$#" counts the arguments of the script itself
		// (none); the second printf receives exactly the quoted word.
		out, err := exec.Command("sh", "-c", cmd, "sh").Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", cmd, err)
		}
		got, ok := strings.CutPrefix(string(out), "0|")
		if !ok || got != s {
			t.Errorf("value %q: the command %q printed %q", s, cmd, out)
		}
	}
}

// TestShellQuoteArgs checks each quoted value is one argument even among
// others, with a script that prints its argument count and arguments.
func TestShellQuoteArgs(t *testing.T) {
	tp := tmpl.MustParse(`set -- {{ input.a | shell_quote }} {{ input.b | shell_quote }}; printf '%s\n' "$#" "$1" "$2"`)
	for _, a := range hostile {
		b := a + " b"
		cmd, err := tp.Render(map[string]any{"input": map[string]any{"a": a, "b": b}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", cmd).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", cmd, err)
		}
		if want := "2\n" + a + "\n" + b + "\n"; string(out) != want {
			t.Errorf("values %q, %q: got %q, want %q", a, b, out, want)
		}
	}
}

func TestShellQuoteValues(t *testing.T) {
	ctx := decode(t, `{"s": "it's", "n": 5, "f": 2.5, "t": true, "z": null,
		"o": {"b": "$(x)", "a": [1, "'"]}, "l": ["a b", 2]}`)
	for _, tc := range []struct{ src, want string }{
		{`{{ s | shell_quote }}`, `'it'\''s'`},
		{`{{ n | shell_quote }}`, `'5'`},
		{`{{ f | shell_quote }}`, `'2.5'`},
		{`{{ t | shell_quote }}`, `'true'`},
		{`{{ z | shell_quote }}`, `''`},
		{`{{ o | shell_quote }}`, `'{"a":[1,"'\''"],"b":"$(x)"}'`},
		{`{{ l | shell_quote }}`, `'["a b",2]'`},
		{`{{ nosuch | default(value="x y") | shell_quote }}`, `'x y'`},
		{`echo {{ s | upper | shell_quote }}`, `echo 'IT'\''S'`},
		{`{% for x in l %}{{ x | shell_quote }} {% endfor %}`, `'a b' '2' `},
	} {
		if got := mustRender(t, tc.src, ctx); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.src, got, tc.want)
		}
	}
	for _, src := range []string{`{{ nosuch | shell_quote }}`, `{{ s | shell_quote("x") }}`} {
		if _, err := tmpl.MustParse(src).Render(ctx); err == nil {
			t.Errorf("%s rendered without error", src)
		}
	}
}
