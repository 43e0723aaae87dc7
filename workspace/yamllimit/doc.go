// Package yamllimit bounds the YAML runnel parses (workflow files and the
// server and worker config files): at most MaxSize bytes and MaxDepth levels
// of nesting, checked in one cheap pass over the bytes before any parser
// sees them, with the position where a limit was crossed.
//
// It must not parse YAML or import any other package of runnel or a YAML
// library: it is the one place the limits are defined, for every caller.
package yamllimit
