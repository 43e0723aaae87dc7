package main

import (
	"encoding/json"
	"strings"
	"testing"

	"runnel/cmd/runnel/config"
	"runnel/jobs/api"
	"runnel/jobs/audit"
)

// TestCLIAudit: `runnel audit` lists what the CLI's own commands did
// against a real server with auth on, filters by actor, action and time,
// prints the API's JSON, refuses bad times before asking the server, and
// audit.log mirrors each entry to the server log as one JSON line.
func TestCLIAudit(t *testing.T) {
	const wrong = "not the password"
	s := cliStart(t, map[string]string{".workflows/main.yaml": "tasks:\n  quick: { flow: { s: { type: shell, cmd: 'true' } } }\n"},
		func(c *config.Server) {
			c.Auth = &config.Auth{JWTSecret: strings.Repeat("j", 32), RefreshSecret: strings.Repeat("r", 32),
				InitialUser: &config.InitialUser{Email: cliEmail, Password: cliPassword}}
			c.Audit.Log = true
			c.LogFormat = "json"
		})
	serverLog := newSyncBuffer()
	s.stderr = serverLog
	s.restart(nil)
	environ := cliEnv(t, s.url)
	run := func(stdin string, code int, args ...string) cliResult {
		t.Helper()
		r := cliRun(t, environ, stdin, args...)
		if r.code != code {
			t.Fatalf("runnel %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
		}
		return r
	}

	run(wrong+"\n", 4, "login", "--email", cliEmail)
	run(cliEmail+"\n"+cliPassword+"\n", 0, "login")
	job := strings.TrimSpace(run("", 0, "trigger", "quick").stdout)

	table := run("", 0, "audit").stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("audit table:\n%s", table)
	}
	for i, want := range [][]string{
		{cliEmail, "job.execute", "default/quick", "200", "127.0.0.1", "job_id=" + job},
		{cliEmail, "auth.login", cliEmail, "200"},
		{"anonymous", "auth.login_failed", cliEmail, "401"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}

	var entries []api.AuditEntry
	raw := run("", 0, "audit", "--action", "auth.login_failed", "--since", "1h", "--json").stdout
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		t.Fatalf("--json: %v\n%s", err, raw)
	}
	if len(entries) != 1 || entries[0].Target != cliEmail || entries[0].ActorType != audit.ActorAnonymous || strings.Contains(raw, wrong) {
		t.Errorf("failed logins: %s", raw)
	}
	if r := run("", 0, "audit", "--actor", "nobody@example.com"); r.stdout != "" || !strings.Contains(r.stderr, "no audit entries") {
		t.Errorf("no match: %q %q", r.stdout, r.stderr)
	}
	if r := run("", 0, "audit", "--until", "2000-01-01T00:00:00Z"); r.stdout != "" {
		t.Errorf("--until in the past: %q", r.stdout)
	}
	if r := run("", 0, "audit", "--actor", cliEmail, "--limit", "1"); strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "job.execute") {
		t.Errorf("--actor --limit 1:\n%s", r.stdout)
	}
	if r := run("", 2, "audit", "--since", "yesterday"); !strings.Contains(r.stderr, `--since "yesterday"`) {
		t.Errorf("bad --since: %q", r.stderr)
	}
	run("", 2, "audit", "--limit", "0")

	// The mirror: one JSON line per entry, none holding the password.
	serverLog.waitFor(t, `"action":"job.execute"`)
	var mirrored []string
	for _, l := range strings.Split(serverLog.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Audit struct {
				Action, Actor, Target string
			} `json:"audit"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "audit" {
			mirrored = append(mirrored, rec.Audit.Action+" "+rec.Audit.Actor+" "+rec.Audit.Target)
		}
	}
	want := []string{"auth.login_failed anonymous " + cliEmail, "auth.login " + cliEmail + " " + cliEmail, "job.execute " + cliEmail + " default/quick"}
	if strings.Join(mirrored, "\n") != strings.Join(want, "\n") || strings.Contains(serverLog.String(), wrong) {
		t.Errorf("mirrored:\n%s\nwant:\n%s", strings.Join(mirrored, "\n"), strings.Join(want, "\n"))
	}
}
