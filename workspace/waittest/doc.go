// Package waittest holds the one deadline of the module's tests (Patience)
// and the poll that goes with it (Until, Eventually), for the few waits that
// have no event to synchronise on (a goroutine that has ended or is blocked
// inside a call). It is a leaf test helper under workspace, the lowest tree
// that jobs, httpd and cmd may reach, so every test can use it: workspace's
// as their own tree's helper, gitsync's by an explicit test rule, and the
// rest through jobs/jobstest, whose Patience, Until and Eventually are
// these.
package waittest
