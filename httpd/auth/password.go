package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters of new hashes (SPEC §12.2; OWASP's minimum): 19 MiB
// of memory, 2 passes, 1 lane, a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read back from a stored hash, so a corrupted record
// cannot make one verification take gigabytes or minutes.
const (
	maxArgonMemory  = 256 << 10 // KiB
	maxArgonTime    = 16
	maxArgonThreads = 16
)

// dummyHash is a hash of a random, forgotten password with the current
// parameters: verifying against it costs what a real verification costs.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$KoTadBGwNOrUDuXnEfIacA$9QxnOz8FPzBx3t5pSBqiKuRmitS2fItRTu9QhGNJ1Qc"

// ErrMalformedHash is returned for a stored hash that is not an argon2id
// PHC string runnel can read.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// HashPassword returns the argon2id PHC string
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, unpadded base64) of
// password with a fresh random salt. It takes about 19 MiB and tens of
// milliseconds.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC hash, comparing
// keys in constant time with the parameters recorded in the hash. A
// malformed hash never matches (and reports ErrMalformedHash).
func VerifyPassword(hash, password string) (bool, error) {
	p, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, ErrMalformedHash
	}
	var m, t, th uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 {
		return p, ErrMalformedHash
	}
	if m < 8 || m > maxArgonMemory || t < 1 || t > maxArgonTime || th < 1 || th > maxArgonThreads {
		return p, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, ErrMalformedHash
	}
	return phc{memory: m, time: t, threads: uint8(th), salt: salt, key: key}, nil
}

// Hasher runs password hashing and verification with at most a fixed
// number of argon2 computations at once, bounding memory (19 MiB each)
// under a burst of logins from many addresses. Safe for concurrent use.
type Hasher struct {
	sem chan struct{}
}

// NewHasher returns a Hasher allowing concurrency simultaneous
// computations (at least 1).
func NewHasher(concurrency int) *Hasher {
	return &Hasher{sem: make(chan struct{}, max(concurrency, 1))}
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash is HashPassword under the concurrency limit; it fails only when ctx
// ends while waiting for a slot or the salt cannot be read.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password)
}

// Verify is VerifyPassword under the concurrency limit. An empty hash (a
// user without a password) costs the same as a real one and never matches,
// as does a malformed one; the error is only ctx's.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if hash == "" {
		_, _ = VerifyPassword(dummyHash, password)
		return false, nil
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		_, _ = VerifyPassword(dummyHash, password)
		return false, nil
	}
	return ok, nil
}
