// Package cron parses cron expressions (gronx syntax: 5 fields, or 6 with
// seconds first, L/W/#, @descriptors) and computes fire times in an IANA time
// zone with the DST rule of SPEC §7.1. gronx parses and decides what matches;
// the search over dates and the DST mapping are this package's, so a search
// costs microseconds and never gronx's "tried so hard" loop.
//
// It must not start goroutines or keep clocks: callers pass "now" in, so the
// scheduler and the API share one implementation.
package cron
