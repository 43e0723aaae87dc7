package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MinSecretLen is the shortest accepted jwt_secret and refresh_secret, in
// bytes.
const MinSecretLen = 32

// AccessTTL is the lifetime of an access token (exp = iat + 900 s).
const AccessTTL = 15 * time.Minute

// RefreshTTL is the lifetime of a refresh token.
const RefreshTTL = 30 * 24 * time.Hour

// ErrInvalidToken is returned for an access token that is malformed,
// tampered with, signed with another key or algorithm, or expired.
var ErrInvalidToken = errors.New("invalid or expired token")

// Claims are an access token's claims: {sub, email, is_admin, iat, exp}.
type Claims struct {
	Email   string `json:"email"`
	IsAdmin bool   `json:"is_admin"`
	jwt.RegisteredClaims
}

// Signer issues and checks HS256 access tokens with one key. Safe for
// concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for secret; it fails when secret is shorter
// than MinSecretLen bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("jwt secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	return &Signer{key: []byte(secret)}, nil
}

// Sign returns an access token for the user issued at now and valid for
// AccessTTL.
func (s *Signer) Sign(userID, email string, isAdmin bool, now time.Time) (string, error) {
	now = now.Truncate(time.Second)
	c := Claims{Email: email, IsAdmin: isAdmin, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(AccessTTL)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return tok, nil
}

// Verify checks an access token at now: HS256 only (so "none" and other
// algorithms fail), a valid signature with this key, exp required and in
// the future, sub present. Every failure is ErrInvalidToken.
func (s *Signer) Verify(token string, now time.Time) (*Claims, error) {
	c := new(Claims)
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil || c.Subject == "" {
		return nil, ErrInvalidToken
	}
	return c, nil
}

// NewRefreshToken returns a fresh refresh token: a random UUIDv4.
func NewRefreshToken() string { return uuid.NewString() }

// HashRefreshToken is the stored form of a refresh token: hex
// HMAC-SHA256 under the refresh secret.
func HashRefreshToken(secret []byte, token string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// APIKeyPrefix starts every API key; a bearer token with it is an API key,
// anything else a JWT.
const APIKeyPrefix = "runnel_"

// APIKeyPrefixLen is the length of the shown key prefix ("runnel_" and 8
// hex digits) that names a key in lists and DELETE.
const APIKeyPrefixLen = 15

var apiKeyRE = regexp.MustCompile(`^runnel_[0-9a-f]{32}$`)

// NewAPIKey returns a fresh API key ("runnel_" + 32 hex digits from 16
// random bytes) and its prefix.
func NewAPIKey() (key, prefix string, err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random key: %w", err)
	}
	key = APIKeyPrefix + hex.EncodeToString(b)
	return key, key[:APIKeyPrefixLen], nil
}

// ValidAPIKey reports whether key has the shape of an API key.
func ValidAPIKey(key string) bool { return apiKeyRE.MatchString(key) }

// HashAPIKey is the stored form of an API key: hex SHA-256 (the key has
// 128 random bits, so no salt or stretching is needed).
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
