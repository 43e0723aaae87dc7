package shell_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"runnel/jobs/jobstest"
	"runnel/jobs/shell"
)

const mark = " …[truncated]"

func TestRunStreams(t *testing.T) {
	res, c := run(t, shell.Spec{Command: `echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo; printf 'out-last'; printf 'err-last' >&2`})
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result = %+v, want success", res)
	}
	if diff := cmp.Diff([]string{"out1", "out2", "", "out-last"}, c.texts("stdout")); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"err1", "err2", "err-last"}, c.texts("stderr")); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	last := map[string]time.Time{}
	for _, l := range c.lines {
		if l.TS.Before(last[l.Stream]) || l.TS.Before(res.Started) {
			t.Errorf("line %q at %v: out of order (previous %v, started %v)", l.Text, l.TS, last[l.Stream], res.Started)
		}
		last[l.Stream] = l.TS
	}
	if res.Ended.Before(res.Started) {
		t.Errorf("Ended %v before Started %v", res.Ended, res.Started)
	}
}

func TestRunLines(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "a\nb\n", []string{"a", "b"}},
		{"empty lines", "\n\na\n\n", []string{"", "", "a", ""}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"only one trailing cr dropped", "a\r\r\n", []string{"a\r"}},
		{"inner cr kept", "10%\r50%\r100%\n", []string{"10%\r50%\r100%"}},
		{"final line without newline", "a\nlast", []string{"a", "last"}},
		{"final cr without newline", "a\r", []string{"a"}},
		{"invalid utf-8", "ok \xff\xfe end\n", []string{"ok \uFFFD\uFFFD end"}},
		{"valid utf-8 kept", "héllo wörld ✓\n", []string{"héllo wörld ✓"}},
		{"truncated rune", "ab\xe2\x9c\n", []string{"ab\uFFFD\uFFFD"}},
		{"exactly MaxLine", long("x", shell.MaxLine) + "\n", []string{long("x", shell.MaxLine)}},
		{"MaxLine+1", long("x", shell.MaxLine+1) + "\n", []string{long("x", shell.MaxLine-len(mark)) + mark}},
		{"long line", long("x", 200000) + "\nnext\n", []string{long("x", shell.MaxLine-len(mark)) + mark, "next"}},
		{"long line without newline", long("x", 200000), []string{long("x", shell.MaxLine-len(mark)) + mark}},
		// 65521 bytes of room: the cut backs up to the rune boundary at 65520.
		{"long line cut at rune boundary", long("é", 40000) + "\n", []string{long("é", 32760) + mark}},
		// 32768 invalid bytes become 98304 bytes of U+FFFD: over MaxLine.
		{"invalid bytes expand past MaxLine", long("\xff", shell.MaxLine/2) + "\n", []string{long("\uFFFD", 21840) + mark}},
		{"long line with cr", long("y", shell.MaxLine+10) + "\r\n", []string{long("y", shell.MaxLine-len(mark)) + mark}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "in", []byte(tt.in), 0o644)
			res, c := run(t, shell.Spec{Command: "cat in; cat in >&2", Dir: dir})
			if res.ExitCode != 0 {
				t.Fatalf("result = %+v", res)
			}
			for _, stream := range []string{"stdout", "stderr"} {
				got := c.texts(stream)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", stream, diff)
				}
				for _, l := range got {
					if len(l) > shell.MaxLine || !utf8.ValidString(l) {
						t.Errorf("%s line of %d bytes (valid UTF-8 %v)", stream, len(l), utf8.ValidString(l))
					}
				}
			}
		})
	}
}

func TestRunOutput(t *testing.T) {
	big := func(n int) string { return `OUTPUT: "` + strings.Repeat("a", n) + `"` } // len n+10
	tests := []struct {
		name   string
		stdout string
		stderr string
		exit   int
		want   string // compacted JSON; "" = nil
	}{
		{name: "object", stdout: "OUTPUT: {\"a\": 1, \"b\": [true, null]}\n", want: `{"a":1,"b":[true,null]}`},
		{name: "no output", stdout: "hello\n"},
		{name: "last valid wins", stdout: "OUTPUT: 1\nOUTPUT: {\"n\": 2}\nmore\n", want: `{"n":2}`},
		{name: "invalid ignored", stdout: "OUTPUT: {\"ok\": true}\nOUTPUT: {broken\nOUTPUT:\nOUTPUT: 1 2\n", want: `{"ok":true}`},
		{name: "number", stdout: "OUTPUT: 42\n", want: `42`},
		{name: "string", stdout: "OUTPUT: \"hi there\"\n", want: `"hi there"`},
		{name: "array", stdout: "OUTPUT: [1, 2, 3]\n", want: `[1,2,3]`},
		{name: "boolean no space", stdout: "OUTPUT:true\n", want: `true`},
		{name: "null", stdout: "OUTPUT: null\n", want: `null`},
		{name: "tabs and spaces", stdout: "OUTPUT:\t \t{\"a\":\t1}\n", want: `{"a":1}`},
		{name: "trailing whitespace", stdout: "OUTPUT: {\"a\": 1}  \t \r\n", want: `{"a":1}`},
		{name: "final line without newline", stdout: "OUTPUT: 7", want: `7`},
		{name: "not at line start", stdout: " OUTPUT: 1\nxOUTPUT: 2\n"},
		{name: "lowercase", stdout: "output: 1\n"},
		{name: "stderr ignored", stderr: "OUTPUT: 1\n"},
		{name: "invalid utf-8 replaced", stdout: "OUTPUT: \"a\xffb\"\n", want: "\"a\uFFFDb\""},
		{name: "failed step drops output", stdout: "OUTPUT: {\"a\": 1}\n", exit: 3},
		{name: "1 MiB line parsed", stdout: big(shell.MaxOutputLine-10) + "\n", want: `"` + strings.Repeat("a", shell.MaxOutputLine-10) + `"`},
		{name: "1 MiB line with cr parsed", stdout: big(shell.MaxOutputLine-10) + "\r\n", want: `"` + strings.Repeat("a", shell.MaxOutputLine-10) + `"`},
		{name: "over 1 MiB ignored", stdout: "OUTPUT: \"small\"\n" + big(shell.MaxOutputLine-9) + "\n", want: `"small"`},
		{name: "over 1 MiB without newline ignored", stdout: "OUTPUT: 1\n" + big(3*shell.MaxOutputLine), want: `1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "out", []byte(tt.stdout), 0o644)
			writeFile(t, dir, "err", []byte(tt.stderr), 0o644)
			res, c := run(t, shell.Spec{Command: "cat out; cat err >&2; exit " + strconv.Itoa(tt.exit), Dir: dir})
			if res.ExitCode != tt.exit {
				t.Fatalf("exit code %d, want %d (%+v)", res.ExitCode, tt.exit, res)
			}
			if got := string(res.Output); got != tt.want {
				t.Errorf("Output = %.80q…, want %.80q…", got, tt.want)
			}
			// OUTPUT: lines stay in the log, cut like any other line.
			var want []string
			for l := range strings.Lines(tt.stdout) {
				l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
				l = strings.ToValidUTF8(l, "\uFFFD")
				if len(l) > shell.MaxLine {
					l = l[:shell.MaxLine-len(mark)] + mark
				}
				want = append(want, l)
			}
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, c.texts("stdout")); diff != "" {
				t.Errorf("stdout lines (-want +got):\n%.2000s", diff)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		command string
		code    int
		err     string
	}{
		{"success", "echo fine; echo noise >&2", 0, ""},
		{"exit code", "exit 3", 3, "Exit code: 3\nStderr: "},
		{"exit 255", "exit 255", 255, "Exit code: 255\nStderr: "},
		{"stderr lines joined", "echo one >&2; echo out; printf 'two\\n\\nthree' >&2; exit 1", 1, "Exit code: 1\nStderr: one\ntwo\n\nthree"},
		{"false", "false", 1, "Exit code: 1\nStderr: "},
		{"command not found", "definitely-not-a-command-xyz", 127, "Exit code: 127\nStderr: sh: "}, // wording varies by shell
		{"killed by signal", "echo dying >&2; kill -KILL $$", -1, "Exit code: -1\nStderr: dying"},
		{"terminated by signal", "kill -TERM $$", -1, "Exit code: -1\nStderr: "},
		{"no -e", "false; echo still here", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := run(t, shell.Spec{Command: tt.command})
			if res.Error != tt.err && !(tt.name == "command not found" && strings.HasPrefix(res.Error, tt.err)) {
				t.Errorf("Error = %q, want %q", res.Error, tt.err)
			}
			if res.ExitCode != tt.code || res.TimedOut || res.Stopped {
				t.Errorf("result = %+v, want exit code %d", res, tt.code)
			}
		})
	}
}

func TestRunStderrTail(t *testing.T) {
	traceback := "Traceback (most recent call last):\n" +
		"  File \"/app/main.py\", line 12, in <module>\n" +
		"    value = config[\"missing_key\"]\n" +
		"            ~~~~~~^^^^^^^^^^^^^^^\n" +
		"KeyError: 'missing_key'\n"
	for _, pad := range []string{"", "x"} {
		var b strings.Builder
		for i := range 200 {
			b.WriteString(pad + "ligne é à ü " + strconv.Itoa(i) + " " + strings.Repeat("é", 20) + "\n")
		}
		b.WriteString(traceback)
		stderr := b.String()
		joined := strings.TrimSuffix(stderr, "\n")
		if utf8.RuneStart(joined[len(joined)-4096]) {
			continue // find the padding that puts the cut inside a rune
		}
		want := joined[len(joined)-4096:]
		for !utf8.RuneStart(want[0]) {
			want = want[1:]
		}
		dir := t.TempDir()
		writeFile(t, dir, "err", []byte(stderr), 0o644)
		res, c := run(t, shell.Spec{Command: "echo some stdout; cat err >&2; exit 1", Dir: dir})
		if got := len(c.texts("stderr")); got != 205 {
			t.Fatalf("%d stderr lines, want 205", got)
		}
		if diff := cmp.Diff("Exit code: 1\nStderr: "+want, res.Error); diff != "" {
			t.Errorf("Error (-want +got):\n%s", diff)
		}
		tail := strings.TrimPrefix(res.Error, "Exit code: 1\nStderr: ")
		if len(tail) >= 4096 || len(tail) < 4093 || !utf8.ValidString(tail) {
			t.Errorf("tail of %d bytes (valid UTF-8 %v), want 4093..4095", len(tail), utf8.ValidString(tail))
		}
		if !strings.HasSuffix(res.Error, "\nKeyError: 'missing_key'") {
			t.Errorf("Error does not end with the KeyError: …%q", res.Error[len(res.Error)-60:])
		}
		return
	}
	t.Fatal("no padding put the 4096-byte cut inside a rune")
}

func TestRunStderrTailLongLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "err", []byte("first\n"+strings.Repeat("z", 10000)+"END\n"), 0o644)
	res, _ := run(t, shell.Spec{Command: "cat err >&2; exit 2", Dir: dir})
	want := "Exit code: 2\nStderr: " + strings.Repeat("z", 4093) + "END"
	if res.Error != want {
		t.Errorf("Error = %.60q… (%d bytes), want %d bytes", res.Error, len(res.Error), len(want))
	}
}

func TestRunScriptFile(t *testing.T) {
	const body = "#!/bin/cat\necho hello from sh\necho \"args=$#\"\n"
	tests := []struct {
		name  string
		file  string
		data  string
		mode  os.FileMode
		code  int
		lines []string
	}{
		// #!/bin/cat shows whether the kernel ran the file (cat prints it)
		// or sh did.
		{name: "executable runs directly", file: "run.sh", data: body, mode: 0o755, lines: []string{"#!/bin/cat", "echo hello from sh", "echo \"args=$#\""}},
		{name: "read-only executable", file: "run.sh", data: body, mode: 0o555, lines: []string{"#!/bin/cat", "echo hello from sh", "echo \"args=$#\""}},
		{name: "not executable runs with sh", file: "run.sh", data: body, mode: 0o644, lines: []string{"hello from sh", "args=0"}},
		{name: "read-only not executable", file: "run.sh", data: body, mode: 0o444, lines: []string{"hello from sh", "args=0"}},
		{name: "executable without shebang runs with sh", file: "run.sh", data: "echo no shebang\n", mode: 0o755, lines: []string{"no shebang"}},
		{name: "subdirectory", file: "scripts/deploy.sh", data: "echo in sub; pwd -P >/dev/null\n", mode: 0o644, lines: []string{"in sub"}},
		{name: "no shebang with dot segments", file: "./sub/../plain.sh", data: "echo plain\n", mode: 0o755, lines: []string{"plain"}},
		{name: "dot segments inside", file: "./scripts/../run.sh", data: "echo dots\n", mode: 0o644, lines: []string{"dots"}},
		{name: "exit code", file: "fail.sh", data: "#!/bin/sh\necho bad >&2\nexit 4\n", mode: 0o755, code: 4, lines: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, filepath.Clean(tt.file), []byte(tt.data), tt.mode)
			res, c := run(t, shell.Spec{File: tt.file, Dir: dir})
			if res.ExitCode != tt.code {
				t.Fatalf("result = %+v, want exit code %d", res, tt.code)
			}
			if diff := cmp.Diff(tt.lines, c.texts("stdout")); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunScriptFileRejected(t *testing.T) {
	tests := []struct {
		name string
		file func(dir, outside string) string
		want string
	}{
		{"parent escape", func(dir, outside string) string { return "../" + filepath.Base(outside) + "/evil.sh" }, "path escapes the working directory"},
		{"nested parent escape", func(dir, outside string) string { return "sub/../../" + filepath.Base(outside) + "/evil.sh" }, "path escapes the working directory"},
		{"absolute", func(dir, outside string) string { return filepath.Join(outside, "evil.sh") }, "path escapes the working directory"},
		{"absolute inside", func(dir, outside string) string { return filepath.Join(dir, "ok.sh") }, "path escapes the working directory"},
		{"symlink out", func(dir, outside string) string { return "link.sh" }, "path escapes the working directory"},
		{"symlinked dir out", func(dir, outside string) string { return "linkdir/evil.sh" }, "path escapes the working directory"},
		{"missing", func(dir, outside string) string { return "nope.sh" }, "no such file or directory"},
		{"directory", func(dir, outside string) string { return "sub" }, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir, outside := filepath.Join(base, "tree"), filepath.Join(base, "outside")
			marker := filepath.Join(base, "marker")
			writeFile(t, outside, "evil.sh", []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755)
			writeFile(t, dir, "ok.sh", []byte("touch "+marker+"\n"), 0o755)
			writeFile(t, dir, "sub/x", nil, 0o644)
			if err := os.Symlink(filepath.Join(outside, "evil.sh"), filepath.Join(dir, "link.sh")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
				t.Fatal(err)
			}
			file := tt.file(dir, outside)
			res, c := run(t, shell.Spec{File: file, Dir: dir})
			if res.ExitCode != -1 || !strings.HasPrefix(res.Error, "Failed to start process: ") || !strings.Contains(res.Error, tt.want) {
				t.Errorf("result = %+v, want exit -1 and a start failure mentioning %q", res, tt.want)
			}
			if !strings.Contains(res.Error, file) {
				t.Errorf("Error %q does not name the file %q", res.Error, file)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the rejected script ran")
			}
			if got := len(c.texts("stdout")) + len(c.texts("stderr")); got != 0 {
				t.Errorf("%d lines logged for a process that never started", got)
			}
		})
	}
}

func TestRunSymlinkInside(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "real/run.sh", []byte("echo via link\n"), 0o644)
	if err := os.Symlink("real/run.sh", filepath.Join(dir, "run.sh")); err != nil {
		t.Fatal(err)
	}
	res, c := run(t, shell.Spec{File: "run.sh", Dir: dir})
	if res.ExitCode != 0 {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([]string{"via link"}, c.texts("stdout")); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestRunStartFailure(t *testing.T) {
	tmpFile := filepath.Join(t.TempDir(), "file")
	writeFile(t, filepath.Dir(tmpFile), "file", nil, 0o644)
	tests := []struct {
		name string
		spec shell.Spec
		want string
	}{
		{"missing dir", shell.Spec{Command: "true", Dir: "/nonexistent/runnel-test"}, "Failed to start process: working directory: stat /nonexistent/runnel-test: no such file or directory"},
		{"missing dir with file", shell.Spec{File: "x.sh", Dir: "/nonexistent/runnel-test"}, "Failed to start process: working directory: stat /nonexistent/runnel-test: no such file or directory"},
		{"dir is a file", shell.Spec{Command: "true", Dir: tmpFile}, "Failed to start process: working directory " + strconv.Quote(tmpFile) + ": not a directory"},
		{"both set", shell.Spec{Command: "true", File: "x.sh"}, "Failed to start process: exactly one of command and script file must be set"},
		{"neither set", shell.Spec{}, "Failed to start process: exactly one of command and script file must be set"},
		{"TMPDIR root unusable", shell.Spec{Command: "true", TempRoot: filepath.Join(tmpFile, "sub")}, "Failed to start process: create TMPDIR root: mkdir "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill(t, &tt.spec)
			res := runWithin(t, context.Background(), tt.spec, nil)
			if res.ExitCode != -1 || !strings.HasPrefix(res.Error, tt.want) || res.Stopped || res.TimedOut || res.Output != nil {
				t.Errorf("result = %+v, want exit -1 and %q", res, tt.want)
			}
		})
	}
}

func TestRunWorkingDir(t *testing.T) {
	dir := t.TempDir()
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The revision tree is read-only; the step still starts in it.
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	res, c := run(t, shell.Spec{Command: "pwd -P", Dir: dir})
	if res.ExitCode != 0 {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([]string{want}, c.texts("stdout")); diff != "" {
		t.Errorf("cwd (-want +got):\n%s", diff)
	}
}

func TestRunTMPDIR(t *testing.T) {
	root := t.TempDir()
	// The step checks that TMPDIR is fresh and usable, then leaves behind
	// directories it cannot be removed from without a chmod.
	const script = `echo "$TMPDIR"; ls -A "$TMPDIR" | wc -l; test -d "$TMPDIR" && test -w "$TMPDIR" && echo usable
mkdir -p "$TMPDIR/ro/sub" && touch "$TMPDIR/ro/sub/f" && chmod 555 "$TMPDIR/ro/sub" && chmod 0 "$TMPDIR/ro"`
	env := append(shell.Environ(os.Environ(), nil, nil), "TMPDIR=/should/be/replaced")
	var seen []string
	for range 2 {
		res, c := run(t, shell.Spec{Command: script, TempRoot: root, Env: env})
		out := c.texts("stdout")
		if res.ExitCode != 0 || len(out) != 3 {
			t.Fatalf("result = %+v, stdout %q", res, out)
		}
		tmp := out[0]
		if filepath.Dir(tmp) != root {
			t.Errorf("TMPDIR %q is not directly under TempRoot %q", tmp, root)
		}
		if diff := cmp.Diff([]string{"0", "usable"}, []string{strings.TrimSpace(out[1]), out[2]}); diff != "" {
			t.Errorf("TMPDIR checks (-want +got):\n%s", diff)
		}
		if _, err := os.Lstat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("TMPDIR %q still exists after Run: %v", tmp, err)
		}
		seen = append(seen, tmp)
	}
	if seen[0] == seen[1] {
		t.Errorf("two steps shared TMPDIR %q", seen[0])
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("TempRoot not empty after Run: %v", ents)
	}
}

func TestRunEnvironment(t *testing.T) {
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=/home/runnel",
		"RUNNEL__WORKER_TOKEN=tok-s3cret-value",
		"RUNNEL_DATA_DIR=/var/lib/runnel",
		"KEEP=base",
	}
	env := shell.Environ(base,
		map[string]string{"GREETING": "hello world", "KEEP": "action"},
		map[string]string{"RUNNEL_JOB_ID": "job-1", "RUNNEL_STEP": "build", "STROEM_JOB_ID": "job-1"})
	res, c := run(t, shell.Spec{Command: "env", Env: env})
	if res.ExitCode != 0 {
		t.Fatalf("result = %+v", res)
	}
	got := map[string]string{}
	for _, l := range c.texts("stdout") {
		if strings.Contains(l, "tok-s3cret-value") {
			t.Errorf("worker token visible in the step: %q", l)
		}
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	for _, k := range []string{"RUNNEL__WORKER_TOKEN", "RUNNEL_DATA_DIR"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q present in the step", k, v)
		}
	}
	want := map[string]string{"HOME": "/home/runnel", "KEEP": "action", "GREETING": "hello world",
		"RUNNEL_JOB_ID": "job-1", "RUNNEL_STEP": "build", "STROEM_JOB_ID": "job-1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["TMPDIR"] == "" {
		t.Error("TMPDIR missing")
	}
}

func TestRunEmptyStdin(t *testing.T) {
	res, c := run(t, shell.Spec{Command: `if read -r x; then echo "got $x"; else echo eof; fi; cat; echo done`})
	if res.ExitCode != 0 {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([]string{"eof", "done"}, c.texts("stdout")); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestRunContextDoneBeforeStart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := shell.Spec{Command: "touch marker", Dir: dir}
	fill(t, &spec)
	res := runWithin(t, ctx, spec, nil)
	if !res.Stopped || res.ExitCode != -1 || res.Error != "" {
		t.Errorf("result = %+v, want Stopped", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); err == nil {
		t.Error("the process ran although ctx was done")
	}
}

// startAndCancel runs command, waits for its first stdout line (the pids it
// reports), cancels ctx and returns the result, the pids and when the
// cancel happened.
func startAndCancel(t *testing.T, spec shell.Spec) (shell.Result, []int, time.Time) {
	t.Helper()
	fill(t, &spec)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	first := make(chan string, 1)
	done := make(chan shell.Result, 1)
	go func() { done <- shell.Run(ctx, spec, firstLine(first)) }()
	var ps []int
	select {
	case l := <-first:
		ps = pids(t, l)
	case res := <-done:
		t.Fatalf("Run ended before printing: %+v", res)
	case <-time.After(10 * time.Second):
		t.Fatal("no output within 10s")
	}
	leader := ps[0]
	for _, pid := range ps {
		if _, pgrp, ok := procStat(pid); !ok || pgrp != leader {
			t.Fatalf("process %d: pgrp %d (exists %v), want the leader's group %d", pid, pgrp, ok, leader)
		}
	}
	at := time.Now()
	cancel(errors.New("job cancelled"))
	select {
	case res := <-done:
		return res, ps, at
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the cancel")
		return shell.Result{}, nil, at
	}
}

func TestRunCancelKillsGroup(t *testing.T) {
	t.Parallel()
	res, ps, _ := startAndCancel(t, shell.Spec{
		Command: `sleep 100 & a=$!; sleep 100 & b=$!; echo "$$ $a $b"; sleep 100; wait`,
	})
	if !res.Stopped || res.TimedOut || res.ExitCode != -1 || res.Error != "" || res.Output != nil {
		t.Errorf("result = %+v, want Stopped with exit -1 and no error", res)
	}
	waitDead(t, ps...)
}

func TestRunCancelTermIgnored(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	res, ps, at := startAndCancel(t, shell.Spec{
		Command:   `trap "" TERM; sleep 100 & a=$!; echo "$$ $a"; wait; echo survived; sleep 100`,
		KillGrace: grace,
	})
	if elapsed := time.Since(at); elapsed < grace {
		t.Errorf("Run returned %v after the cancel, before the %v grace", elapsed, grace)
	}
	if !res.Stopped || res.ExitCode != -1 {
		t.Errorf("result = %+v, want Stopped with exit -1", res)
	}
	waitDead(t, ps...)
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		timeout time.Duration
		grace   time.Duration
		want    string
	}{
		{"sleep", `echo "$$"; sleep 100`, 1500 * time.Millisecond, 0, "Step timed out after 1.5s"},
		// The step must set its trap before the timeout: 2 s is ample
		// even on a loaded machine.
		{"term ignored", `trap "" TERM; sleep 100 & echo "$$ $!"; wait; sleep 100`, 2 * time.Second, 200 * time.Millisecond, "Step timed out after 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := make(chan string, 1)
			spec := shell.Spec{Command: tt.command, Timeout: tt.timeout, KillGrace: tt.grace}
			fill(t, &spec)
			res := runWithin(t, context.Background(), spec, firstLine(first))
			if !res.TimedOut || res.Stopped || res.ExitCode != -1 || res.Error != tt.want || res.Output != nil {
				t.Errorf("result = %+v, want TimedOut and %q", res, tt.want)
			}
			if d := res.Ended.Sub(res.Started); d < tt.timeout+tt.grace {
				t.Errorf("process lived %v, less than timeout %v + grace %v", d, tt.timeout, tt.grace)
			}
			select {
			case l := <-first:
				waitDead(t, pids(t, l)...)
			default:
				t.Fatal("the step printed nothing")
			}
		})
	}
}

func TestRunTimeoutNotReached(t *testing.T) {
	res, c := run(t, shell.Spec{Command: "echo OUTPUT: 1", Timeout: time.Hour})
	if res.TimedOut || res.ExitCode != 0 || res.Error != "" || string(res.Output) != "1" {
		t.Errorf("result = %+v", res)
	}
	if diff := cmp.Diff([]string{"OUTPUT: 1"}, c.texts("stdout")); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestRunOrphansKilled(t *testing.T) {
	t.Parallel()
	// The leader exits at once; its background children hold the pipes.
	res, c := run(t, shell.Spec{Command: `sleep 100 & a=$!; sleep 100 >&2 & echo "$a $!"; echo OUTPUT: 5`})
	if res.ExitCode != 0 || res.Error != "" || string(res.Output) != "5" {
		t.Errorf("result = %+v, want success with output 5", res)
	}
	out := c.texts("stdout")
	if len(out) != 2 {
		t.Fatalf("stdout = %q", out)
	}
	waitDead(t, pids(t, out[0])...)
}

func TestRunEscapedProcessAbandoned(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	// The escapee writes its pid once it has left the group; the leader
	// waits for that, prints it and exits.
	const report = `while [ ! -s "$TMPDIR/pid" ]; do sleep 0.01; done; cat "$TMPDIR/pid"`
	tests := []struct {
		name     string
		command  string
		minBytes int           // stderr bytes at least delivered
		minWait  time.Duration // Run's least duration
	}{
		// A quiet escapee keeps stdout open: abandoned after DrainIdle.
		{"quiet", `setsid sh -c 'echo $$ >"$TMPDIR/pid"; exec sleep 100' & ` + report, 0, shell.DrainIdle},
		// A chatty one (60 KB lines) is abandoned after DrainMax more bytes.
		{"chatty", `setsid sh -c 'echo $$ >"$TMPDIR/pid"; exec yes "$(head -c 60000 /dev/zero | tr "\0" y)" >&2' & ` + report, shell.DrainMax, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := shell.Spec{Command: tt.command}
			fill(t, &spec)
			var out []string
			stderrBytes := 0
			start := time.Now()
			res := runWithin(t, context.Background(), spec, func(ls []shell.Line) {
				for _, l := range ls {
					if l.Stream == "stdout" {
						out = append(out, l.Text)
					} else {
						stderrBytes += len(l.Text) + 1
					}
				}
			})
			elapsed := time.Since(start)
			if len(out) != 1 {
				t.Fatalf("stdout %q; result %+v", out, res)
			}
			pid := pids(t, out[0])[0]
			t.Cleanup(func() {
				comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
				if c := strings.TrimSpace(string(comm)); c == "sleep" || c == "yes" {
					_ = syscallKill(pid)
				}
			})
			if state, pgrp, ok := procStat(pid); ok && state != 'Z' && pgrp != pid {
				t.Fatalf("escapee %d in group %d, want its own group", pid, pgrp)
			}
			if res.ExitCode != 0 || res.Error != "" {
				t.Errorf("result = %+v, want success", res)
			}
			if elapsed < tt.minWait {
				t.Errorf("Run returned after %v, before the %v drain idle time", elapsed, tt.minWait)
			}
			if stderrBytes < tt.minBytes {
				t.Errorf("%d stderr bytes delivered, want at least %d", stderrBytes, tt.minBytes)
			}
		})
	}
}

func TestRunSlowSink(t *testing.T) {
	t.Parallel()
	// seq's 1.3 MB overflows the pipe many times: seq must wait for the
	// sink, and nothing may be dropped.
	const n = 200000
	var got []string
	calls := 0
	spec := shell.Spec{Command: "seq 1 " + strconv.Itoa(n)}
	fill(t, &spec)
	res := runWithin(t, context.Background(), spec, func(ls []shell.Line) {
		calls++
		if calls%4 == 0 {
			time.Sleep(time.Millisecond) // a slow consumer, not synchronisation
		}
		for _, l := range ls {
			got = append(got, l.Text)
		}
	})
	if res.ExitCode != 0 {
		t.Fatalf("result = %+v", res)
	}
	if len(got) != n {
		t.Fatalf("%d lines, want %d", len(got), n)
	}
	for i, l := range got {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d = %q, want %d", i, l, i+1)
		}
	}
	if calls >= n/10 {
		t.Errorf("%d sink calls for %d lines: lines are not batched", calls, n)
	}
}

func TestRunSlowSinkAfterExit(t *testing.T) {
	t.Parallel()
	// The output fits in the pipe, so the leader exits while the stdout sink
	// is still blocked; a sink slower than the drain idle time must still
	// get every line.
	const n = 5000
	leader := make(chan string, 1)
	var got []string
	sawExit := false
	spec := shell.Spec{Command: `echo "$$" >&2; seq 1 ` + strconv.Itoa(n)}
	fill(t, &spec)
	res := runWithin(t, context.Background(), spec, func(ls []shell.Line) {
		if ls[0].Stream == "stderr" {
			leader <- ls[0].Text
			return
		}
		if got == nil {
			pid, _ := strconv.Atoi(<-leader)
			sawExit = jobstest.Until(func() bool { return dead(pid) })
			time.Sleep(shell.DrainIdle + 500*time.Millisecond) // outlast the drain idle time
		}
		for _, l := range ls {
			got = append(got, l.Text)
		}
	})
	if !sawExit {
		t.Fatal("the leader did not exit while the sink was blocked")
	}
	if res.ExitCode != 0 || len(got) != n || got[n-1] != strconv.Itoa(n) {
		t.Fatalf("result %+v, %d lines, want %d", res, len(got), n)
	}
}

func TestRunNilSink(t *testing.T) {
	spec := shell.Spec{Command: "echo OUTPUT: [1]; echo x >&2"}
	fill(t, &spec)
	res := runWithin(t, context.Background(), spec, nil)
	if res.ExitCode != 0 || string(res.Output) != "[1]" {
		t.Errorf("result = %+v", res)
	}
}
