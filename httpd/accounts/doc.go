// Package accounts owns user accounts, the records of their passwords
// (argon2id hashes made by httpd/auth), refresh tokens and API keys. They
// live in their own buckets of the server's bbolt file, reached through a
// narrow transaction helper (DB) that the job store hands out; only hashes
// of secrets are stored.
package accounts
