package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"runnel/httpd/client"
	"runnel/jobs/api"
)

func runLogin(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "login", usageText("login [--server URL] [--email EMAIL]",
		"Signs in with email and password (asked for; the password is not echoed on",
		"a terminal) and stores the session for that server in",
		"<user config dir>/runnel/credentials.json (mode 0600). Later commands use it",
		"when neither --token nor RUNNEL_TOKEN is given, and renew its short-lived",
		"access token themselves."),
		"runnel login --server https://runnel.example.com")
	server := fs.String("server", "", "server URL (default $RUNNEL_URL, else "+defaultServer+")")
	email := fs.String("email", "", "email address (asked for when not given)")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	a, err := anonymousAPI(e, *server)
	if err != nil {
		return err
	}
	info, err := a.client.ServerInfo(ctx)
	if err != nil {
		return err
	}
	if !info.AuthRequired {
		return &exitError{code: exitRequest, msg: fmt.Sprintf("error: %s does not use logins (authentication is off)", a.server)}
	}
	in := bufio.NewReader(e.stdin)
	if *email == "" {
		if *email, err = prompt(ctx, e, in, "Email: ", false); err != nil {
			return err
		}
	}
	if *email == "" {
		return &usageError{msg: "an email address is required"}
	}
	password, err := prompt(ctx, e, in, "Password: ", true)
	if err != nil {
		return err
	}
	toks, err := a.client.Login(ctx, *email, password)
	if err != nil {
		return err
	}
	s, err := loadSessions(e)
	if err != nil {
		return err
	}
	s.Servers[a.server] = &session{Email: *email, AccessToken: toks.AccessToken, RefreshToken: toks.RefreshToken}
	if err := s.save(e); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Logged in to %s as %s\n", a.server, *email)
	return nil
}

// prompt reads one line from stdin. On a terminal it asks on stderr first
// and reads a secret with echo off (stty -echo); from a pipe it reads the
// line silently. ctx ends the wait (echo is restored).
func prompt(ctx context.Context, e env, in *bufio.Reader, question string, secret bool) (string, error) {
	if isTerminal(e.stdin) {
		fmt.Fprint(e.stderr, question)
	}
	if f, ok := e.stdin.(*os.File); ok && secret && isTerminal(f) {
		if stty(f, "-echo") == nil {
			defer func() {
				stty(f, "echo")
				fmt.Fprintln(e.stderr)
			}()
		}
	}
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := in.ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case a := <-ch:
		if a.err != nil && !(errors.Is(a.err, io.EOF) && a.line != "") {
			return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(strings.ToLower(question), ": "), a.err)
		}
		return strings.TrimRight(a.line, "\r\n"), nil
	}
}

// stty runs stty on the terminal f.
func stty(f *os.File, arg string) error {
	cmd := exec.Command("stty", arg)
	cmd.Stdin = f
	return cmd.Run()
}

func runLogout(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "logout", usageText("logout [--server URL]",
		"Ends the stored session for the server: the server revokes its refresh",
		"token and the local copy is deleted (also when the server is unreachable)."),
		"runnel logout --server https://runnel.example.com")
	server := fs.String("server", "", "server URL (default $RUNNEL_URL, else "+defaultServer+")")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	a, err := anonymousAPI(e, *server)
	if err != nil {
		return err
	}
	s, err := loadSessions(e)
	if err != nil {
		return err
	}
	l := s.Servers[a.server]
	if l == nil {
		fmt.Fprintf(e.stdout, "Not logged in to %s\n", a.server)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.client.Logout(rctx, l.RefreshToken); err != nil {
		fmt.Fprintf(e.stderr, "runnel: the server did not revoke the session: %v\n", err)
	}
	delete(s.Servers, a.server)
	if err := s.save(e); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Logged out of %s\n", a.server)
	return nil
}

func runAPIKey(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "api-key", usageText("api-key create NAME [--expires-in-days N] | list | delete PREFIX",
		"Manages your API keys (sign in with 'runnel login' first: API keys cannot",
		"manage API keys). 'create' prints the new key once; use it as --token or",
		"RUNNEL_TOKEN in scripts. 'delete' takes the prefix shown by 'list'."),
		"runnel api-key create ci-deploy --expires-in-days 90")
	cf := addConnFlags(fs, false)
	days := fs.Int("expires-in-days", 0, "with create: the key expires after N days (default never)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &usageError{msg: "missing subcommand: create, list or delete"}
	}
	if *days < 0 {
		return &usageError{msg: "--expires-in-days must be positive"}
	}
	a, err := cf.open(e)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "create":
		if err := wantArgs(pos[1:], 1, 1, "key name"); err != nil {
			return err
		}
		k, err := a.client.CreateAPIKey(ctx, pos[1], *days)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, k.Key)
		exp := "never expires"
		if !k.ExpiresAt.IsZero() {
			exp = "expires " + stamp(k.ExpiresAt.Time)
		}
		fmt.Fprintf(e.stderr, "API key %q (%s, %s): copy it now, it is not shown again\n", k.Name, k.Prefix, exp)
		return nil
	case "list":
		if err := wantArgs(pos[1:], 0, 0, ""); err != nil {
			return err
		}
		list, done, err := getList[api.APIKey](ctx, e, a, client.APIKeysPath(), *asJSON, "no API keys")
		if done {
			return err
		}
		now := time.Now()
		t := newTable(e.stdout)
		row(t, "PREFIX", "NAME", "CREATED", "EXPIRES", "LAST USED")
		for _, k := range list {
			exp := "never"
			if !k.ExpiresAt.IsZero() {
				exp = ago(k.ExpiresAt.Time, now)
			}
			used := "never"
			if !k.LastUsedAt.IsZero() {
				used = ago(k.LastUsedAt.Time, now)
			}
			row(t, k.Prefix, k.Name, ago(k.CreatedAt.Time, now), exp, used)
		}
		return t.Flush()
	case "delete":
		if err := wantArgs(pos[1:], 1, 1, "key prefix"); err != nil {
			return err
		}
		if err := a.client.DeleteAPIKey(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "API key %s deleted\n", pos[1])
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown subcommand %q: want create, list or delete", pos[0])}
}
