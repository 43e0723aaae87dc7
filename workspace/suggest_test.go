package workspace_test

import (
	"testing"

	"runnel/workspace"
)

func TestSuggest(t *testing.T) {
	fields := []string{"action", "depends_on", "input", "continue_on_failure", "timeout", "name", "description"}
	for _, tc := range []struct {
		name       string
		candidates []string
		want       string
	}{
		{"timout", fields, "timeout"},
		{"timeotu", fields, "timeout"},
		{"depend_on", fields, "depends_on"},
		{"dependson", fields, "depends_on"},
		{"Input", fields, "input"},
		{"naem", []string{"name", "count"}, "name"},
		{"nmae", []string{"name", "count"}, "name"},
		{"cmd", []string{"cmd", "script"}, ""},    // the name itself is not a suggestion
		{"cdm", []string{"cmd", "script"}, "cmd"}, // one swap
		{"zzz", fields, ""},                       // nothing close
		{"x", []string{"y", "xy"}, ""},            // one letter: a distance of 1 is everything
		{"flwo", []string{"flow", "folder"}, "flow"},
		{"secs", []string{"seconds", "sec"}, "sec"}, // closest wins
		{"ab", []string{"ba", "ac"}, "ac"},          // ties: alphabetical
		{"", fields, ""},
		{"output", []string{"output", "status", "error_message"}, ""},
		{"outptu", []string{"output", "status", "error_message"}, "output"},
		{"erro_message", []string{"output", "status", "error_message"}, "error_message"},
		{"completly_unrelated", fields, ""},
		{"task", []string{"task_name", "status"}, "task_name"}, // a unique prefix
		{"desc", []string{"description", "descent"}, ""},       // prefix of two
		{"de", []string{"description"}, ""},                    // too short for a prefix
	} {
		if got := workspace.Suggest(tc.name, tc.candidates); got != tc.want {
			t.Errorf("Suggest(%q, %v) = %q, want %q", tc.name, tc.candidates, got, tc.want)
		}
	}
}
