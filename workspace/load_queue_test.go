package workspace_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

// TestLoadQueues checks queue declarations and uses at load: queues merge
// across files, a task's concurrency is a private queue, and undeclared
// names, bad limits, duplicates and self-waits are errors.
func TestLoadQueues(t *testing.T) {
	const ops = `
queues:
  deploys: { max_concurrent: 1 }
actions:
  ship: { type: shell, cmd: "true", queue: deploys }
`
	for _, tc := range []struct {
		name   string
		files  map[string]string
		errors []string
	}{
		{name: "task and action queues across files", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/ci.yaml": `
tasks:
  deploy:
    queue: deploys
    flow: { a: { type: shell, cmd: "true" } }
  build:
    concurrency: 2
    flow: { a: { action: ship }, b: { type: shell, cmd: "true", queue: deploys } }
`}},
		{name: "undeclared with a suggestion", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/ci.yaml": `
tasks:
  deploy:
    queue: deplys
    flow: { a: { type: shell, cmd: "true", queue: other } }
`}, errors: []string{
			`.workflows/ci.yaml:4:12: task 'deploy' references non-existent queue 'deplys' (did you mean "deploys"?)`,
			`.workflows/ci.yaml:5:51: task 'deploy' step 'a' references non-existent queue 'other'`,
		}},
		{name: "duplicate across files", files: map[string]string{
			".workflows/a.yaml": "queues: { q: { max_concurrent: 1 } }\n",
			".workflows/b.yaml": "queues: { q: { max_concurrent: 2 } }\n",
		}, errors: []string{`.workflows/b.yaml:1:11: queue 'q' is defined in both .workflows/a.yaml and .workflows/b.yaml`}},
		{name: "bad limits and fields", files: map[string]string{
			".workflows/a.yaml": `
queues:
  zero: { max_concurrent: 0 }
  text: { max_concurrent: many }
  none: {}
  typo: { max_concurent: 1 }
  bad name: { max_concurrent: 1 }
tasks:
  t: { concurrency: 0, flow: { a: { type: shell, cmd: "true" } } }
`}, errors: []string{
			`.workflows/a.yaml:3:27: queue 'zero' max_concurrent must be an integer of at least 1 (got '0')`,
			`.workflows/a.yaml:4:27: queue 'text' max_concurrent must be an integer of at least 1 (got 'many')`,
			`.workflows/a.yaml:5:3: queue 'none' has no 'max_concurrent'`,
			`.workflows/a.yaml:6:3: queue 'typo' has no 'max_concurrent'`,
			`.workflows/a.yaml:6:11: unknown field "max_concurent" in queue 'typo' (did you mean "max_concurrent"?)`,
			`.workflows/a.yaml:7:3: invalid queue name 'bad name'`,
			`.workflows/a.yaml:9:21: task 't' concurrency must be an integer of at least 1 (got '0')`,
		}},
		{name: "queue and concurrency", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/a.yaml":   "tasks: { t: { queue: deploys, concurrency: 1, flow: { a: { type: shell, cmd: \"true\" } } } }\n",
		}, errors: []string{`.workflows/a.yaml:1:31: task 't' has both 'queue' and 'concurrency'`}},
		{name: "task in a queue runs a step of it", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/a.yaml":   "tasks: { t: { queue: deploys, flow: { a: { action: ship } } } }\n",
		}, errors: []string{`.workflows/a.yaml:1:22: task 't' holds a slot of queue 'deploys' while it waits for another slot of it (step 'a'): it would deadlock`}},
		{name: "task in a queue calls a task of it", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/a.yaml": `
tasks:
  parent: { queue: deploys, flow: { a: { type: task, task: middle } } }
  middle: { flow: { b: { type: task, task: child } } }
  child: { queue: deploys, flow: { c: { type: shell, cmd: "true" } } }
`}, errors: []string{`.workflows/a.yaml:3:20: task 'parent' holds a slot of queue 'deploys' while it waits for another slot of it (step 'a' runs task 'middle' whose step 'b' runs task 'child'): it would deadlock`}},
		{name: "step in a queue calls a task of it", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/a.yaml": `
tasks:
  parent: { flow: { a: { type: task, task: child, queue: deploys } } }
  child: { flow: { c: { action: ship } } }
`}, errors: []string{`.workflows/a.yaml:3:58: task 'parent' step 'a' holds a slot of queue 'deploys' while its child job waits for another slot of it (task 'child' step 'c'): it would deadlock`}},
		{name: "concurrency task calls a queued step", files: map[string]string{
			".workflows/ops.yaml": ops,
			".workflows/a.yaml":   "tasks: { t: { concurrency: 1, flow: { a: { action: ship } } } }\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := loadAll(t, tc.files)
			if len(problems) != len(tc.errors) {
				t.Fatalf("problems %q, want %q", problems, tc.errors)
			}
			for i, w := range tc.errors {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %q does not contain %q", problems[i], w)
				}
			}
		})
	}
}

// TestLoadQueueModel checks what a snapshot holds for queues.
func TestLoadQueueModel(t *testing.T) {
	dir := t.TempDir()
	writeLoadFiles(t, dir, map[string]string{".workflows/a.yaml": `
queues: { deploys: { max_concurrent: 3 } }
actions:
  ship: { type: shell, cmd: "true", queue: deploys }
tasks:
  deploy: { queue: deploys, flow: { a: { type: shell, cmd: "true" } } }
  build: { concurrency: 2, flow: { a: { action: ship }, b: { type: shell, cmd: "true", queue: deploys } } }
`})
	snap, err := workspace.Load(dir, workspace.LoadOptions{Getenv: loadTestEnv})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*workspace.Queue{
		"deploys":     {Name: "deploys", MaxConcurrent: 3},
		"_task:build": {Name: "_task:build", MaxConcurrent: 2, Private: true},
	}
	if d := cmp.Diff(want, snap.Queues); d != "" {
		t.Errorf("queues (-want +got):\n%s", d)
	}
	got := map[string]string{
		"deploy": snap.Tasks["deploy"].Queue, "build": snap.Tasks["build"].Queue,
		"ship": snap.Actions["ship"].Queue, "inline": snap.Actions["_inline:build:b"].Queue,
	}
	if d := cmp.Diff(map[string]string{"deploy": "deploys", "build": "_task:build", "ship": "deploys", "inline": "deploys"}, got); d != "" {
		t.Errorf("queue names (-want +got):\n%s", d)
	}
}
