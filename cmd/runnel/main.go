package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// env is what a command sees of the process: arguments, streams and the
// environment, so tests can run commands in-process.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
}

// getenv looks a variable up in the command's environment.
func (e env) getenv(name string) string {
	v, _ := e.lookup(name)
	return v
}

func (e env) lookup(name string) (string, bool) {
	for i := len(e.environ) - 1; i >= 0; i-- {
		kv := e.environ[i]
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	cmds := []command{
		{"serve", "run the server with built-in workers", runServe},
		{"worker", "run a remote worker that takes steps from a server", runWorker},
		{"validate", "check a workspace's workflow files", runValidate},
	}
	cmds = append(cmds, clientCommands()...)
	return append(cmds,
		command{"user", "manage users (add, passwd, list, reset-admin)", runUser},
		command{"backup", "snapshot the job database and logs (server running or stopped)", runBackup},
		command{"restore", "unpack a backup into the data_dir of a stopped server", runRestore},
		command{"compact", "shrink the job database file (server stopped)", runCompact},
		command{"version", "print the version", runVersion},
	)
}

// usageError is a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError carries a specific exit code with an optional message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	environ, args, err := globalFlags(environ, args)
	if err != nil {
		fmt.Fprintf(stderr, "runnel: %s (see 'runnel help')\n", err)
		return 2
	}
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	if len(args) == 0 {
		printHelp(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr, environ)
		}
		printHelp(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ue *usageError
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "runnel %s: %s\n", c.name, ue.msg)
			return 2
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintln(stderr, ee.msg)
			}
			return ee.code
		default:
			fmt.Fprintf(stderr, "runnel %s: %s\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "runnel: unknown command %q (see 'runnel help')\n", args[0])
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "runnel %s — a self-hosted job server\n\nUsage: runnel [--server URL] [--token T] [--workspace W] <command> [flags]\n\nCommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nThe flags before the command apply to every client command (like RUNNEL_URL,")
	fmt.Fprintln(w, "RUNNEL_TOKEN and RUNNEL_WORKSPACE); a command's own flags win over them.")
	fmt.Fprintln(w, "Run 'runnel <command> -h' for a command's flags and an example.")
}

// globalEnv maps the flags accepted before the command to the variables
// they set for it.
var globalEnv = map[string]string{"server": "RUNNEL_URL", "token": "RUNNEL_TOKEN", "workspace": "RUNNEL_WORKSPACE"}

// globalFlags takes --server, --token and --workspace (also -x and
// --x=value) placed before the command off args and returns environ with
// the variables they stand for set, so every client command sees them as
// its defaults. -h and --help are left for the caller.
func globalFlags(environ, args []string) ([]string, []string, error) {
	var set []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		v, ok := globalEnv[name]
		if !ok {
			return nil, nil, fmt.Errorf("unknown flag %q before the command (global flags: --server, --token, --workspace)", args[0])
		}
		args = args[1:]
		if !hasValue {
			if len(args) == 0 {
				return nil, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			value, args = args[0], args[1:]
		}
		set = append(set, v+"="+value)
	}
	if len(set) == 0 {
		return environ, args, nil
	}
	return append(slices.Clip(environ), set...), args, nil
}

// newFlags returns a flag set that prints usage with an example to the
// command's stdout on -h and returns usage errors.
func newFlags(e env, name, usage, example string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: runnel %s\n\n", usage)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "Flags:")
			fs.PrintDefaults()
		}
		if example != "" {
			fmt.Fprintf(out, "\nExample:\n  %s\n", example)
		}
	}
	return fs
}

// parseFlags parses args; -h prints usage to stdout and returns
// flag.ErrHelp, other mistakes are usage errors.
func parseFlags(e env, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
}

func runVersion(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "version", "version", "runnel version")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "runnel %s\n", version)
	return nil
}
