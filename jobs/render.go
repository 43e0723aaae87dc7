package jobs

// Templates are never rendered inside the store's write transaction (SPEC
// §4.4): a render may take up to its time budget, and the writer commits for
// every job. An update that needs a render asks its txn (rendered); the
// first time, the txn only records the request and the update leaves that
// part of the state alone. At the end of the update the writer rolls the
// transaction back and answers with the requests (errNeedRenders); Store.update
// renders them on the caller's goroutine, outside any transaction, and runs
// the update again with the results. The second run uses a result only when
// the context it was rendered from is still equal to the one the new state
// gives (a step that finished in between changes it, a cancelled job no longer
// asks), so every guarantee of one transaction holds: a step starts once, a
// job is created whole, hooks fire exactly once.

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// renderJob is one render an update asked for, and its result once done.
type renderJob struct {
	key string
	// ctx is what the render depends on; a result is reused only for an
	// equal ctx (reflect.DeepEqual over JSON-like values).
	ctx  any
	do   func() renderResult
	val  renderResult
	done bool
}

// renderResult is what a render produced: a value, or the message that
// fails the step (or hook) it was for.
type renderResult struct {
	val any
	msg string
}

// renderCache holds the renders done for one Store.update call, across its
// attempts. Only the caller's goroutine writes it, between attempts.
type renderCache struct {
	m map[string]*renderJob
	// ids keeps the ids of jobs an update creates (children, hook jobs)
	// the same across its attempts, so their renders find their results.
	ids map[string]stableID
	// times keeps the times an update stamps on what a render reads (a
	// job's start and end, in a hook's context) the same across attempts.
	times map[string]time.Time
}

// stableTime returns now the first time key is asked in this update, and
// that same time in every later attempt.
func (t *txn) stableTime(key string, now time.Time) time.Time {
	if t.renders == nil {
		return now
	}
	if v, ok := t.renders.times[key]; ok {
		return v
	}
	t.renders.times[key] = now
	return now
}

type stableID struct {
	id      string
	created time.Time
}

// newJobID returns the id and creation time of a job this update creates,
// named by key ("child/<parent>/<step>"): the same in every attempt.
func (t *txn) newJobID(key string) (string, time.Time) {
	if t.renders == nil {
		return newJobID()
	}
	if v, ok := t.renders.ids[key]; ok {
		return v.id, v.created
	}
	id, created := newJobID()
	t.renders.ids[key] = stableID{id, created}
	return id, created
}

// errNeedRenders answers an update that asked for renders: the transaction
// was rolled back and Store.update renders, then retries.
type errNeedRenders struct {
	jobs []*renderJob
}

func (e *errNeedRenders) Error() string {
	keys := make([]string, len(e.jobs))
	for i, j := range e.jobs {
		keys[i] = strings.ReplaceAll(j.key, "\x00", "/")
	}
	return "update needs renders outside the transaction: " + strings.Join(keys, ", ")
}

// maxRenderRounds bounds the attempts of one update that keeps needing new
// renders (each round is progress: a child job, a hook, a state change).
const maxRenderRounds = 64

// rendered returns the result of do for key when it was rendered outside
// the transaction from a ctx equal to this one. Otherwise it records the
// request and reports false: the caller must leave the state it would have
// changed as it is; the update is rolled back, rendered and run again.
func (t *txn) rendered(key string, ctx any, do func() renderResult) (renderResult, bool) {
	if t.renders != nil {
		if r := t.renders.m[key]; r != nil && r.done && reflect.DeepEqual(r.ctx, ctx) {
			return r.val, true
		}
	}
	t.needs = append(t.needs, &renderJob{key: key, ctx: ctx, do: do})
	return renderResult{}, false
}

func newRenderCache() *renderCache {
	return &renderCache{m: map[string]*renderJob{}, ids: map[string]stableID{}, times: map[string]time.Time{}}
}

// seed renders do for key and ctx before the update's first attempt, when
// the caller can tell what the update will ask (a new job's root steps, a
// claim): the update then commits in one attempt. A wrong guess costs only
// the render: the update compares ctx and asks again.
func (c *renderCache) seed(key string, ctx any, do func() renderResult) {
	c.run([]*renderJob{{key: key, ctx: ctx, do: do}})
}

// run renders the jobs (outside any transaction) into the cache.
func (c *renderCache) run(jobs []*renderJob) {
	for _, j := range jobs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					j.val = renderResult{msg: fmt.Sprintf("template engine failure: %v", r)}
				}
			}()
			j.val = j.do()
		}()
		j.done = true
		c.m[j.key] = j
	}
}

func renderKey(parts ...string) string { return strings.Join(parts, "\x00") }
