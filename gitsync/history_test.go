package gitsync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
)

func TestCommitAndChanges(t *testing.T) {
	t.Parallel()
	u := gittest.New(t)
	first := u.Commit(t, "first\n\nwith a body", map[string]string{
		"keep.txt": "same\n", "edit.yaml": "a: 1\nb: 2\n", "gone.txt": "bye\n", "big.txt": strings.Repeat("x", 100),
	})
	second := u.Commit(t, "second", map[string]string{
		"edit.yaml": "a: 1\nb: 3\n", "gone.txt": gittest.Delete, "new.sh": gittest.Exec("echo hi\n"),
		"big.txt": strings.Repeat("y", 100), "link": gittest.Symlink("keep.txt"),
	})
	r, _ := newRepo(t, u.URL(), "")
	mustSync(t, r)
	ctx := context.Background()

	c, err := r.Commit(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash != first || c.Message != "first\n\nwith a body" || c.Author != "gittest <gittest@example.invalid>" ||
		!c.Time.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Errorf("commit: %+v", c)
	}
	if _, err := r.Commit(ctx, strings.Repeat("0", 40)); err == nil {
		t.Error("unknown commit described")
	}

	got, err := r.Changes(ctx, first, second, 10, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := []gitsync.FileChange{
		{Path: "big.txt", Status: "modified", Omitted: true},
		{Path: "edit.yaml", Status: "modified", Old: []byte("a: 1\nb: 2\n"), New: []byte("a: 1\nb: 3\n")},
		{Path: "gone.txt", Status: "deleted", Old: []byte("bye\n")},
		{Path: "link", Status: "added", Omitted: true},
		{Path: "new.sh", Status: "added", New: []byte("echo hi\n")},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if _, err := r.Changes(ctx, first, second, 4, 50); !errors.Is(err, gitsync.ErrTooManyChanges) {
		t.Errorf("5 changes with a limit of 4: %v", err)
	}
}
