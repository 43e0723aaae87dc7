package httpd

import (
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"runnel/httpd/accounts"
	"runnel/jobs/api"
)

// Password length bounds for passwords set over the API (characters).
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

// userRoutes registers the users API (SPEC §11.7). Reading is admin-only
// with auth on and open with auth off; management needs auth on.
func (s *Server) userRoutes(r *httprouter.Router) {
	r.GET("/api/users", s.handle(s.listUsers))
	r.GET("/api/users/:id", s.handle(s.getUser))
	r.POST("/api/users", s.handle(s.createUser))
	r.PUT("/api/users/:id/password", s.handle(s.setUserPassword))
	r.DELETE("/api/users/:id", s.handle(s.deleteUser))
}

// requireAdmin lets admins through when auth is on, everyone when off.
func (s *Server) requireAdmin(r *http.Request) error {
	if s.auth == nil {
		return nil
	}
	if p := principalOf(r); p == nil || !p.IsAdmin {
		return errorf(http.StatusForbidden, "Admin access required")
	}
	return nil
}

// manageUsers is requireAdmin for the management routes, which need auth.
func (s *Server) manageUsers(r *http.Request) error {
	if s.auth == nil {
		return errAuthOff
	}
	return s.requireAdmin(r)
}

// userID validates the id in the URL.
func userID(ps httprouter.Params) (string, error) {
	id := ps.ByName("id")
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", errorf(http.StatusBadRequest, "Invalid user ID")
	}
	return u.String(), nil
}

var errUserNotFound = errorf(http.StatusNotFound, "User not found")

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.requireAdmin(r); err != nil {
		return err
	}
	limit, offset, err := paging(r)
	if err != nil {
		return err
	}
	out := []api.User{}
	total := 0
	if s.opts.Users != nil {
		list, n, err := s.opts.Users.Users(limit, offset)
		if err != nil {
			return err
		}
		for _, u := range list {
			out = append(out, wireUser(u))
		}
		total = n
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if err := s.requireAdmin(r); err != nil {
		return err
	}
	id, err := userID(ps)
	if err != nil {
		return err
	}
	if s.opts.Users == nil {
		return errUserNotFound
	}
	u, err := s.opts.Users.User(id)
	if err != nil {
		return notFound(err, "User not found")
	}
	writeJSON(w, http.StatusOK, wireUser(u))
	return nil
}

type createUserRequest struct {
	Email    string  `json:"email"`
	Name     string  `json:"name"`
	Password *string `json:"password"`
	IsAdmin  bool    `json:"is_admin"`
}

// validEmail accepts a bare address (no display name) of at most 254
// bytes.
func validEmail(e string) bool {
	if len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && a.Name == ""
}

// checkPassword enforces the API's password length bounds.
func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < minPasswordLen {
		return errorf(http.StatusBadRequest, "Password must be at least %d characters", minPasswordLen)
	}
	if n > maxPasswordLen {
		return errorf(http.StatusBadRequest, "Password must be at most %d characters", maxPasswordLen)
	}
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.manageUsers(r); err != nil {
		return err
	}
	var req createUserRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	email := strings.TrimSpace(req.Email)
	if email == "" {
		return errorf(http.StatusBadRequest, "Email is required")
	}
	if !validEmail(email) {
		return errorf(http.StatusBadRequest, "Invalid email address '%s'", email)
	}
	auditDetail(r, "email", email)
	auditDetail(r, "is_admin", req.IsAdmin)
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u := &accounts.User{Email: email, Name: name, IsAdmin: req.IsAdmin, CreatedAt: s.auth.now()}
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return err
		}
		hash, err := s.auth.hasher.Hash(r.Context(), *req.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
	}
	if err := s.auth.users.CreateUser(u); err != nil {
		return exists(err, fmt.Sprintf("A user with email '%s' already exists", email))
	}
	auditTarget(r, u.ID)
	writeJSON(w, http.StatusOK, wireUser(u))
	return nil
}

type passwordRequest struct {
	Password string `json:"password"`
}

func (s *Server) setUserPassword(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if err := s.manageUsers(r); err != nil {
		return err
	}
	id, err := userID(ps)
	if err != nil {
		return err
	}
	var req passwordRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	u, err := s.auth.users.User(id)
	if err != nil {
		return notFound(err, "User not found")
	}
	auditDetail(r, "email", u.Email)
	hash, err := s.auth.hasher.Hash(r.Context(), req.Password)
	if err != nil {
		return err
	}
	if err := s.auth.users.SetPassword(id, hash); err != nil {
		return notFound(err, "User not found")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if err := s.manageUsers(r); err != nil {
		return err
	}
	id, err := userID(ps)
	if err != nil {
		return err
	}
	if p := principalOf(r); p != nil && p.UserID == id {
		return errorf(http.StatusBadRequest, "You cannot delete yourself")
	}
	if u, err := s.auth.users.User(id); err == nil {
		auditDetail(r, "email", u.Email)
	}
	if err := s.auth.users.DeleteUser(id); err != nil {
		return notFound(err, "User not found")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
