package httpd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
	"runnel/jobs"
	"runnel/jobs/jobstest"
)

// diamond: a → b → d and a → c → d, plus an independent x. Every step
// appends its name to <dir>/ran when its process runs; c fails until
// <dir>/fixed exists; d's output repeats a's (so a carried-over a must
// reach d with its old output).
const diamondWorkflow = `
tasks:
  diamond:
    input:
      dir: { type: string, required: true }
    flow:
      a:
        type: script
        input: { dir: "{{ input.dir }}" }
        script: |
          echo a >> {{ input.dir }}/ran
          echo "OUTPUT: {\"pid\": $$}"
      b:
        type: script
        depends_on: [a]
        input: { dir: "{{ input.dir }}" }
        script: |
          echo b >> {{ input.dir }}/ran
          echo "OUTPUT: {\"pid\": $$}"
      c:
        type: script
        depends_on: [a]
        input: { dir: "{{ input.dir }}" }
        script: |
          echo c >> {{ input.dir }}/ran
          test -f {{ input.dir }}/fixed || { echo "not fixed yet" >&2; exit 3; }
          echo "OUTPUT: {\"pid\": $$}"
      d:
        type: script
        depends_on: [b, c]
        input: { a: "{{ a.output.pid }}", dir: "{{ input.dir }}" }
        script: |
          echo d >> {{ input.dir }}/ran
          echo "OUTPUT: {\"a\": {{ input.a }}}"
      x:
        type: script
        input: { dir: "{{ input.dir }}" }
        script: |
          echo x >> {{ input.dir }}/ran
          echo "OUTPUT: {\"pid\": $$}"
`

// stepsByName indexes an API job's steps.
func stepsByName(j map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range j["steps"].([]any) {
		m := s.(map[string]any)
		out[m["step_name"].(string)] = m
	}
	return out
}

// ranLines are the step names <dir>/ran holds after the first skip lines,
// sorted (steps of one job run in parallel).
func ranLines(t *testing.T, dir string, skip int) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "ran"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(data))
	out := slices.Clone(lines[skip:])
	slices.Sort(out)
	return out
}

type restartPlan struct {
	Run         []string `json:"run"`
	CarriedOver []string `json:"carried_over"`
}

// TestRestartAfterMidDAGFailure: a diamond whose branch c failed is
// restarted from different steps. The dry run names exactly the steps the
// real restart then runs and carries over; only the processes of the run
// steps start again; carried steps keep their output (d sees a's old pid),
// name the job they ran in, and the new job links to the old one. The new
// job is created in one commit that already holds every carried step as
// completed.
func TestRestartAfterMidDAGFailure(t *testing.T) {
	cases := []struct {
		from    string
		fix     bool
		plan    restartPlan
		ran     []string
		status  string
		skipped []string
		// chain restarts the restart from c once fixed: carried steps
		// name the job they really ran in.
		chain bool
	}{
		// The failed branch itself: its sibling b and x are kept.
		{from: "c", fix: true, plan: restartPlan{Run: []string{"c", "d"}, CarriedOver: []string{"a", "b", "x"}},
			ran: []string{"c", "d"}, status: "completed"},
		// Upstream of the failure on the other branch: b and d run again,
		// and so does c, which did not complete (it is not downstream of b);
		// it fails again, so d is skipped.
		{from: "b", plan: restartPlan{Run: []string{"b", "c", "d"}, CarriedOver: []string{"a", "x"}},
			ran: []string{"b", "c"}, status: "failed", skipped: []string{"d"}, chain: true},
		// The root: everything below it runs; x stays.
		{from: "a", fix: true, plan: restartPlan{Run: []string{"a", "b", "c", "d"}, CarriedOver: []string{"x"}},
			ran: []string{"a", "b", "c", "d"}, status: "completed"},
	}
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": diamondWorkflow})
	var (
		mu      sync.Mutex
		commits [][]jobs.Change
	)
	srv := s.HTTP
	s.Store.OnCommit(func(ch []jobs.Change) {
		mu.Lock()
		commits = append(commits, ch)
		mu.Unlock()
		srv.PublishCommit(ch)
	})
	for _, tc := range cases {
		t.Run("from_"+tc.from, func(t *testing.T) {
			dir := t.TempDir()
			oldID := s.Execute("diamond", map[string]any{"dir": dir})
			old := s.WaitJob(oldID)
			if old["status"] != "failed" {
				t.Fatalf("first job %s, want failed", old["status"])
			}
			if got := ranLines(t, dir, 0); !slices.Equal(got, []string{"a", "b", "c", "x"}) {
				t.Fatalf("first job ran %v", got)
			}
			oldSteps := stepsByName(old)

			var plan restartPlan
			if st := s.JSON("POST", "/api/jobs/"+oldID+"/restart?dry_run=true", map[string]any{"from_step": tc.from}, &plan); st != 200 {
				t.Fatalf("dry run: %d", st)
			}
			if diff := cmp.Diff(tc.plan, plan); diff != "" {
				t.Fatalf("dry run (-want +got):\n%s", diff)
			}
			if tc.fix {
				if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out struct {
				JobID string `json:"job_id"`
				Error string `json:"error"`
			}
			if st := s.JSON("POST", "/api/jobs/"+oldID+"/restart", map[string]any{"from_step": tc.from}, &out); st != 200 {
				t.Fatalf("restart: %d %s", st, out.Error)
			}
			j := s.WaitJob(out.JobID)
			if j["status"] != tc.status || j["restart_of"] != oldID || j["restart_from"] != tc.from || j["rerun_of"] != nil {
				t.Fatalf("restarted job: status %v restart_of %v restart_from %v rerun_of %v", j["status"], j["restart_of"], j["restart_from"], j["rerun_of"])
			}
			if diff := cmp.Diff(j["input"], old["input"]); diff != "" {
				t.Errorf("input (-old +new):\n%s", diff)
			}
			if got := ranLines(t, dir, 4); !slices.Equal(got, tc.ran) {
				t.Errorf("processes run by the restart: %v, want %v", got, tc.ran)
			}
			steps := stepsByName(j)
			var carried, ran []string
			for _, name := range []string{"a", "b", "c", "d", "x"} {
				st := steps[name]
				if st["carried_over"] == true {
					carried = append(carried, name)
					if st["status"] != "completed" || st["carried_from"] != oldID || st["started_at"] != nil {
						t.Errorf("carried step %s: status %v carried_from %v started_at %v", name, st["status"], st["carried_from"], st["started_at"])
					}
					if diff := cmp.Diff(oldSteps[name]["output"], st["output"]); diff != "" {
						t.Errorf("carried step %s output (-old +new):\n%s", name, diff)
					}
				} else {
					ran = append(ran, name)
					if st["carried_from"] != nil {
						t.Errorf("step %s ran but names carried_from %v", name, st["carried_from"])
					}
				}
			}
			if diff := cmp.Diff(plan, restartPlan{Run: ran, CarriedOver: carried}); diff != "" {
				t.Errorf("dry run vs the real restart (-dry +real):\n%s", diff)
			}
			for _, name := range tc.skipped {
				if steps[name]["status"] != "skipped" {
					t.Errorf("step %s: %v, want skipped", name, steps[name]["status"])
				}
			}
			if tc.status == "completed" {
				a := steps["a"]["output"].(map[string]any)["pid"]
				if got := steps["d"]["output"].(map[string]any)["a"]; got != a {
					t.Errorf("d saw a's pid %v, want %v", got, a)
				}
			}

			// The _server log says what was carried over from where.
			var logs struct{ Logs string }
			s.JSON("GET", "/api/jobs/"+out.JobID+"/steps/_server/logs?all=true", nil, &logs)
			want := "Steps carried over from job " + oldID + ": " + strings.Join(tc.plan.CarriedOver, ", ")
			if !strings.Contains(logs.Logs, want) || !strings.Contains(logs.Logs, "Restart of job "+oldID+" from step '"+tc.from+"'") {
				t.Errorf("_server log lacks %q:\n%s", want, logs.Logs)
			}

			// One commit created the job with its carried steps completed
			// and the from step already dispatched.
			mu.Lock()
			found := false
			for _, ch := range commits {
				created := slices.IndexFunc(ch, func(c jobs.Change) bool { return c.Job != nil && c.Job.ID == out.JobID })
				if created < 0 {
					continue
				}
				found = true
				got := map[string]string{}
				for _, c := range ch {
					if c.JobID == out.JobID && c.Step != nil {
						got[c.Step.Name] = c.Step.Status
						if c.Step.CarriedOver != slices.Contains(tc.plan.CarriedOver, c.Step.Name) {
							t.Errorf("creating commit: step %s carried_over %v", c.Step.Name, c.Step.CarriedOver)
						}
					}
				}
				for _, name := range tc.plan.CarriedOver {
					if got[name] != jobs.StepCompleted {
						t.Errorf("creating commit: carried step %s is %q, want completed", name, got[name])
					}
				}
				if got[tc.from] != jobs.StepReady {
					t.Errorf("creating commit: step %s is %q, want ready", tc.from, got[tc.from])
				}
				break
			}
			mu.Unlock()
			if !found {
				t.Error("no commit created the restarted job")
			}
			if tc.chain {
				restartChain(t, s, dir, oldID, out.JobID)
			}
		})
	}
}

// restartChain restarts mid (a restart of first) from c after fixing it:
// a and x still name first, where they ran; b names mid.
func restartChain(t *testing.T, s *httpdtest.Server, dir, first, mid string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct {
		JobID string `json:"job_id"`
		Error string `json:"error"`
	}
	if st := s.JSON("POST", "/api/jobs/"+mid+"/restart", map[string]any{"from_step": "c"}, &out); st != 200 {
		t.Fatalf("restart of the restart: %d %s", st, out.Error)
	}
	j := s.WaitJob(out.JobID)
	if j["status"] != "completed" {
		t.Fatalf("restart of the restart: %v", j["status"])
	}
	steps := stepsByName(j)
	for name, want := range map[string]any{"a": first, "x": first, "b": mid, "c": nil, "d": nil} {
		if got := steps[name]["carried_from"]; got != want {
			t.Errorf("step %s carried_from %v, want %v", name, got, want)
		}
	}
	var logs struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+out.JobID+"/steps/_server/logs?all=true", nil, &logs)
	for _, want := range []string{"Steps carried over from job " + first + ": a, x", "Steps carried over from job " + mid + ": b"} {
		if !strings.Contains(logs.Logs, want) {
			t.Errorf("_server log lacks %q:\n%s", want, logs.Logs)
		}
	}
}

// TestRestartCancelled: a cancelled job can be restarted; its cancelled
// step runs again and the completed one is carried over.
func TestRestartCancelled(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  gated:
    input:
      dir: { type: string, required: true }
    flow:
      first:
        type: script
        script: |
          echo 'OUTPUT: {"one": 1}'
      second:
        type: script
        depends_on: [first]
        input: { dir: "{{ input.dir }}" }
        script: |
          echo waiting
          while [ ! -f {{ input.dir }}/go ]; do sleep 0.05; done
          echo 'OUTPUT: {"two": 2}'
`})
	dir := t.TempDir()
	id := s.Execute("gated", map[string]any{"dir": dir})
	jobstest.Eventually(t, "second to run", func() bool {
		var j map[string]any
		s.JSON("GET", "/api/jobs/"+id, nil, &j)
		return stepsByName(j)["second"]["status"] == "running"
	})
	if st, _, body := s.Do("POST", "/api/jobs/"+id+"/cancel", nil); st != 200 {
		t.Fatalf("cancel: %d %s", st, body)
	}
	if j := s.WaitJob(id); j["status"] != "cancelled" {
		t.Fatalf("job %v", j["status"])
	}
	// A cancelled job's steps may still be stopping: wait until it is
	// finalized, which the restart insists on.
	var plan restartPlan
	jobstest.Eventually(t, "the cancelled job to be restartable", func() bool {
		return s.JSON("POST", "/api/jobs/"+id+"/restart?dry_run=true", map[string]any{"from_step": "second"}, &plan) == 200
	})
	if diff := cmp.Diff(restartPlan{Run: []string{"second"}, CarriedOver: []string{"first"}}, plan); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	if st := s.JSON("POST", "/api/jobs/"+id+"/restart", map[string]any{"from_step": "second"}, &out); st != 200 {
		t.Fatalf("restart: %d", st)
	}
	j := s.WaitJob(out.JobID)
	if diff := cmp.Diff(map[string]any{"two": 2.0}, j["output"].(map[string]any)["second"]); j["status"] != "completed" || diff != "" {
		t.Errorf("restarted job %v, output %v", j["status"], j["output"])
	}
	if st := stepsByName(j)["first"]; st["carried_over"] != true || cmp.Diff(map[string]any{"one": 1.0}, st["output"]) != "" {
		t.Errorf("first: %v", st)
	}
}

// TestRerunRevisionAndInput: a re-run runs on the source job's revision
// and input unless told otherwise, and links to its source.
func TestRerunRevisionAndInput(t *testing.T) {
	s := newServer(t)
	first := s.WaitJob(s.Execute("hello-world", map[string]any{"name": "Ada"}))
	oldRev := first["revision"].(string)
	s.Write(map[string]string{".workflows/main.yaml": strings.Replace(workflow, `echo "Hello {{ input.name }}"`, `echo "Hi {{ input.name }}"`, 1)})
	var newRev string
	jobstest.Eventually(t, "the changed workspace to load", func() bool {
		var ws []map[string]any
		s.JSON("GET", "/api/workspaces", nil, &ws)
		newRev, _ = ws[0]["revision"].(string)
		return newRev != oldRev
	})

	logOf := func(id string) string {
		var logs struct{ Logs string }
		s.JSON("GET", "/api/jobs/"+id+"/logs", nil, &logs)
		return logs.Logs
	}
	cases := []struct {
		name     string
		body     map[string]any
		rev      string
		greeting string
	}{
		{"same revision by default", nil, oldRev, "Hello Ada"},
		{"current revision", map[string]any{"revision": "current"}, newRev, "Hi Ada"},
		{"new input", map[string]any{"input": map[string]any{"name": "Bob"}}, oldRev, "Hello Bob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				JobID string `json:"job_id"`
				Error string `json:"error"`
			}
			if st := s.JSON("POST", "/api/jobs/"+first["job_id"].(string)+"/rerun", tc.body, &out); st != 200 {
				t.Fatalf("rerun: %d %s", st, out.Error)
			}
			j := s.WaitJob(out.JobID)
			if j["status"] != "completed" || j["revision"] != tc.rev || j["rerun_of"] != first["job_id"] || j["restart_of"] != nil {
				t.Fatalf("rerun job: status %v revision %v (want %s) rerun_of %v restart_of %v", j["status"], j["revision"], tc.rev, j["rerun_of"], j["restart_of"])
			}
			if l := logOf(out.JobID); !strings.Contains(l, tc.greeting) || !strings.Contains(l, "Re-run of job "+first["job_id"].(string)) {
				t.Errorf("log of the rerun lacks %q:\n%s", tc.greeting, l)
			}
			var list []map[string]any
			s.JSON("GET", "/api/jobs?limit=1", nil, &list)
			if len(list) != 1 || list[0]["job_id"] != out.JobID || list[0]["rerun_of"] != first["job_id"] {
				t.Errorf("job list item: %v", list)
			}
		})
	}
}

// TestRerunRestartErrors: every refusal has its status and says why.
func TestRerunRestartErrors(t *testing.T) {
	s := newServer(t)
	done := s.WaitJob(s.Execute("hello-world", nil))["job_id"].(string)
	failed := s.WaitJob(s.Execute("fail", nil))["job_id"].(string)
	running := s.Execute("sleepy", nil)
	t.Cleanup(func() { s.Do("POST", "/api/jobs/"+running+"/cancel", nil) })
	jobstest.Eventually(t, "sleepy to run", func() bool {
		var j map[string]any
		s.JSON("GET", "/api/jobs/"+running, nil, &j)
		return j["status"] == "running"
	})
	const unknown = "0190c5d2-6c1e-7a4b-9f3e-2b8f1c0d4e5a"
	cases := []struct {
		name, path string
		body       any
		status     int
		msg        string
	}{
		{"rerun unknown job", "/api/jobs/" + unknown + "/rerun", nil, 404, "Job not found"},
		{"rerun bad id", "/api/jobs/nope/rerun", nil, 400, "Invalid job ID"},
		{"rerun bad revision", "/api/jobs/" + done + "/rerun", map[string]any{"revision": "abc"}, 400, "Invalid revision 'abc'"},
		{"rerun input not an object", "/api/jobs/" + done + "/rerun", map[string]any{"input": []int{1}}, 400, "input must be an object"},
		{"rerun invalid input", "/api/jobs/" + done + "/rerun", map[string]any{"input": map[string]any{"name": 5}}, 400, "Input validation failed"},
		{"restart unknown job", "/api/jobs/" + unknown + "/restart", map[string]any{"from_step": "a"}, 404, "Job not found"},
		{"restart dry run unknown job", "/api/jobs/" + unknown + "/restart?dry_run=true", map[string]any{"from_step": "a"}, 404, "Job not found"},
		{"restart completed job", "/api/jobs/" + done + "/restart", map[string]any{"from_step": "say-hello"}, 409, "completed; only a failed or cancelled job can be restarted"},
		{"restart running job", "/api/jobs/" + running + "/restart", map[string]any{"from_step": "nap"}, 409, "is running; only a failed or cancelled job"},
		{"restart dry run of a running job", "/api/jobs/" + running + "/restart?dry_run=true", map[string]any{"from_step": "nap"}, 409, "is running"},
		{"restart unknown step", "/api/jobs/" + failed + "/restart", map[string]any{"from_step": "zzz"}, 400, "has no step 'zzz' (its steps: boom)"},
		{"restart without from_step", "/api/jobs/" + failed + "/restart", nil, 400, "from_step is required"},
		{"restart bad dry_run", "/api/jobs/" + failed + "/restart?dry_run=maybe", map[string]any{"from_step": "boom"}, 400, "Invalid dry_run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, raw := s.Do("POST", tc.path, tc.body)
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("%d %q: %v", st, raw, err)
			}
			msg, _ := body["error"].(string)
			if st != tc.status || !strings.Contains(msg, tc.msg) || len(body) != 1 {
				t.Errorf("%d %s, want %d with %q", st, raw, tc.status, tc.msg)
			}
		})
	}
	// Nothing was created by the refusals.
	var list []map[string]any
	s.JSON("GET", "/api/jobs", nil, &list)
	if len(list) != 3 {
		t.Errorf("%d jobs after refusals, want 3", len(list))
	}
}

// TestRerunScrubbedSecret: a finished job's secret input is scrubbed from
// the store, so a re-run without a new input is refused (409) instead of
// running with the mask; with the input given again it runs.
func TestRerunScrubbedSecret(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  login:
    input:
      token: { type: string, secret: true }
    flow:
      use:
        type: script
        input: { token: "{{ input.token }}" }
        script: |
          test "{{ input.token }}" = hunter22
`})
	id := s.Execute("login", map[string]any{"token": "hunter22"})
	if j := s.WaitJob(id); j["status"] != "completed" {
		t.Fatalf("job %v", j["status"])
	}
	var out struct {
		JobID string `json:"job_id"`
		Error string `json:"error"`
	}
	st := s.JSON("POST", "/api/jobs/"+id+"/rerun", nil, &out)
	if want := "Job " + id + "'s input 'token' held a secret, which is not kept after a job ends; give the input again"; st != 409 || out.Error != want {
		t.Errorf("rerun without input: %d %q, want 409 %q", st, out.Error, want)
	}
	if st := s.JSON("POST", "/api/jobs/"+id+"/rerun", map[string]any{"input": map[string]any{"token": "hunter22"}}, &out); st != 200 {
		t.Fatalf("rerun with input: %d %s", st, out.Error)
	}
	if j := s.WaitJob(out.JobID); j["status"] != "completed" {
		t.Errorf("rerun with the secret given again: %v", j["status"])
	}
}
