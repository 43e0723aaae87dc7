package workspace

// This file reads triggers (SPEC §3.5, §7).

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/cron"
)

// Scheduler concurrency policies.
const (
	ConcurrencyAllow          = "allow"
	ConcurrencySkip           = "skip"
	ConcurrencyCancelPrevious = "cancel_previous"
)

// Webhook modes.
const (
	WebhookAsync = "async"
	WebhookSync  = "sync"
)

// DefaultWebhookTimeoutSecs is a sync webhook's wait when timeout_secs is
// not set.
const DefaultWebhookTimeoutSecs = 30

// triggerDef is a trigger with positions.
type triggerDef struct {
	tr     *Trigger
	keyAt  at
	taskAt at
	// inputAt is the position of the input (the trigger key if absent).
	inputAt at
	nameAt  at
	// inputOK: the input is a mapping whose values are all valid.
	inputOK bool
}

// triggerKeyTypes lists, per trigger key, the types that accept it.
var triggerKeyTypes = map[string]string{
	"type": "scheduler webhook", "task": "scheduler webhook", "input": "scheduler webhook",
	"enabled": "scheduler webhook",
	"cron":    "scheduler", "timezone": "scheduler", "concurrency": "scheduler",
	"name": "webhook", "secret": "webhook", "mode": "webhook", "timeout_secs": "webhook",
}

// trigger reads one entry of `triggers:`.
func (l *loader) trigger(d *yamlDoc, e entry) {
	l.checkName("trigger", e)
	owner := fmt.Sprintf("trigger '%s'", e.key)
	tr := &Trigger{Name: e.key, Enabled: true, Input: map[string]any{}}
	td := &triggerDef{tr: tr, keyAt: e.keyAt, inputAt: e.keyAt, inputOK: true}
	es, isMap := d.mappingEntries(e.val)
	if !isMap {
		d.errorf(e.val, "%s must be a mapping", owner)
		return
	}
	byKey := make(map[string]entry, len(es))
	for _, x := range es {
		if _, known := triggerKeyTypes[x.key]; !known {
			l.errorAt(x.keyAt, "unknown field %q in %s%s", x.key, owner, didYouMean(x.key, supportedKeys(triggerKeyTypes, "later")))
			continue
		}
		byKey[x.key] = x
	}
	if te, ok := byKey["type"]; !ok {
		l.errorAt(e.keyAt, "%s has no 'type' (expected scheduler or webhook)", owner)
	} else {
		t, _ := d.scalarText(te.val)
		if t != TriggerScheduler && t != TriggerWebhook {
			d.errorf(te.val, "%s has invalid type '%s' (expected scheduler or webhook)", owner, t)
		} else {
			tr.Type = t
		}
	}
	if tr.Type != "" {
		for _, x := range es {
			if types, known := triggerKeyTypes[x.key]; known && !strings.Contains(types, tr.Type) {
				l.errorAt(x.keyAt, "%s is type '%s' but has '%s' field", owner, tr.Type, x.key)
				delete(byKey, x.key)
			}
		}
	}
	if x, ok := byKey["task"]; ok {
		tr.Task, _ = l.text(d, x.val, owner+": 'task'")
		td.taskAt = d.at(x.val)
	} else {
		l.errorAt(e.keyAt, "%s has no 'task'", owner)
	}
	if x, ok := byKey["input"]; ok {
		td.inputAt = d.at(x.val)
		if _, isMap := d.mappingEntries(x.val); !isMap {
			d.errorf(x.val, "%s: 'input' must be a mapping", owner)
			td.inputOK = false
		} else {
			before := len(l.problems)
			if m, isObj := d.value(x.val).(map[string]any); isObj {
				tr.Input = m
			}
			td.inputOK = len(l.problems) == before
		}
	}
	if x, ok := byKey["enabled"]; ok {
		l.boolField(d, x, owner, &tr.Enabled)
	}
	switch tr.Type {
	case TriggerScheduler:
		l.scheduler(d, td, e, byKey, owner)
	case TriggerWebhook:
		l.webhook(d, td, e, byKey, owner)
	}
	if prev, dup := l.triggers[e.key]; dup {
		l.definedTwice("trigger", e.key, prev.keyAt.file, e)
		return
	}
	l.triggers[e.key] = td
	l.triggerList = append(l.triggerList, td)
	l.snap.Triggers[e.key] = tr
}

// scheduler reads the scheduler fields and parses the cron expression.
func (l *loader) scheduler(d *yamlDoc, td *triggerDef, e entry, byKey map[string]entry, owner string) {
	tr := td.tr
	tr.Concurrency = ConcurrencyAllow
	if x, ok := byKey["concurrency"]; ok {
		c, _ := d.scalarText(x.val)
		switch c {
		case ConcurrencyAllow, ConcurrencySkip, ConcurrencyCancelPrevious:
			tr.Concurrency = c
		default:
			d.errorf(x.val, "%s has invalid concurrency '%s'", owner, c)
		}
	}
	loc := time.UTC
	if x, ok := byKey["timezone"]; ok {
		tz, _ := d.scalarText(x.val)
		if l2 := l.location(tz); l2 == nil {
			d.errorf(x.val, "%s has unknown timezone '%s'", owner, tz)
		} else {
			tr.Timezone, loc = tz, l2
		}
	}
	x, ok := byKey["cron"]
	if !ok {
		l.errorAt(e.keyAt, "%s is type 'scheduler' but has no 'cron'", owner)
		return
	}
	expr, _ := d.scalarText(x.val)
	tr.Cron = expr
	s, err := l.schedule(expr, loc)
	switch {
	case errors.Is(err, cron.ErrNeverFires):
		d.errorf(x.val, "%s: cron '%s' never fires", owner, expr)
	case err != nil:
		d.errorf(x.val, "%s has invalid cron expression '%s': %v", owner, expr, err)
	default:
		tr.Schedule = s
	}
}

// webhook reads the webhook fields.
func (l *loader) webhook(d *yamlDoc, td *triggerDef, e entry, byKey map[string]entry, owner string) {
	tr := td.tr
	tr.Mode, tr.TimeoutSecs = WebhookAsync, DefaultWebhookTimeoutSecs
	if x, ok := byKey["name"]; ok {
		name, _ := d.scalarText(x.val)
		td.nameAt = d.at(x.val)
		if !validName(name) {
			d.errorf(x.val, "%s has invalid webhook name '%s'", owner, name)
		} else {
			tr.WebhookName = name
		}
	} else {
		l.errorAt(e.keyAt, "%s is type 'webhook' but has no 'name'", owner)
	}
	if x, ok := byKey["secret"]; ok {
		s, isText := l.text(d, x.val, owner+": 'secret'")
		if isText && s == "" {
			d.errorf(x.val, "%s has an empty secret", owner)
		}
		tr.Secret = s
	}
	if x, ok := byKey["mode"]; ok {
		m, _ := d.scalarText(x.val)
		if m != WebhookAsync && m != WebhookSync {
			d.errorf(x.val, "%s has invalid mode '%s' (expected async or sync)", owner, m)
		} else {
			tr.Mode = m
		}
	}
	if x, ok := byKey["timeout_secs"]; ok {
		n := -1
		if _, isInt := d.resolve(x.val).(*ast.IntegerNode); isInt {
			s, _ := d.scalarText(x.val)
			if v, err := strconv.ParseInt(s, 0, 64); err == nil && v >= 1 && v <= 300 {
				n = int(v)
			}
		}
		if n < 0 {
			d.errorf(x.val, "%s timeout_secs must be 1-300", owner)
		} else {
			tr.TimeoutSecs = n
		}
	}
}

// location resolves a time zone once per load; nil when unknown.
func (l *loader) location(tz string) *time.Location {
	if loc, ok := l.zones[tz]; ok {
		return loc
	}
	loc, err := cron.LoadLocation(tz)
	if err != nil {
		loc = nil
	}
	l.zones[tz] = loc
	return loc
}

type scheduleKey struct {
	expr string
	loc  *time.Location
}

type scheduleResult struct {
	s   *cron.Schedule
	err error
}

// schedule parses a cron expression once per load and zone (schedules are
// immutable, so triggers may share one).
func (l *loader) schedule(expr string, loc *time.Location) (*cron.Schedule, error) {
	k := scheduleKey{expr, loc}
	if r, ok := l.schedules[k]; ok {
		return r.s, r.err
	}
	s, err := cron.Parse(expr, loc)
	l.schedules[k] = scheduleResult{s, err}
	return s, err
}
