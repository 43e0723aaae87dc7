package httpd_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"runnel/jobs/jobstest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/httpdtest"
	"runnel/jobs"
)

const hookSecret = "s3cr3t-hook-value"

const hooksYAML = `
tasks:
  record:
    input:
      tag: { type: string, default: none }
    flow:
      show:
        type: script
        input: { auth: "{{ input.headers.authorization | default(value='') }}" }
        script: |
          echo "auth was {{ input.auth }}"
          echo 'OUTPUT: {"done": true}'
  typed:
    input:
      body: { type: object, required: true }
    flow:
      s: { type: script, script: "true" }
  slow:
    flow:
      nap: { type: script, script: "sleep 30" }
triggers:
  open-hook:
    type: webhook
    name: open
    task: record
    input: { tag: from-trigger, method: not-this, extra: 1 }
  secret-hook:
    type: webhook
    name: guarded
    task: record
    secret: ` + hookSecret + `
  off-hook:
    type: webhook
    name: off
    task: record
    enabled: false
  typed-hook:
    type: webhook
    name: typed
    task: typed
  sync-hook:
    type: webhook
    name: sync
    task: record
    mode: sync
    timeout_secs: 20
  sync-slow:
    type: webhook
    name: sync-slow
    task: slow
    mode: sync
    timeout_secs: 1
`

func newHookServer(t *testing.T, opts ...func(*httpdtest.Config)) *httpdtest.Server {
	t.Helper()
	return httpdtest.New(t, map[string]string{".workflows/main.yaml": hooksYAML}, opts...)
}

func sign(body string) string {
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookStatusCodes(t *testing.T) {
	s := newHookServer(t)
	big := strings.Repeat("x", 1<<20+1)
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		msg          string // error message; "" = a job was started
	}{
		{"unknown", "POST", "/hooks/nope", "", nil, 404, "Webhook not found"},
		{"disabled", "POST", "/hooks/off", "", nil, 404, "Webhook not found"},
		{"trigger key is not the name", "POST", "/hooks/open-hook", "", nil, 404, "Webhook not found"},
		{"method", "PUT", "/hooks/open", "", nil, 405, "Method not allowed"},
		{"method on status", "POST", "/hooks/open/jobs/01900000-0000-7000-8000-000000000000", "", nil, 405, "Method not allowed"},
		{"too large", "POST", "/hooks/open", big, nil, 413, "Request body too large"},
		{"no secret", "POST", "/hooks/guarded", "{}", nil, 401, "Invalid or missing secret"},
		{"wrong query secret", "POST", "/hooks/guarded?secret=nope", "{}", nil, 401, "Invalid or missing secret"},
		{"wrong bearer", "POST", "/hooks/guarded", "{}", []string{"Authorization", "Bearer nope"}, 401, "Invalid or missing secret"},
		{"bearer needs the scheme", "POST", "/hooks/guarded", "{}", []string{"Authorization", hookSecret}, 401, "Invalid or missing secret"},
		{"wrong signature", "POST", "/hooks/guarded", "{}", []string{"X-Hub-Signature-256", sign("{ }")}, 401, "Invalid or missing secret"},
		{"query secret", "POST", "/hooks/guarded?secret=" + hookSecret, "{}", nil, 200, ""},
		{"bearer", "POST", "/hooks/guarded", "{}", []string{"Authorization", "Bearer " + hookSecret}, 200, ""},
		{"bearer scheme in lower case", "POST", "/hooks/guarded", "{}", []string{"Authorization", "bearer " + hookSecret}, 200, ""},
		{"bearer scheme in upper case", "POST", "/hooks/guarded", "{}", []string{"Authorization", "BEARER  " + hookSecret}, 200, ""},
		{"wrong bearer, good signature", "POST", "/hooks/guarded", `{"a":1}`, []string{"Authorization", "Bearer nope", "X-Hub-Signature-256", sign(`{"a":1}`)}, 200, ""},
		{"signature", "POST", "/hooks/guarded", `{"a":1}`, []string{"X-Hub-Signature-256", sign(`{"a":1}`)}, 200, ""},
		{"GET", "GET", "/hooks/open", "", nil, 200, ""},
		{"invalid input", "POST", "/hooks/typed", "plain text", nil, 400, "Input validation failed: field 'body' must be an object"},
		{"valid input", "POST", "/hooks/typed", `{"k": "v"}`, []string{"Content-Type", "application/json"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			status, _, data := s.Do(tt.method, tt.path, body, tt.header...)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, data)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("body %q: %v", data, err)
			}
			if tt.msg != "" {
				if diff := cmp.Diff(map[string]any{"error": tt.msg}, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				return
			}
			id, _ := got["job_id"].(string)
			name := strings.TrimPrefix(strings.SplitN(tt.path, "?", 2)[0], "/hooks/")
			task := map[string]string{"guarded": "record", "open": "record", "typed": "typed"}[name]
			if diff := cmp.Diff(map[string]any{"job_id": id, "trigger": name, "task": task}, got); diff != "" {
				t.Errorf("async answer (-want +got):\n%s", diff)
			}
			j := s.WaitJob(id)
			if j["source_type"] != "webhook" || !strings.HasPrefix(j["source_id"].(string), "default/") || j["status"] != "completed" {
				t.Errorf("job %v", j)
			}
		})
	}
}

// TestWebhookInput checks the job input of a webhook call: parsed or raw
// body, lowercase headers (last value wins), method, query without the
// secret, and trigger input that never overrides those keys.
func TestWebhookInput(t *testing.T) {
	s := newHookServer(t)
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		wantBody     any
		wantQuery    map[string]any
	}{
		{name: "json", method: "POST", path: "/hooks/open", body: `{"ref": "refs/heads/main", "n": 2}`,
			header: []string{"Content-Type", "application/json"}, wantBody: map[string]any{"ref": "refs/heads/main", "n": float64(2)}},
		{name: "json with charset, unparsable", method: "POST", path: "/hooks/open", body: `{"ref": `,
			header: []string{"Content-Type", "application/json; charset=utf-8"}, wantBody: `{"ref": `},
		{name: "json array", method: "POST", path: "/hooks/open", body: `[1, "a"]`,
			header: []string{"Content-Type", "application/vnd.api+json; x=application/json"}, wantBody: []any{float64(1), "a"}},
		{name: "raw text", method: "POST", path: "/hooks/open", body: `{"looks": "like json"}`,
			header: []string{"Content-Type", "text/plain"}, wantBody: `{"looks": "like json"}`},
		{name: "no content type", method: "POST", path: "/hooks/open", body: "a=1&b=2", wantBody: "a=1&b=2"},
		{name: "empty", method: "POST", path: "/hooks/open", header: []string{"Content-Type", "application/json"}, wantBody: nil},
		{name: "GET with query", method: "GET", path: "/hooks/open?x=1&y=two&y=three&secret=dropped", body: "ignored",
			wantBody: nil, wantQuery: map[string]any{"x": "1", "y": "three"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			header := append([]string{"X-Custom", "first"}, tt.header...)
			var started map[string]any
			status, _, data := s.Do(tt.method, tt.path, body, header...)
			if status != 200 || json.Unmarshal(data, &started) != nil {
				t.Fatalf("%d %s", status, data)
			}
			j := s.WaitJob(started["job_id"].(string))
			in := j["input"].(map[string]any)
			if diff := cmp.Diff(tt.wantBody, in["body"]); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			wantQuery := tt.wantQuery
			if wantQuery == nil {
				wantQuery = map[string]any{}
			}
			if diff := cmp.Diff(wantQuery, in["query"]); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if in["method"] != tt.method || in["tag"] != "from-trigger" || in["extra"] != float64(1) {
				t.Errorf("method/trigger input: %v", in)
			}
			headers := in["headers"].(map[string]any)
			if headers["x-custom"] != "first" || !strings.HasPrefix(headers["host"].(string), "127.0.0.1:") {
				t.Errorf("headers %v", headers)
			}
			for k := range headers {
				if k != strings.ToLower(k) {
					t.Errorf("header name %q not lowercase", k)
				}
			}
		})
	}

	// Repeated headers: the last value wins.
	req, err := http.NewRequest("POST", s.URL+"/hooks/open", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started map[string]any
	json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	j := s.WaitJob(started["job_id"].(string))
	if got := j["input"].(map[string]any)["headers"].(map[string]any)["x-multi"]; got != "two" {
		t.Errorf("x-multi = %v, want the last value", got)
	}
}

// TestWebhookSecretMasked: the trigger secret arriving in a header is
// masked in the job's API view and in its log.
func TestWebhookSecretMasked(t *testing.T) {
	s := newHookServer(t)
	var started map[string]any
	if st := s.JSON("POST", "/hooks/guarded?secret="+hookSecret+"&q="+hookSecret, nil, &started, "Authorization", "Bearer "+hookSecret); st != 200 {
		t.Fatalf("status %d %v", st, started)
	}
	id := started["job_id"].(string)
	j := s.WaitJob(id)
	raw, _ := json.Marshal(j)
	if strings.Contains(string(raw), hookSecret) {
		t.Errorf("secret in the API view: %s", raw)
	}
	in := j["input"].(map[string]any)
	if in["headers"].(map[string]any)["authorization"] != "Bearer "+jobs.Mask || in["query"].(map[string]any)["q"] != jobs.Mask {
		t.Errorf("input not masked: %v", in)
	}
	var logs struct{ Logs string }
	s.JSON("GET", "/api/jobs/"+id+"/logs", nil, &logs)
	if strings.Contains(logs.Logs, hookSecret) || !strings.Contains(logs.Logs, `"line":"auth was Bearer `+jobs.Mask+`"`) {
		t.Errorf("log:\n%s", logs.Logs)
	}
}

func TestWebhookSync(t *testing.T) {
	s := newHookServer(t)
	var got map[string]any
	if st := s.JSON("POST", "/hooks/sync", nil, &got); st != 200 {
		t.Fatalf("sync: %d %v", st, got)
	}
	want := map[string]any{"job_id": got["job_id"], "trigger": "sync", "task": "record", "status": "completed",
		"output": map[string]any{"show": map[string]any{"done": true}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync answer (-want +got):\n%s", diff)
	}

	// The slow task outlives timeout_secs (1 s): 202, still running.
	if st := s.JSON("POST", "/hooks/sync-slow", nil, &got); st != 202 {
		t.Fatalf("sync timeout: %d %v", st, got)
	}
	id := got["job_id"].(string)
	want = map[string]any{"job_id": id, "trigger": "sync-slow", "task": "slow", "status": "running", "output": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync timeout answer (-want +got):\n%s", diff)
	}

	// The status endpoint: 202 while waiting times out, 200 once it ends.
	status, hdr, data := s.Do("GET", "/hooks/sync-slow/jobs/"+id+"?wait=true&timeout=0.2", nil)
	var view map[string]any
	json.Unmarshal(data, &view)
	if status != 202 || hdr.Get("Cache-Control") != "no-store" || view["completed_at"] != nil || view["output"] != nil ||
		(view["status"] != "running" && view["status"] != "pending") || view["trigger"] != "sync-slow" || view["task"] != "slow" {
		t.Errorf("status endpoint while running: %d %v %v", status, hdr, view)
	}
	if st := s.JSON("POST", "/api/jobs/"+id+"/cancel", nil, nil); st != 200 {
		t.Fatalf("cancel: %d", st)
	}
	status, hdr, data = s.Do("GET", "/hooks/sync-slow/jobs/"+id+"?wait=true&timeout=10", nil)
	view = nil
	json.Unmarshal(data, &view)
	if status != 200 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("status endpoint after cancel: %d %s", status, data)
	}
	created, _ := view["created_at"].(string)
	completed, _ := view["completed_at"].(string)
	apiTime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	if !apiTime.MatchString(created) || !apiTime.MatchString(completed) {
		t.Errorf("times: %v", view)
	}
	want = map[string]any{"job_id": id, "trigger": "sync-slow", "task": "slow", "status": "cancelled", "output": nil,
		"created_at": created, "completed_at": completed}
	if diff := cmp.Diff(want, view); diff != "" {
		t.Errorf("status view (-want +got):\n%s", diff)
	}
}

func TestWebhookJobStatusScoping(t *testing.T) {
	s := newHookServer(t, func(c *httpdtest.Config) { c.Workspace = "ops" })
	var started map[string]any
	s.JSON("POST", "/hooks/open", nil, &started)
	openJob := started["job_id"].(string)
	s.JSON("POST", "/hooks/guarded?secret="+hookSecret, nil, &started)
	guardedJob := started["job_id"].(string)
	var ex map[string]any
	s.JSON("POST", "/api/workspaces/ops/tasks/record/execute", map[string]any{"input": map[string]any{"headers": map[string]any{}}}, &ex)
	apiJob := ex["job_id"].(string)
	j := s.WaitJob(openJob)
	if j["source_id"] != "ops/open-hook" || j["source_type"] != "webhook" {
		t.Errorf("source %v %v", j["source_type"], j["source_id"])
	}
	s.WaitJob(guardedJob)
	s.WaitJob(apiJob)

	tests := []struct {
		name   string
		path   string
		header []string
		status int
		msg    string
	}{
		{"own job", "/hooks/open/jobs/" + openJob, nil, 200, ""},
		{"own job, secret", "/hooks/guarded/jobs/" + guardedJob + "?secret=" + hookSecret, nil, 200, ""},
		{"own job, bearer", "/hooks/guarded/jobs/" + guardedJob, []string{"Authorization", "Bearer " + hookSecret}, 200, ""},
		{"own job, signature of the empty body", "/hooks/guarded/jobs/" + guardedJob, []string{"X-Hub-Signature-256", sign("")}, 200, ""},
		{"no secret", "/hooks/guarded/jobs/" + guardedJob, nil, 401, "Invalid or missing secret"},
		{"other trigger's job", "/hooks/open/jobs/" + guardedJob, nil, 404, "Job not found"},
		{"API job", "/hooks/open/jobs/" + apiJob, nil, 404, "Job not found"},
		{"unknown job", "/hooks/open/jobs/01900000-0000-7000-8000-000000000000", nil, 404, "Job not found"},
		{"bad id", "/hooks/open/jobs/nope", nil, 400, "Invalid job ID"},
		{"unknown webhook", "/hooks/nope/jobs/" + openJob, nil, 404, "Webhook not found"},
		{"disabled webhook", "/hooks/off/jobs/" + openJob, nil, 404, "Webhook not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, data := s.Do("GET", tt.path, nil, tt.header...)
			var got map[string]any
			json.Unmarshal(data, &got)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, data)
			}
			if tt.msg != "" {
				if got["error"] != tt.msg {
					t.Errorf("error %v, want %q", got["error"], tt.msg)
				}
				return
			}
			if hdr.Get("Cache-Control") != "no-store" || got["status"] != "completed" || got["task"] != "record" ||
				got["output"] == nil || got["completed_at"] == nil {
				t.Errorf("view %v (%v)", got, hdr)
			}
		})
	}
}

func triggerNextRuns(t *testing.T, s *httpdtest.Server) map[string][]string {
	t.Helper()
	var list []struct {
		Name     string   `json:"name"`
		NextRuns []string `json:"next_runs"`
	}
	if st := s.JSON("GET", "/api/workspaces/default/triggers", nil, &list); st != 200 {
		t.Fatalf("triggers: %d", st)
	}
	out := map[string][]string{}
	for _, tr := range list {
		out[tr.Name] = tr.NextRuns
	}
	return out
}

// TestNextRunsAcrossDST checks next_runs in Europe/Copenhagen (last Sunday
// of March 02:00 → 03:00, last Sunday of October 03:00 → 02:00) through
// the API, whatever the current date.
func TestNextRunsAcrossDST(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  t:
    flow:
      s: { type: script, script: "true" }
triggers:
  spring-fixed:   { type: scheduler, task: t, timezone: Europe/Copenhagen, cron: "30 2 * 3 0L" }
  fall-fixed:     { type: scheduler, task: t, timezone: Europe/Copenhagen, cron: "30 2 * 10 0L" }
  fall-wildcard:  { type: scheduler, task: t, timezone: Europe/Copenhagen, cron: "*/30 2 * 10 0L" }
  nightly:        { type: scheduler, task: t, timezone: Europe/Copenhagen, cron: "0 0 2 * * *", enabled: false }
`})
	runs := triggerNextRuns(t, s)
	yearly := func(name, timeOfDay string) {
		t.Helper()
		if len(runs[name]) != 5 {
			t.Fatalf("%s: %v", name, runs[name])
		}
		for _, r := range runs[name] {
			if !strings.HasSuffix(r, timeOfDay) {
				t.Errorf("%s: %s, want every run at %s", name, r, timeOfDay)
			}
		}
	}
	// 02:30 does not exist on the spring night: it fires at the gap's end.
	yearly("spring-fixed", "T03:00:00+02:00")
	// 02:30 happens twice on the autumn night: only the first one fires.
	yearly("fall-fixed", "T02:30:00+02:00")
	// A wildcard schedule runs in real time: both passes of the hour.
	fw := runs["fall-wildcard"]
	if len(fw) != 5 {
		t.Fatalf("fall-wildcard: %v", fw)
	}
	day := fw[0][:10]
	want := []string{day + "T02:00:00+02:00", day + "T02:30:00+02:00", day + "T02:00:00+01:00", day + "T02:30:00+01:00"}
	if diff := cmp.Diff(want, fw[:4]); diff != "" {
		t.Errorf("fall-wildcard (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(fw[4], "T02:00:00+02:00") || fw[4][:4] <= day[:4] {
		t.Errorf("fall-wildcard fifth run %s, want next year's first", fw[4])
	}

	// 0 0 2 * * *: every day at 02:00 local time (disabled triggers show
	// runs too), the spring-forward day at 03:00.
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	nightly := runs["nightly"]
	if len(nightly) != 5 {
		t.Fatalf("nightly: %v", nightly)
	}
	var prev time.Time
	for i, r := range nightly {
		at, err := time.Parse(time.RFC3339, r)
		if err != nil {
			t.Fatal(err)
		}
		local := at.In(loc)
		_, off := local.Zone()
		if got := at.Format("-07:00"); got != fmt.Sprintf("+%02d:00", off/3600) {
			t.Errorf("%s: written offset %s, zone offset %d", r, got, off)
		}
		springDay := local.Month() == time.March && local.Weekday() == time.Sunday && local.Day() > 24
		if (local.Hour() != 2 && !(springDay && local.Hour() == 3)) || local.Minute() != 0 || local.Second() != 0 {
			t.Errorf("nightly run %s is not 02:00 local", r)
		}
		if next := prev.AddDate(0, 0, 1); i > 0 && (local.Year() != next.Year() || local.YearDay() != next.YearDay()) {
			t.Errorf("nightly runs %s then %s are not consecutive days", nightly[i-1], r)
		}
		prev = local
	}
}

// TestNextRunsSpringDay checks a 02:00 schedule on the days before a
// spring-forward night (the night itself when it falls among the next
// five): 02:00, and 03:00+02:00 on the night without 02:00.
func TestNextRunsSpringDay(t *testing.T) {
	s := httpdtest.New(t, map[string]string{".workflows/main.yaml": `
tasks:
  t:
    flow:
      s: { type: script, script: "true" }
triggers:
  spring-night: { type: scheduler, task: t, timezone: Europe/Copenhagen, cron: "0 0 2 24-31 3 *" }
`})
	runs := triggerNextRuns(t, s)["spring-night"]
	if len(runs) != 5 {
		t.Fatalf("runs %v", runs)
	}
	loc, _ := time.LoadLocation("Europe/Copenhagen")
	for _, r := range runs {
		at, err := time.Parse(time.RFC3339, r)
		if err != nil {
			t.Fatal(err)
		}
		local := at.In(loc)
		lastSunday := local.Weekday() == time.Sunday && local.Day() > 24
		switch {
		case lastSunday && (local.Hour() != 3 || !strings.HasSuffix(r, "T03:00:00+02:00")):
			t.Errorf("%s: the spring-forward night must fire at 03:00+02:00", r)
		case !lastSunday && local.Hour() != 2:
			t.Errorf("%s: want 02:00", r)
		}
	}
}

// TestSchedulerFiresAndReloads runs the scheduler on the whole stack: a
// 6-field seconds schedule fires jobs; a reload that changes the cron is
// picked up at once, and next_runs follows it.
func TestSchedulerFiresAndReloads(t *testing.T) {
	yaml := func(cron string) map[string]string {
		return map[string]string{".workflows/main.yaml": `
tasks:
  t:
    input:
      who: { type: string, default: cron }
    flow:
      s:
        type: script
        input: { who: "{{ input.who }}" }
        script: |
          echo 'OUTPUT: "{{ input.who }}"'
triggers:
  tick: { type: scheduler, task: t, cron: "` + cron + `", input: { who: tick } }
`}
	}
	s := httpdtest.New(t, yaml("0 0 0 1 1 *"))
	s.StartScheduler()
	if runs := triggerNextRuns(t, s)["tick"]; len(runs) != 5 || !strings.HasSuffix(runs[0], "-01-01T00:00:00+00:00") {
		t.Fatalf("yearly next_runs %v", runs)
	}
	s.Write(yaml("*/2 * * * * *"))
	var list []map[string]any
	jobstest.Eventually(t, "the reloaded */2 schedule to fire 2 jobs", func() bool {
		s.JSON("GET", "/api/jobs?source_type=trigger", nil, &list)
		return len(list) >= 2
	})
	j := s.WaitJob(list[len(list)-1]["job_id"].(string))
	if j["source_id"] != "default/tick" || j["status"] != "completed" {
		t.Errorf("job %v", j)
	}
	if diff := cmp.Diff(map[string]any{"s": "tick"}, j["output"]); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	runs := triggerNextRuns(t, s)["tick"]
	if len(runs) != 5 {
		t.Fatalf("next_runs %v", runs)
	}
	for i := 1; i < 5; i++ {
		a, _ := time.Parse(time.RFC3339, runs[i-1])
		b, _ := time.Parse(time.RFC3339, runs[i])
		if b.Sub(a) != 2*time.Second || b.Second()%2 != 0 {
			t.Errorf("next_runs after reload %v", runs)
		}
	}
}

// BenchmarkWebhookJobCreated measures POST /hooks/{name} (async) until the
// answer: the job is committed when it arrives. Its step needs a tag no
// worker has, so no process runs. Reports the median and p99.
func BenchmarkWebhookJobCreated(b *testing.B) {
	s := httpdtest.New(b, map[string]string{".workflows/main.yaml": `
tasks:
  t:
    flow:
      s: { type: script, script: "true", tags: [nowhere] }
triggers:
  bench: { type: webhook, name: bench, task: t }
`})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		status, _, data := s.Do("POST", "/hooks/bench", `{"n": 1}`, "Content-Type", "application/json")
		lat = append(lat, time.Since(start))
		if status != 200 {
			b.Fatalf("%d %s", status, data)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
