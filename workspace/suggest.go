package workspace

import (
	"slices"
	"strings"
)

// Suggest returns the candidate closest to name for a "did you mean"
// hint, or "" when none is close enough. Close means an edit distance
// (insertions, deletions, substitutions and swaps of neighbours, case
// ignored) of at most 1 for names up to 4 characters, 2 up to 8, else 3,
// and less than the name's length; failing that, the only candidate that
// starts with a name of three or more characters. Ties go to the
// alphabetically first candidate; name itself is never suggested.
func Suggest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	lower := strings.ToLower(name)
	limit := 3
	switch n := len([]rune(name)); {
	case n <= 4:
		limit = 1
	case n <= 8:
		limit = 2
	}
	best, bestDist := "", limit+1
	sorted := slices.Clone(candidates)
	slices.Sort(sorted)
	for _, c := range sorted {
		if c == name || c == "" {
			continue
		}
		d := editDistance(lower, strings.ToLower(c))
		if d < bestDist && d < len([]rune(name)) {
			best, bestDist = c, d
		}
	}
	if best == "" && len(lower) >= 3 {
		// A unique candidate the name begins: "task" → "task_name".
		for _, c := range sorted {
			if c != name && strings.HasPrefix(strings.ToLower(c), lower) {
				if best != "" {
					return ""
				}
				best = c
			}
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// Levenshtein plus transpositions of adjacent runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// didYouMean returns ` (did you mean "x"?)` for the candidate Suggest picks
// for name, or "" when none is close.
func didYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" {
		return ` (did you mean "` + s + `"?)`
	}
	return ""
}

// supportedKeys lists the keys of a key table whose value is not later
// (the [later] ones would only lead to "not supported yet").
func supportedKeys[V comparable](table map[string]V, later V) []string {
	out := make([]string, 0, len(table))
	for k, v := range table {
		if v != later {
			out = append(out, k)
		}
	}
	return out
}
