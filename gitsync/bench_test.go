package gitsync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"runnel/gitsync"
	"runnel/gitsync/gittest"
)

// files200 is a workspace-like tree: 10 directories of 19 text files and
// one executable script, plus 10 YAML files at the top (200 files).
func files200() map[string]string {
	files := map[string]string{}
	for d := range 10 {
		for f := range 19 {
			files[fmt.Sprintf("dir%02d/file%02d.txt", d, f)] = strings.Repeat(fmt.Sprintf("line %d %d\n", d, f), 200)
		}
		files[fmt.Sprintf("dir%02d/run.sh", d)] = gittest.Exec("#!/bin/sh\necho run\n")
		files[fmt.Sprintf("task%02d.yaml", d)] = fmt.Sprintf("tasks:\n  t%d:\n    steps: []\n", d)
	}
	return files
}

// synced returns a Repo whose clone already matches an upstream holding
// files200.
func synced(b *testing.B) (*gittest.Upstream, *gitsync.Repo) {
	b.Helper()
	u := gittest.New(b)
	u.Commit(b, "initial", files200())
	r := gitsync.New(gitsync.Options{URL: u.URL(), Dir: filepath.Join(b.TempDir(), "clone")})
	if _, err := r.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	return u, r
}

// BenchmarkSyncUnchanged is one poll of an unchanged local upstream: a ref
// listing and a HEAD comparison (target < 20 ms).
func BenchmarkSyncUnchanged(b *testing.B) {
	_, r := synced(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if s := r.Stats(); s.Fetches != 0 || s.Clones != 1 {
		b.Fatalf("unchanged polls fetched or cloned: %+v", s)
	}
}

// BenchmarkSyncNewCommit is a poll that finds one new upstream commit
// (changing one file) and fetches and hard-resets to it. Making the commit
// is not timed.
func BenchmarkSyncNewCommit(b *testing.B) {
	u, r := synced(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		want := u.Commit(b, "change", map[string]string{"dir00/file00.txt": fmt.Sprintf("change %d\n", i)})
		b.StartTimer()
		got, err := r.Sync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got != want {
			b.Fatalf("Sync = %s, want %s", got, want)
		}
	}
}

// BenchmarkExport writes the 200-file tree of one commit into a new
// revision directory.
func BenchmarkExport(b *testing.B) {
	u, r := synced(b)
	rev := u.Head(b, "main")
	revs := gittest.TempDir(b)
	i := 0
	for b.Loop() {
		i++
		if err := r.Export(rev, filepath.Join(revs, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
}
