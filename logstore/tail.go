package logstore

import (
	"bytes"
	"fmt"
	"os"
)

// openTail opens a job's file for a backward read ending at before (< 0:
// the end of the complete lines), checking that before is 0 or a line
// start. A missing file reads as empty (f is nil).
func (s *Store) openTail(jobID string, before int64) (f *os.File, end int64, err error) {
	f, _, err = s.openRead(jobID, 0)
	if err != nil || f == nil {
		if err == nil && before > 0 {
			err = ErrInvalidOffset
		}
		return nil, 0, err
	}
	committed, _, err := committedEnd(f)
	if err == nil {
		end = committed
		if before >= 0 {
			end = before
			err = checkOffset(f, before, committed)
		}
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, end, nil
}

// Tail returns the complete lines that end at byte offset before (before <
// 0: at the end of the complete lines), at most max bytes of them (at least
// one line if one exists; max ≤ 0 means DefaultReadMax). start is the
// offset of the first returned line and end the offset after the last, so
// Tail(start) pages backwards without gaps or overlaps and Read(end) or a
// follow goes on forwards. It reads only the lines it returns. before must
// be 0 or a line start, else ErrInvalidOffset.
func (s *Store) Tail(jobID string, before int64, max int) (data []byte, start, end int64, err error) {
	f, end, err := s.openTail(jobID, before)
	if err != nil || f == nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultReadMax
	}
	from := end - min(int64(max), end)
	buf := make([]byte, end-from)
	if _, err := readFull(f, buf, from); err != nil {
		return nil, 0, 0, fmt.Errorf("read log %q: %w", f.Name(), err)
	}
	if from > 0 {
		var prev [1]byte
		if _, err := f.ReadAt(prev[:], from-1); err != nil {
			return nil, 0, 0, fmt.Errorf("read log %q: %w", f.Name(), err)
		}
		if prev[0] != '\n' {
			// buf starts inside a line: drop it, unless it is the only one.
			if i := bytes.IndexByte(buf, '\n'); i >= 0 && i < len(buf)-1 {
				return buf[i+1:], from + int64(i) + 1, end, nil
			}
			line, lstart, err := lineEndingAt(f, end)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("read log %q: %w", f.Name(), err)
			}
			return line, lstart, end, nil
		}
	}
	return buf, from, end, nil
}

// lineEndingAt returns the whole line that ends at end (a line start > 0)
// and its offset, reading backwards for its beginning.
func lineEndingAt(f *os.File, end int64) ([]byte, int64, error) {
	pos := end
	block := make([]byte, tailBlock)
	for first := true; pos > 0; first = false {
		n := min(int64(len(block)), pos)
		pos -= n
		if _, err := readFull(f, block[:n], pos); err != nil {
			return nil, 0, err
		}
		chunk := block[:n]
		if first {
			chunk = chunk[:len(chunk)-1] // the line's own '\n'
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			pos += int64(i) + 1
			break
		}
	}
	line := make([]byte, end-pos)
	if _, err := readFull(f, line, pos); err != nil {
		return nil, 0, err
	}
	return line, pos, nil
}

// TailStep is Tail filtered to step's lines (as ReadStep): the last lines
// of step that end at or before offset before, at most max bytes of them
// (at least one if one exists). start is the offset of the first line
// examined (every line of step in [start, end) is returned), so
// TailStep(start) pages backwards. It holds one block of the file (at most
// 1 MiB) besides the answer.
func (s *Store) TailStep(jobID, step string, before int64, max int) (data []byte, start, end int64, err error) {
	f, end, err := s.openTail(jobID, before)
	if err != nil || f == nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultReadMax
	}
	m := lineMatcher{step: step}
	var lines [][]byte // matching lines, newest first
	total := 0
	pos := end // chunks are read backwards from here
	var carry []byte
	start = end
	// Blocks grow from tailBlock to stepBlock: a small page of a big log
	// reads little.
	for block := int64(tailBlock); pos > 0; block = min(2*block, stepBlock) {
		n := min(block, pos)
		pos -= n
		chunk := make([]byte, n, n+int64(len(carry)))
		if _, err := readFull(f, chunk, pos); err != nil {
			return nil, 0, 0, fmt.Errorf("read log %q: %w", f.Name(), err)
		}
		chunk = append(chunk, carry...)
		// Complete lines of chunk start after its first '\n' (or at 0 at
		// the start of the file).
		first := 0
		if pos > 0 {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 || i == len(chunk)-1 {
				carry = chunk // one line longer than the block
				continue
			}
			first = i + 1
		}
		lineEnd := len(chunk)
		for lineEnd > first {
			ls := bytes.LastIndexByte(chunk[first:lineEnd-1], '\n') + 1 + first
			line := chunk[ls:lineEnd]
			if m.match(line[:len(line)-1]) {
				if total > 0 && total+len(line) > max {
					return joinReversed(lines, total), start, end, nil
				}
				lines = append(lines, bytes.Clone(line))
				total += len(line)
			}
			start = pos + int64(ls)
			lineEnd = ls
		}
		carry = bytes.Clone(chunk[:first])
	}
	return joinReversed(lines, total), start, end, nil
}

func joinReversed(lines [][]byte, total int) []byte {
	if total == 0 {
		return nil
	}
	out := make([]byte, 0, total)
	for i := len(lines) - 1; i >= 0; i-- {
		out = append(out, lines[i]...)
	}
	return out
}
