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
