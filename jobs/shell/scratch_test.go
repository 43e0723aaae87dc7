package shell_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/jobs/shell"
)

// TestScratch runs two steps on one Scratch: the second always starts in an
// empty 0700 TMPDIR under Root; it is the first one's directory only when
// the first left it empty and unchanged. Close removes the idle directory.
func TestScratch(t *testing.T) {
	tests := []struct {
		name   string
		first  string // what the first step does in its TMPDIR
		reused bool
	}{
		{"left empty", `true`, true},
		{"created and removed a file", `touch "$TMPDIR/f" && rm "$TMPDIR/f"`, true},
		{"left a file", `touch "$TMPDIR/f"`, false},
		{"left a directory it cannot be removed from", `mkdir -p "$TMPDIR/ro/sub" && touch "$TMPDIR/ro/sub/f" && chmod 0 "$TMPDIR/ro"`, false},
		{"opened its mode", `chmod 755 "$TMPDIR"`, false},
		{"made it unreadable", `chmod 0 "$TMPDIR"`, false},
		{"removed it", `rmdir "$TMPDIR"`, false},
	}
	const probe = `echo "$TMPDIR"; ls -A "$TMPDIR" | wc -l; stat -c %a "$TMPDIR"`
	env := shell.Environ(os.Environ(), nil, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := &shell.Scratch{Root: root}
			res, c := run(t, shell.Spec{Command: `echo "$TMPDIR"; ` + tc.first, Scratch: s, Env: env})
			if res.ExitCode != 0 {
				t.Fatalf("first step: %+v", res)
			}
			first := c.texts("stdout")[0]
			res, c = run(t, shell.Spec{Command: probe, Scratch: s, Env: env})
			out := c.texts("stdout")
			if res.ExitCode != 0 || len(out) != 3 {
				t.Fatalf("second step: %+v, stdout %q", res, out)
			}
			second := out[0]
			if filepath.Dir(second) != root {
				t.Errorf("TMPDIR %q is not directly under Root %q", second, root)
			}
			if n, mode := strings.TrimSpace(out[1]), out[2]; n != "0" || mode != "700" {
				t.Errorf("second step's TMPDIR has %s entries, mode %s; want empty, 700", n, mode)
			}
			if got := first == second; got != tc.reused {
				t.Errorf("reused = %v, want %v", got, tc.reused)
			}
			if !tc.reused {
				if _, err := os.Lstat(first); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("first TMPDIR %q not removed: %v", first, err)
				}
			}
			s.Close()
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("Root not empty after Close: %v", ents)
			}
		})
	}
}
