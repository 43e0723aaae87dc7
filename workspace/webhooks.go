package workspace

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"runnel/workspace/yamlfile"
)

// webhookEntry is one row of the manager's webhook table.
type webhookEntry struct {
	snap *Snapshot
	trig *Trigger
}

// webhookTriggers returns the webhook triggers of s sorted by trigger name.
func webhookTriggers(s *Snapshot) []*Trigger {
	var out []*Trigger
	if s == nil {
		return nil
	}
	for _, t := range s.Triggers {
		if t.Type == TriggerWebhook && t.WebhookName != "" {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// rebuildWebhooksLocked publishes a new webhook table built from every
// serving snapshot (under swapMu).
func (m *Manager) rebuildWebhooksLocked() {
	table := map[string]webhookEntry{}
	for _, w := range m.states {
		s := w.view.Load().snap
		for _, t := range webhookTriggers(s) {
			if _, taken := table[t.WebhookName]; !taken {
				table[t.WebhookName] = webhookEntry{snap: s, trig: t}
			}
		}
	}
	m.webhooks.Store(&table)
}

// webhookConflict is the problem of trigger t (of the revision tree dir)
// whose webhook name is served by workspace holder, placed at the
// trigger's `name:` value when the YAML can be found.
func webhookConflict(dir string, t *Trigger, holder string) Problem {
	p := TriggerPosition(dir, t.Name)
	p.Message = fmt.Sprintf("webhook name '%s' is already used by workspace '%s'", t.WebhookName, holder)
	return p
}

// TriggerPosition finds trigger name in the YAML files under
// dir/.workflows and returns the position of its webhook `name:` value (or
// of its key when it has none); the Message is empty. A zero Problem means
// it was not found (unreadable or unparsable files are skipped).
func TriggerPosition(dir, name string) Problem {
	root := filepath.Join(dir, ".workflows")
	var found Problem
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if d.IsDir() || (ext != ".yaml" && ext != ".yml") {
			return nil
		}
		data, err := yamlfile.ReadFile(p)
		if err != nil {
			return nil
		}
		f, err := yamlfile.Parse(data)
		if err != nil {
			return nil
		}
		for _, doc := range f.Docs {
			triggers := yamlPair(doc.Body, "triggers")
			if triggers == nil {
				continue
			}
			trig := yamlPair(triggers.Value, name)
			if trig == nil {
				continue
			}
			at := trig.Key.GetToken()
			if v := yamlPair(trig.Value, "name"); v != nil && v.Value != nil && v.Value.GetToken() != nil {
				at = v.Value.GetToken()
			}
			rel, _ := filepath.Rel(dir, p)
			found = Problem{File: filepath.ToSlash(rel), Line: at.Position.Line, Col: at.Position.Column}
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// yamlPair returns the pair with that key of a YAML mapping node, or
// nil.
func yamlPair(n ast.Node, key string) *ast.MappingValueNode {
	for {
		if t, ok := n.(*ast.TagNode); ok && t != nil {
			n = t.Value
		} else if a, ok := n.(*ast.AnchorNode); ok && a != nil {
			n = a.Value
		} else {
			break
		}
	}
	var pairs []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		if v != nil {
			pairs = v.Values
		}
	case *ast.MappingValueNode:
		if v != nil {
			pairs = []*ast.MappingValueNode{v}
		}
	}
	for _, pv := range pairs {
		if pv.Key != nil && pv.Key.GetToken() != nil && pv.Key.GetToken().Value == key {
			return pv
		}
	}
	return nil
}
