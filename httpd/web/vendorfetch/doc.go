// Command vendorfetch re-fetches the UI's third-party browser files listed
// in httpd/web/vendor.json from the npm registry and checks each against its
// recorded sha256; with -check it only verifies the files on disk.
//
// Run from the module root: go run ./httpd/web/vendorfetch
// The registry is $npm_config_registry when set (as npm itself reads it).
//
// It must never run as part of a build or a test: the fetched files are
// committed, and the server itself fetches nothing.
package main
