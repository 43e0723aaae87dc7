// Package workspace loads and validates workflow YAML (SPEC §3), parsed
// through yamlfile (the one YAML layer and its limits), into immutable
// snapshots, and keeps each configured workspace's current
// snapshot up to date from its source (a folder watched with fsnotify, or a
// fetch function such as a git mirror handed in by cmd).
//
// It must not run jobs or import other runnel packages except its own
// sub-packages: it learns about git only through a FetchFunc.
package workspace
