package jobs

// RevisionsInUse returns the revisions of a workspace that open jobs
// (not yet finalized) are pinned to; the workspace manager never prunes
// them.
func (e *Engine) RevisionsInUse(ws string) []string {
	seen := map[string]bool{}
	var out []string
	_ = e.store.view(func(t *txn) error {
		for _, id := range t.openJobIDs() {
			j, err := t.getJob(id)
			if err != nil || j.Workspace != ws || seen[j.Revision] {
				continue
			}
			seen[j.Revision] = true
			out = append(out, j.Revision)
		}
		return nil
	})
	return out
}
