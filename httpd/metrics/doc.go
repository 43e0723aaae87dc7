// Package metrics owns runnel's Prometheus metrics: every metric's name,
// type, labels and buckets is defined here, in one registry per server, and
// served in the Prometheus text format. It is the only importer of
// prometheus/client_golang.
//
// It must not import other runnel packages or reach into them: events arrive
// through its methods (which the observed packages call through interfaces
// they declare), and gauges are read at scrape time through the cheap
// Sources functions the wiring hands it — never a scan of all jobs.
package metrics
