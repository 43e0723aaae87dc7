package config

// This file holds loading: picking the file, reading it within the YAML
// limits, decoding it onto the defaults, filling dependent defaults and
// making paths absolute.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"runnel/workspace/yamlfile"
)

// Path picks the config file: the --config flag value, else
// RUNNEL_CONFIG from environ, else defaultName if that file exists in the
// working directory, else "" (no file). A named file is returned even if it
// does not exist, so loading it reports the error.
func Path(flagValue string, environ []string, defaultName string) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := cfgLookupEnv(environ, "RUNNEL_CONFIG"); ok && v != "" {
		return v
	}
	if defaultName != "" {
		if fi, err := os.Stat(defaultName); err == nil && !fi.IsDir() {
			return defaultName
		}
	}
	return ""
}

// LoadServer reads the server config file at path ("" = none, use
// defaults), applies RUNNEL__ overrides and ${VAR} references from environ,
// fills defaults, makes relative paths absolute against the file's
// directory (else the working directory) and validates the result. Every
// problem found is returned in one *Error; a named file that does not
// exist is an error too. On error the returned config is the zero value.
func LoadServer(path string, environ []string) (Server, error) {
	src, err := cfgRead(path)
	if err != nil {
		return Server{}, err
	}
	return cfgLoadServer(path, src, environ)
}

// cfgLoadServer is LoadServer on the file's contents (nil = no file).
func cfgLoadServer(path string, src []byte, environ []string) (Server, error) {
	cfg := DefaultServer()
	l, err := cfgLoad(path, src, environ, &cfg, cfgServerSchema)
	if err != nil {
		return Server{}, err
	}
	cfg.Path = path
	cfg.DataDir = l.abs(cfg.DataDir)
	if cfg.LogStorage.LocalDir == "" && cfg.DataDir != "" {
		cfg.LogStorage.LocalDir = filepath.Join(cfg.DataDir, "logs")
	}
	cfg.LogStorage.LocalDir = l.abs(cfg.LogStorage.LocalDir)
	for name, ws := range cfg.Workspaces {
		switch ws.Type {
		case "folder":
			ws.Path = l.abs(ws.Path)
		case "git":
			if ws.Ref == "" && !l.dec.seen["workspaces."+name+".ref"] {
				ws.Ref = "main"
			}
			if !l.dec.seen["workspaces."+name+".poll_interval_secs"] {
				ws.PollIntervalSecs = 60
			}
			ws.URL = l.absGitURL(ws.URL)
			if a := ws.Auth; a != nil {
				auth := *a
				if auth.Type == "token" && auth.Username == "" {
					auth.Username = "x-access-token"
				}
				auth.KeyPath = l.abs(auth.KeyPath)
				ws.Auth = &auth
			}
		}
		cfg.Workspaces[name] = ws
	}
	if cfg.TLS != nil {
		cfg.TLS.CertFile = l.abs(cfg.TLS.CertFile)
		cfg.TLS.KeyFile = l.abs(cfg.TLS.KeyFile)
	}
	if err := l.finish(cfg.problems()); err != nil {
		return Server{}, err
	}
	return cfg, nil
}

// LoadWorker is LoadServer for worker-config.yaml; it also
// accepts the aliases workspace_dir (for workspace_cache_dir) and
// capabilities (for tags).
func LoadWorker(path string, environ []string) (Worker, error) {
	src, err := cfgRead(path)
	if err != nil {
		return Worker{}, err
	}
	cfg := DefaultWorker()
	l, err := cfgLoad(path, src, environ, &cfg, cfgWorkerSchema)
	if err != nil {
		return Worker{}, err
	}
	cfg.Path = path
	cfg.WorkspaceCacheDir = l.abs(cfg.WorkspaceCacheDir)
	if err := l.finish(cfg.problems()); err != nil {
		return Worker{}, err
	}
	return cfg, nil
}

// Validate checks every value of c against SPEC §2.2, §11 and §12.1 and
// returns all problems as one *Error (one per line), or nil. It does
// not fill defaults; LoadServer does that first.
func (c *Server) Validate() error {
	return cfgProblemsError(c.problems())
}

// Validate checks every value of c against SPEC §2.3 and returns all
// problems as one *Error (one per line), or nil.
func (c *Worker) Validate() error {
	return cfgProblemsError(c.problems())
}

// ---- loading ----

// cfgLoader carries one load: the file, the base directory for relative
// paths, the decoder (positions, seen keys) and the problems so far.
type cfgLoader struct {
	file     string
	base     string
	dec      *cfgDecoder
	problems []Problem
}

// cfgRead reads the config file; "" means none (nil contents).
func cfgRead(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	src, err := yamlfile.ReadFile(path)
	var le *yamlfile.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s: no such file", path)
	case errors.As(err, &le):
		return nil, &Error{Problems: []Problem{{File: path, Message: le.Message}}}
	case err != nil:
		return nil, fmt.Errorf("config file %s: %s", path, cfgStatReason(err))
	}
	return src, nil
}

// cfgLoad parses src (the contents of path), applies overrides and decodes
// onto out (a pointer to the defaults). It returns an error only when the
// file cannot be parsed at all; every other problem is kept for finish.
func cfgLoad(path string, src []byte, environ []string, out any, schema cfgSchema) (*cfgLoader, error) {
	l := &cfgLoader{file: path}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		l.base = filepath.Dir(abs)
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		l.base = wd
	}
	// Problems about the file as a whole (say a missing required key) carry
	// the file name but no position.
	root := &cfgNode{kind: cfgMap, src: cfgSource{file: path}}
	if path != "" {
		n, ps := cfgParse(src, path)
		if len(ps) > 0 {
			return nil, &Error{Problems: ps}
		}
		if n != nil && n.kind != cfgMap {
			return nil, &Error{Problems: []Problem{n.src.problem("", "the config file must be a mapping of keys to values")}}
		}
		if n != nil {
			root.entries = n.entries
		}
	}
	l.problems = append(l.problems, cfgNormalizeAliases(root, schema.aliases)...)
	l.problems = append(l.problems, cfgApplyOverrides(root, environ, schema.aliases)...)
	l.dec = &cfgDecoder{
		environ:  environ,
		rejected: schema.rejected,
		pos:      map[string]cfgSource{"": root.src},
		bad:      map[string]bool{},
		seen:     map[string]bool{},
	}
	l.dec.value(root, reflect.ValueOf(out).Elem(), "")
	l.problems = append(l.problems, l.dec.problems...)
	return l, nil
}

// finish adds positions to validation problems (skipping those about keys
// that already failed to decode) and returns all problems, or nil.
func (l *cfgLoader) finish(validation []Problem) error {
	ps := l.problems
	for _, p := range validation {
		if l.dec.badKey(p.Key) {
			continue
		}
		src := l.dec.sourceOf(p.Key)
		p.File, p.Line, p.Col, p.Env = src.file, src.line, src.col, src.env
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	rank := func(p Problem) int {
		switch {
		case p.File != "":
			return 0
		case p.Env != "":
			return 1
		}
		return 2
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if rank(a) == 0 && (a.Line != b.Line || a.Col != b.Col) {
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		}
		if rank(a) == 1 {
			return a.Env < b.Env
		}
		return false
	})
	return &Error{Problems: ps}
}

// abs makes a relative path absolute against the config file's directory;
// a leading "~/" means the user's home directory.
func (l *cfgLoader) abs(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.base, p)
}

// absGitURL makes a relative local-path git URL absolute; URLs with a
// scheme and scp-like user@host:path forms are left alone.
func (l *cfgLoader) absGitURL(u string) string {
	if u == "" || strings.Contains(u, "://") {
		return u
	}
	if i := strings.IndexByte(u, ':'); i >= 0 && !strings.Contains(u[:i], "/") {
		return u // host:path
	}
	return l.abs(u)
}
