// Package client is runnel's small HTTP client, shared by the command line
// and the remote worker: JSON requests with a bearer token, errors decoded
// from {"error": ...} bodies, and connection failures that name the address
// tried. Its typed methods take and return the wire types of jobs/api.
//
// It must not retry on its own or hold state beyond the token: callers
// decide how to back off.
package client
