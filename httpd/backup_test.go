package httpd_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
)

// TestBackupAdminOnly: GET /api/backup streams a gzip'd tar to admins and
// is refused to other users.
func TestBackupAdminOnly(t *testing.T) {
	e := startAuthServer(t, withAuth)
	admin := e.login(t, adminEmail, adminPassword)
	e.addUser(t, admin.AccessToken, "dev@example.com", "dev-password", false)
	dev := e.login(t, "dev@example.com", "dev-password")
	e.do(t, "GET", "/api/backup", dev.AccessToken, nil).want(t, "non-admin backup", http.StatusForbidden, "Admin access required")
	e.do(t, "GET", "/api/backup", "", nil).want(t, "anonymous backup", http.StatusUnauthorized, "Authentication required")

	id := e.runJob(t, admin.AccessToken, "quick")
	r := e.do(t, "GET", "/api/backup", admin.AccessToken, nil)
	r.want(t, "admin backup", http.StatusOK, "")
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	for _, want := range []string{"manifest.json", "runnel.db", "logs/" + id + ".jsonl"} {
		if !names[want] {
			t.Errorf("backup lacks %s: %v", want, names)
		}
	}
}
