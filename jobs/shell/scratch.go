package shell

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// Scratch hands out the TMPDIRs of the steps one slot runs one after
// another. Creating and removing a directory costs the kernel ~0.4 ms of
// CPU on ext4 (issue 16), so a step that leaves its TMPDIR empty passes the
// directory on to the slot's next step: each step still starts with an
// empty directory of its own (mode 0700, never shared by two running
// steps), and one left non-empty, changed or gone is removed and replaced
// by a fresh one. Close removes the idle directory. A Scratch is used by one
// goroutine at a time.
type Scratch struct {
	// Root is where directories are created (see Spec.TempRoot).
	Root string
	idle string // directory of the last step, checked before reuse
}

// take returns an empty private directory for the next step.
func (s *Scratch) take() (string, error) {
	if dir := s.idle; dir != "" {
		s.idle = ""
		if reusable(dir) {
			return dir, nil
		}
		removeTree(dir)
	}
	return makeTempDir(s.Root)
}

// give keeps dir (after its step ended) for the next take.
func (s *Scratch) give(dir string) {
	if s.idle != "" {
		removeTree(s.idle)
	}
	s.idle = dir
}

// Close removes the idle directory, if any.
func (s *Scratch) Close() {
	if s.idle != "" {
		removeTree(s.idle)
		s.idle = ""
	}
}

// reusable reports whether dir is still a directory of mode 0700 owned by
// this process's user with nothing in it (a process that escaped its
// group may have written there after its step ended).
func reusable(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		return false
	}
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
