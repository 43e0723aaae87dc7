package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is the API's time layout: RFC 3339 UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is an instant sent in TimeLayout; the zero Time is JSON null. It
// reads any RFC 3339 time.
type Time struct{ time.Time }

// At returns t as a Time.
func At(t time.Time) Time { return Time{t} }

// MarshalJSON writes null for the zero time, else the UTC time in
// TimeLayout.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads null (the zero time) or an RFC 3339 string.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: want an RFC 3339 string or null, got %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q: %w", s, err)
	}
	*t = Time{v}
	return nil
}

// OptString is a string sent as JSON null when empty; null reads as "".
type OptString string

// MarshalJSON writes null for "". It escapes no HTML characters itself:
// the encoder that calls it applies its own SetEscapeHTML setting, as it
// would to a plain string.
func (s OptString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	if plain(string(s)) {
		b := make([]byte, 0, len(s)+2)
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(s)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Ptr is nil for "", else a pointer to s (for three-state fields: absent,
// null, string).
func (s OptString) Ptr() *OptString {
	if s == "" {
		return nil
	}
	return &s
}

// plain reports whether s is printable ASCII that JSON quotes as is (ids,
// names): the common case skips the encoder.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
