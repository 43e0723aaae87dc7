package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"runnel/httpd/client"
	"runnel/jobs/api"
	"runnel/jobs/audit"
)

// runAudit is `runnel audit`: the server's audit log, newest first.
func runAudit(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "audit", usageText("audit [--actor A] [--action X] [--since T] [--until T] [--limit N] [--offset N] [--json]",
		"Lists the server's audit log, newest first: who (a user's email, an API",
		"key's user, a trigger, a webhook, a worker, system, anonymous) did what",
		"(job.execute, job.cancel, auth.login_failed, user.create, config.reload, …)",
		"to which target, from which address, with which HTTP status. T is an RFC",
		"3339 time or a duration ago (24h, 90m). Admin only when auth is on."),
		"runnel audit --action auth.login_failed --since 24h")
	cf := addConnFlags(fs, false)
	actor := fs.String("actor", "", "only entries of this actor (an email, <ws>/<trigger>, /hooks/<name>, …)")
	action := fs.String("action", "", "only entries of this action")
	since := fs.String("since", "", "only entries at or after T (RFC 3339 or a duration ago, e.g. 24h)")
	until := fs.String("until", "", "only entries before T (RFC 3339 or a duration ago)")
	limit := fs.Int("limit", 50, "at most this many entries (1–1000)")
	offset := fs.Int("offset", 0, "skip this many matching entries")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return &usageError{msg: "--limit must be between 1 and 1000"}
	}
	if *offset < 0 {
		return &usageError{msg: "--offset must not be negative"}
	}
	now := time.Now()
	f := client.AuditFilter{Actor: *actor, Action: *action, Limit: *limit, Offset: *offset}
	if f.Since, err = auditTime("--since", *since, now); err != nil {
		return err
	}
	if f.Until, err = auditTime("--until", *until, now); err != nil {
		return err
	}
	a, err := cf.open(e)
	if err != nil {
		return err
	}
	list, done, err := getList[api.AuditEntry](ctx, e, a, client.AuditPath(f), *asJSON, "no audit entries")
	if done {
		return err
	}
	t := newTable(e.stdout)
	row(t, "TIME", "ACTOR", "ACTION", "TARGET", "STATUS", "ADDRESS", "DETAIL")
	for _, en := range list {
		who := en.Actor
		if en.ActorType != audit.ActorUser && en.ActorType != audit.ActorAnonymous && en.ActorType != audit.ActorSystem {
			who += " (" + strings.ReplaceAll(en.ActorType, "_", " ") + ")"
		}
		status := "-"
		if en.Status != nil {
			status = strconv.Itoa(*en.Status)
		}
		row(t, en.Time.UTC().Format(time.RFC3339), who, en.Action, orDash(en.Target), status, orDash(en.Address), orDash(details(en.Detail)))
	}
	return t.Flush()
}

// auditTime parses a --since/--until value: an RFC 3339 time or a
// duration before now; "" is the zero time.
func auditTime(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, &usageError{msg: fmt.Sprintf("%s %q: want an RFC 3339 time (2026-12-06T15:04:05Z) or a duration ago (24h)", flag, v)}
}

// details renders an entry's detail as sorted key=value pairs.
func details(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := d[k]
		switch x := v.(type) {
		case string:
			parts = append(parts, k+"="+x)
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, k+"="+string(b))
		}
	}
	return strings.Join(parts, " ")
}
