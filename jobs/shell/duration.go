package shell

import (
	"strconv"
	"strings"
	"time"
)

// FormatDuration formats d the way runnel's messages do: "3.2s", "45s",
// "5m", "1h30m", "2d" (used in "Step timed out after 5m").
//
// Under a minute d is rounded to a tenth of a second and shown with one
// decimal only when it has a fraction ("0.4s", "3.2s", "45s"); from a minute
// on it is rounded to whole seconds and written as d, h, m, s groups,
// largest first, zero groups omitted ("1m30s", "1d12h"). Zero (or less
// than 0.05 s) is "0s"; a negative d gets a leading "-".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	d = d.Round(100 * time.Millisecond)
	if d < time.Minute {
		tenths := int64(d / (100 * time.Millisecond))
		if tenths%10 == 0 {
			return strconv.FormatInt(tenths/10, 10) + "s"
		}
		return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10) + "s"
	}
	secs := int64(d.Round(time.Second) / time.Second)
	var b strings.Builder
	for _, u := range []struct {
		secs int64
		name string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if n := secs / u.secs; n > 0 {
			b.WriteString(strconv.FormatInt(n, 10))
			b.WriteString(u.name)
			secs -= n * u.secs
		}
	}
	return b.String()
}
