package api

// Config is GET /api/config (open even with auth on).
type Config struct {
	AuthRequired    bool       `json:"auth_required"`
	HasInternalAuth bool       `json:"has_internal_auth"`
	OIDCProviders   []Provider `json:"oidc_providers"`
	Version         string     `json:"version"`
}

// Provider is a sign-in provider of Config.
type Provider struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// Tokens is the answer of login and refresh: a short-lived access token
// (JWT, 15 min) and a single-use refresh token.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// Me is GET /api/auth/me.
type Me struct {
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt Time   `json:"created_at"`
	IsAdmin   bool   `json:"is_admin"`
}

// NewAPIKey is the answer of POST /api/auth/api-keys; Key is shown only
// here. ExpiresAt is zero (null) for a key that never expires.
type NewAPIKey struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	ExpiresAt Time   `json:"expires_at"`
}

// APIKey is an item of GET /api/auth/api-keys; zero times are null.
type APIKey struct {
	Prefix     string `json:"prefix"`
	Name       string `json:"name"`
	CreatedAt  Time   `json:"created_at"`
	ExpiresAt  Time   `json:"expires_at"`
	LastUsedAt Time   `json:"last_used_at"`
}

// User is an item of GET /api/users and GET /api/users/{id} (runnel).
type User struct {
	UserID      string   `json:"user_id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	AuthMethods []string `json:"auth_methods"`
	CreatedAt   Time     `json:"created_at"`
	LastLoginAt Time     `json:"last_login_at"`
	IsAdmin     bool     `json:"is_admin"`
}
