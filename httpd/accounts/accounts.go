package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned for an unknown user, refresh token or API key.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating a user whose email is taken, or an
// API key whose prefix the same user already has.
var ErrExists = errors.New("already exists")

// ErrExpired is returned for a refresh token past its expiry.
var ErrExpired = errors.New("expired")

// MethodPassword is the auth method of a user who has a password; other
// methods are login provider ids (OIDC, later).
const MethodPassword = "password"

// APIKeyTouchInterval is how stale last_used_at may get: a key used again
// within it is not rewritten.
const APIKeyTouchInterval = time.Minute

// User is an account (SPEC §12). Only hashes of secrets are stored: the
// PasswordHash is an argon2id PHC string made by httpd/auth.
type User struct {
	ID    string `json:"user_id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// PasswordHash is "" for a user without a password.
	PasswordHash string `json:"password_hash,omitempty"`
	// AuthMethods lists how the user can sign in: MethodPassword and/or
	// provider ids; CreateUser and SetPassword keep "password" in it.
	AuthMethods []string  `json:"auth_methods"`
	IsAdmin     bool      `json:"is_admin"`
	CreatedAt   time.Time `json:"created_at"`
	// LastLoginAt is zero until the first login.
	LastLoginAt time.Time `json:"last_login_at"`
}

// RefreshToken is a stored refresh token; Hash is the HMAC of the token
// (the token itself is never stored).
type RefreshToken struct {
	Hash      string    `json:"-"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// APIKey is a stored API key; Hash is the SHA-256 of the key (the key
// itself is never stored). Prefix is unique per user.
type APIKey struct {
	Hash      string    `json:"-"`
	UserID    string    `json:"user_id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a key that never expires.
	ExpiresAt time.Time `json:"expires_at"`
	// LastUsedAt is zero until first use; updated at most once per
	// APIKeyTouchInterval.
	LastUsedAt time.Time `json:"last_used_at"`
}

// Key layout. users: user id (16 bytes) → User JSON. user_email: lowercased
// email → user id string. refresh_tokens and api_keys hold two key spaces:
// "t\x00<hash>" / "k\x00<hash>" → record JSON, and "u\x00<user id>\x00<hash>"
// → nil, the per-user index.
var (
	bucketUsers     = []byte("users")
	bucketUserEmail = []byte("user_email")
	bucketAPIKeys   = []byte("api_keys")
	bucketRefresh   = []byte("refresh_tokens")

	refreshTokenPrefix = []byte("t\x00")
	apiKeyPrefix       = []byte("k\x00")
	userIndexPrefix    = []byte("u\x00")
)

// DB is the transaction helper of the database file the accounts live
// in (*jobs.Store implements it): Update runs fn in a write transaction and
// returns once it committed (fn may run more than once, so it acts only
// through tx); View runs fn in a read-only one.
type DB interface {
	Update(fn func(tx *bolt.Tx) error) error
	View(fn func(tx *bolt.Tx) error) error
}

// Store keeps users, refresh tokens and API keys in their buckets of a DB.
type Store struct {
	db DB
}

// Open returns the accounts of db, creating their buckets if needed.
func Open(db DB) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketUserEmail, bucketAPIKeys, bucketRefresh} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open accounts: %w", err)
	}
	return &Store{db: db}, nil
}

// txn is one transaction over the accounts' buckets.
type txn struct{ *bolt.Tx }

func (s *Store) update(fn func(t *txn) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&txn{tx}) })
}

func (s *Store) view(fn func(t *txn) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&txn{tx}) })
}

// normEmail is the email index key: trimmed and lowercased.
func normEmail(email string) []byte { return []byte(strings.ToLower(strings.TrimSpace(email))) }

func userIndexKey(userID, hash string) []byte {
	return []byte(string(userIndexPrefix) + userID + "\x00" + hash)
}

func userIndexScan(userID string) []byte { return userIndexKey(userID, "") }

// CreateUser stores a new user: it fills ID (a UUIDv4) and CreatedAt when
// unset, and adds MethodPassword when PasswordHash is set. ErrExists when
// the email (case-insensitively) is taken.
func (s *Store) CreateUser(u *User) error {
	prepareUser(u)
	err := s.update(func(t *txn) error { return t.createUser(u) })
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return err
}

// EnsureUser creates u unless a user with its email exists; it reports
// whether it created one. The existing user is left untouched.
func (s *Store) EnsureUser(u *User) (created bool, err error) {
	prepareUser(u)
	err = s.update(func(t *txn) error {
		created = false
		if t.Bucket(bucketUserEmail).Get(normEmail(u.Email)) != nil {
			return nil
		}
		created = true
		return t.createUser(u)
	})
	if err != nil {
		return false, fmt.Errorf("ensure user %s: %w", u.Email, err)
	}
	return created, nil
}

func prepareUser(u *User) {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	u.Email = strings.TrimSpace(u.Email)
	if u.PasswordHash != "" && !slices.Contains(u.AuthMethods, MethodPassword) {
		u.AuthMethods = append([]string{MethodPassword}, u.AuthMethods...)
	}
	if u.AuthMethods == nil {
		u.AuthMethods = []string{}
	}
}

func (t *txn) createUser(u *User) error {
	if u.Email == "" {
		return errors.New("email is empty")
	}
	idx := t.Bucket(bucketUserEmail)
	em := normEmail(u.Email)
	if idx.Get(em) != nil {
		return ErrExists
	}
	if _, err := t.getUser(u.ID); err == nil {
		return fmt.Errorf("user id %s: %w", u.ID, ErrExists)
	}
	if err := idx.Put(em, []byte(u.ID)); err != nil {
		return err
	}
	return t.putUser(u)
}

func (t *txn) getUser(id string) (*User, error) {
	k, err := uuid.Parse(id)
	if err != nil {
		return nil, ErrNotFound
	}
	raw := t.Bucket(bucketUsers).Get(k[:])
	if raw == nil {
		return nil, ErrNotFound
	}
	u := new(User)
	if err := json.Unmarshal(raw, u); err != nil {
		return nil, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, nil
}

func (t *txn) putUser(u *User) error {
	k, err := uuid.Parse(u.ID)
	if err != nil {
		return fmt.Errorf("user id %q: %w", u.ID, err)
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return t.Bucket(bucketUsers).Put(k[:], raw)
}

func (t *txn) userByEmail(email string) (*User, error) {
	id := t.Bucket(bucketUserEmail).Get(normEmail(email))
	if id == nil {
		return nil, ErrNotFound
	}
	return t.getUser(string(id))
}

// User returns the user with id; ErrNotFound if there is none.
func (s *Store) User(id string) (*User, error) {
	var u *User
	err := s.view(func(t *txn) (err error) {
		u, err = t.getUser(id)
		return err
	})
	return u, err
}

// UserByEmail returns the user with email (case-insensitive); ErrNotFound
// if there is none.
func (s *Store) UserByEmail(email string) (*User, error) {
	var u *User
	err := s.view(func(t *txn) (err error) {
		u, err = t.userByEmail(email)
		return err
	})
	return u, err
}

// Users returns a page of users, newest first (created_at, then id, desc),
// and the total number of users. A negative limit means no limit.
func (s *Store) Users(limit, offset int) ([]*User, int, error) {
	var all []*User
	err := s.view(func(t *txn) error {
		return t.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			u := new(User)
			if err := json.Unmarshal(v, u); err != nil {
				return fmt.Errorf("decode user: %w", err)
			}
			all = append(all, u)
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID > all[j].ID
	})
	total := len(all)
	if offset >= total {
		return []*User{}, total, nil
	}
	all = all[offset:]
	if limit >= 0 && limit < len(all) {
		all = all[:limit]
	}
	return all, total, nil
}

// SetPassword replaces the user's password hash, adds MethodPassword to its
// methods and revokes its refresh tokens (API keys stay valid), in one
// transaction. ErrNotFound for an unknown user.
func (s *Store) SetPassword(id, hash string) error {
	return s.update(func(t *txn) error {
		u, err := t.getUser(id)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if !slices.Contains(u.AuthMethods, MethodPassword) {
			u.AuthMethods = append([]string{MethodPassword}, u.AuthMethods...)
		}
		if err := t.deleteUserIndexed(bucketRefresh, refreshTokenPrefix, id); err != nil {
			return err
		}
		return t.putUser(u)
	})
}

// SetAdmin sets the user's admin flag. ErrNotFound for an unknown user.
func (s *Store) SetAdmin(id string, admin bool) error {
	return s.update(func(t *txn) error {
		u, err := t.getUser(id)
		if err != nil {
			return err
		}
		u.IsAdmin = admin
		return t.putUser(u)
	})
}

// DeleteUser removes the user, its email index entry, its refresh tokens
// and its API keys in one transaction. ErrNotFound for an unknown user.
func (s *Store) DeleteUser(id string) error {
	return s.update(func(t *txn) error {
		u, err := t.getUser(id)
		if err != nil {
			return err
		}
		if err := t.deleteUserIndexed(bucketRefresh, refreshTokenPrefix, id); err != nil {
			return err
		}
		if err := t.deleteUserIndexed(bucketAPIKeys, apiKeyPrefix, id); err != nil {
			return err
		}
		if err := t.Bucket(bucketUserEmail).Delete(normEmail(u.Email)); err != nil {
			return err
		}
		k, _ := uuid.Parse(id)
		return t.Bucket(bucketUsers).Delete(k[:])
	})
}

// userHashes lists the hashes indexed under the user in bucket b.
func (t *txn) userHashes(b []byte, userID string) []string {
	scan := userIndexScan(userID)
	var out []string
	c := t.Bucket(b).Cursor()
	for k, _ := c.Seek(scan); k != nil && bytes.HasPrefix(k, scan); k, _ = c.Next() {
		out = append(out, string(k[len(scan):]))
	}
	return out
}

// deleteUserIndexed deletes every record of the user in bucket b (records
// under recPrefix) with their index entries.
func (t *txn) deleteUserIndexed(b, recPrefix []byte, userID string) error {
	bk := t.Bucket(b)
	for _, h := range t.userHashes(b, userID) {
		if err := bk.Delete(append(slices.Clip(recPrefix), h...)); err != nil {
			return err
		}
		if err := bk.Delete(userIndexKey(userID, h)); err != nil {
			return err
		}
	}
	return nil
}

// RecordLogin sets the user's last_login_at to rt.CreatedAt and stores the
// refresh token rt issued by the login, dropping the user's expired tokens,
// in one transaction. ErrNotFound for an unknown user.
func (s *Store) RecordLogin(rt RefreshToken) error {
	return s.update(func(t *txn) error {
		u, err := t.getUser(rt.UserID)
		if err != nil {
			return err
		}
		u.LastLoginAt = rt.CreatedAt
		if err := t.putUser(u); err != nil {
			return err
		}
		return t.putRefresh(rt)
	})
}

func (t *txn) putRefresh(rt RefreshToken) error {
	if rt.Hash == "" || strings.Contains(rt.Hash, "\x00") {
		return errors.New("refresh token hash is empty or invalid")
	}
	bk := t.Bucket(bucketRefresh)
	// Prune the user's expired tokens so abandoned sessions do not pile up.
	for _, h := range t.userHashes(bucketRefresh, rt.UserID) {
		old, err := t.getRefresh(h)
		if err != nil || !old.ExpiresAt.After(rt.CreatedAt) {
			if err := t.deleteRefresh(h, rt.UserID); err != nil {
				return err
			}
		}
	}
	raw, err := json.Marshal(rt)
	if err != nil {
		return err
	}
	if err := bk.Put(append(slices.Clip(refreshTokenPrefix), rt.Hash...), raw); err != nil {
		return err
	}
	return bk.Put(userIndexKey(rt.UserID, rt.Hash), nil)
}

func (t *txn) getRefresh(hash string) (*RefreshToken, error) {
	raw := t.Bucket(bucketRefresh).Get(append(slices.Clip(refreshTokenPrefix), hash...))
	if raw == nil {
		return nil, ErrNotFound
	}
	rt := &RefreshToken{Hash: hash}
	if err := json.Unmarshal(raw, rt); err != nil {
		return nil, fmt.Errorf("decode refresh token: %w", err)
	}
	return rt, nil
}

func (t *txn) deleteRefresh(hash, userID string) error {
	bk := t.Bucket(bucketRefresh)
	if err := bk.Delete(append(slices.Clip(refreshTokenPrefix), hash...)); err != nil {
		return err
	}
	return bk.Delete(userIndexKey(userID, hash))
}

// RotateRefreshToken redeems the refresh token with oldHash and stores next
// (for the same user; next.UserID is filled in) in one transaction, so a
// token is used at most once. It returns the token's user. ErrNotFound when
// the token is unknown (never issued, already used, revoked) or its user is
// gone; ErrExpired when it expired before next.CreatedAt.
func (s *Store) RotateRefreshToken(oldHash string, next RefreshToken) (*User, error) {
	var u *User
	err := s.update(func(t *txn) error {
		old, err := t.getRefresh(oldHash)
		if err != nil {
			return err
		}
		if !old.ExpiresAt.After(next.CreatedAt) {
			return ErrExpired
		}
		if u, err = t.getUser(old.UserID); err != nil {
			return err
		}
		if err := t.deleteRefresh(oldHash, old.UserID); err != nil {
			return err
		}
		n := next
		n.UserID = old.UserID
		return t.putRefresh(n)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// RefreshTokenUser returns the user of the refresh token with hash, expired
// or not; ErrNotFound for an unknown token or a deleted user.
func (s *Store) RefreshTokenUser(hash string) (*User, error) {
	var u *User
	err := s.view(func(t *txn) error {
		rt, err := t.getRefresh(hash)
		if err != nil {
			return err
		}
		u, err = t.getUser(rt.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteRefreshToken revokes the refresh token with hash; an unknown hash
// is not an error.
func (s *Store) DeleteRefreshToken(hash string) error {
	return s.update(func(t *txn) error {
		rt, err := t.getRefresh(hash)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return t.deleteRefresh(hash, rt.UserID)
	})
}

// CreateAPIKey stores k for its user. ErrExists when that user already has
// a key with k.Prefix; ErrNotFound when the user is unknown.
func (s *Store) CreateAPIKey(k APIKey) error {
	if k.Hash == "" || strings.Contains(k.Hash, "\x00") {
		return errors.New("api key hash is empty or invalid")
	}
	return s.update(func(t *txn) error {
		if _, err := t.getUser(k.UserID); err != nil {
			return err
		}
		keys, err := t.userAPIKeys(k.UserID)
		if err != nil {
			return err
		}
		for _, o := range keys {
			if o.Prefix == k.Prefix || o.Hash == k.Hash {
				return ErrExists
			}
		}
		return t.putAPIKey(&k)
	})
}

func (t *txn) putAPIKey(k *APIKey) error {
	raw, err := json.Marshal(k)
	if err != nil {
		return err
	}
	bk := t.Bucket(bucketAPIKeys)
	if err := bk.Put(append(slices.Clip(apiKeyPrefix), k.Hash...), raw); err != nil {
		return err
	}
	return bk.Put(userIndexKey(k.UserID, k.Hash), nil)
}

func (t *txn) getAPIKey(hash string) (*APIKey, error) {
	raw := t.Bucket(bucketAPIKeys).Get(append(slices.Clip(apiKeyPrefix), hash...))
	if raw == nil {
		return nil, ErrNotFound
	}
	k := &APIKey{Hash: hash}
	if err := json.Unmarshal(raw, k); err != nil {
		return nil, fmt.Errorf("decode api key: %w", err)
	}
	return k, nil
}

func (t *txn) userAPIKeys(userID string) ([]*APIKey, error) {
	var out []*APIKey
	for _, h := range t.userHashes(bucketAPIKeys, userID) {
		k, err := t.getAPIKey(h)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// APIKeys returns the user's API keys, newest first.
func (s *Store) APIKeys(userID string) ([]*APIKey, error) {
	var out []*APIKey
	err := s.view(func(t *txn) (err error) {
		out, err = t.userAPIKeys(userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].Prefix > out[j].Prefix
	})
	if out == nil {
		out = []*APIKey{}
	}
	return out, nil
}

// APIKeyByHash returns the API key with hash and its user, read together.
// ErrNotFound when either is missing. Expiry is the caller's to check.
func (s *Store) APIKeyByHash(hash string) (*APIKey, *User, error) {
	var k *APIKey
	var u *User
	err := s.view(func(t *txn) (err error) {
		if k, err = t.getAPIKey(hash); err != nil {
			return err
		}
		u, err = t.getUser(k.UserID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return k, u, nil
}

// DeleteAPIKey removes the user's key with prefix; ErrNotFound when the
// user has none.
func (s *Store) DeleteAPIKey(userID, prefix string) error {
	return s.update(func(t *txn) error {
		keys, err := t.userAPIKeys(userID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.Prefix == prefix {
				bk := t.Bucket(bucketAPIKeys)
				if err := bk.Delete(append(slices.Clip(apiKeyPrefix), k.Hash...)); err != nil {
					return err
				}
				return bk.Delete(userIndexKey(userID, k.Hash))
			}
		}
		return ErrNotFound
	})
}

// TouchAPIKey sets the key's last_used_at to now unless it was set less
// than APIKeyTouchInterval before; a deleted key is not an error.
func (s *Store) TouchAPIKey(hash string, now time.Time) error {
	return s.update(func(t *txn) error {
		k, err := t.getAPIKey(hash)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !k.LastUsedAt.IsZero() && now.Sub(k.LastUsedAt) < APIKeyTouchInterval {
			return nil
		}
		k.LastUsedAt = now
		return t.putAPIKey(k)
	})
}
