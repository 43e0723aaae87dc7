package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"runnel/jobs/api"
	"runnel/jobs/jobstest"
)

const tailWorkflow = `
tasks:
  many:
    flow:
      count:
        type: script
        script: "seq 1 50000"
      shout:
        depends_on: [count]
        type: script
        script: "echo last words >&2"
`

// TestCLILogsTail: --tail N prints the last N lines (of the job, or of one
// step) read backwards across several pages, and -f then goes on from there.
func TestCLILogsTail(t *testing.T) {
	s := cliStart(t, map[string]string{".workflows/main.yaml": tailWorkflow}, nil)
	id, err := s.api.Execute(context.Background(), "default", "many", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobstest.Patience())
	defer cancel()
	if j, err := s.api.WaitJob(ctx, id, jobstest.Patience()); err != nil || j.Status != api.JobCompleted {
		t.Fatalf("job: %v %v", j.Status, err)
	}
	env := cliEnv(t, s.url, "NO_COLOR=1")
	texts := func(out string) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			_, text, _ := strings.Cut(l, " | ")
			if i := strings.Index(l, " ! "); i >= 0 {
				text = l[i+3:]
			}
			got = append(got, text)
		}
		return got
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--tail", "3"}, []string{"49999", "50000", "last words"}},
		{[]string{"--tail", "2", "--step", "count"}, []string{"49999", "50000"}},
		// 40,000 lines of about 80 bytes: many 256 KiB pages back.
		{[]string{"--tail", "40000", "--step", "count"}, nil},
	}
	for _, tc := range cases {
		res := cliRun(t, env, "", append([]string{"logs", id}, tc.args...)...)
		if res.code != 0 {
			t.Fatalf("logs %v: %+v", tc.args, res)
		}
		got := texts(res.stdout)
		if tc.want == nil {
			if len(got) != 40000 || got[0] != "10001" || got[len(got)-1] != "50000" {
				t.Errorf("logs %v: %d lines, %q … %q", tc.args, len(got), got[0], got[len(got)-1])
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("logs %v: got %q, want %q", tc.args, got, tc.want)
		}
	}
	// -f after the tail prints the rest (nothing: the job has ended) and
	// exits by the job's state.
	res := cliRun(t, env, "", "logs", id, "--tail", "1", "-f")
	if res.code != 0 || fmt.Sprint(texts(res.stdout)) != "[last words]" {
		t.Errorf("logs --tail 1 -f: %+v", res)
	}
	if res := cliRun(t, env, "", "logs", id, "--tail", "-1"); res.code != 2 {
		t.Errorf("negative tail: %+v", res)
	}
}
