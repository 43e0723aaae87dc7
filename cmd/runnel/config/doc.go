// Package config owns the two configuration files of the runnel binary
// (SPEC §2): server-config.yaml for `runnel serve` and worker-config.yaml
// for `runnel worker`. Both load the same way:
//
//  1. the YAML file is parsed into a position-carrying tree,
//  2. RUNNEL__A__B=value variables replace key a.b in that tree,
//  3. the tree is decoded onto the defaults against the struct's `yaml`
//     tags (unknown keys, rejected keys and type errors are collected, and
//     ${VAR} references in string values are expanded),
//  4. defaults that depend on other keys are filled and relative paths
//     are made absolute against the config file's directory,
//  5. Validate checks every value.
//
// All problems of all steps are reported together in one *Error.
package config
