package httpd_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/httpd"
	"runnel/jobs"
)

const auditWorkerToken = "worker-token-0123456789abcdef-0123456789"

// auditWorkflow is authWorkflow plus a webhook trigger.
const auditWorkflow = authWorkflow + `
triggers:
  deploy-hook:
    type: webhook
    name: deploy
    task: quick
    secret: hook-secret-value
`

// auditEntry is an entry as GET /api/audit answers it.
type auditEntry struct {
	ID        string         `json:"id"`
	Time      string         `json:"time"`
	Actor     string         `json:"actor"`
	ActorType string         `json:"actor_type"`
	Address   string         `json:"address"`
	Action    string         `json:"action"`
	Target    string         `json:"target"`
	Status    *int           `json:"status"`
	Detail    map[string]any `json:"detail"`
}

// audit reads GET /api/audit?query and its X-Total-Count (-1 if absent).
func (e *authEnv) audit(t *testing.T, token, query string) ([]auditEntry, int) {
	t.Helper()
	r := e.do(t, "GET", "/api/audit?"+query, token, nil)
	r.want(t, "audit "+query, http.StatusOK, "")
	var out []auditEntry
	r.json(t, &out)
	total := -1
	if v := r.header.Get("X-Total-Count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("X-Total-Count %q", v)
		}
		total = n
	}
	return out, total
}

func startAuditServer(t *testing.T, authOn bool) *authEnv {
	opts := []func(*envConfig){func(c *envConfig) { c.workflow = auditWorkflow }, withOptions(func(o *httpd.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		o.WorkerToken = auditWorkerToken
	})}
	if authOn {
		opts = append(opts, withAuth)
	}
	return startAuthServer(t, opts...)
}

// TestAuditRecordsEachAction: every state-changing request adds exactly
// one entry naming its actor, action, target, status and client address
// (a trusted proxy's X-Forwarded-For); reads add none; secrets never
// appear.
func TestAuditRecordsEachAction(t *testing.T) {
	e := startAuditServer(t, true)
	admin := e.login(t, adminEmail, adminPassword) // entry 1
	reader := admin.AccessToken
	_, total := e.audit(t, reader, "")
	if total != 1 {
		t.Fatalf("after one login: %d entries", total)
	}

	// Values filled in as the steps run.
	var devID, keyPrefix, apiKey, jobID, slowID, workerID string
	const guess = "guessed-password-1"
	hdr := func(n int) []string { return []string{"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", n)} }
	steps := []struct {
		name string
		run  func(t *testing.T, addr []string)
		want func() auditEntry
	}{
		{"failed login",
			func(t *testing.T, a []string) {
				e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": "nobody@example.com", "password": guess}, a...).
					want(t, "bad login", 401, "")
			},
			func() auditEntry {
				return auditEntry{Actor: "anonymous", ActorType: "anonymous", Action: "auth.login_failed", Target: "nobody@example.com", Status: ptr(401)}
			}},
		{"login",
			func(t *testing.T, a []string) {
				e.do(t, "POST", "/api/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, a...).want(t, "login", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "auth.login", Target: adminEmail, Status: ptr(200)}
			}},
		{"execute",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/api/workspaces/default/tasks/quick/execute", reader, map[string]any{}, a...)
				r.want(t, "execute", 200, "")
				jobID = jobOf(t, r)
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "job.execute", Target: "default/quick", Status: ptr(200),
					Detail: map[string]any{"job_id": jobID}}
			}},
		{"execute with bad input",
			func(t *testing.T, a []string) {
				e.do(t, "POST", "/api/workspaces/default/tasks/quick/execute", reader, map[string]any{"input": []int{1}}, a...).want(t, "bad", 400, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "job.execute", Target: "default/quick", Status: ptr(400)}
			}},
		{"cancel",
			func(t *testing.T, a []string) {
				slowID = e.runJob(t, reader, "slow")
				e.do(t, "POST", "/api/jobs/"+slowID+"/cancel", reader, nil, a...).want(t, "cancel", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "job.cancel", Target: slowID, Status: ptr(200)}
			}},
		{"refresh",
			func(t *testing.T, a []string) {
				e.do(t, "POST", "/api/workspaces/default/refresh", reader, nil, a...).want(t, "refresh", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "workspace.refresh", Target: "default", Status: ptr(200),
					Detail: map[string]any{"changed": "*", "revision": "*"}}
			}},
		{"api key create",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/api/auth/api-keys", reader, map[string]any{"name": "ci"}, a...)
				r.want(t, "create key", 200, "")
				var k struct{ Key, Prefix string }
				r.json(t, &k)
				apiKey, keyPrefix = k.Key, k.Prefix
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "api_key.create", Target: keyPrefix, Status: ptr(200),
					Detail: map[string]any{"name": "ci"}}
			}},
		{"execute with an api key",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/api/workspaces/default/tasks/quick/execute", apiKey, map[string]any{}, a...)
				r.want(t, "execute", 200, "")
				jobID = jobOf(t, r)
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "api_key", Action: "job.execute", Target: "default/quick", Status: ptr(200),
					Detail: map[string]any{"job_id": jobID, "api_key": keyPrefix}}
			}},
		{"api key delete",
			func(t *testing.T, a []string) {
				e.do(t, "DELETE", "/api/auth/api-keys/"+keyPrefix, reader, nil, a...).want(t, "delete key", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "api_key.delete", Target: keyPrefix, Status: ptr(200)}
			}},
		{"user create",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/api/users", reader, map[string]any{"email": "dev@example.com", "password": "dev-password-1"}, a...)
				r.want(t, "create user", 200, "")
				var u struct {
					UserID string `json:"user_id"`
				}
				r.json(t, &u)
				devID = u.UserID
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "user.create", Target: devID, Status: ptr(200),
					Detail: map[string]any{"email": "dev@example.com", "is_admin": false}}
			}},
		{"user password",
			func(t *testing.T, a []string) {
				e.do(t, "PUT", "/api/users/"+devID+"/password", reader, map[string]any{"password": "dev-password-2"}, a...).want(t, "password", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "user.password", Target: devID, Status: ptr(200),
					Detail: map[string]any{"email": "dev@example.com"}}
			}},
		{"non-admin refused",
			func(t *testing.T, a []string) {
				dev := e.login(t, "dev@example.com", "dev-password-2")
				e.do(t, "GET", "/api/audit", dev.AccessToken, nil).want(t, "non-admin audit", 403, "Admin access required")
				e.do(t, "POST", "/api/users", dev.AccessToken, map[string]any{"email": "x@example.com"}, a...).want(t, "non-admin", 403, "")
			},
			func() auditEntry {
				return auditEntry{Actor: "dev@example.com", ActorType: "user", Action: "user.create", Status: ptr(403)}
			}},
		{"user delete",
			func(t *testing.T, a []string) {
				e.do(t, "DELETE", "/api/users/"+devID, reader, nil, a...).want(t, "delete user", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "user.delete", Target: devID, Status: ptr(200),
					Detail: map[string]any{"email": "dev@example.com"}}
			}},
		{"backup",
			func(t *testing.T, a []string) {
				e.do(t, "GET", "/api/backup", reader, nil, a...).want(t, "backup", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "backup.download", Status: ptr(200),
					Detail: map[string]any{"jobs": "*", "db_bytes": "*", "log_bytes": "*"}}
			}},
		{"webhook",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/hooks/deploy?secret=hook-secret-value", "", map[string]any{"password": "body-secret"}, a...)
				r.want(t, "webhook", 200, "")
				jobID = jobOf(t, r)
			},
			func() auditEntry {
				return auditEntry{Actor: "/hooks/deploy", ActorType: "webhook", Action: "job.execute", Target: "default/quick", Status: ptr(200),
					Detail: map[string]any{"job_id": jobID, "trigger": "deploy-hook"}}
			}},
		{"webhook with a wrong secret",
			func(t *testing.T, a []string) {
				e.do(t, "POST", "/hooks/deploy?secret=nope", "", nil, a...).want(t, "webhook", 401, "")
			},
			func() auditEntry {
				return auditEntry{Actor: "/hooks/deploy", ActorType: "webhook", Action: "job.execute", Target: "default/quick", Status: ptr(401),
					Detail: map[string]any{"trigger": "deploy-hook"}}
			}},
		{"worker register",
			func(t *testing.T, a []string) {
				r := e.do(t, "POST", "/worker/register", auditWorkerToken, map[string]any{"name": "gpu-box", "tags": []string{"gpu"}}, a...)
				r.want(t, "register", 200, "")
				var out struct {
					WorkerID string `json:"worker_id"`
				}
				r.json(t, &out)
				workerID = out.WorkerID
			},
			func() auditEntry {
				return auditEntry{Actor: "gpu-box", ActorType: "worker", Action: "worker.register", Target: workerID, Status: ptr(200),
					Detail: map[string]any{"tags": []any{"gpu"}}}
			}},
		{"logout",
			func(t *testing.T, a []string) {
				p := e.login(t, adminEmail, adminPassword)
				e.do(t, "POST", "/api/auth/logout", "", map[string]string{"refresh_token": p.RefreshToken}, a...).want(t, "logout", 200, "")
			},
			func() auditEntry {
				return auditEntry{Actor: adminEmail, ActorType: "user", Action: "auth.logout", Target: adminEmail, Status: ptr(200)}
			}},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before, n0 := e.audit(t, reader, "limit=1")
			addr := hdr(i + 1)
			st.run(t, addr)
			got, n1 := e.audit(t, reader, "limit=1")
			// Helper logins inside a step (cancel's job, non-admin, logout)
			// add their own entries; the newest is the step's.
			if n1 <= n0 || len(got) != 1 || len(before) == 1 && got[0].ID == before[0].ID {
				t.Fatalf("no new entry (total %d → %d)", n0, n1)
			}
			want := st.want()
			want.Address = addr[1]
			checkEntry(t, got[0], want)
		})
	}
	// Exactly one entry per action: the steps added one each, plus the
	// logins some of them made (non-admin and logout) and the runJob in
	// cancel (an execute).
	all, total := e.audit(t, reader, "limit=1000")
	if want := 1 + len(steps) + 3; total != want || len(all) != want {
		t.Errorf("%d entries (X-Total-Count %d), want %d", len(all), total, want)
	}
	for _, en := range all {
		for _, secret := range []string{guess, adminPassword, "dev-password-1", "dev-password-2", apiKey, admin.RefreshToken,
			"hook-secret-value", "body-secret", auditWorkerToken} {
			if strings.Contains(fmt.Sprint(en), secret) {
				t.Errorf("entry %+v holds the secret %q", en, secret)
			}
		}
	}
	// A logout with an unknown token revoked nothing: not recorded; nor
	// are reads, unknown hooks and rate-limited logins.
	e.do(t, "POST", "/api/auth/logout", "", map[string]string{"refresh_token": "nope"}).want(t, "logout", 200, "")
	e.do(t, "GET", "/api/jobs", reader, nil).want(t, "read", 200, "")
	e.do(t, "POST", "/hooks/nope", "", nil).want(t, "unknown hook", 404, "")
	if _, n := e.audit(t, reader, "limit=1"); n != total {
		t.Errorf("unrecorded requests added %d entries", n-total)
	}
}

func ptr(n int) *int { return &n }

func jobOf(t *testing.T, r response) string {
	t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	r.json(t, &out)
	if out.JobID == "" {
		t.Fatalf("no job_id in %s", r.body)
	}
	return out.JobID
}

// checkEntry compares an entry with want; a detail value "*" means "any
// value present"; id and time must be set.
func checkEntry(t *testing.T, got, want auditEntry) {
	t.Helper()
	if got.ID == "" || got.Time == "" {
		t.Errorf("entry lacks id or time: %+v", got)
	}
	if _, err := time.Parse(jobs.APITimeLayout, got.Time); err != nil {
		t.Errorf("time %q: %v", got.Time, err)
	}
	if want.Detail == nil {
		want.Detail = map[string]any{}
	}
	for k, v := range want.Detail {
		if v == "*" {
			if _, ok := got.Detail[k]; !ok {
				t.Errorf("detail lacks %q: %v", k, got.Detail)
			}
			want.Detail[k] = got.Detail[k]
		}
	}
	want.ID, want.Time = got.ID, got.Time
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("entry (-want +got):\n%s", d)
	}
}

// TestAuditAuthOff: with auth off the actor is anonymous, the address is
// the peer's (an untrusted peer's X-Forwarded-For is ignored), and
// GET /api/audit is open with its filters and paging.
func TestAuditAuthOff(t *testing.T) {
	e := startAuthServer(t, withoutAuth)
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	var ids []string
	for range 3 {
		r := e.do(t, "POST", "/api/workspaces/default/tasks/quick/execute", "", map[string]any{}, "X-Forwarded-For", "203.0.113.7")
		r.want(t, "execute", 200, "")
		ids = append(ids, jobOf(t, r))
	}
	e.do(t, "POST", "/api/workspaces/default/refresh", "", nil).want(t, "refresh", 200, "")
	e.do(t, "GET", "/api/jobs/"+ids[0]+"?wait=true&timeout=10", "", nil).want(t, "wait", 200, "")
	e.do(t, "POST", "/api/jobs/"+ids[0]+"/cancel", "", nil).want(t, "cancel finished", 409, "")

	all, total := e.audit(t, "", "")
	if total != 5 || len(all) != 5 {
		t.Fatalf("%d entries (total %d), want 5", len(all), total)
	}
	checkEntry(t, all[4], auditEntry{Actor: "anonymous", ActorType: "anonymous", Address: "127.0.0.1", Action: "job.execute",
		Target: "default/quick", Status: ptr(200), Detail: map[string]any{"job_id": ids[0]}})
	checkEntry(t, all[0], auditEntry{Actor: "anonymous", ActorType: "anonymous", Address: "127.0.0.1", Action: "job.cancel",
		Target: ids[0], Status: ptr(409)})

	actions := func(es []auditEntry) []string {
		out := []string{}
		for _, en := range es {
			out = append(out, en.Action+" "+en.Target)
		}
		return out
	}
	future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	cases := []struct {
		query string
		want  []string
		total int // -1: no header
	}{
		{"action=job.execute", []string{"job.execute default/quick", "job.execute default/quick", "job.execute default/quick"}, -1},
		{"action=job.execute&limit=1&offset=2", []string{"job.execute default/quick"}, -1},
		{"actor=ANONYMOUS&action=workspace.refresh", []string{"workspace.refresh default"}, -1},
		{"actor=someone@example.com", []string{}, -1},
		{"limit=2", []string{"job.cancel " + ids[0], "workspace.refresh default"}, 5},
		{"limit=2&offset=4", []string{"job.execute default/quick"}, 5},
		{"since=" + url.QueryEscape(start), actions(all), 5},
		{"since=" + url.QueryEscape(future), []string{}, 0},
		{"until=" + url.QueryEscape(start), []string{}, 0},
		{"until=" + url.QueryEscape(future) + "&limit=1", []string{"job.cancel " + ids[0]}, 5},
	}
	for _, tc := range cases {
		got, n := e.audit(t, "", tc.query)
		if d := cmp.Diff(tc.want, actions(got)); d != "" || n != tc.total {
			t.Errorf("%s: total %d (want %d), entries (-want +got):\n%s", tc.query, n, tc.total, d)
		}
	}
	for _, q := range []string{"since=yesterday", "until=2026-12-06", "limit=x", "offset=-1"} {
		e.do(t, "GET", "/api/audit?"+q, "", nil).want(t, q, 400, "")
	}
	// limit is capped at 1000.
	if got, _ := e.audit(t, "", "limit=5000"); len(got) != 5 {
		t.Errorf("limit=5000: %d entries", len(got))
	}
}
