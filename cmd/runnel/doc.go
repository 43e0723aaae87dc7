// Command runnel is a self-hosted job server: `runnel serve` runs the
// server with built-in workers, `runnel worker` a remote worker, and the
// other subcommands are tools and API clients.
//
// It must hold only wiring, flags and signals: the configuration files are
// cmd/runnel/config, behaviour lives in the library packages, and no
// package imports it.
package main
