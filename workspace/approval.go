package workspace

// This file reads `type: approval` actions: a step that waits until a person
// approves or rejects it (README "Approvals").

import (
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/tmpl"
)

// What an approval does when its timeout passes without a decision.
const (
	OnTimeoutFail    = "fail"
	OnTimeoutApprove = "approve"
	OnTimeoutReject  = "reject"
)

// GroupAdmins is the approvers group of every admin user.
const GroupAdmins = "admins"

// Approval is the wait of a `type: approval` action.
type Approval struct {
	// Message is rendered with the step input when the step starts
	// waiting.
	Message *tmpl.Template
	// Fields is the schema of what the approver fills in; the values
	// become the step output.
	Fields []Field
	// Approvers are user emails and groups (GroupAdmins) who may decide
	// when auth is on; empty = any signed-in user.
	Approvers []string
	// Timeout ends the wait (0 = none); a step's own timeout replaces it.
	Timeout time.Duration
	// OnTimeout is OnTimeoutFail (default), OnTimeoutApprove or
	// OnTimeoutReject.
	OnTimeout string
}

// approval reads the keys of a `type: approval` action into def.a.Approval.
func (l *loader) approval(d *yamlDoc, def *actionDef, byKey map[string]entry) {
	owner := def.owner
	ap := &Approval{OnTimeout: OnTimeoutFail}
	def.a.Approval = ap
	e, ok := byKey["message"]
	if !ok {
		l.errorAt(def.keyAt, "%s is type 'approval' but has no 'message'", owner)
	} else if src, ok := l.text(d, e.val, owner+": 'message'"); ok {
		l.parseLater(src, func(t *tmpl.Template, err error) {
			if err != nil {
				d.errorf(e.val, "%s message: template error: %v", owner, err)
				return
			}
			ap.Message = t
			def.sites = append(def.sites, tmplSite{d: d, node: e.val, t: t, label: "message"})
		})
	}
	if e, ok := byKey["fields"]; ok {
		if _, isMap := d.mappingEntries(e.val); !isMap {
			d.errorf(e.val, "%s: 'fields' must be a mapping of field definitions", owner)
		} else {
			ap.Fields, _ = l.fields(d, e.val, owner+" (fields)")
		}
	}
	if e, ok := byKey["approvers"]; ok {
		ap.Approvers = l.approvers(d, e.val, owner)
	}
	if e, ok := byKey["timeout"]; ok {
		ap.Timeout = l.duration(d, e.val, owner)
	}
	if e, ok := byKey["on_timeout"]; ok {
		v, _ := d.scalarText(e.val)
		switch v {
		case OnTimeoutFail, OnTimeoutApprove, OnTimeoutReject:
			ap.OnTimeout = v
		default:
			d.errorf(e.val, "%s has invalid on_timeout '%s' (expected fail, approve or reject)", owner, v)
		}
		if v == OnTimeoutApprove {
			for _, f := range ap.Fields {
				if f.Required && !f.HasDefault {
					d.errorf(e.val, "%s: 'on_timeout: approve' needs a default for required field '%s'", owner, f.Name)
				}
			}
		}
	}
}

// approvers reads an approvers list: emails, or the group GroupAdmins.
func (l *loader) approvers(d *yamlDoc, n ast.Node, owner string) []string {
	items, isSeq := d.sequence(n)
	if !isSeq {
		d.errorf(n, "%s: 'approvers' must be a list of user emails or groups", owner)
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := d.scalarText(it)
		switch {
		case !ok || s == "":
			d.errorf(it, "%s: 'approvers' must hold user emails or groups", owner)
		case strings.Contains(s, "@") || s == GroupAdmins:
			out = append(out, s)
		default:
			d.errorf(it, "%s: approver '%s' is neither an email nor a group (groups: %s)", owner, s, GroupAdmins)
		}
	}
	return out
}
