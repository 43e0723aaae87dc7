package main

import (
	"context"
	"flag"
	"fmt"
	"runnel/jobs/api"
	"strings"
)

// approvalFlags are the flags of approve and reject.
type approvalFlags struct {
	input   inputFlags
	comment *string
}

func runApprove(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "approve", usageText("approve JOB STEP [--input JSON | -i key=value ...] [-m COMMENT]",
		"Approves a step that waits for approval (status 'waiting'): it completes",
		"with the given fields as its output and the job goes on. Fields are",
		"checked against the step's declared fields (a mismatch is exit 2); a step",
		"that is not waiting, or was decided already, is exit 2 too; a caller who",
		"is not among the step's approvers gets exit 4."),
		"runnel approve 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a confirm -i ticket=OPS-12 -m 'checked'")
	return decideCmd(ctx, e, fs, args, true)
}

func runReject(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "reject", usageText("reject JOB STEP -m WHY",
		"Rejects a step that waits for approval: it fails 'Rejected by <you>: <why>'",
		"and the job ends as after any failure (its on_error hooks run)."),
		"runnel reject 0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a confirm -m 'not during the freeze'")
	return decideCmd(ctx, e, fs, args, false)
}

// approvalNote words an approval step for `runnel status`: its message
// while it waits, the decision once made.
func approvalNote(ap *api.Approval) string {
	if ap.Decision == "" {
		return "waiting for approval: " + firstLine(ap.Message)
	}
	return strings.ReplaceAll(string(ap.Decision), "_", " ") + " by " + string(ap.By)
}

// decideCmd parses approve's or reject's arguments and sends the decision.
func decideCmd(ctx context.Context, e env, fs *flag.FlagSet, args []string, approve bool) error {
	var f approvalFlags
	if approve {
		f.input = addInputFlags(fs)
	}
	f.comment = fs.String("m", "", "a comment recorded with the decision")
	cf := addConnFlags(fs, false)
	a, pos, err := openWith(e, fs, cf, args, 2, 2, "job id and step")
	if err != nil {
		return err
	}
	d := api.Decision{Comment: *f.comment}
	verb, call := "rejected", a.client.Reject
	if approve {
		if d.Fields, err = f.input.value(); err != nil {
			return err
		}
		verb, call = "approved", a.client.Approve
	} else if d.Comment == "" {
		return &usageError{msg: "reject needs -m WHY (it becomes the step's error message)"}
	}
	if err := call(ctx, pos[0], pos[1], d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "step %s of job %s %s\n", pos[1], pos[0], verb)
	return nil
}
