package jobs

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
)

// stepCache memoises step decoding (issue 16): every transition loads all
// steps of its job, and decoding their JSON made a transition cost grow
// with the job's step count. An entry maps a step key to the stored bytes
// it was decoded from and the decoded value; it is used only when the bytes
// read from bbolt in the current transaction are equal to it, so bbolt stays
// the one source of truth (a rolled-back or crashed write cannot leave a
// wrong entry: an entry is a pure function of the bytes). Callers get a copy
// whose maps and slices they own.
type stepCache struct {
	mu sync.Mutex
	m  map[string]*cachedStep
}

// cachedStep is one memoised decode; immutable once stored.
type cachedStep struct {
	raw  []byte
	step Step
}

// maxCachedSteps bounds the cache (about 1 KiB an entry for small steps):
// enough for the steps of the jobs running at once; when full, half the
// entries are dropped.
const maxCachedSteps = 4096

func newStepCache() *stepCache { return &stepCache{m: make(map[string]*cachedStep)} }

// decode returns the step stored as raw under key, decoding only when the
// cache holds other bytes for key. A nil cache always decodes.
func (c *stepCache) decode(key, raw []byte) (*Step, error) {
	if c != nil {
		c.mu.Lock()
		e := c.m[string(key)]
		c.mu.Unlock()
		if e != nil && bytes.Equal(e.raw, raw) {
			return e.step.clone(), nil
		}
	}
	s := new(Step)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	if c != nil {
		e := &cachedStep{raw: bytes.Clone(raw), step: *s.clone()}
		c.mu.Lock()
		if len(c.m) >= maxCachedSteps {
			for k := range c.m {
				delete(c.m, k)
				if len(c.m) <= maxCachedSteps/2 {
					break
				}
			}
		}
		c.m[string(key)] = e
		c.mu.Unlock()
	}
	return s, nil
}

// clone copies a step with its maps and slices, so that the copy can be
// changed in place without touching s.
func (s *Step) clone() *Step {
	c := *s
	c.Input = cloneJSON(s.Input)
	c.Output = cloneJSON(s.Output)
	c.DependsOn = slices.Clone(s.DependsOn)
	c.Tags = slices.Clone(s.Tags)
	c.Attempts = slices.Clone(s.Attempts) // Attempt holds values only
	c.Item = cloneJSON(s.Item)
	if s.Retry != nil {
		r := *s.Retry
		r.OnExitCodes = slices.Clone(s.Retry.OnExitCodes)
		c.Retry = &r
	}
	if s.Approval != nil {
		ap := *s.Approval
		ap.Approvers = slices.Clone(s.Approval.Approvers)
		ap.Fields = slices.Clone(s.Approval.Fields)
		for i := range ap.Fields {
			ap.Fields[i].Default = cloneJSON(ap.Fields[i].Default)
		}
		c.Approval = &ap
	}
	return &c
}

// cloneJSON deep-copies a decoded JSON value (maps and slices; the other
// JSON types are immutable values).
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = cloneJSON(x)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneJSON(x)
		}
		return out
	}
	return v
}
