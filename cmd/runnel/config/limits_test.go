package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace/yamlfile"
)

// TestConfigYAMLLimits: server-config.yaml and worker-config.yaml have the
// workflow files' size and nesting limits (one set, yamlfile), checked
// before parsing (40,000 nested "[" would run the parser out of memory),
// and so have overrides from the environment that hold YAML.
func TestConfigYAMLLimits(t *testing.T) {
	deep := "lists and mappings are nested more than 64 levels deep"
	size := "the file is larger than 1048576 bytes (1 MiB); split it into several files"
	padding := strings.Repeat("# padding\n", yamlfile.MaxSize/10)
	worker := "server_url: http://127.0.0.1:1\nworker_token: " + cfgSecret + "\n"
	tests := []struct {
		name   string
		worker bool // worker-config.yaml, else server-config.yaml
		yaml   string
		env    []string
		want   []string
	}{
		{"deep flow", false, "local_worker_tags: " + strings.Repeat("[", 40_000) + "\n", nil, []string{"F:1:83: " + deep}},
		{"deep block", false, "workspaces:\n  a:\n" + strings.Repeat("- ", 70) + "x\n", nil, []string{"F:3:127: " + deep}},
		{"too large", false, "listen: 127.0.0.1:1\n" + padding, nil, []string{"F: " + size}},
		{"at the depth limit", false, "local_worker_tags: " + strings.Repeat("[", 63) + "a" + strings.Repeat("]", 63) + "\n", nil,
			[]string{`F:1:21: local_worker_tags[0] must be a string`}},
		{"deep override", false, "", []string{"RUNNEL__LOCAL_WORKER_TAGS=" + strings.Repeat("[", 40_000)},
			[]string{"RUNNEL__LOCAL_WORKER_TAGS: value is not a valid YAML flow list or mapping: line 1 col 65: " + deep}},
		{"plain override over the limit is a string", false, "", []string{"RUNNEL__LISTEN=" + strings.Repeat("- ", 70) + "x"},
			[]string{`RUNNEL__LISTEN: listen "` + strings.Repeat("- ", 70) + `x" must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`}},
		{"worker deep flow", true, worker + "tags: " + strings.Repeat("[", 40_000) + "\n", nil, []string{"F:3:70: " + deep}},
		{"worker too large", true, worker + padding, nil, []string{"F: " + size}},
		{"worker deep override", true, worker, []string{"RUNNEL__TAGS=" + strings.Repeat("{a: ", 100)},
			[]string{"RUNNEL__TAGS: value is not a valid YAML flow list or mapping: line 1 col 257: " + deep}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var path string
			if tt.worker {
				path = cfgWrite(t, t.TempDir(), "worker-config.yaml", tt.yaml)
				_, err = LoadWorker(path, tt.env)
			} else {
				path = cfgWrite(t, t.TempDir(), "server-config.yaml", tt.yaml)
				_, err = LoadServer(path, tt.env)
			}
			if diff := cmp.Diff(tt.want, cfgLines(t, err, path)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
