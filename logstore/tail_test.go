package logstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"runnel/logstore"
)

// tailAll pages backwards from the end with tail until offset 0 and checks
// that the pages, put back in order, are exactly want, that each page is
// whole lines within max (unless one line is longer) and that it ends at
// end.
func tailAll(t *testing.T, tail func(before int64, max int) ([]byte, int64, int64, error), max int, want string, wantEnd int64) int {
	t.Helper()
	var pages []string
	before := int64(-1)
	for {
		data, start, end, err := tail(before, max)
		if err != nil {
			t.Fatalf("tail before %d: %v", before, err)
		}
		if before < 0 && end != wantEnd {
			t.Fatalf("first page ends at %d, want %d", end, wantEnd)
		}
		if before >= 0 && end != before {
			t.Fatalf("page before %d ends at %d", before, end)
		}
		if len(data) > 0 {
			checkChunk(t, data)
			if len(data) > max && strings.Count(string(data), "\n") > 1 {
				t.Fatalf("page of %d bytes > max %d holds several lines", len(data), max)
			}
		}
		pages = append(pages, string(data))
		if start == 0 {
			break
		}
		if start >= end || len(pages) > 100000 {
			t.Fatalf("no progress: page [%d, %d)", start, end)
		}
		before = start
	}
	var b strings.Builder
	for i := len(pages) - 1; i >= 0; i-- {
		b.WriteString(pages[i])
	}
	if b.String() != want {
		t.Fatalf("pages joined differ from the log:\n got %d bytes\nwant %d bytes", b.Len(), len(want))
	}
	return len(pages)
}

func TestTailPagesBackwards(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	for i := range 1200 {
		// Lines of very different lengths, one much longer than some pages.
		n := i * 37 % 500
		if i == 600 {
			n = 5000
		}
		mustAppend(t, s, "j", out(fmt.Sprintf("s%d", i%3), strings.Repeat("x", n)))
	}
	file := fileOf(t, dir, "j")
	var step1 strings.Builder
	for _, l := range strings.SplitAfter(file, "\n") {
		if strings.Contains(l, `"s1"`) {
			step1.WriteString(l)
		}
	}
	for _, max := range []int{1, 999, 4096, 1 << 20} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			pages := tailAll(t, func(b int64, m int) ([]byte, int64, int64, error) { return s.Tail("j", b, m) }, max, file, int64(len(file)))
			if max == 4096 && pages < 50 {
				t.Errorf("%d pages of 4096 bytes for a %d-byte log", pages, len(file))
			}
			tailAll(t, func(b int64, m int) ([]byte, int64, int64, error) { return s.TailStep("j", "s1", b, m) }, max, step1.String(), int64(len(file)))
		})
	}
}

func TestTailEdges(t *testing.T) {
	dir := t.TempDir()
	s := open(t, logstore.Options{Dir: dir})
	// No file: empty.
	if data, start, end, err := s.Tail("none", -1, 100); err != nil || data != nil || start != 0 || end != 0 {
		t.Errorf("missing file: %q %d %d %v", data, start, end, err)
	}
	if _, _, _, err := s.Tail("none", 5, 100); !errors.Is(err, logstore.ErrInvalidOffset) {
		t.Errorf("before on a missing file: %v", err)
	}
	mustAppend(t, s, "j", out("a", "one"), out("b", "two"), out("a", "three"))
	file := fileOf(t, dir, "j")
	first := int64(strings.Index(file, "\n") + 1)
	for _, before := range []int64{1, first + 1, int64(len(file)) + 1} {
		if _, _, _, err := s.Tail("j", before, 100); !errors.Is(err, logstore.ErrInvalidOffset) {
			t.Errorf("Tail before %d: %v, want ErrInvalidOffset", before, err)
		}
		if _, _, _, err := s.TailStep("j", "a", before, 100); !errors.Is(err, logstore.ErrInvalidOffset) {
			t.Errorf("TailStep before %d: %v, want ErrInvalidOffset", before, err)
		}
	}
	// Before the second line: just the first.
	data, start, end, err := s.Tail("j", first, 1<<20)
	if err != nil || string(data) != file[:first] || start != 0 || end != first {
		t.Errorf("tail before the second line: %q %d %d %v", data, start, end, err)
	}
	// The step's last line only, when max fits one.
	data, start, _, err = s.TailStep("j", "a", -1, 10)
	if err != nil || len(texts(t, string(data))) != 1 || texts(t, string(data))[0] != "a|three" || start == 0 {
		t.Errorf("step tail: %q from %d: %v", data, start, err)
	}
}
