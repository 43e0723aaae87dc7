package jobs

import (
	"sort"
	"strings"

	"runnel/workspace"
)

// Mask replaces every secret occurrence in API output and log lines.
const Mask = "••••••"

// minSecret is the shortest value masked (shorter ones would mask noise).
const minSecret = 4

// maskValues returns a job's masked values (SPEC §5.10): the revision's
// secret strings, its secret input values and a webhook trigger's secret.
func maskValues(j *Job, snap *workspace.Snapshot) []string {
	var vals []string
	add := func(s string) {
		if len(s) >= minSecret {
			vals = append(vals, s)
		}
	}
	for _, s := range snap.SecretValues() {
		add(s)
	}
	if task := snap.Tasks[j.Task]; task != nil {
		for _, f := range task.Input {
			if s, ok := j.Input[f.Name].(string); ok && f.Secret {
				add(s)
			}
		}
	}
	if j.SourceType == SourceWebhook {
		if tr := snap.Triggers[triggerName(j.SourceID)]; tr != nil {
			add(tr.Secret)
		}
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(vals, func(a, b int) bool { return len(vals[a]) > len(vals[b]) })
	return vals
}

// redactor masks values inside JSON-like trees and strings.
type redactor struct {
	r *strings.Replacer
}

func newRedactor(vals []string) *redactor {
	if len(vals) == 0 {
		return &redactor{}
	}
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, Mask)
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (r *redactor) str(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// value returns a copy of v with every string masked.
func (r *redactor) value(v any) any {
	if r.r == nil {
		return v
	}
	switch v := v.(type) {
	case string:
		return r.r.Replace(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = r.value(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = r.value(x)
		}
		return out
	}
	return v
}

// redactJob masks a job for the API: secret input fields are replaced whole,
// other occurrences of secret values in inputs, outputs and errors are
// masked.
func redactJob(j *Job, snap *workspace.Snapshot) {
	r := newRedactor(maskValues(j, snap))
	in, _ := r.value(j.Input).(map[string]any)
	if task := snap.Tasks[j.Task]; task != nil && in != nil {
		for _, f := range task.Input {
			if v, ok := in[f.Name]; ok && f.Secret && v != nil {
				in[f.Name] = Mask
			}
		}
	}
	if in != nil {
		j.Input = in
	}
	if r.r == nil {
		return
	}
	j.Output = r.value(j.Output)
	for _, s := range j.Steps {
		s.Input = r.value(s.Input)
		s.Output = r.value(s.Output)
		s.ErrorMessage = r.str(s.ErrorMessage)
		if s.Approval != nil {
			ap := *s.Approval
			ap.Message, ap.Comment = r.str(ap.Message), r.str(ap.Comment)
			s.Approval = &ap
		}
		for i := range s.Attempts {
			s.Attempts[i].ErrorMessage = r.str(s.Attempts[i].ErrorMessage)
		}
	}
}

// scrub masks secrets in a finalized job's stored record, so no secret
// value outlives the job in the database. Jobs without secrets cost nothing.
func (e *Engine) scrub(st *jobState, snap *workspace.Snapshot) {
	j := st.job
	e.masks.forget(j.ID)
	if j.Scrubbed {
		return
	}
	j.Scrubbed = true
	st.touch()
	if len(maskValues(j, snap)) == 0 && !hasSecretInput(j, snap) {
		return
	}
	j.Steps = st.steps
	redactJob(j, snap)
	j.Steps = nil
	for _, s := range st.steps {
		st.touchStep(s)
	}
}

func hasSecretInput(j *Job, snap *workspace.Snapshot) bool {
	if task := snap.Tasks[j.Task]; task != nil {
		for _, f := range task.Input {
			if f.Secret {
				return true
			}
		}
	}
	return false
}
