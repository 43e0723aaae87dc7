package jobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"runnel/jobs"
	"runnel/jobs/jobstest"
)

func TestSecretsMaskedInLogsAPIAndStore(t *testing.T) {
	h := jobstest.New(t, files(`
secrets:
  db:
    password: hunter2-very-secret
tasks:
  t:
    input:
      token: { type: string, secret: true }
      who: { type: string, default: ops }
    flow:
      leak:
        type: script
        input: { pw: "{{ secret.db.password }}", tok: "{{ input.token }}" }
        script: |
          echo "password is {{ input.pw }} and token {{ input.tok }}"
          echo 'OUTPUT: {"echo": "{{ input.pw }}"}'
      fail:
        type: script
        script: "echo 'bad hunter2-very-secret' >&2; exit 1"
`))
	id := h.Trigger("t", map[string]any{"token": "tok-abcdef-123"})
	j := h.Wait(id)
	log := h.Log(id)
	for _, secret := range []string{"hunter2-very-secret", "tok-abcdef-123"} {
		if strings.Contains(log, secret) {
			t.Errorf("log holds %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "password is ••••••") {
		t.Errorf("log not masked:\n%s", log)
	}
	if j.Input["token"] != jobs.Mask || j.Input["who"] != "ops" {
		t.Errorf("job input: %v", j.Input)
	}
	leak := jobstest.Step(t, j, "leak")
	if in := leak.Input.(map[string]any); in["pw"] != jobs.Mask || in["tok"] != jobs.Mask {
		t.Errorf("step input: %v", leak.Input)
	}
	if out := leak.Output.(map[string]any); out["echo"] != jobs.Mask {
		t.Errorf("step output: %v", leak.Output)
	}
	if msg := jobstest.Step(t, j, "fail").ErrorMessage; strings.Contains(msg, "hunter2") || !strings.Contains(msg, "bad ••••••") {
		t.Errorf("error message: %q", msg)
	}
	// The finalized records no longer hold the values. (bbolt does not
	// zero freed pages, so old page images may linger in the file until
	// reused; the file is created 0600.)
	h.Close()
	db, err := bolt.Open(filepath.Join(h.Dir, "runnel.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				for _, secret := range []string{"hunter2-very-secret", "tok-abcdef-123"} {
					if strings.Contains(string(v), secret) {
						t.Errorf("bucket %s key %x holds %q", name, k, secret)
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(h.Dir, "runnel.db")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database file mode: %v %v", st.Mode(), err)
	}
}
