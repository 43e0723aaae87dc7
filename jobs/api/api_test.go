package api_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"runnel/jobs/api"
)

// TestNullables: "" and the zero time go out as null and come back as ""
// and the zero time; set values keep their text (HTML characters as the
// calling encoder decides) and instant.
func TestNullables(t *testing.T) {
	type rec struct {
		S api.OptString `json:"s"`
		T api.Time      `json:"t"`
	}
	at := time.Date(2026, 12, 6, 15, 4, 5, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		in   rec
		want string
	}{
		{"null", rec{}, `{"s":null,"t":null}`},
		{"set", rec{S: "a<b>&c", T: api.At(at)}, `{"s":"a\u003cb\u003e\u0026c","t":"2026-12-06T14:04:05.123Z"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := json.Marshal(c.in)
			if err != nil || string(raw) != c.want {
				t.Fatalf("marshal: %s %v, want %s", raw, err, c.want)
			}
			var back rec
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if back.S != c.in.S || !back.T.Equal(c.in.T.Truncate(time.Millisecond)) {
				t.Fatalf("round trip: %+v, want %+v", back, c.in)
			}
		})
	}
	t.Run("no HTML escaping when the encoder says so", func(t *testing.T) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rec{S: "<b>&"}); err != nil || b.String() != `{"s":"<b>&","t":null}`+"\n" {
			t.Fatalf("%q %v", b.String(), err)
		}
	})
	t.Run("bad time", func(t *testing.T) {
		var r rec
		for _, in := range []string{`{"t":"yesterday"}`, `{"t":5}`} {
			if err := json.Unmarshal([]byte(in), &r); err == nil {
				t.Errorf("%s: no error", in)
			}
		}
	})
}

// TestStamp: a pushed line's time is written in RFC 3339 with
// nanoseconds and read leniently (anything unreadable is zero).
func TestStamp(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	raw, err := json.Marshal(api.LogLine{TS: api.Stamp{Time: at}, Stream: "stdout", Line: "x"})
	if err != nil || string(raw) != `{"ts":"2026-01-02T03:04:05.000000006Z","stream":"stdout","line":"x"}` {
		t.Fatalf("%s %v", raw, err)
	}
	cases := []struct {
		in   string
		want time.Time
	}{
		{`{"ts":"2026-01-02T04:04:05.000000006+01:00"}`, at},
		{`{"ts":"2026-01-02T03:04:05Z"}`, at.Truncate(time.Second)},
		{`{"ts":"soon"}`, time.Time{}},
		{`{"ts":42}`, time.Time{}},
		{`{"ts":null}`, time.Time{}},
		{`{}`, time.Time{}},
	}
	for _, c := range cases {
		var l api.LogLine
		if err := json.Unmarshal([]byte(c.in), &l); err != nil || !l.TS.Equal(c.want) {
			t.Errorf("%s: %v %v, want %v", c.in, l.TS, err, c.want)
		}
	}
}

// TestClaim: an Assignment goes out as the Strøm claim (shell spec, the
// implied "shell" tag dropped, timeout rounded up) and comes back whole
// but for Dir; no work is every key null.
func TestClaim(t *testing.T) {
	a := &api.Assignment{JobID: "j", Workspace: "w", Task: "t", Step: "s", Action: "act", ActionType: "shell",
		Revision: "r", File: "bin/run.sh", Env: map[string]string{"K": "v"}, Tags: []string{"shell", "gpu"},
		Input: map[string]any{"n": 1.0}, Timeout: 1500 * time.Millisecond, Dir: "/srv/tree"}
	c := api.ClaimOf(a)
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workspace":"w","job_id":"j","step_name":"s","action_name":"act","action_type":"shell","action_image":null,` +
		`"action_spec":{"type":"shell","script":"bin/run.sh","env":{"K":"v"},"tags":["gpu"],"input":{}},` +
		`"input":{"n":1},"runner":"local","task_name":"t","revision":"r","timeout_secs":2}`
	if string(raw) != want {
		t.Fatalf("claim\n got %s\nwant %s", raw, want)
	}
	var back api.ClaimResponse
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got := back.Assignment()
	exp := *a
	exp.Dir, exp.Timeout = "", 2*time.Second
	if !reflect.DeepEqual(*got, exp) {
		t.Fatalf("assignment\n got %+v\nwant %+v", *got, exp)
	}

	inline := api.ClaimOf(&api.Assignment{JobID: "j", Command: "echo hi"})
	if inline.ActionSpec.Cmd == nil || *inline.ActionSpec.Cmd != "echo hi" || inline.ActionSpec.Script != nil ||
		inline.TimeoutSecs != nil || inline.Input == nil || inline.ActionSpec.Env == nil {
		t.Fatalf("inline claim: %+v %+v", inline, inline.ActionSpec)
	}

	raw, err = json.Marshal(api.ClaimResponse{})
	if err != nil {
		t.Fatal(err)
	}
	var none api.ClaimResponse
	if err := json.Unmarshal(raw, &none); err != nil || none.Assignment() != nil {
		t.Fatalf("no work: %s → %+v %v", raw, none.Assignment(), err)
	}
}

// TestRequestBodies pins what a worker sends: optional keys are left out.
func TestRequestBodies(t *testing.T) {
	wait, code, msg := 20.0, 0, "boom"
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"register", api.RegisterRequest{Name: "n", Tags: []string{"shell"}}, `{"name":"n","tags":["shell"]}`},
		{"claim", api.ClaimRequest{WorkerID: "w", WaitSecs: &wait}, `{"worker_id":"w","wait_secs":20}`},
		{"claim, server default wait", api.ClaimRequest{WorkerID: "w"}, `{"worker_id":"w"}`},
		{"complete ok", api.CompleteRequest{ExitCode: &code, Output: json.RawMessage(`{"a":1}`), WorkerID: "w"},
			`{"output":{"a":1},"exit_code":0,"worker_id":"w"}`},
		{"complete failed", api.CompleteRequest{ExitCode: &code, Error: &msg}, `{"exit_code":0,"error":"boom"}`},
		{"logs", api.LogsRequest{StepName: "s", Lines: []api.LogLine{}}, `{"step_name":"s","lines":[]}`},
		{"heartbeat", api.WorkerIDRequest{WorkerID: "w"}, `{"worker_id":"w"}`},
	}
	for _, c := range cases {
		if raw, err := json.Marshal(c.in); err != nil || string(raw) != c.want {
			t.Errorf("%s: %s %v, want %s", c.name, raw, err, c.want)
		}
	}
}

// TestErrorRevision: a workspace's error_revision is absent without an
// error, null when the failed revision is unknown, else the revision;
// null and absent both read as nil.
func TestErrorRevision(t *testing.T) {
	unknown, rev := api.OptString(""), api.OptString("abc")
	cases := []struct {
		name string
		in   *api.OptString
		want string
	}{
		{"no error", nil, ``},
		{"unknown", &unknown, `,"error_revision":null`},
		{"known", &rev, `,"error_revision":"abc"`},
	}
	for _, c := range cases {
		raw, err := json.Marshal(api.Workspace{Name: "w", ErrorRevision: c.in})
		want := `{"name":"w","tasks_count":0,"actions_count":0,"triggers_count":0,"revision":null` + c.want +
			`,"source":{"type":""},"commit":null}`
		if err != nil || string(raw) != want {
			t.Errorf("%s: %s %v, want %s", c.name, raw, err, want)
			continue
		}
		var back api.Workspace
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if (back.ErrorRevision == nil) != (c.in == nil || *c.in == "") {
			t.Errorf("%s: read back %v", c.name, back.ErrorRevision)
		}
	}
}

// TestOptStringLikeString: a set OptString is encoded exactly as the same
// string would be, whatever it holds.
func TestOptStringLikeString(t *testing.T) {
	for _, s := range []string{"id-1", "a b", `q"uote`, `back\slash`, "new\nline\ttab", "ünï", "sep\u2028", "<b>&", "\x7f\x01"} {
		for _, html := range []bool{true, false} {
			enc := func(v any) string {
				var b strings.Builder
				e := json.NewEncoder(&b)
				e.SetEscapeHTML(html)
				if err := e.Encode(v); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			if got, want := enc(api.OptString(s)), enc(s); got != want {
				t.Errorf("%q (escape HTML %v): %s, want %s", s, html, got, want)
			}
		}
	}
}
