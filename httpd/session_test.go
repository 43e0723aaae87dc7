package httpd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sessionCookieOf returns the runnel_refresh cookie a response sets (nil
// when none).
func sessionCookieOf(h http.Header) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "runnel_refresh" {
			return c
		}
	}
	return nil
}

// checkSessionCookie checks the attributes every session cookie has.
func checkSessionCookie(t *testing.T, what string, c *http.Cookie, secure bool) {
	t.Helper()
	if c == nil {
		t.Fatalf("%s: no runnel_refresh cookie", what)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/auth/session" || c.Secure != secure {
		t.Errorf("%s: cookie %q: HttpOnly %v SameSite %v Path %q Secure %v; want HttpOnly, Strict, /api/auth/session, Secure %v",
			what, c.Raw, c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
	}
}

func TestBrowserSession(t *testing.T) {
	e := startAuthServer(t, withAuth)
	creds := map[string]string{"email": adminEmail, "password": adminPassword}

	r := e.do(t, "POST", "/api/auth/session", "", map[string]string{"email": adminEmail, "password": "wrong"})
	r.want(t, "bad password", http.StatusUnauthorized, "Invalid email or password")
	if sessionCookieOf(r.header) != nil {
		t.Error("a failed login set a cookie")
	}

	r = e.do(t, "POST", "/api/auth/session", "", creds)
	r.want(t, "session login", http.StatusOK, "")
	c1 := sessionCookieOf(r.header)
	checkSessionCookie(t, "login", c1, false)
	if c1.MaxAge != 30*24*3600 || c1.Value == "" {
		t.Errorf("login cookie %q: want a value and Max-Age 2592000", c1.Raw)
	}
	var body map[string]any
	r.json(t, &body)
	if len(body) != 2 || body["expires_in"] != 900.0 || body["access_token"] == "" {
		t.Errorf("session body %s: want access_token and expires_in 900 only", r.body)
	}
	if strings.Contains(string(r.body), c1.Value) {
		t.Error("the refresh token is readable in the body")
	}
	e.do(t, "GET", "/api/auth/me", body["access_token"].(string), nil).want(t, "me", http.StatusOK, "")

	// Refresh rotates the cookie; the old one is refused and cleared.
	e.clock.Advance(1e9)
	r = e.do(t, "POST", "/api/auth/session/refresh", "", nil, "Cookie", "runnel_refresh="+c1.Value)
	r.want(t, "refresh", http.StatusOK, "")
	c2 := sessionCookieOf(r.header)
	checkSessionCookie(t, "refresh", c2, false)
	if c2.Value == c1.Value || c2.MaxAge != 30*24*3600 {
		t.Errorf("refresh did not rotate: %q then %q", c1.Raw, c2.Raw)
	}
	var b2 map[string]any
	r.json(t, &b2)
	e.do(t, "GET", "/api/auth/me", b2["access_token"].(string), nil).want(t, "me after refresh", http.StatusOK, "")
	for _, cookie := range []string{"runnel_refresh=" + c1.Value, "", "runnel_refresh=nonsense"} {
		r = e.do(t, "POST", "/api/auth/session/refresh", "", nil, "Cookie", cookie)
		r.want(t, "refused "+cookie, http.StatusUnauthorized, "Invalid refresh token")
		cl := sessionCookieOf(r.header)
		checkSessionCookie(t, "cleared", cl, false)
		if cl.MaxAge >= 0 || cl.Value != "" {
			t.Errorf("refused refresh: cookie %q not cleared", cl.Raw)
		}
	}

	// Logout deletes the stored token and clears the cookie.
	r = e.do(t, "POST", "/api/auth/session/logout", "", nil, "Cookie", "runnel_refresh="+c2.Value)
	r.want(t, "logout", http.StatusOK, "")
	if cl := sessionCookieOf(r.header); cl == nil || cl.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %v", r.header["Set-Cookie"])
	}
	e.do(t, "POST", "/api/auth/session/refresh", "", nil, "Cookie", "runnel_refresh="+c2.Value).
		want(t, "refresh after logout", http.StatusUnauthorized, "Invalid refresh token")

	// Cross-origin POSTs are refused before they reach the handlers.
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
		e.do(t, "POST", "/api/auth/session", "", creds, h...).want(t, "cross-origin login "+h[0], http.StatusForbidden, "Cross-origin request refused")
		e.do(t, "POST", "/api/auth/session/refresh", "", nil, append(h, "Cookie", "runnel_refresh="+c2.Value)...).
			want(t, "cross-origin refresh "+h[0], http.StatusForbidden, "Cross-origin request refused")
	}
	// Same-origin browser requests pass.
	e.do(t, "POST", "/api/auth/session", "", creds, "Sec-Fetch-Site", "same-origin").want(t, "same-origin", http.StatusOK, "")
}

func TestBrowserSessionSecureOverTLS(t *testing.T) {
	e := startAuthServer(t, withAuth)
	tls := httptest.NewTLSServer(e.srv.Config.Handler)
	defer tls.Close()
	raw, _ := json.Marshal(map[string]string{"email": adminEmail, "password": adminPassword})
	resp, err := tls.Client().Post(tls.URL+"/api/auth/session", "application/json", strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login over TLS: %d", resp.StatusCode)
	}
	checkSessionCookie(t, "TLS", sessionCookieOf(resp.Header), true)
}

func TestBrowserSessionAuthOff(t *testing.T) {
	e := startAuthServer(t, withoutAuth)
	for _, p := range []string{"/api/auth/session", "/api/auth/session/refresh", "/api/auth/session/logout"} {
		e.do(t, "POST", p, "", map[string]string{}).want(t, p, http.StatusNotFound, "Authentication not configured")
	}
}
