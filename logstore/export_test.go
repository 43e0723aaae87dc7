package logstore

// Internals for the black-box tests.

// ParseLineJSON is ParseLine's encoding/json fallback, to check that the
// fast path agrees with it.
var ParseLineJSON = parseLineJSON

// EncodeLine encodes l as the writer does, without masking or a length cap.
func EncodeLine(l Line) []byte {
	var e encoder
	return e.appendLine(nil, l)
}

// FormatSize renders the step cap in the cap notice.
var FormatSize = formatSize

// OpenWriters is the number of writer file slots taken.
func (s *Store) OpenWriters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Remembered returns how many job entries the Store holds and how many
// finished jobs it remembers.
func (s *Store) Remembered() (jobs, finished int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs), s.finished.len()
}
