package workspace_test

import (
	"testing"

	"runnel/workspace"
)

func TestSuggest(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"naem", []string{"name", "times"}, "name"},
		{"runing", []string{"pending", "running", "completed"}, "running"},
		{"listne", []string{"listen", "data_dir"}, "listen"},
		{"data_dri", []string{"listen", "data_dir"}, "data_dir"},
		{"Name", []string{"name"}, "name"},
		{"dependson", []string{"depends_on", "input"}, "depends_on"},
		{"bogus", []string{"name", "times"}, ""},
		{"x", []string{"name"}, ""},
		{"a", []string{"b", "c"}, "b"}, // one edit is always close enough; the first wins a tie
		{"name", []string{"name"}, ""}, // an exact match is not a suggestion
		{"anything", nil, ""},
	}
	for _, tt := range tests {
		if got := workspace.Suggest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q, %q) = %q, want %q", tt.name, tt.candidates, got, tt.want)
		}
	}
}
