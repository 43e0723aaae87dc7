// Package examples holds the bundled example workspace that `runnel serve`
// writes to <data_dir>/example-workspace/ when no configuration is given.
//
// It must not hold anything a server needs to run: only example workflows
// and their scripts.
package examples
