package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"strings"

	"runnel/httpd/client"
	"runnel/jobs/api"
)

// This file and the cli_*.go files are the API client commands (SPEC §11). They share one way to find the server (openAPI, cli_conn.go),
// one way to turn errors into exit codes (clientExit), and one way to
// print log lines (logPrinter, cli_logs.go).
//
// Exit codes of every client command: 0 success (for trigger/run: the job
// completed), 1 the job failed, 2 a usage mistake or a refused request
// (HTTP 4xx such as 400, 404, 409, 422), 3 the job was cancelled (or
// skipped), 4 no usable answer: connection failure, authentication
// (401/403), rate limiting (429) or a server error (5xx).

// clientCommands are the API client subcommands (trigger, logs, jobs, …).
func clientCommands() []command {
	return []command{
		{"login", "sign in to a server and remember the session", clientCmd(runLogin)},
		{"logout", "end the stored session for a server", clientCmd(runLogout)},
		{"api-key", "create, list or delete API keys (create|list|delete)", clientCmd(runAPIKey)},
		{"workspaces", "list workspaces with their revision and counts", clientCmd(runWorkspaces)},
		{"tasks", "list a workspace's tasks", clientCmd(runTasks)},
		{"task", "show a task: inputs, steps, triggers", clientCmd(runTask)},
		{"triggers", "list a workspace's triggers with their next runs", clientCmd(runTriggers)},
		{"trigger", "start a job of a task (-f follows its logs)", clientCmd(runTrigger)},
		{"logs", "print or follow (-f) a job's logs", clientCmd(runLogs)},
		{"status", "show a job and its steps", clientCmd(runStatus)},
		{"jobs", "list recent jobs", clientCmd(runJobs)},
		{"cancel", "cancel a job", clientCmd(runCancel)},
		{"rerun", "start a job again on its revision and input (-f follows its logs)", clientCmd(runRerun)},
		{"restart", "restart a failed or cancelled job from a step, keeping the steps before it (-f follows)", clientCmd(runRestart)},
		{"approve", "approve a step waiting for approval (-i fields, -m comment)", clientCmd(runApprove)},
		{"reject", "reject a step waiting for approval (-m why)", clientCmd(runReject)},
		{"workers", "list workers", clientCmd(runWorkers)},
		{"refresh", "reload a workspace from its source now", clientCmd(runRefresh)},
		{"audit", "list the server's audit log: who did what, when, from where", clientCmd(runAudit)},
		{"run", "run a task from a local folder without a server", clientCmd(runLocal)},
	}
}

// Exit codes of the client commands.
const (
	exitOK        = 0
	exitFailed    = 1
	exitRequest   = 2
	exitCancelled = 3
	exitServer    = 4
	// exitInterrupted is the shell convention for SIGINT.
	exitInterrupted = 130
)

// clientCmd wraps a client command so API and connection errors become
// "error: …" messages with the documented exit codes.
func clientCmd(run func(ctx context.Context, e env, args []string) error) func(context.Context, env, []string) error {
	return func(ctx context.Context, e env, args []string) error {
		err := run(ctx, e, args)
		if err == nil {
			return nil
		}
		return clientExit(ctx, err)
	}
}

// clientExit maps an error to its exit code (see the top of this file);
// usage errors, help and explicit exit errors pass through.
func clientExit(ctx context.Context, err error) error {
	var ue *usageError
	var ee *exitError
	var ae *client.APIError
	var ce *client.ConnError
	switch {
	case errors.Is(err, flag.ErrHelp), errors.As(err, &ue), errors.As(err, &ee):
		return err
	case errors.As(err, &ae):
		return &exitError{code: apiExitCode(ae.Status), msg: "error: " + ae.Error()}
	case errors.As(err, &ce):
		return &exitError{code: exitServer, msg: "error: " + ce.Error()}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return &exitError{code: exitInterrupted, msg: "interrupted"}
	}
	return &exitError{code: exitFailed, msg: "error: " + err.Error()}
}

// apiExitCode is the exit code of an HTTP error status.
func apiExitCode(status int) int {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusTooManyRequests, status >= 500:
		return exitServer
	}
	return exitRequest
}

// jobExitCode is the exit code of a terminal job status.
func jobExitCode(status string) int {
	switch status {
	case api.JobCompleted:
		return exitOK
	case api.JobCancelled, api.JobSkipped:
		return exitCancelled
	}
	return exitFailed
}

// parseArgs parses flags placed anywhere among the arguments (the flag
// package stops at the first positional one) and returns the positional
// arguments; everything after "--" is positional.
func parseArgs(e env, fs *flag.FlagSet, args []string) ([]string, error) {
	if err := parseFlags(e, fs, args); err != nil {
		return nil, err
	}
	var pos []string
	cur := args
	for {
		rest := fs.Args()
		consumed := len(cur) - len(rest)
		if consumed > 0 && cur[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		cur = rest[1:]
		if err := fs.Parse(cur); err != nil {
			return nil, &usageError{msg: err.Error()}
		}
	}
}

// openWith parses a client command's arguments (min..max positional ones,
// named what in errors) and opens its connection.
func openWith(e env, fs *flag.FlagSet, cf *connFlags, args []string, min, max int, what string) (*apiConn, []string, error) {
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(pos, min, max, what); err != nil {
		return nil, nil, err
	}
	a, err := cf.open(e)
	if err != nil {
		return nil, nil, err
	}
	return a, pos, nil
}

// wantArgs checks the number of positional arguments.
func wantArgs(pos []string, min, max int, what string) error {
	switch {
	case len(pos) < min:
		return &usageError{msg: "missing " + what}
	case len(pos) > max:
		return &usageError{msg: "unexpected arguments: " + strings.Join(pos[max:], " ")}
	}
	return nil
}

// usageText joins a usage line and a description paragraph.
func usageText(line string, desc ...string) string {
	if len(desc) == 0 {
		return line
	}
	return line + "\n\n" + strings.Join(desc, "\n")
}
