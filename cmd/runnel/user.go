package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"runnel/cmd/runnel/config"
	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/httpd/client"
)

// This file holds `runnel user …` (SPEC §11.7, §12): add, passwd and list
// talk to a running server as an admin; reset-admin opens the store of a
// stopped server directly, for lock-out recovery. It also turns the auth
// config section into httpd options and creates auth.initial_user at
// startup.

const userUsage = `user <command> [flags]

Manages users. add, passwd and list use the API of a running server as an
admin: the server from --server or RUNNEL_URL, the credentials from --token
or RUNNEL_TOKEN (an admin's access token or API key), else the login stored
by 'runnel login'. reset-admin works offline on the data directory of a
stopped server.

Commands:
  add EMAIL [--name N] [--admin] [--password-stdin]   create a user
  passwd EMAIL [--password-stdin]                     set a user's password
  list                                                list users
  reset-admin --data-dir D [--email E] [--password-stdin]
                                                      set an admin's password offline`

func runUser(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return &usageError{msg: "missing command: add, passwd, list or reset-admin (see 'runnel user -h')"}
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprintf(e.stdout, "Usage: runnel %s\n", userUsage)
		return flag.ErrHelp
	case "add":
		return runUserAdd(ctx, e, args[1:])
	case "passwd":
		return runUserPasswd(ctx, e, args[1:])
	case "list":
		return runUserList(ctx, e, args[1:])
	case "reset-admin":
		return runUserResetAdmin(ctx, e, args[1:])
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q: want add, passwd, list or reset-admin", args[0])}
}

// userAPIError words API failures of the user commands.
func userAPIError(err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case 401:
			return fmt.Errorf("%s: sign in as an admin ('runnel login') or pass an admin's token with --token or RUNNEL_TOKEN", ae.Message)
		case 404:
			if ae.Message == "Authentication not configured" {
				return errors.New("the server has no auth section: users need authentication to be configured")
			}
		}
		return errors.New(ae.Message)
	}
	return err
}

type userRecord struct {
	UserID      string   `json:"user_id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	AuthMethods []string `json:"auth_methods"`
	CreatedAt   string   `json:"created_at"`
	LastLoginAt *string  `json:"last_login_at"`
	IsAdmin     bool     `json:"is_admin"`
}

func runUserAdd(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user add", "user add EMAIL [--name NAME] [--admin] [--password-stdin]\n\nCreates a user with a password (prompted, or read from stdin).",
		"runnel user add dev@example.com --name Dev")
	name := fs.String("name", "", "display name (default: the part of EMAIL before @)")
	admin := fs.Bool("admin", false, "make the user an admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin instead of prompting")
	a, pos, err := openWith(e, fs, addConnFlags(fs, false), args, 1, 1, "EMAIL")
	if err != nil {
		return err
	}
	c := a.client
	pw, err := userReadPassword(ctx, e, *fromStdin, true)
	if err != nil {
		return err
	}
	body := map[string]any{"email": pos[0], "password": pw, "is_admin": *admin}
	if *name != "" {
		body["name"] = *name
	}
	var u userRecord
	if err := c.Do(ctx, "POST", "/api/users", body, &u); err != nil {
		return userAPIError(err)
	}
	role := "user"
	if u.IsAdmin {
		role = "admin"
	}
	fmt.Fprintf(e.stdout, "Created %s %s (%s)\n", role, u.Email, u.UserID)
	return nil
}

func runUserPasswd(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user passwd", "user passwd EMAIL [--password-stdin]\n\nSets a user's password (prompted, or read from stdin) and ends the user's\nsessions; API keys stay valid.",
		"runnel user passwd dev@example.com")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin instead of prompting")
	a, pos, err := openWith(e, fs, addConnFlags(fs, false), args, 1, 1, "EMAIL")
	if err != nil {
		return err
	}
	c := a.client
	u, err := userFind(ctx, c, pos[0])
	if err != nil {
		return err
	}
	pw, err := userReadPassword(ctx, e, *fromStdin, true)
	if err != nil {
		return err
	}
	if err := c.Do(ctx, "PUT", "/api/users/"+u.UserID+"/password", map[string]string{"password": pw}, nil); err != nil {
		return userAPIError(err)
	}
	fmt.Fprintf(e.stdout, "Password changed for %s\n", u.Email)
	return nil
}

// userPage is the page size the user commands read the list with.
const userPage = 1000

// userAll reads every user, newest first.
func userAll(ctx context.Context, c *client.Client) ([]userRecord, error) {
	var all []userRecord
	for off := 0; ; off += userPage {
		var page []userRecord
		if err := c.Do(ctx, "GET", fmt.Sprintf("/api/users?limit=%d&offset=%d", userPage, off), nil, &page); err != nil {
			return nil, userAPIError(err)
		}
		all = append(all, page...)
		if len(page) < userPage {
			return all, nil
		}
	}
}

// userFind looks a user up by email (case-insensitive).
func userFind(ctx context.Context, c *client.Client, email string) (*userRecord, error) {
	all, err := userAll(ctx, c)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if strings.EqualFold(all[i].Email, strings.TrimSpace(email)) {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("no user with email %s", email)
}

func runUserList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user list", "user list\n\nLists users, newest first.", "runnel user list --server https://runnel.example.com")
	a, _, err := openWith(e, fs, addConnFlags(fs, false), args, 0, 0, "")
	if err != nil {
		return err
	}
	c := a.client
	all, err := userAll(ctx, c)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tADMIN\tMETHODS\tLAST LOGIN\tID")
	for _, u := range all {
		admin := "no"
		if u.IsAdmin {
			admin = "yes"
		}
		methods := strings.Join(u.AuthMethods, ",")
		if methods == "" {
			methods = "-"
		}
		last := "never"
		if u.LastLoginAt != nil {
			last = *u.LastLoginAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Name, admin, methods, last, u.UserID)
	}
	return tw.Flush()
}

func runUserResetAdmin(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user reset-admin", "user reset-admin --data-dir DIR [--email EMAIL] [--password-stdin]\n\n"+
		"Recovers from a lock-out with the server stopped: sets a new password for an\n"+
		"admin (the oldest one, or EMAIL, created if absent) directly in DIR/runnel.db,\n"+
		"makes the user an admin and ends its sessions. Without --password-stdin a\n"+
		"random password is generated and printed once.",
		"runnel user reset-admin --data-dir ./runnel-data --email admin@example.com")
	dataDir := fs.String("data-dir", "", "the server's data_dir (required)")
	email := fs.String("email", "", "the admin to reset or create (default: the oldest admin)")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from stdin instead of generating one")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: "unexpected arguments: " + strings.Join(pos, " ")}
	}
	if *dataDir == "" {
		return &usageError{msg: "--data-dir is required"}
	}
	dbPath := filepath.Join(*dataDir, "runnel.db")
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no runnel database in %s: %w", *dataDir, err)
	}
	var pw string
	generated := false
	if *fromStdin {
		if pw, err = userReadPassword(ctx, e, true, false); err != nil {
			return err
		}
	} else {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("generate password: %w", err)
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	store, err := openStoppedStore(*dataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	users, err := accounts.Open(store)
	if err != nil {
		return err
	}
	u, err := userResetTarget(users, *email)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if u.ID == "" {
		u.PasswordHash = hash
		if err := users.CreateUser(u); err != nil {
			return err
		}
	} else {
		if err := users.SetPassword(u.ID, hash); err != nil {
			return fmt.Errorf("set password of %s: %w", u.Email, err)
		}
		if err := users.SetAdmin(u.ID, true); err != nil {
			return fmt.Errorf("make %s an admin: %w", u.Email, err)
		}
	}
	if err := store.Close(); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(e.stdout, "New password for admin %s (shown once):\n%s\n", u.Email, pw)
	} else {
		fmt.Fprintf(e.stdout, "Password set for admin %s\n", u.Email)
	}
	return nil
}

// userResetTarget picks the user reset-admin resets: the one with email
// (a new admin record with an empty ID if there is none), else the oldest
// admin.
func userResetTarget(store *accounts.Store, email string) (*accounts.User, error) {
	if email != "" {
		u, err := store.UserByEmail(email)
		if errors.Is(err, accounts.ErrNotFound) {
			name, _, _ := strings.Cut(strings.TrimSpace(email), "@")
			return &accounts.User{Email: strings.TrimSpace(email), Name: name, IsAdmin: true}, nil
		}
		return u, err
	}
	all, _, err := store.Users(-1, 0)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].IsAdmin {
			return all[i], nil
		}
	}
	return nil, errors.New("no admin user in the store: pass --email to create one")
}

// userMaxPassword bounds a password read from stdin (bytes).
const userMaxPassword = 4096

// userReadPassword reads a password: the first line of stdin with
// fromStdin, else a prompt on stderr answered on stdin — with echo off and
// asked twice when stdin is a terminal, one plain line otherwise.
func userReadPassword(ctx context.Context, e env, fromStdin, confirm bool) (string, error) {
	in := bufio.NewReader(io.LimitReader(e.stdin, userMaxPassword))
	if fromStdin {
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on stdin")
		}
		return pw, nil
	}
	tty := isTerminal(e.stdin)
	pw, err := prompt(ctx, e, in, "Password: ", true)
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	if tty && confirm {
		again, err := prompt(ctx, e, in, "Repeat password: ", true)
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("passwords do not match")
		}
	}
	return pw, nil
}

// authOptions turns the config's auth section into httpd options (nil when
// auth is off).
func authOptions(a *config.Auth) *httpd.AuthOptions {
	if a == nil {
		return nil
	}
	o := &httpd.AuthOptions{JWTSecret: a.JWTSecret, RefreshSecret: a.RefreshSecret}
	for id, p := range a.Providers {
		name := p.DisplayName
		if name == "" {
			name = id
		}
		o.Providers = append(o.Providers, httpd.Provider{ID: id, Type: p.ProviderType, DisplayName: name})
	}
	return o
}

// authBaseURL is auth.base_url ("" when unset or auth is off).
func authBaseURL(a *config.Auth) string {
	if a == nil {
		return ""
	}
	return a.BaseURL
}

// ensureInitialUser creates auth.initial_user as an admin when no user has
// its email; an existing user (and its password) is left alone.
func ensureInitialUser(store *accounts.Store, a *config.Auth, log *slog.Logger) error {
	if a == nil || a.InitialUser == nil || a.InitialUser.Email == "" {
		return nil
	}
	iu := a.InitialUser
	if _, err := store.UserByEmail(iu.Email); err == nil {
		return nil
	} else if !errors.Is(err, accounts.ErrNotFound) {
		return fmt.Errorf("look up initial user: %w", err)
	}
	hash, err := auth.HashPassword(iu.Password)
	if err != nil {
		return fmt.Errorf("hash initial user's password: %w", err)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(iu.Email), "@")
	created, err := store.EnsureUser(&accounts.User{Email: iu.Email, Name: name, PasswordHash: hash, IsAdmin: true})
	if err != nil {
		return fmt.Errorf("create initial user: %w", err)
	}
	if created {
		log.Info("created initial admin user", "email", iu.Email)
	}
	return nil
}
