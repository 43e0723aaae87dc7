// Package auth owns runnel's credential cryptography: argon2id password
// hashes, HS256 access tokens, refresh-token and API-key hashing, and the
// per-client token-bucket rate limiter used by login and refresh.
//
// It must not store anything or speak HTTP: users, refresh tokens and API
// keys are kept by jobs.Store, and httpd decides what a request may do.
package auth
