package logstore_test

import (
	"strings"
	"testing"

	"runnel/logstore"
)

// TestStats: the counters match the bytes and lines in the files, with
// lines dropped by the step cap not counted and the cap's notice counted.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir, MaxStepBytes: 20})
	if st := s.Stats(); st != (logstore.Stats{}) {
		t.Fatalf("fresh store: %+v", st)
	}
	mustAppend(t, s, "a", out("s", "hello"), out("s", "world"))
	mustAppend(t, s, "b", out("s", "0123456789"), out("s", "0123456789"), out("s", "dropped"))
	var bytes, lines int
	for _, job := range []string{"a", "b"} {
		f := fileOf(t, dir, job)
		bytes += len(f)
		lines += strings.Count(f, "\n")
	}
	if lines != 4 { // a: 2; b: 1 line under the cap, then the notice
		t.Fatalf("files hold %d lines", lines)
	}
	if st := s.Stats(); st.Bytes != uint64(bytes) || st.Lines != uint64(lines) {
		t.Errorf("stats %+v, files hold %d bytes in %d lines", st, bytes, lines)
	}
}
