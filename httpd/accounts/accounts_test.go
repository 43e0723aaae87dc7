package accounts_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"runnel/httpd/accounts"
	"runnel/jobs"
)

// openUserStore opens the accounts of a new job store (a real bbolt
// file); it returns the job store too, to close it.
func openUserStore(t *testing.T) (*accounts.Store, *jobs.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runnel.db")
	db, s := openAt(t, path)
	return s, db, path
}

func openAt(t *testing.T, path string) (*jobs.Store, *accounts.Store) {
	t.Helper()
	db := jobs.NewStore(path, time.Second)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := accounts.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, s
}

func mustCreateUser(t *testing.T, s *accounts.Store, email string, created time.Time) *accounts.User {
	t.Helper()
	u := &accounts.User{Email: email, Name: email, PasswordHash: "$argon2id$fake", CreatedAt: created}
	if err := s.CreateUser(u); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

var userT0 = time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)

func TestCreateUserAndLookup(t *testing.T) {
	s, _, _ := openUserStore(t)
	u := mustCreateUser(t, s, " Ada@Example.com ", userT0)
	if u.ID == "" || u.Email != "Ada@Example.com" {
		t.Fatalf("prepared user: %+v", u)
	}
	if diff := cmp.Diff([]string{accounts.MethodPassword}, u.AuthMethods); diff != "" {
		t.Errorf("auth methods (-want +got):\n%s", diff)
	}
	byID, err := s.User(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, byID); diff != "" {
		t.Errorf("User (-want +got):\n%s", diff)
	}
	byEmail, err := s.UserByEmail("ADA@example.COM")
	if err != nil {
		t.Fatal(err)
	}
	if byEmail.ID != u.ID {
		t.Errorf("UserByEmail id = %s, want %s", byEmail.ID, u.ID)
	}
	for _, tc := range []struct{ name, id, email string }{
		{"unknown id", "6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", ""},
		{"malformed id", "nope", ""},
		{"unknown email", "", "bob@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.id != "" {
				_, err = s.User(tc.id)
			} else {
				_, err = s.UserByEmail(tc.email)
			}
			if !errors.Is(err, accounts.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestCreateUserDuplicateEmail(t *testing.T) {
	s, _, _ := openUserStore(t)
	mustCreateUser(t, s, "ada@example.com", userT0)
	err := s.CreateUser(&accounts.User{Email: "ADA@example.com"})
	if !errors.Is(err, accounts.ErrExists) {
		t.Fatalf("duplicate: err = %v, want ErrExists", err)
	}
	list, total, err := s.Users(-1, 0)
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("Users = %d users, total %d, err %v; want 1", len(list), total, err)
	}
}

func TestEnsureUserCreatesOnce(t *testing.T) {
	s, _, _ := openUserStore(t)
	first := &accounts.User{Email: "root@example.com", PasswordHash: "h1", IsAdmin: true}
	created, err := s.EnsureUser(first)
	if err != nil || !created {
		t.Fatalf("first EnsureUser = %v, %v; want created", created, err)
	}
	created, err = s.EnsureUser(&accounts.User{Email: "ROOT@example.com", PasswordHash: "h2"})
	if err != nil || created {
		t.Fatalf("second EnsureUser = %v, %v; want not created", created, err)
	}
	u, err := s.UserByEmail("root@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "h1" || !u.IsAdmin || u.ID != first.ID {
		t.Errorf("existing user changed: %+v", u)
	}
}

func TestUsersPaging(t *testing.T) {
	s, _, _ := openUserStore(t)
	var emails []string
	for i := range 5 {
		e := fmt.Sprintf("u%d@example.com", i)
		mustCreateUser(t, s, e, userT0.Add(time.Duration(i)*time.Minute))
		emails = append([]string{e}, emails...) // newest first
	}
	for _, tc := range []struct {
		limit, offset int
		want          []string
	}{
		{-1, 0, emails},
		{0, 0, nil},
		{2, 0, emails[:2]},
		{2, 2, emails[2:4]},
		{10, 4, emails[4:]},
		{10, 5, nil},
		{10, 50, nil},
	} {
		t.Run(fmt.Sprintf("limit%d_offset%d", tc.limit, tc.offset), func(t *testing.T) {
			list, total, err := s.Users(tc.limit, tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			if total != 5 {
				t.Errorf("total = %d, want 5", total)
			}
			var got []string
			for _, u := range list {
				got = append(got, u.Email)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}
}

func refreshAt(hash, user string, created time.Time) accounts.RefreshToken {
	return accounts.RefreshToken{Hash: hash, UserID: user, CreatedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour)}
}

func TestRefreshTokenRotation(t *testing.T) {
	s, _, _ := openUserStore(t)
	u := mustCreateUser(t, s, "ada@example.com", userT0)
	if err := s.RecordLogin(refreshAt("h1", u.ID, userT0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastLoginAt.Equal(userT0.Add(time.Hour)) {
		t.Errorf("last_login_at = %v, want %v", got.LastLoginAt, userT0.Add(time.Hour))
	}
	owner, err := s.RotateRefreshToken("h1", refreshAt("h2", "", userT0.Add(2*time.Hour)))
	if err != nil {
		t.Fatalf("rotate h1: %v", err)
	}
	if owner.ID != u.ID {
		t.Errorf("rotate returned user %s, want %s", owner.ID, u.ID)
	}
	if _, err := s.RotateRefreshToken("h1", refreshAt("h3", "", userT0.Add(3*time.Hour))); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("reuse h1: err = %v, want ErrNotFound", err)
	}
	// The reuse attempt stored nothing: h3 is not a valid token.
	if _, err := s.RotateRefreshToken("h3", refreshAt("h4", "", userT0.Add(3*time.Hour))); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("h3: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RotateRefreshToken("h2", refreshAt("h5", "", userT0.Add(31*24*time.Hour))); !errors.Is(err, accounts.ErrExpired) {
		t.Errorf("expired h2: err = %v, want ErrExpired", err)
	}
	if err := s.DeleteRefreshToken("h2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRefreshToken("h2"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if _, err := s.RotateRefreshToken("h2", refreshAt("h6", "", userT0.Add(4*time.Hour))); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("after logout: err = %v, want ErrNotFound", err)
	}
}

func TestRefreshTokenSingleUseUnderRace(t *testing.T) {
	s, _, _ := openUserStore(t)
	u := mustCreateUser(t, s, "ada@example.com", userT0)
	if err := s.RecordLogin(refreshAt("shared", u.ID, userT0)); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RotateRefreshToken("shared", refreshAt(fmt.Sprintf("next%d", i), "", userT0.Add(time.Minute)))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, accounts.ErrNotFound):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d rotations of one token succeeded, want exactly 1", ok)
	}
}

func TestRecordLoginPrunesExpiredTokens(t *testing.T) {
	s, _, _ := openUserStore(t)
	u := mustCreateUser(t, s, "ada@example.com", userT0)
	if err := s.RecordLogin(refreshAt("old", u.ID, userT0)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLogin(refreshAt("new", u.ID, userT0.Add(40*24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	// The pruned token is gone, not merely expired.
	if _, err := s.RotateRefreshToken("old", refreshAt("x", "", userT0)); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("old token: err = %v, want ErrNotFound", err)
	}
}

func TestSetPasswordRevokesRefreshTokens(t *testing.T) {
	s, _, _ := openUserStore(t)
	u := &accounts.User{Email: "sso@example.com", AuthMethods: []string{"corp"}}
	if err := s.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLogin(refreshAt("h1", u.ID, userT0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(u.ID, "newhash"); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "newhash" {
		t.Errorf("hash = %q", got.PasswordHash)
	}
	if diff := cmp.Diff([]string{accounts.MethodPassword, "corp"}, got.AuthMethods); diff != "" {
		t.Errorf("auth methods (-want +got):\n%s", diff)
	}
	if _, err := s.RotateRefreshToken("h1", refreshAt("h2", "", userT0)); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("token after password change: err = %v, want ErrNotFound", err)
	}
	if err := s.SetPassword("6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", "x"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown user: err = %v", err)
	}
	if err := s.SetAdmin(u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(u.ID); !got.IsAdmin {
		t.Error("SetAdmin did not stick")
	}
}

func TestAPIKeys(t *testing.T) {
	s, _, _ := openUserStore(t)
	ada := mustCreateUser(t, s, "ada@example.com", userT0)
	bob := mustCreateUser(t, s, "bob@example.com", userT0)
	keys := []accounts.APIKey{
		{Hash: "ka", UserID: ada.ID, Name: "ci", Prefix: "runnel_aaaaaaaa", CreatedAt: userT0},
		{Hash: "kb", UserID: ada.ID, Name: "deploy", Prefix: "runnel_bbbbbbbb", CreatedAt: userT0.Add(time.Minute), ExpiresAt: userT0.Add(24 * time.Hour)},
		{Hash: "kc", UserID: bob.ID, Name: "ci", Prefix: "runnel_aaaaaaaa", CreatedAt: userT0},
	}
	for _, k := range keys {
		if err := s.CreateAPIKey(k); err != nil {
			t.Fatalf("create %s: %v", k.Hash, err)
		}
	}
	if err := s.CreateAPIKey(accounts.APIKey{Hash: "kd", UserID: ada.ID, Name: "dup", Prefix: "runnel_aaaaaaaa", CreatedAt: userT0}); !errors.Is(err, accounts.ErrExists) {
		t.Errorf("duplicate prefix: err = %v, want ErrExists", err)
	}
	if err := s.CreateAPIKey(accounts.APIKey{Hash: "ke", UserID: "6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", Prefix: "runnel_eeeeeeee"}); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}

	list, err := s.APIKeys(ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []*accounts.APIKey{&keys[1], &keys[0]}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ada's keys (-want +got):\n%s", diff)
	}

	k, u, err := s.APIKeyByHash("kc")
	if err != nil || k.Name != "ci" || u.ID != bob.ID {
		t.Errorf("APIKeyByHash(kc) = %+v, %+v, %v", k, u, err)
	}
	if _, _, err := s.APIKeyByHash("nope"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown hash: err = %v", err)
	}

	// last_used_at: written on first use, then at most once a minute.
	for _, tc := range []struct {
		at   time.Time
		want time.Time
	}{
		{userT0.Add(time.Hour), userT0.Add(time.Hour)},
		{userT0.Add(time.Hour + 59*time.Second), userT0.Add(time.Hour)},
		{userT0.Add(time.Hour + time.Minute), userT0.Add(time.Hour + time.Minute)},
	} {
		if err := s.TouchAPIKey("ka", tc.at); err != nil {
			t.Fatal(err)
		}
		k, _, err := s.APIKeyByHash("ka")
		if err != nil {
			t.Fatal(err)
		}
		if !k.LastUsedAt.Equal(tc.want) {
			t.Errorf("touch at %v: last_used_at = %v, want %v", tc.at, k.LastUsedAt, tc.want)
		}
	}

	// Deleting by prefix only touches the owner's key.
	if err := s.DeleteAPIKey(ada.ID, "runnel_aaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPIKey(ada.ID, "runnel_aaaaaaaa"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.APIKeyByHash("ka"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("deleted key still found: %v", err)
	}
	if _, _, err := s.APIKeyByHash("kc"); err != nil {
		t.Errorf("bob's key with the same prefix: %v", err)
	}
	if err := s.TouchAPIKey("ka", userT0); err != nil {
		t.Errorf("touching a deleted key: %v", err)
	}
}

func TestDeleteUserRevokesEverything(t *testing.T) {
	s, _, _ := openUserStore(t)
	ada := mustCreateUser(t, s, "ada@example.com", userT0)
	bob := mustCreateUser(t, s, "bob@example.com", userT0)
	for _, u := range []*accounts.User{ada, bob} {
		if err := s.RecordLogin(refreshAt("r-"+u.Email, u.ID, userT0)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIKey(accounts.APIKey{Hash: "k-" + u.Email, UserID: u.ID, Name: "ci", Prefix: "runnel_00000000", CreatedAt: userT0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ada.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ada.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	if _, err := s.User(ada.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("user still there: %v", err)
	}
	if _, err := s.UserByEmail(ada.Email); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("email index still there: %v", err)
	}
	if _, _, err := s.APIKeyByHash("k-" + ada.Email); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("api key survived: %v", err)
	}
	if _, err := s.RotateRefreshToken("r-"+ada.Email, refreshAt("x", "", userT0)); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("refresh token survived: %v", err)
	}
	// Bob is untouched, and the email can be registered again.
	if _, _, err := s.APIKeyByHash("k-" + bob.Email); err != nil {
		t.Errorf("bob's key: %v", err)
	}
	if _, err := s.RotateRefreshToken("r-"+bob.Email, refreshAt("y", "", userT0)); err != nil {
		t.Errorf("bob's token: %v", err)
	}
	mustCreateUser(t, s, "ada@example.com", userT0)
}

func TestUsersSurviveReopen(t *testing.T) {
	s, db, path := openUserStore(t)
	u := mustCreateUser(t, s, "ada@example.com", userT0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, s2 := openAt(t, path)
	got, err := s2.UserByEmail("ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}
