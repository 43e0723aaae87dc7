// Package webtest holds the web UI's tests in a real browser: chromedp
// drives Debian's chromium against the whole server stack on 127.0.0.1.
//
// It has no code of its own. Without chromium the tests skip (locally) or
// fail (when CI is set); RUNNEL_SCREENSHOTS=<dir> saves a PNG of each main
// page at 1400×900 and 390×844.
package webtest
