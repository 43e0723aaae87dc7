package httpd_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd/accounts"
)

func testUser(email string) *accounts.User {
	return &accounts.User{Email: email, Name: email, AuthMethods: []string{"password"}, PasswordHash: "$argon2id$placeholder"}
}

type userItem struct {
	UserID      string   `json:"user_id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	AuthMethods []string `json:"auth_methods"`
	CreatedAt   string   `json:"created_at"`
	LastLoginAt *string  `json:"last_login_at"`
	IsAdmin     bool     `json:"is_admin"`
}

var (
	uuidV4RE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	apiTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestUsersAPIAdminOnly(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	devID := e.addUser(t, admin.AccessToken, "dev@example.com", "dev-password", false)
	dev := e.login(t, "dev@example.com", "dev-password")
	devKey, _ := e.createKey(t, dev.AccessToken, map[string]any{"name": "ci"})
	for _, tok := range []struct{ name, token string }{{"jwt", dev.AccessToken}, {"api key", devKey}} {
		for _, rt := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/users", nil},
			{"GET", "/api/users/" + e.adminID, nil},
			{"GET", "/api/users/" + devID, nil},
			{"GET", "/api/users/not-a-uuid", nil},
			{"POST", "/api/users", map[string]any{"email": "x@example.com", "password": "x-password"}},
			{"PUT", "/api/users/" + devID + "/password", map[string]any{"password": "self-service"}},
			{"DELETE", "/api/users/" + e.adminID, nil},
		} {
			e.do(t, rt.method, rt.path, tok.token, rt.body).
				want(t, tok.name+" "+rt.method+" "+rt.path, http.StatusForbidden, "Admin access required")
		}
	}
	// Nothing happened.
	e.login(t, adminEmail, adminPassword)
	e.login(t, "dev@example.com", "dev-password")

	// An admin's API key acts as the admin.
	adminKey, _ := e.createKey(t, admin.AccessToken, map[string]any{"name": "ops"})
	e.do(t, "GET", "/api/users", adminKey, nil).want(t, "admin key", http.StatusOK, "")
}

func TestUsersAPI(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	tok := admin.AccessToken

	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"no email", map[string]any{"password": "long-enough"}, "Email is required"},
		{"bad email", map[string]any{"email": "not an email", "password": "long-enough"}, "Invalid email address 'not an email'"},
		{"display name form", map[string]any{"email": "Dev <dev@example.com>"}, "Invalid email address 'Dev <dev@example.com>'"},
		{"short password", map[string]any{"email": "dev@example.com", "password": "short"}, "Password must be at least 8 characters"},
		{"wrong type", map[string]any{"email": 42}, "Invalid request body: email must be a string"},
	} {
		e.do(t, "POST", "/api/users", tok, tc.body).want(t, tc.name, http.StatusBadRequest, tc.msg)
	}

	e.clock.Advance(time.Second)
	r := e.do(t, "POST", "/api/users", tok, map[string]any{"email": "dev@example.com", "name": "Dev", "password": "dev-password"})
	r.want(t, "create", http.StatusOK, "")
	var dev userItem
	r.json(t, &dev)
	if !uuidV4RE.MatchString(dev.UserID) || !apiTimeRE.MatchString(dev.CreatedAt) {
		t.Errorf("created user ids/times: %+v", dev)
	}
	want := userItem{UserID: dev.UserID, Name: "Dev", Email: "dev@example.com", AuthMethods: []string{"password"},
		CreatedAt: dev.CreatedAt, LastLoginAt: nil, IsAdmin: false}
	if diff := cmp.Diff(want, dev); diff != "" {
		t.Errorf("created user (-want +got):\n%s", diff)
	}
	var raw map[string]any
	r.json(t, &raw)
	if len(raw) != 7 {
		t.Errorf("user object keys: %v", raw)
	}
	e.do(t, "POST", "/api/users", tok, map[string]any{"email": "DEV@example.com"}).
		want(t, "duplicate", http.StatusConflict, "A user with email 'DEV@example.com' already exists")

	// A password-less user gets no methods and a default name.
	e.clock.Advance(time.Second)
	r = e.do(t, "POST", "/api/users", tok, map[string]any{"email": "ops@example.com", "is_admin": true})
	r.want(t, "create password-less", http.StatusOK, "")
	var ops userItem
	r.json(t, &ops)
	if ops.Name != "ops" || len(ops.AuthMethods) != 0 || !ops.IsAdmin {
		t.Errorf("password-less user: %+v", ops)
	}
	e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": "ops@example.com", "password": ""}).
		want(t, "password-less login", http.StatusUnauthorized, "Invalid email or password")

	// Detail and errors.
	var got userItem
	e.do(t, "GET", "/api/users/"+dev.UserID, tok, nil).json(t, &got)
	if diff := cmp.Diff(dev, got); diff != "" {
		t.Errorf("GET user (-want +got):\n%s", diff)
	}
	for _, id := range []string{"nope", "6f1c8b8e51a44d529f5a0f6f0b0f7c11", "{6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11}"} {
		e.do(t, "GET", "/api/users/"+id, tok, nil).want(t, "bad id "+id, http.StatusBadRequest, "Invalid user ID")
	}
	e.do(t, "GET", "/api/users/6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", tok, nil).want(t, "unknown", http.StatusNotFound, "User not found")

	// List: newest first, paged, with X-Total-Count.
	for i := range 3 {
		e.addUser(t, tok, fmt.Sprintf("extra%d@example.com", i), "extra-password", false)
	}
	var all []userItem
	r = e.do(t, "GET", "/api/users", tok, nil)
	r.json(t, &all)
	if r.header.Get("X-Total-Count") != "6" || len(all) != 6 {
		t.Fatalf("list: %d users, X-Total-Count %q; want 6", len(all), r.header.Get("X-Total-Count"))
	}
	var emails []string
	for _, u := range all {
		emails = append(emails, u.Email)
	}
	wantOrder := []string{"extra2@example.com", "extra1@example.com", "extra0@example.com", "ops@example.com", "dev@example.com", adminEmail}
	if diff := cmp.Diff(wantOrder, emails); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if all[5].LastLoginAt == nil {
		t.Error("admin's last_login_at is null after login")
	}
	var page []userItem
	r = e.do(t, "GET", "/api/users?limit=2&offset=3", tok, nil)
	r.json(t, &page)
	if len(page) != 2 || page[0].Email != "ops@example.com" || r.header.Get("X-Total-Count") != "6" {
		t.Errorf("page = %+v (total %s)", page, r.header.Get("X-Total-Count"))
	}
	for _, q := range []struct{ query, msg string }{{"limit=-1", "Invalid limit"}, {"offset=x", "Invalid offset"}} {
		e.do(t, "GET", "/api/users?"+q.query, tok, nil).want(t, q.query, http.StatusBadRequest, q.msg)
	}

	// Setting a password: old one stops working, sessions are revoked.
	devSession := e.login(t, "dev@example.com", "dev-password")
	e.do(t, "PUT", "/api/users/"+dev.UserID+"/password", tok, map[string]any{"password": "short"}).
		want(t, "short password", http.StatusBadRequest, "Password must be at least 8 characters")
	e.do(t, "PUT", "/api/users/6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11/password", tok, map[string]any{"password": "long-enough"}).
		want(t, "unknown user", http.StatusNotFound, "User not found")
	e.do(t, "PUT", "/api/users/"+dev.UserID+"/password", tok, map[string]any{"password": "new-dev-password"}).
		want(t, "set password", http.StatusOK, "")
	e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": "dev@example.com", "password": "dev-password"}).
		want(t, "old password", http.StatusUnauthorized, "Invalid email or password")
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": devSession.RefreshToken}).
		want(t, "session after password change", http.StatusUnauthorized, "Invalid refresh token")
	devSession = e.login(t, "dev@example.com", "new-dev-password")
	devKey, _ := e.createKey(t, devSession.AccessToken, map[string]any{"name": "ci"})

	// Deleting: not yourself; revokes the user's tokens and keys at once.
	e.do(t, "DELETE", "/api/users/"+e.adminID, tok, nil).want(t, "delete self", http.StatusBadRequest, "You cannot delete yourself")
	e.do(t, "DELETE", "/api/users/"+dev.UserID, tok, nil).want(t, "delete", http.StatusOK, "")
	e.do(t, "DELETE", "/api/users/"+dev.UserID, tok, nil).want(t, "delete again", http.StatusNotFound, "User not found")
	e.do(t, "GET", "/api/jobs", devSession.AccessToken, nil).want(t, "deleted user's jwt", http.StatusUnauthorized, "Invalid or expired token")
	e.do(t, "GET", "/api/jobs", devKey, nil).want(t, "deleted user's key", http.StatusUnauthorized, "Invalid API key")
	e.do(t, "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": devSession.RefreshToken}).
		want(t, "deleted user's refresh", http.StatusUnauthorized, "Invalid refresh token")
	e.do(t, "GET", "/api/users/"+dev.UserID, tok, nil).want(t, "deleted", http.StatusNotFound, "User not found")

	// Another admin may delete the first one, whose token then stops
	// working at once (users are checked on every request).
	newAdmin := e.addUser(t, tok, "boss@example.com", "boss-password", true)
	boss := e.login(t, "boss@example.com", "boss-password")
	e.do(t, "DELETE", "/api/users/"+e.adminID, boss.AccessToken, nil).want(t, "admin deletes admin", http.StatusOK, "")
	e.do(t, "GET", "/api/users", tok, nil).want(t, "deleted admin's token", http.StatusUnauthorized, "Invalid or expired token")
	e.do(t, "GET", "/api/users/"+newAdmin, boss.AccessToken, nil).want(t, "boss", http.StatusOK, "")
}

func TestUsersAPIAuthOff(t *testing.T) {
	e := startAuthServer(t, withoutAuth)
	r := e.do(t, "GET", "/api/users", "", nil)
	r.want(t, "list", http.StatusOK, "")
	if string(r.body) != "[]\n" || r.header.Get("X-Total-Count") != "0" {
		t.Errorf("list = %q (X-Total-Count %q)", r.body, r.header.Get("X-Total-Count"))
	}
	e.do(t, "GET", "/api/users/nope", "", nil).want(t, "bad id", http.StatusBadRequest, "Invalid user ID")
	e.do(t, "GET", "/api/users/6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", "", nil).want(t, "unknown", http.StatusNotFound, "User not found")
	// Users in the store (created offline) are listed.
	if err := e.accounts.CreateUser(testUser("offline@example.com")); err != nil {
		t.Fatal(err)
	}
	var list []userItem
	e.do(t, "GET", "/api/users", "", nil).json(t, &list)
	if len(list) != 1 || list[0].Email != "offline@example.com" {
		t.Errorf("list = %+v", list)
	}
	for _, rt := range []struct{ method, path string }{
		{"POST", "/api/users"},
		{"PUT", "/api/users/" + list[0].UserID + "/password"},
		{"DELETE", "/api/users/" + list[0].UserID},
	} {
		e.do(t, rt.method, rt.path, "", map[string]any{"email": "x@example.com", "password": "long-enough"}).
			want(t, rt.method+" "+rt.path, http.StatusNotFound, "Authentication not configured")
	}
}
