package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// tailBlock is the block size used to look for the last '\n' of a file.
const tailBlock = 64 << 10

// stepBlock is the file block size ReadStep scans at a time.
const stepBlock = 1 << 20

// committedEnd returns the offset after the last '\n' of f (the end of its
// complete lines) and f's size.
func committedEnd(f *os.File) (end, size int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	if size == 0 {
		return 0, 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, 0, err
	}
	if last[0] == '\n' {
		return size, size, nil
	}
	buf := make([]byte, min(tailBlock, size))
	for pos := size; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, size, nil
		}
	}
	return 0, size, nil
}

// checkOffset reports ErrInvalidOffset unless offset is 0 or follows a '\n'
// within [0, end].
func checkOffset(f *os.File, offset, end int64) error {
	if offset < 0 || offset > end {
		return ErrInvalidOffset
	}
	if offset == 0 {
		return nil
	}
	var prev [1]byte
	if _, err := f.ReadAt(prev[:], offset-1); err != nil {
		return fmt.Errorf("check offset: %w", err)
	}
	if prev[0] != '\n' {
		return ErrInvalidOffset
	}
	return nil
}

// openRead opens a job's file for reading from offset, checking the offset.
// A missing file reads as empty (f is nil).
func (s *Store) openRead(jobID string, offset int64) (f *os.File, size int64, err error) {
	if err := checkJobID(jobID); err != nil {
		return nil, 0, err
	}
	if offset < 0 {
		return nil, 0, ErrInvalidOffset
	}
	f, err = os.Open(s.path(jobID))
	if errors.Is(err, fs.ErrNotExist) {
		if offset != 0 {
			return nil, 0, ErrInvalidOffset
		}
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read log: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		err = checkOffset(f, offset, st.Size())
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// readFull reads into b from off, stopping early only at the end of file.
func readFull(f *os.File, b []byte, off int64) (int, error) {
	n, err := f.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// Read returns complete lines from byte offset, at most max bytes (but at
// least one whole line if one exists; max ≤ 0 means DefaultReadMax), and the
// offset after them. The data is byte-identical to the file; an unterminated
// tail is never returned. A job without a file reads as empty. offset must be
// 0 or a line start, else ErrInvalidOffset.
func (s *Store) Read(jobID string, offset int64, max int) (data []byte, next int64, err error) {
	f, size, err := s.openRead(jobID, offset)
	if err != nil || f == nil {
		return nil, offset, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultReadMax
	}
	data, err = readLines(f, offset, size, max)
	if err != nil {
		return nil, offset, fmt.Errorf("read log %q: %w", f.Name(), err)
	}
	return data, offset + int64(len(data)), nil
}

// readLines returns the complete lines of f in [offset, size), at most limit
// bytes unless the first line alone is longer.
func readLines(f *os.File, offset, size int64, limit int) ([]byte, error) {
	avail := size - offset
	if avail <= 0 {
		return nil, nil
	}
	buf := make([]byte, min(int64(limit), avail))
	n, err := readFull(f, buf, offset)
	if err != nil {
		return nil, err
	}
	buf = buf[:n]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return buf[:i+1], nil
	}
	// The first line is longer than limit: extend to its end.
	for int64(len(buf)) < avail && n > 0 {
		from := len(buf)
		grow := min(int64(max(len(buf), 4096)), avail-int64(len(buf)))
		buf = append(buf, make([]byte, grow)...)
		n, err = readFull(f, buf[from:], offset+int64(from))
		if err != nil {
			return nil, err
		}
		buf = buf[:from+n]
		if i := bytes.IndexByte(buf[from:], '\n'); i >= 0 {
			return buf[:from+i+1], nil
		}
	}
	return nil, nil
}

// ReadStep is Read filtered to the lines that ParseLine accepts and whose
// step is step (non-JSON lines are skipped): at most max bytes of them (at
// least one line if one exists), each '\n'-terminated. next is the file
// offset after the last line examined, so paging by next covers the file.
func (s *Store) ReadStep(jobID, step string, offset int64, max int) (data []byte, next int64, err error) {
	return s.ReadStepStream(jobID, step, "", offset, max)
}

// ReadStepStream is ReadStep further filtered to one stream (Stdout or
// Stderr; "" means both): the REST API reads the _server problem events
// (stream stderr) this way.
func (s *Store) ReadStepStream(jobID, step, stream string, offset int64, max int) (data []byte, next int64, err error) {
	f, size, err := s.openRead(jobID, offset)
	if err != nil || f == nil {
		return nil, offset, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultReadMax
	}
	m := lineMatcher{step: step, stream: stream}
	buf := make([]byte, min(stepBlock, size-offset))
	pos := offset // file offset of buf[0]
	for pos < size {
		n, err := readFull(f, buf, pos)
		if err != nil {
			return nil, offset, fmt.Errorf("read log %q: %w", f.Name(), err)
		}
		block := buf[:n]
		start := 0 // next line to examine in block
		for {
			i := bytes.IndexByte(block[start:], '\n')
			if i < 0 {
				break
			}
			line := block[start : start+i]
			if m.match(line) {
				if len(data) > 0 && len(data)+len(line)+1 > max {
					return data, pos + int64(start), nil
				}
				data = append(data, block[start:start+i+1]...)
			}
			start += i + 1
		}
		if start == 0 {
			if n < len(buf) {
				break // unterminated tail
			}
			buf = make([]byte, 2*len(buf)) // a line longer than the block
			continue
		}
		pos += int64(start)
		if n < len(buf) {
			break
		}
	}
	return data, pos, nil
}

// Range is a job's log from an offset to the end of its last complete line
// when it was opened, for streaming the whole log without holding it.
type Range struct {
	io.Reader
	// Start and End are the byte offsets of the span in the file.
	Start, End int64
	f          *os.File
}

// Close closes the file (a Range of a job with no file has none).
func (r *Range) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// OpenRange opens the job's log from offset (0 or a line start) to the end
// of its last complete line now; lines appended later are not part of it.
// A job without a file yields an empty Range at offset 0.
func (s *Store) OpenRange(jobID string, offset int64) (*Range, error) {
	f, _, err := s.openRead(jobID, offset)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return &Range{Reader: strings.NewReader("")}, nil
	}
	end, _, err := committedEnd(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read log %q: %w", f.Name(), err)
	}
	end = max(end, offset)
	return &Range{Reader: io.NewSectionReader(f, offset, end-offset), Start: offset, End: end, f: f}, nil
}
