// Package web serves runnel's browser UI: an app shell and ES modules
// embedded in the binary, with a strict Content-Security-Policy and ETags.
//
// It must not hold page logic on the server or reach past the public API:
// every page talks to /api like any other client. Third-party browser
// libraries are recorded in vendor.json (npm package, version, sha256) and
// re-fetched by `go run ./httpd/web/vendorfetch`.
package web
