package gitsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// authMethod builds the go-git credentials for the URL's transport. It reads
// the key file and known_hosts on every call, so rotated keys and new host
// entries apply to the next operation. Local remotes take no credentials.
func (r *Repo) authMethod() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(r.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	a := r.opts.Auth
	switch a.Type {
	case "", "token", "basic", "ssh_key":
	default:
		return nil, fmt.Errorf("unknown auth type %q (want token, basic or ssh_key)", a.Type)
	}
	switch ep.Protocol {
	case "file":
		return nil, nil
	case "http", "https":
		switch a.Type {
		case "":
			return nil, nil // credentials in the URL, if any, still apply
		case "token":
			user := a.Username
			if user == "" {
				user = "x-access-token"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case "basic":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, fmt.Errorf("auth type %s needs an ssh url, not %s", a.Type, ep.Protocol)
	case "ssh":
		user := a.Username
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		var helper *gitssh.HostKeyCallbackHelper
		var method transport.AuthMethod
		switch a.Type {
		case "":
			agent, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh agent (no auth configured): %w", err)
			}
			helper, method = &agent.HostKeyCallbackHelper, agent
		case "ssh_key":
			var keys *gitssh.PublicKeys
			switch {
			case a.Key != "":
				keys, err = gitssh.NewPublicKeys(user, []byte(a.Key), a.Password)
			case a.KeyPath != "":
				keys, err = gitssh.NewPublicKeysFromFile(user, a.KeyPath, a.Password)
			default:
				err = errors.New("set key_path or key")
			}
			if err != nil {
				return nil, fmt.Errorf("ssh key: %w", err)
			}
			helper, method = &keys.HostKeyCallbackHelper, keys
		default:
			return nil, fmt.Errorf("auth type %s needs an http(s) url, not ssh", a.Type)
		}
		// Check host keys against known_hosts (SSH_KNOWN_HOSTS, else
		// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts), and offer the
		// key algorithms recorded there so a host with several keys is
		// verified against the one we know.
		db, err := gitssh.NewKnownHostsDb()
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		helper.HostKeyCallback = db.HostKeyCallback()
		helper.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
		return method, nil
	}
	return nil, fmt.Errorf("unsupported url scheme %q", ep.Protocol)
}

// opError is a failed step against the remote. Its text names the step and
// the URL and never contains credentials; Unwrap gives the cause.
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// opError wraps err as "<op> <url>: <err>" with credentials scrubbed. When
// ctx has ended, the context error is reported (and matched by errors.Is)
// whatever the transport made of it.
func (r *Repo) opError(ctx context.Context, op string, err error) error {
	var oe *opError
	if errors.As(err, &oe) {
		return err // already names its step
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = cerr
	}
	return &opError{msg: op + " " + r.scrub(r.opts.URL+": "+err.Error()), err: err}
}

// URL user info patterns: in http(s) URLs all of it (the user name may be
// a token); elsewhere the password.
var (
	webUserinfo = regexp.MustCompile(`(?i)\b(https?://)[^/?#@\s"'<>]*@`)
	urlPassword = regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:\s"'<>]*):[^/?#@\s"'<>]*@`)
)

// redactURL drops credentials from every URL in s; scp-style and local
// remotes pass through.
func redactURL(s string) string {
	s = webUserinfo.ReplaceAllString(s, "$1")
	return urlPassword.ReplaceAllString(s, "$1@")
}

// scrub removes URL credentials and the configured secrets from s.
func (r *Repo) scrub(s string) string {
	s = redactURL(s)
	for _, secret := range []string{r.opts.Auth.Token, r.opts.Auth.Password} {
		// Very short secrets are left alone: replacing them would mangle
		// the message more than it could hide.
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}
