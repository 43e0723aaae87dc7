package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"runnel/jobs/api"
)

// This file holds the client commands that give an ended job a second
// chance: rerun (a new job like it) and restart (a new job of a failed or
// cancelled one from a step on, the other completed steps carried over).

func runRerun(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "rerun", usageText("rerun JOB [--current] [--input JSON | -i key=value ...] [-f | --wait]",
		"Starts a new job of JOB's task on the revision JOB ran on (--current: the",
		"workspace's newest) with JOB's input (or the one given) and prints its id.",
		"-f follows its logs like trigger -f, --wait waits silently; either way the",
		"exit code is the new job's: 0 completed, 1 failed, 3 cancelled. A revision",
		"that is no longer kept is a request error (exit 2): use --current."),
		"runnel rerun 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a -f")
	cf := addConnFlags(fs, false)
	in := addInputFlags(fs)
	current := fs.Bool("current", false, "run on the workspace's newest revision instead of the job's")
	follow, wait, serverEvents := addFollowFlags(fs)
	a, pos, err := openWith(e, fs, cf, args, 1, 1, "job id")
	if err != nil {
		return err
	}
	var input map[string]any
	if *in.json != "" || len(*in.pairs) > 0 {
		if input, err = in.value(); err != nil {
			return err
		}
	}
	id, err := a.client.Rerun(ctx, pos[0], input, *current)
	if err != nil {
		return err
	}
	return startedJob(ctx, e, a, id, *follow, *wait, *serverEvents)
}

func runRestart(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "restart", usageText("restart JOB --from STEP [--dry-run [--json]] [-f | --wait]",
		"Starts a new job of the failed or cancelled JOB on the same revision and",
		"input in which STEP and everything downstream of it run again, as does",
		"every step that did not complete; the other steps are carried over with",
		"their output. Prints the new job's id; --dry-run only prints which steps",
		"would run and which would be carried over. -f follows the new job's logs",
		"like trigger -f; exit codes as trigger's. A job that completed or still",
		"runs, or an unknown step, is a request error (exit 2)."),
		"runnel restart 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a --from deploy -f")
	cf := addConnFlags(fs, false)
	from := fs.String("from", "", "the step to run again, with everything downstream of it (required)")
	dry := fs.Bool("dry-run", false, "print what would run and what would be carried over; create nothing")
	asJSON := fs.Bool("json", false, "with --dry-run, print the API's JSON")
	follow, wait, serverEvents := addFollowFlags(fs)
	a, pos, err := openWith(e, fs, cf, args, 1, 1, "job id")
	if err != nil {
		return err
	}
	if *from == "" {
		return &usageError{msg: "--from STEP is required"}
	}
	if *dry {
		plan, err := a.client.PlanRestart(ctx, pos[0], *from)
		if err != nil {
			return err
		}
		if *asJSON {
			raw, _ := json.Marshal(plan)
			return printJSON(e.stdout, json.RawMessage(raw))
		}
		fmt.Fprintf(e.stdout, "run:          %s\n", orDash(strings.Join(plan.Run, ", ")))
		fmt.Fprintf(e.stdout, "carried over: %s\n", orDash(strings.Join(plan.CarriedOver, ", ")))
		return nil
	}
	id, err := a.client.Restart(ctx, pos[0], *from)
	if err != nil {
		return err
	}
	return startedJob(ctx, e, a, id, *follow, *wait, *serverEvents)
}

// addFollowFlags adds -f/--follow, --wait and --server-events as trigger
// has them.
func addFollowFlags(fs *flag.FlagSet) (follow, wait, serverEvents *bool) {
	follow = fs.Bool("follow", false, "follow the new job's logs until it ends (same as -f)")
	fs.BoolVar(follow, "f", false, "follow the new job's logs until it ends")
	wait = fs.Bool("wait", false, "wait for the new job to end without printing its logs")
	serverEvents = fs.Bool("server-events", false, "with -f, also print the server's events (job created, steps carried over, …)")
	return follow, wait, serverEvents
}

// secondChance says which job a re-run or restart came from ("" for
// others), for status and jobs.
func secondChance(j api.JobItem) string {
	switch {
	case j.RerunOf != "":
		return "re-run of job " + string(j.RerunOf)
	case j.RestartOf != "":
		return "restart of job " + string(j.RestartOf+" from step "+j.RestartFrom)
	}
	return ""
}

// sourceLink is " (re-run of 0190c5d2)" or " (restart of …)" for the job
// list, "" for other jobs.
func sourceLink(j api.JobItem) string {
	short := func(id string) string { return id[:min(len(id), 8)] }
	switch {
	case j.RerunOf != "":
		return " (re-run of " + short(string(j.RerunOf)) + ")"
	case j.RestartOf != "":
		return " (restart of " + short(string(j.RestartOf)) + ")"
	}
	return ""
}

// startedJob prints a new job's id, then follows or waits for it as asked.
func startedJob(ctx context.Context, e env, a *apiConn, id string, follow, wait, serverEvents bool) error {
	fmt.Fprintln(e.stdout, id)
	switch {
	case follow:
		return followNewJob(ctx, e, a.client, id, serverEvents)
	case wait:
		j, err := waitJob(ctx, e, a.client, id)
		if err != nil {
			return err
		}
		return exitWith(jobExitCode(j.Status))
	}
	return nil
}
