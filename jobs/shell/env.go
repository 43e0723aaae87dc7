package shell

import (
	"maps"
	"slices"
	"strings"
)

// Environ builds a step environment (SPEC §5.5): base minus every variable
// whose name starts with "RUNNEL_", then env (rendered action env), then
// vars (RUNNEL_JOB_ID …, STROEM_… aliases); later entries override earlier
// ones with the same name. TMPDIR is added by Run.
//
// The result has no duplicate names and a deterministic order: surviving
// base names in their order (an overridden name keeps its place), then new
// names from env sorted, then new names from vars sorted. Base entries
// without "=" are dropped.
func Environ(base []string, env map[string]string, vars map[string]string) []string {
	out := make([]string, 0, len(base)+len(env)+len(vars))
	index := make(map[string]int, cap(out)) // name → position in out
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i] = name + "=" + value
			return
		}
		index[name] = len(out)
		out = append(out, name+"="+value)
	}
	for _, kv := range base {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || strings.HasPrefix(name, "RUNNEL_") {
			continue
		}
		set(name, value)
	}
	for _, m := range []map[string]string{env, vars} {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			set(name, m[name])
		}
	}
	return out
}
