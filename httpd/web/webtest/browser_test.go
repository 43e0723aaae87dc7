package webtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"runnel/httpd"
	"runnel/httpd/accounts"
	"runnel/httpd/auth"
	"runnel/httpd/httpdtest"
	"runnel/jobs/jobstest"
)

// browser is the one chromium process shared by every test (a tab each).
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds the browser or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI must run the browser tests (.ci/run installs it with apt-get)")
	}
	t.Skip("chromium is not installed: `apt-get install chromium` to run the web UI's browser tests")
	return ""
}

// tab is one browser tab on a running server, collecting console errors.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	mu    sync.Mutex
	errs  []string
	allow []string // substrings of console errors a test expects (an API answer it provokes)
}

// expect allows console errors containing each of the substrings: Chromium
// logs every 4xx answer to fetch, including the ones a test provokes.
func (b *tab) expect(substrings ...string) {
	b.mu.Lock()
	b.allow = append(b.allow, substrings...)
	b.mu.Unlock()
}

func newTab(t *testing.T, base string) *tab {
	t.Helper()
	exe := chromiumPath(t)
	browser.once.Do(func() {
		opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
		opts = append(opts, chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.WindowSize(1400, 900), chromedp.Flag("disable-dev-shm-usage", true))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.err = chromedp.Do(bctx) // start the browser
		browser.ctx, browser.cancel = bctx, func() { bcancel(); acancel() }
	})
	if browser.err != nil {
		t.Fatalf("start chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	tb := &tab{t: t, ctx: ctx, base: base}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "assert" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				tb.addErr("console.%s: %s", e.Type, strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			tb.addErr("exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				tb.addErr("log %s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		tb.mu.Lock()
		defer tb.mu.Unlock()
	next:
		for _, e := range tb.errs {
			for _, a := range tb.allow {
				if strings.Contains(e, a) {
					continue next
				}
			}
			t.Errorf("browser console error: %s", e)
		}
	})
	return tb
}

func (b *tab) addErr(format string, args ...any) {
	b.mu.Lock()
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

// run runs actions with a generous deadline (the machine may be busy).
func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, jobstest.Patience())
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test with the page's main content for context.
func (b *tab) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('main') || document.body).outerHTML`))
	{
		if len(html) > 3000 {
			html = html[:3000] + "…"
		}
		b.t.Fatalf("%s: %v\npage: %s", what, err, html)
	}
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path))
}

// Locators by what a person sees: roles, labels and text.
func link(text string) string { return fmt.Sprintf(`//a[normalize-space(.)=%q]`, text) }
func button(text string) string {
	return fmt.Sprintf(`//button[normalize-space(.)=%q or @aria-label=%q]`, text, text)
}
func heading(text string) string {
	return fmt.Sprintf(`//*[self::h1 or self::h2][contains(normalize-space(.),%q)]`, text)
}

// field is the control whose <label> starts with text (by for= or nested).
func field(text string) string {
	return fmt.Sprintf(`(//*[@id=//label[starts-with(normalize-space(.),%q)]/@for] | //label[starts-with(normalize-space(.),%q)]//*[self::input or self::select or self::textarea])`, text, text)
}

// text is the innermost element whose visible text contains s.
func text(s string) string {
	return fmt.Sprintf(`//*[contains(normalize-space(.),%q)][not(*[contains(normalize-space(.),%q)])]`, s, s)
}

func (b *tab) waitVisible(sel string) {
	b.t.Helper()
	b.run("wait for "+sel, chromedp.WaitVisible(sel))
}

// fill types value into the control labelled label, replacing its text.
func (b *tab) fill(label, value string) {
	b.t.Helper()
	b.waitVisible(field(label))
	q, _ := json.Marshal(label)
	eval[bool](b, `(() => { const l = [...document.querySelectorAll('label')].find(l => l.textContent.trim().startsWith(`+string(q)+`));
		const el = l.control; el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)
	b.run("fill "+label, chromedp.SendKeys(field(label), value))
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, chromedp.Click(sel, chromedp.NodeVisible))
}

// waitJS polls a JS expression until it is true.
func (b *tab) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, jobstest.Patience())
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(jobstest.Patience()-time.Second))); err != nil {
		b.fail(what, err)
	}
}

// eval evaluates a JS expression into T.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, jobstest.Patience())
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("eval "+expr, err)
	}
	return v
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("RUNNEL_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, size := range [][2]int64{{1400, 900}, {390, 844}} {
		b.run("resize for "+name, chromedp.EmulateViewport(size[0], size[1]),
			chromedp.Sleep(150*time.Millisecond)) // layout settles after the resize (screenshots only)
		ctx, cancel := context.WithTimeout(b.ctx, jobstest.Patience())
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.fail("screenshot "+name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, size[0]))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("restore viewport", chromedp.EmulateViewport(1400, 900))
}

// darkMode emulates prefers-color-scheme.
func darkMode(on bool) chromedp.Action[chromedp.Void] {
	v := "light"
	if on {
		v = "dark"
	}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	})
}

// workflow is the test workspace: the README's hello-world, a task with
// typed required inputs, a slow one to cancel and a big-log one.
const workflow = `
actions:
  greet:
    type: shell
    description: Greets someone.
    cmd: |
      echo "Hello {{ input.name }}"
      printf '\033[32mgreen\033[0m done\n'
      echo 'OUTPUT: {"greeting": "Hello {{ input.name }}"}'
    input:
      name: { type: string, required: true }
tasks:
  hello-world:
    description: Greets someone, then shouts the greeting.
    input:
      name: { type: string, default: World }
    flow:
      say-hello:
        action: greet
        input: { name: "{{ input.name }}" }
      shout:
        depends_on: [say-hello]
        type: shell
        cmd: echo "{{ input.greeting }}!"
        input: { greeting: "{{ say_hello.output.greeting }}" }
  typed:
    folder: checks
    description: Takes typed inputs.
    input:
      name: { type: string, required: true }
      count: { type: integer, default: 1 }
      ratio: { type: number }
      verbose: { type: boolean, default: false }
      tags: { type: array }
      extra: { type: object }
      token: { type: string, secret: true }
    flow:
      show:
        type: shell
        cmd: echo "{{ input.name }} x{{ input.count }}"
        input: { name: "{{ input.name }}", count: "{{ input.count }}" }
  slow:
    folder: checks
    flow:
      wait:
        type: shell
        cmd: |
          echo started
          sleep 60
  boom:
    description: Fails on purpose.
    flow:
      explode:
        type: shell
        cmd: |
          echo "about to fail"
          echo "boom: something broke" >&2
          exit 3
  bigLog:
    folder: checks
    flow:
      print:
        type: shell
        cmd: seq -f 'line %.0f of the big log' 1 1000000
`

func newServer(t *testing.T, opts ...func(*httpdtest.Config)) *httpdtest.Server {
	t.Helper()
	chromiumPath(t) // skip before starting anything
	return httpdtest.New(t, map[string]string{".workflows/main.yaml": workflow}, opts...)
}

// TestRunHelloWorld is the first thing a person does: open /, find
// hello-world, run it from the form and watch it finish live.
func TestRunHelloWorld(t *testing.T) {
	s := newServer(t)
	b := newTab(t, s.URL)
	b.open("/")
	b.waitVisible(heading("Dashboard"))
	b.click(link("Tasks"))
	b.waitVisible(link("hello-world"))
	b.click(link("hello-world"))
	b.waitVisible(heading("Steps"))
	b.waitJS("task graph drawn", `document.querySelectorAll('.dag g.node').length === 2`)
	b.click(`//a[starts-with(normalize-space(.),"Run hello-world")]`)
	b.waitVisible(field("name"))
	b.fill("name", "Browser")
	b.click(button("Run"))
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"Hello Browser")]`)
	b.waitJS("status completed", `document.getElementById('job-status').textContent === 'completed'`)
	b.waitJS("graph nodes green", `[...document.querySelectorAll('.dag g.node')].every(n => n.dataset.status === 'completed' && n.classList.contains('st-completed'))`)
	// ANSI colours become classes, not style attributes (CSP).
	b.waitJS("ansi colour", `document.querySelector('[role=log] .ansi-green-fg') !== null`)
	// One step's log, search, the timeline.
	eval[bool](b, `(() => { const s = [...document.querySelectorAll('label')].find(l => l.textContent.startsWith('Step')).querySelector('select');
		s.value = 'shout'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	b.waitJS("step filter", `(() => { const st = [...document.querySelectorAll('[role=log] .ln .stp')].map(e => e.textContent); return st.length > 0 && st.every(x => x === 'shout') })()`)
	b.fill("Search log", "Browser!")
	b.waitJS("search", `(() => { const l = document.querySelectorAll('[role=log] .ln'); return l.length === 1 && l[0].textContent.includes('Hello Browser!') })()`)
	b.click(button("Timeline"))
	b.waitJS("timeline", `document.querySelectorAll('.timeline .tl-row').length === 2`)
	// Back returns to the form, forward to the job.
	b.run("back", chromedp.NavigateBack())
	b.waitVisible(field("name"))
	b.run("forward", chromedp.NavigateForward())
	b.waitVisible(heading("hello-world"))
}

// TestRunFormErrors: the server's 400 is shown at each field.
func TestRunFormErrors(t *testing.T) {
	s := newServer(t)
	b := newTab(t, s.URL)
	b.open("/tasks/default/typed/run")
	b.waitVisible(field("count"))
	for _, f := range []string{"name", "count", "ratio", "verbose", "tags", "extra", "token"} {
		b.waitVisible(field(f))
	}
	if typ := eval[string](b, `document.getElementById('in-token').type`); typ != "password" {
		t.Errorf("secret input type = %q, want password", typ)
	}
	b.expect("status of 400 (Bad Request) (" + s.URL + "/api/workspaces/default/tasks/typed/execute)")
	b.fill("count", "1.5")
	b.click(button("Run"))
	b.waitVisible(`//*[@id="in-name-err"][contains(., "required")]`)
	b.waitVisible(`//*[@id="in-count-err"][contains(., "must be an integer")]`)
	if invalid := eval[string](b, `document.getElementById('in-count').getAttribute('aria-invalid')`); invalid != "true" {
		t.Errorf("count aria-invalid = %q", invalid)
	}
	// Bad JSON is caught before sending.
	b.fill("name", "x")
	b.fill("count", "2")
	b.fill("tags", "[1,")
	b.click(button("Run"))
	b.waitVisible(`//*[@id="in-tags-err"][contains(., "Not valid JSON")]`)
	b.fill("tags", `["a","b"]`)
	b.click(button("Run"))
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"x x2")]`)
	b.waitJS("job done", `document.getElementById('job-status').textContent === 'completed'`)
	b.click(link("Run again with these inputs"))
	b.waitVisible(field("name"))
	b.waitJS("prefilled", `document.getElementById('in-name').value === 'x' && document.getElementById('in-count').value === '2'`)
}

// TestCancel cancels a running job from its page.
func TestCancel(t *testing.T) {
	s := newServer(t)
	id := s.Execute("slow", nil)
	b := newTab(t, s.URL)
	b.open("/jobs/" + id)
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"started")]`)
	b.waitJS("running", `document.getElementById('job-status').textContent === 'running'`)
	b.click(button("Cancel job"))
	b.waitJS("cancelled", `document.getElementById('job-status').textContent === 'cancelled'`)
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"Job cancelled by")]`)
	if j := s.WaitJob(id); j["status"] != "cancelled" {
		t.Errorf("job status %v", j["status"])
	}
}

// TestRejectedRevision shows the load error with its file:line:col.
func TestRejectedRevision(t *testing.T) {
	s := newServer(t)
	s.Write(map[string]string{".workflows/broken.yaml": "tasks:\n  broken:\n    flow:\n      a: { action: nope }\n"})
	b := newTab(t, s.URL)
	b.open("/workspaces")
	b.waitVisible(heading("default"))
	// The folder watcher reloads by itself; the page updates live.
	b.waitVisible(`//*[contains(@class,"errlines")][contains(., "broken.yaml:")]`)
	errText := eval[string](b, `document.querySelector('main .errlines').textContent`)
	if !strings.Contains(errText, "broken.yaml:4:") {
		t.Errorf("error lines %q lack file:line:col", errText)
	}
	b.screenshot("workspace-rejected")
	b.open("/")
	b.waitVisible(text("Workspace default failed to load"))
}

// TestHugeLog: a 1,000,000-line log opens on its tail and stays responsive.
func TestHugeLog(t *testing.T) {
	s := newServer(t)
	id := s.Execute("bigLog", nil)
	var j map[string]any
	if st := s.JSON("GET", "/api/jobs/"+id+"?wait=true&timeout=120", nil, &j); st != 200 || j["status"] != "completed" {
		t.Fatalf("big job: %d %v", st, j["status"])
	}
	b := newTab(t, s.URL)
	start := time.Now()
	b.open("/jobs/" + id)
	b.waitJS("last line shown", `[...document.querySelectorAll('[role=log] .ln .tx')].slice(-5).some(e => e.textContent === 'line 1000000 of the big log')`)
	t.Logf("1,000,000-line job: last line shown %v after navigation (%.0f ms after the page started)", time.Since(start), eval[float64](b, `performance.now()`))
	rendered := eval[int](b, `document.querySelectorAll('.log .ln').length`)
	if rendered == 0 || rendered > 5000 {
		t.Errorf("%d log lines in the DOM, want 1..5000", rendered)
	}
	start = time.Now()
	b.click(`(//button[normalize-space(.)="Load earlier lines"])[1]`)
	b.waitJS("earlier lines", `document.querySelector('.log .ln .tx') && !document.querySelector('.log .ln .tx').textContent.includes('line 1000000 ')`)
	t.Logf("load earlier answered in %v", time.Since(start))
	start = time.Now()
	b.click(`//button[@role="tab"][normalize-space(.)="Logs"]`)
	b.waitVisible(`//h2[normalize-space(.)="Logs"]`)
	t.Logf("a tab click answered in %v", time.Since(start))
	rendered = eval[int](b, `document.querySelectorAll('.log .ln').length`)
	if rendered > 5000 {
		t.Errorf("%d log lines in the DOM after loading earlier", rendered)
	}
}

// TestPages opens every main page, checks it renders its content without
// a console error, and saves screenshots when asked.
func TestPages(t *testing.T) {
	s := newServer(t)
	id := s.Execute("hello-world", map[string]any{"name": "Screens"})
	s.WaitJob(id)
	s.WaitJob(s.Execute("typed", map[string]any{"name": "x"}))
	s.WaitJob(s.Execute("boom", nil))
	if dir := os.Getenv("RUNNEL_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := newTab(t, s.URL)
	pages := []struct{ name, path, wait string }{
		{"dashboard", "/", heading("Recent failures")},
		{"tasks", "/tasks", link("hello-world")},
		{"task", "/tasks/default/hello-world", `//*[contains(@class,"dag")]//*[name()="svg"]`},
		{"run-form", "/tasks/default/typed/run", field("name")},
		{"jobs", "/jobs", `//table//a[contains(@href,"/jobs/")]`},
		{"job", "/jobs/" + id, `//*[@role="log"]//*[contains(text(),"Hello Screens")]`},
		{"workspaces", "/workspaces", button("Refresh default")},
		{"workers", "/workers", text("built-in")},
		{"users", "/users", heading("Users")},
		{"keys", "/keys", heading("API keys")},
		{"not-found", "/no/such/page", heading("Page not found")},
	}
	for _, p := range pages {
		start := time.Now()
		b.open(p.path)
		b.waitVisible(p.wait)
		t.Logf("%s: shown in %v", p.path, time.Since(start))
		b.screenshot(p.name)
	}
	// A failed job opens at its first error.
	b.open("/jobs?status=failed")
	b.click(`//a[contains(@aria-label,"of boom")]`)
	b.waitVisible(text("boom: something broke"))
	b.click(button("Jump to first error"))
	b.waitVisible(`//*[contains(@class,"ln") and contains(@class,"hit")][contains(., "boom: something broke")]`)
	// Its failure is a server problem event; a good job's server events
	// (created, started, finished) are not.
	b.waitVisible(`//*[contains(@class,"ln") and contains(@class,"problem")][contains(., "failed")]`)
	b.waitVisible(`//*[contains(@class,"ln") and contains(@class,"server")][contains(., "Job failed in")]`)
	if n := eval[int](b, `[...document.querySelectorAll('.ln.server.problem')].filter(e => e.textContent.includes('Job failed in')).length`); n != 0 {
		t.Error("the job's final status line (a lifecycle event) is shown as a problem")
	}

	// Dark mode follows the system setting.
	b.run("dark", darkMode(true))
	b.open("/jobs/" + id)
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"Hello Screens")]`)
	b.waitVisible(`//*[contains(@class,"ln") and contains(@class,"server")][contains(., "Job completed")]`)
	if n := eval[int](b, `document.querySelectorAll('.ln.server.problem').length`); n != 0 {
		t.Errorf("a completed job shows %d server problem lines", n)
	}
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark background %q", bg)
	}
	b.screenshot("job-dark")
	b.run("light", darkMode(false))

	// The job list counts with X-Total-Count; filters come from the URL.
	b.open("/jobs")
	b.waitVisible(text("1–3 of 3"))
	b.open("/jobs?status=failed")
	b.waitVisible(`//a[contains(@aria-label,"of boom")]`)
	if n := eval[int](b, `document.querySelectorAll('main tbody tr').length`); n != 1 {
		t.Errorf("failed filter shows %d jobs, want 1", n)
	}
}

// TestSignInOut: with auth on, sign in (a wrong password first), survive a
// reload on the HttpOnly refresh cookie alone, use the pages, sign out.
func TestSignInOut(t *testing.T) {
	const email, password = "admin@example.com", "correct horse battery"
	s := newServer(t, func(c *httpdtest.Config) {
		c.HTTP.Auth = &httpd.AuthOptions{JWTSecret: strings.Repeat("j", 32), RefreshSecret: strings.Repeat("r", 32)}
	})
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts.CreateUser(&accounts.User{Email: email, Name: "Ada Admin", PasswordHash: hash, IsAdmin: true, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := newTab(t, s.URL)
	b.open("/jobs")
	b.waitVisible(heading("Sign in"))
	b.expect("status of 401 (Unauthorized) (" + s.URL + "/api/auth/session)")
	b.fill("Email", email)
	b.fill("Password", "wrong")
	b.click(button("Sign in"))
	b.waitVisible(text("Wrong email or password."))
	b.screenshot("signin")
	b.fill("Password", password)
	b.click(button("Sign in"))
	b.waitVisible(heading("Jobs")) // the deep link survives the sign-in
	b.waitVisible(text("Ada Admin (admin)"))

	// A reload keeps the session through the HttpOnly cookie; no token is
	// readable by scripts.
	b.run("reload", chromedp.Reload())
	b.waitVisible(heading("Jobs"))
	if st := eval[string](b, `JSON.stringify(localStorage) + document.cookie`); strings.Contains(st, "ey") || strings.Contains(st, "runnel_refresh") {
		t.Errorf("a token is readable by page scripts: %s", st)
	}

	// Live logs work with a token (the WebSocket's ?token=).
	b.open("/tasks/default/hello-world/run")
	b.fill("name", "Auth")
	b.click(button("Run"))
	b.waitVisible(`//*[@role="log"]//*[contains(text(),"Hello Auth")]`)
	b.waitJS("status completed", `document.getElementById('job-status').textContent === 'completed'`)

	b.open("/users")
	b.waitVisible(`//td[normalize-space(.)="` + email + `"]`)
	b.screenshot("users-admin")
	b.open("/keys")
	b.fill("Key name", "ci")
	b.click(button("Create key"))
	b.waitVisible(`//*[@aria-label="New API key"][starts-with(normalize-space(.),"runnel_")]`)
	b.waitVisible(`//td[normalize-space(.)="ci"]`)
	b.screenshot("keys-new")

	b.click(button("Sign out"))
	b.waitVisible(heading("Sign in"))
	b.run("reload", chromedp.Reload())
	b.waitVisible(heading("Sign in"))

	// A user who is not an admin is told so, not shown an empty list.
	if err := s.Accounts.CreateUser(&accounts.User{Email: "user@example.com", Name: "Una User", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b.expect("status of 403 (Forbidden) (" + s.URL + "/api/users?")
	b.fill("Email", "user@example.com")
	b.fill("Password", password)
	b.click(button("Sign in"))
	b.waitVisible(text("Una User"))
	b.open("/users")
	b.waitVisible(`//*[@role="alert"][starts-with(normalize-space(.), "Admin only")]`)
}

// TestWhatChanged: a job shows the workflow diff since the task's last
// successful run.
func TestWhatChanged(t *testing.T) {
	s := newServer(t)
	s.WaitJob(s.Execute("hello-world", map[string]any{"name": "before"}))
	var ws []map[string]any
	s.JSON("GET", "/api/workspaces", nil, &ws)
	old := ws[0]["revision"]
	s.Write(map[string]string{".workflows/main.yaml": strings.Replace(workflow, `echo "Hello {{ input.name }}"`, `echo "Hello there, {{ input.name }}"`, 1)})
	jobstest.Eventually(t, "the workspace to reload", func() bool { // polling the API for the reload
		s.JSON("GET", "/api/workspaces", nil, &ws)
		return ws[0]["revision"] != old
	})
	id := s.Execute("hello-world", map[string]any{"name": "after"})
	s.WaitJob(id)
	b := newTab(t, s.URL)
	b.open("/jobs/" + id)
	b.click(`//button[@role="tab"][normalize-space(.)="What changed"]`)
	b.waitVisible(`//*[contains(@class,"diff")]/div[contains(@class,"add")][contains(., "Hello there, {{ input.name }}")]`)
	b.waitVisible(`//*[contains(@class,"diff")]/div[contains(@class,"del")][contains(., "Hello {{ input.name }}")]`)
	b.waitVisible(text("last successful run"))
	b.screenshot("job-changes")
}

// TestLiveListAndLostConnection: the jobs list shows a new job without a
// reload, and a lost server shows a banner.
func TestLiveListAndLostConnection(t *testing.T) {
	s := newServer(t)
	b := newTab(t, s.URL)
	b.open("/jobs")
	b.waitVisible(text("No job matches these filters."))
	id := s.Execute("hello-world", nil)
	b.waitVisible(fmt.Sprintf(`//a[@href="/jobs/%s"]`, id))
	b.waitJS("completed live", `[...document.querySelectorAll('main tbody tr')].some(r => r.textContent.includes('completed'))`)

	b.expect("ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE", "ERR_INCOMPLETE_CHUNKED_ENCODING")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.HTTP.Shutdown(ctx) // closes the listener and ends the event stream
	b.waitVisible(`//*[@role="alert"][contains(., "Connection to the server lost")]`)
}
