// Package yamlfile is runnel's one YAML layer below the readers of YAML
// files (the workflow loader in workspace and the server and worker
// configuration in cmd/runnel/config). It owns the limits every YAML file
// is held to (MaxSize bytes, MaxDepth levels of nesting, MaxNodes nodes
// with aliases followed), reading and parsing a file within them (the
// nesting is checked in one cheap pass over the bytes before the parser
// sees them), and the positions of parsed nodes and of errors, so each
// reader turns them into its own problems.
//
// It imports no other package of runnel: the limits are defined here once,
// for every caller.
package yamlfile
