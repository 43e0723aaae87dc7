package main

import (
	"context"
	"encoding/json"
	"github.com/goccy/go-yaml"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/workspace"
)

// The README's examples are tested so they cannot rot: every fenced yaml
// block (of README.md and of markdown under examples/, plus the example
// config files) loads as what it is, and the quickstart's commands run
// against a real `runnel serve`.

// mdBlock is one fenced code block of a markdown file.
type mdBlock struct {
	file string
	line int // 1-based line of the block's first content line
	lang string
	text string
}

var mdFence = regexp.MustCompile("^( *)```([a-z]*)$")

// mdBlocks returns the fenced blocks of a markdown file, with the
// indentation of their fence removed (blocks inside list items).
func mdBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []mdBlock
	var cur *mdBlock
	var indent string
	var body strings.Builder
	for i, l := range strings.Split(string(data), "\n") {
		m := mdFence.FindStringSubmatch(l)
		switch {
		case cur == nil && m != nil:
			cur, indent = &mdBlock{file: path, line: i + 2, lang: m[2]}, m[1]
			body.Reset()
		case cur != nil && m != nil && m[2] == "" && m[1] == indent:
			cur.text = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(strings.TrimPrefix(l, indent) + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed code block", path, cur.line-1)
	}
	return out
}

var (
	readmeVarRef    = regexp.MustCompile(`\$\{(\w+)\}`)
	readmeGetEnv    = regexp.MustCompile(`get_env\(name='(\w+)'`)
	readmeWorkflowK = regexp.MustCompile(`(?m)^(tasks|actions|triggers|secrets|on_success|on_error|on_cancel):`)
	readmeWorkerK   = regexp.MustCompile(`(?m)^server_url:`)
	// Prometheus's own files (scrape config, alert rules) sit beside
	// runnel's: they are checked as YAML here, and against runnel's
	// metric names by the metrics examples test.
	readmePrometheusK = regexp.MustCompile(`(?m)^(scrape_configs|groups):`)
	readmeScript      = regexp.MustCompile(`(?m)^\s*(script|source):\s*([\w./-]+\.sh)\b`)
	readmeEtc         = regexp.MustCompile(`/etc/runnel/[\w.-]+`)
)

// readmeEnv sets every ${VAR} and get_env(name='VAR') of text to a value
// long enough for any secret (an https URL for *_URL).
func readmeEnv(text string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, re := range []*regexp.Regexp{readmeVarRef, readmeGetEnv} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			v := "readme-value-0123456789abcdef0123456789"
			if strings.HasSuffix(m[1], "_URL") {
				v = "https://git.example.com/readme.git"
			}
			env = append(env, m[1]+"="+v)
		}
	}
	return env
}

// TestReadmeYAML loads every yaml block of the README and of examples/
// markdown, and every example config file, as a workflow file (a block
// with tasks:, actions:, triggers: … written into a workspace's
// .workflows/), a worker config (server_url) or a server config, with
// every ${VAR} set; a failure names the block's line.
func TestReadmeYAML(t *testing.T) {
	root := filepath.Join("..", "..")
	var blocks []mdBlock
	md := []string{filepath.Join(root, "README.md")}
	filepath.WalkDir(filepath.Join(root, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			md = append(md, p)
		}
		return nil
	})
	for _, p := range md {
		for _, b := range mdBlocks(t, p) {
			if b.lang == "yaml" {
				blocks = append(blocks, b)
			}
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("found only %d yaml blocks in %v", len(blocks), md)
	}
	configs, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	for _, p := range configs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, mdBlock{file: p, line: 1, lang: "yaml", text: string(data)})
	}
	kinds := map[string]int{}
	for _, b := range blocks {
		where := b.file + ":" + strconv.Itoa(b.line)
		env := readmeEnv(b.text)
		dir := t.TempDir()
		var err error
		switch {
		case readmeWorkflowK.MatchString(b.text):
			kinds["workflow"]++
			files := map[string]string{".workflows/readme.yaml": b.text}
			for _, m := range readmeScript.FindAllStringSubmatch(b.text, -1) {
				files[m[2]] = "#!/bin/sh\n" // a script file the block names
			}
			cliWriteFiles(t, dir, files)
			_, err = workspace.Load(dir, workspace.LoadOptions{Getenv: env2lookup(env)})
		case readmePrometheusK.MatchString(b.text):
			kinds["prometheus"]++
			var v map[string]any
			err = yaml.Unmarshal([]byte(b.text), &v)
		case readmeWorkerK.MatchString(b.text):
			kinds["worker config"]++
			_, err = config.LoadWorker(readmeWrite(t, dir, "worker-config.yaml", b.text), env)
		default:
			kinds["server config"]++
			// Files the block names under /etc/runnel/ (TLS) are made in
			// the temporary directory instead.
			text := b.text
			for _, f := range readmeEtc.FindAllString(text, -1) {
				readmeWrite(t, dir, filepath.Base(f), "")
			}
			text = readmeEtc.ReplaceAllStringFunc(text, func(f string) string { return filepath.Join(dir, filepath.Base(f)) })
			_, err = config.LoadServer(readmeWrite(t, dir, "server-config.yaml", text), env)
		}
		if err != nil {
			t.Errorf("%s: this yaml block does not load:\n%s\n%v", where, b.text, err)
		}
	}
	if kinds["workflow"] == 0 || kinds["server config"] == 0 || kinds["worker config"] == 0 {
		t.Errorf("expected blocks of every kind, got %v", kinds)
	}
}

func readmeWrite(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env2lookup(environ []string) func(string) (string, bool) {
	return env{environ: environ}.lookup
}

// readmeCommands are the shell command lines of the fenced sh blocks of a
// README section: continuation lines joined, comments and comment lines
// dropped.
func readmeCommands(t *testing.T, section string) []string {
	t.Helper()
	path := filepath.Join("..", "..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## "+section+"\n")
	if start < 0 {
		t.Fatalf("README has no section %q", section)
	}
	end := len(text)
	if i := strings.Index(text[start+1:], "\n## "); i >= 0 {
		end = start + 1 + i
	}
	// Lines first..last (1-based) are the section's.
	first, last := strings.Count(text[:start], "\n")+2, strings.Count(text[:end], "\n")+1
	var cmds []string
	for _, b := range mdBlocks(t, path) {
		if b.lang != "sh" || b.line < first || b.line > last {
			continue
		}
		text := strings.ReplaceAll(b.text, "\\\n", " ")
		for _, l := range strings.Split(text, "\n") {
			l = readmeComment.ReplaceAllString(l, "")
			if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.HasPrefix(l, "#") {
				cmds = append(cmds, l)
			}
		}
	}
	return cmds
}

var readmeComment = regexp.MustCompile(`\s+#\s.*$`)

// TestReadmeQuickstart runs the quickstart's commands as the README
// writes them — the curl lines (execute hello-world, wait, logs) and the
// CLI lines (trigger -f, jobs, run) — against a real `runnel serve` of
// the bundled examples, with localhost:8080 rewritten to its address.
func TestReadmeQuickstart(t *testing.T) {
	bin, err := runnelBinary()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, "Quickstart")

	// The quickstart's server: `runnel serve` without a config file, in
	// an empty directory, on a free port.
	var serveLine bool
	for _, c := range cmds {
		serveLine = serveLine || c == "go run ./cmd/runnel serve"
	}
	if !serveLine {
		t.Fatalf("the quickstart no longer starts with `go run ./cmd/runnel serve`: %q", cmds)
	}
	dir := t.TempDir()
	home := t.TempDir()
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "NO_COLOR=1"}
	serve := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "runnel-data"))
	serve.Dir, serve.Env = dir, environ
	logs := newSyncBuffer()
	serve.Stderr = logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	logs.waitFor(t, "workspace loaded")
	logs.waitFor(t, `msg="runnel serving" url=`)
	m := regexp.MustCompile(`msg="runnel serving" url=http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address in the server's log:\n%s", logs.String())
	}
	addr := m[1]

	sh := func(line string) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "sh", "-c", line)
		c.Dir = root
		c.Env = append(environ, "RUNNEL_URL=http://"+addr)
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return out.String(), errb.String(), code
	}

	var jobID string
	ran := map[string]bool{}
	for _, c := range cmds {
		line := strings.ReplaceAll(c, "localhost:8080", addr)
		line = strings.ReplaceAll(line, "<job_id>", jobID)
		var kind string
		switch {
		case strings.HasPrefix(c, "curl ") && strings.Contains(c, "/execute"):
			kind = "execute"
		case strings.HasPrefix(c, "curl ") && strings.Contains(c, "?wait=true"):
			kind = "wait"
		case strings.HasPrefix(c, "curl ") && strings.HasSuffix(c, "/logs"):
			kind = "logs"
		case strings.HasPrefix(c, "curl "):
			kind = "curl"
		case strings.HasPrefix(c, "bin/runnel "):
			kind = strings.Fields(c)[1]
			line = bin + strings.TrimPrefix(line, "bin/runnel")
		default:
			t.Logf("not run: %s", c) // the server (started above), go build, websocat
			continue
		}
		if strings.Contains(line, "<job_id>") || (strings.Contains(c, "<job_id>") && jobID == "") {
			t.Fatalf("%s: no job id yet (the execute line must come first)", c)
		}
		out, errOut, code := sh(line)
		ran[kind] = true
		fail := func(why string) {
			t.Errorf("README quickstart line %q: %s\nexit %d\nstdout:\n%s\nstderr:\n%s", c, why, code, out, errOut)
		}
		if code != 0 {
			fail("exit code")
			continue
		}
		switch kind {
		case "execute":
			var v struct {
				JobID string `json:"job_id"`
			}
			if json.Unmarshal([]byte(out), &v) != nil || v.JobID == "" {
				fail("no job_id")
			}
			jobID = v.JobID
		case "wait":
			var v struct {
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(out), &v) != nil || v.Status != "completed" {
				fail("the job did not complete")
			}
		case "logs":
			if !strings.Contains(out, "Hello Ada") {
				fail("the log lacks the greeting")
			}
		case "trigger":
			if !strings.Contains(out, "HELLO ADA!") {
				fail("the followed log lacks the shout")
			}
		case "jobs":
			if strings.Count(out, "hello-world") < 2 {
				fail("the jobs list lacks the two hello-world jobs")
			}
		case "run":
			if !strings.Contains(out, "HELLO WORLD!") {
				fail("the local run did not shout")
			}
		}
	}
	for _, k := range []string{"execute", "wait", "logs", "trigger", "jobs", "run"} {
		if !ran[k] {
			t.Errorf("the quickstart has no %s line any more (commands: %q)", k, cmds)
		}
	}
}
