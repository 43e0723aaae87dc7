package cron_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace/cron"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := cron.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func mustParse(t testing.TB, expr string, loc *time.Location) *cron.Schedule {
	t.Helper()
	s, err := cron.Parse(expr, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return s
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func formatAll(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = cron.FormatRun(t)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		want  string // exact error text
		never bool   // wraps ErrNeverFires
	}{
		{expr: "61 * * * *", want: "segment#1: '61' out of bounds(0, 59)"},
		{expr: "5,61 * * * *", want: "segment#1: '61' out of bounds(0, 59)"},
		{expr: "0 25 * * *", want: "segment#2: '25' out of bounds(0, 23)"},
		{expr: "60 0 0 * * *", want: "segment#0: '60' out of bounds(0, 59)"},
		{expr: "0 0 * 13 *", want: "segment#4: '13' out of bounds(1, 12)"},
		{expr: "0 0 * * 8", want: "segment#5: '8' out of bounds(0, 7)"},
		{expr: "0 0 32 * *", want: "segment#3: '32' out of bounds(1, 31)"},
		{expr: "*/0 * * * *", want: "segment#1: step can't be 0"},
		{expr: "5-70 * * * *", want: "segment#1: range '5-70' out of bounds(0, 59)"},
		{expr: "10-5/2 * * * *", want: "segment#1: step '10-5' out of bounds(0, 59)"},
		{expr: "*/5/2 * * * *", want: "segment#1: invalid step '*/5/2'"},
		{expr: "1,,2 * * * *", want: "segment#1: empty list item in '1,,2'"},
		{expr: "x * * * *", want: `segment#1: strconv.Atoi: parsing "X": invalid syntax`},
		{expr: "0 9 LW * *", want: `segment#3: strconv.Atoi: parsing "L": invalid syntax`},
		{expr: "0 9 5L * *", want: "segment#3: invalid offset value: 5L"},
		{expr: "0 9 * * L", want: "segment#5: invalid offset value: L"},
		{expr: "* * * *", want: "expr should contain 5 fields 'min hour dom mon dow' or 6 with seconds first, got 4"},
		{expr: "", want: "expr should contain 5 fields 'min hour dom mon dow' or 6 with seconds first, got 0"},
		{expr: "0 0 0 1 1 * 2030 1", want: "expr should contain 5 fields 'min hour dom mon dow' or 6 with seconds first, got 8"},
		{expr: "0 0 0 1 1 * 2030", want: "7 fields (with a year) are not supported: use 5 fields 'min hour dom mon dow' or 6 with seconds first"},
		{expr: "0 0 0 1 1 * *", want: "7 fields (with a year) are not supported: use 5 fields 'min hour dom mon dow' or 6 with seconds first"},
		{expr: "0 0 1 1 * 2030", want: `last field "2030" reads as a year, which is not supported: 6 fields are 'sec min hour dom mon dow'`},
		{expr: "0 0 1 1 * 2030-2040", want: `last field "2030-2040" reads as a year, which is not supported: 6 fields are 'sec min hour dom mon dow'`},
		{expr: "@always", want: `unknown descriptor "@always" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{expr: "@every 5m", want: `unknown descriptor "@every 5m" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{expr: "0 0 30 2 *", want: `cron "0 0 30 2 *": never fires`, never: true},
		{expr: "0 0 31 4,6,9,11 *", want: `cron "0 0 31 4,6,9,11 *": never fires`, never: true},
		{expr: "0 9 * * 5#6", want: `cron "0 9 * * 5#6": never fires`, never: true},
		{expr: "0 0 0 30 FEB ?", want: `cron "0 0 0 30 FEB ?": never fires`, never: true},
		{expr: "0 9 31W 2 *", want: `cron "0 9 31W 2 *": never fires`, never: true},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := cron.Parse(tc.expr, nil)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tc.expr, s.Expr(), tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%q) error = %q, want %q", tc.expr, err, tc.want)
			}
			if got := errors.Is(err, cron.ErrNeverFires); got != tc.never {
				t.Errorf("errors.Is(err, ErrNeverFires) = %v, want %v", got, tc.never)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	// Rare but possible schedules must not be mistaken for never-firing.
	for _, expr := range []string{
		"0 0 29 2 *",      // leap days only
		"0 0 31 * *",      // 31-day months only
		"0 9 * * 5#5",     // fifth Friday
		"0 9 29 2 */7",    // Feb 29 that is a Sunday (gronx intersects with a */ weekday)
		"0 9 L 2 *",       // Feb 28 or 29
		"0 9 31W * *",     // weekday nearest the 31st
		"0 9 * * 0L",      // last Sunday
		"0 9 * * 7#1",     // 7 is Sunday
		"0 9 * * SUN-SAT", // names
		"0 0 12 ? JAN-DEC/2 MON,WED,FRI",
		"  0\t9 * * *  ",
	} {
		if _, err := cron.Parse(expr, nil); err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	s := mustParse(t, "0 2 * * *", nil)
	if s.Location() != time.UTC {
		t.Errorf("Location() = %v, want UTC", s.Location())
	}
	if s.Expr() != "0 2 * * *" {
		t.Errorf("Expr() = %q", s.Expr())
	}
	got := formatAll(s.NextN(mustTime(t, "2026-02-18T12:00:00Z"), 2))
	want := []string{"2026-02-19T02:00:00+00:00", "2026-02-20T02:00:00+00:00"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("NextN (-want +got):\n%s", d)
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"0 * * * *", true},
		{"*/30 * * * *", true},
		{"* 2 * * *", true},
		{"30 */2 * * *", true},
		{"*/15 9-17 * * MON-FRI", true},
		{"? 3 * * *", true},
		{"@hourly", true},
		{"*/10 * * * * *", true},
		{"0 * 2 * * *", true},  // 6 fields: minute is '*'
		{"0 0 * * * *", true},  // 6 fields: hour is '*'
		{"* 0 2 * * *", false}, // 6 fields: a seconds wildcard alone is fixed
		{"*/10 30 2 * * *", false},
		{"30 2 * * *", false},
		{"0 0 2 * * *", false},
		{"0-59 0-23 * * *", false},
		{"0,30 2,3 * * *", false},
		{"@daily", false},
		{"@midnight", false},
		{"@weekly", false},
		{"@monthly", false},
		{"@yearly", false},
		{"@annually", false},
	} {
		if got := mustParse(t, tc.expr, nil).Wildcard(); got != tc.want {
			t.Errorf("Parse(%q).Wildcard() = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestNextN(t *testing.T) {
	for _, tc := range []struct {
		name  string
		expr  string
		zone  string
		after string
		want  []string
	}{
		// Europe/Copenhagen 2026: 29 Mar 02:00 CET → 03:00 CEST, 25 Oct 03:00 CEST → 02:00 CET.
		{"hourly spring", "0 * * * *", "Europe/Copenhagen", "2026-03-29T00:30:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{"hourly fall", "0 * * * *", "Europe/Copenhagen", "2026-10-25T01:30:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"@hourly fall", "@hourly", "Europe/Copenhagen", "2026-10-25T01:30:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"half-hourly spring", "*/30 * * * *", "Europe/Copenhagen", "2026-03-29T01:00:00+01:00",
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"}},
		{"half-hourly fall", "*/30 * * * *", "Europe/Copenhagen", "2026-10-25T01:45:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00",
				"2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"half-hourly from second pass", "*/30 * * * *", "Europe/Copenhagen", "2026-10-25T02:15:00+01:00",
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"every minute of hour 2, spring", "* 2 * * *", "Europe/Copenhagen", "2026-03-28T02:58:30+01:00",
			[]string{"2026-03-28T02:59:00+01:00", "2026-03-30T02:00:00+02:00"}},
		{"every minute of hour 2, fall", "* 2 * * *", "Europe/Copenhagen", "2026-10-25T02:58:00+02:00",
			[]string{"2026-10-25T02:59:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:01:00+01:00"}},
		{"fixed in gap", "30 2 * * *", "Europe/Copenhagen", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"fixed in overlap", "30 2 * * *", "Europe/Copenhagen", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"fixed after first pass", "30 2 * * *", "Europe/Copenhagen", "2026-10-25T02:45:00+02:00",
			[]string{"2026-10-26T02:30:00+01:00"}},
		{"fixed from second pass", "30 2 * * *", "Europe/Copenhagen", "2026-10-25T02:10:00+01:00",
			[]string{"2026-10-26T02:30:00+01:00"}},
		{"fixed at transition instant", "30 2 * * *", "Europe/Copenhagen", "2026-03-29T03:00:00+02:00",
			[]string{"2026-03-30T02:30:00+02:00"}},
		{"fixed just before transition", "30 2 * * *", "Europe/Copenhagen", "2026-03-29T01:59:59.5+01:00",
			[]string{"2026-03-29T03:00:00+02:00"}},
		{"6 fields in gap", "0 0 2 * * *", "Europe/Copenhagen", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"}},
		{"6 fields in overlap", "0 0 2 * * *", "Europe/Copenhagen", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+01:00"}},
		{"gap matches coalesce", "0,30 2,3 * * *", "Europe/Copenhagen", "2026-03-29T01:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:00:00+02:00"}},
		{"gap seconds coalesce", "*/10 30 2 * * *", "Europe/Copenhagen", "2026-03-29T01:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-30T02:30:10+02:00"}},
		{"fixed seconds in overlap", "*/20 30 2 * * *", "Europe/Copenhagen", "2026-10-25T02:30:00+02:00",
			[]string{"2026-10-25T02:30:20+02:00", "2026-10-25T02:30:40+02:00", "2026-10-26T02:30:00+01:00"}},
		{"seconds spring", "*/10 * * * * *", "Europe/Copenhagen", "2026-03-29T01:59:40+01:00",
			[]string{"2026-03-29T01:59:50+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:00:10+02:00"}},
		{"seconds fall", "*/10 * * * * *", "Europe/Copenhagen", "2026-10-25T02:59:40+02:00",
			[]string{"2026-10-25T02:59:50+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:00:10+01:00"}},
		{"seconds fraction", "*/10 * * * * *", "UTC", "2026-05-01T10:00:09.999+00:00",
			[]string{"2026-05-01T10:00:10+00:00"}},
		{"daily unaffected", "@daily", "Europe/Copenhagen", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		// America/New_York 2026: 8 Mar 02:00 → 03:00, 1 Nov 02:00 → 01:00.
		{"new york fixed gap", "15 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"}},
		{"new york fixed overlap", "15 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:15:00-04:00", "2026-11-02T01:15:00-05:00"}},
		// Australia/Lord_Howe: half-hour DST, 5 Apr 2026 02:00 → 01:30, 4 Oct 2026 02:00 → 02:30.
		{"lord howe wildcard fall", "*/20 * * * *", "Australia/Lord_Howe", "2026-04-05T01:30:00+11:00",
			[]string{"2026-04-05T01:40:00+11:00", "2026-04-05T01:40:00+10:30", "2026-04-05T02:00:00+10:30"}},
		{"lord howe fixed spring", "10 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:10:00+11:00"}},
		// L, W, #, names.
		{"last day", "0 9 L * *", "UTC", "2026-02-10T00:00:00Z",
			[]string{"2026-02-28T09:00:00+00:00", "2026-03-31T09:00:00+00:00", "2026-04-30T09:00:00+00:00"}},
		{"last day of leap february", "0 9 L 2 *", "UTC", "2027-03-01T00:00:00Z",
			[]string{"2028-02-29T09:00:00+00:00", "2029-02-28T09:00:00+00:00"}},
		{"nearest weekday", "0 9 15W * *", "UTC", "2026-08-01T00:00:00Z",
			[]string{"2026-08-14T09:00:00+00:00", "2026-09-15T09:00:00+00:00"}},
		{"nearest weekday stays in month", "0 9 1W * *", "UTC", "2026-07-31T00:00:00Z",
			[]string{"2026-08-03T09:00:00+00:00", "2026-09-01T09:00:00+00:00"}},
		{"second friday", "0 9 * * 5#2", "UTC", "2026-05-01T10:00:00Z",
			[]string{"2026-05-08T09:00:00+00:00", "2026-06-12T09:00:00+00:00"}},
		{"first friday by name", "0 9 * * FRI#1", "UTC", "2026-08-01T00:00:00Z",
			[]string{"2026-08-07T09:00:00+00:00", "2026-09-04T09:00:00+00:00"}},
		{"last friday", "0 9 * * 5L", "UTC", "2026-05-01T00:00:00Z",
			[]string{"2026-05-29T09:00:00+00:00", "2026-06-26T09:00:00+00:00"}},
		{"names and ranges", "0 9 * jan-mar mon-fri", "UTC", "2026-03-31T10:00:00Z",
			[]string{"2027-01-01T09:00:00+00:00", "2027-01-04T09:00:00+00:00"}},
		{"question mark", "0 9 ? * MON", "UTC", "2026-08-01T00:00:00Z",
			[]string{"2026-08-03T09:00:00+00:00", "2026-08-10T09:00:00+00:00"}},
		{"leap day across 2100", "0 0 29 2 *", "UTC", "2097-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00+00:00"}},
		// Descriptors.
		{"@yearly", "@yearly", "UTC", "2026-05-15T10:30:00Z", []string{"2027-01-01T00:00:00+00:00"}},
		{"@annually", "@annually", "UTC", "2026-05-15T10:30:00Z", []string{"2027-01-01T00:00:00+00:00"}},
		{"@monthly", "@monthly", "UTC", "2026-05-15T10:30:00Z", []string{"2026-06-01T00:00:00+00:00"}},
		{"@weekly", "@weekly", "UTC", "2026-05-15T10:30:00Z", []string{"2026-05-17T00:00:00+00:00"}},
		{"@daily", "@daily", "UTC", "2026-05-15T10:30:00Z", []string{"2026-05-16T00:00:00+00:00"}},
		{"@midnight", "@midnight", "UTC", "2026-05-15T10:30:00Z", []string{"2026-05-16T00:00:00+00:00"}},
		{"@hourly", "@hourly", "UTC", "2026-05-15T10:30:00Z", []string{"2026-05-15T11:00:00+00:00"}},
		{"@DAILY", "@DAILY", "UTC", "2026-05-15T10:30:00Z", []string{"2026-05-16T00:00:00+00:00"}},
		{"seconds first", "0 0 2 * * *", "UTC", "2026-02-18T12:00:00Z", []string{"2026-02-19T02:00:00+00:00"}},
		{"zone in result", "0 2 * * *", "Europe/Copenhagen", "2026-02-18T12:00:00Z", []string{"2026-02-19T02:00:00+01:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.expr, mustLoc(t, tc.zone))
			after := mustTime(t, tc.after)
			got := formatAll(s.NextN(after, len(tc.want)))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("NextN(%s, %d) (-want +got):\n%s", tc.after, len(tc.want), d)
			}
			next, ok := s.Next(after)
			if !ok || cron.FormatRun(next) != tc.want[0] {
				t.Errorf("Next(%s) = %s, %v; want %s", tc.after, cron.FormatRun(next), ok, tc.want[0])
			}
			if next.Location() != s.Location() {
				t.Errorf("Next location = %v, want %v", next.Location(), s.Location())
			}
		})
	}
}

func TestNextNZero(t *testing.T) {
	s := mustParse(t, "* * * * *", nil)
	if got := s.NextN(time.Now(), 0); len(got) != 0 {
		t.Errorf("NextN(now, 0) = %v, want empty", got)
	}
}

func TestFormatRun(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 29, 3, 0, 0, 0, mustLoc(t, "Europe/Copenhagen")), "2026-03-29T03:00:00+02:00"},
		{time.Date(2026, 2, 19, 2, 0, 0, 123456789, time.UTC), "2026-02-19T02:00:00+00:00"},
		{time.Date(2026, 11, 1, 1, 15, 0, 0, mustLoc(t, "America/New_York")), "2026-11-01T01:15:00-04:00"},
		{time.Date(2026, 4, 5, 1, 45, 0, 0, time.FixedZone("", 37800)), "2026-04-05T01:45:00+10:30"},
	} {
		if got := cron.FormatRun(tc.in); got != tc.want {
			t.Errorf("FormatRun(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoadLocation(t *testing.T) {
	for _, tc := range []struct {
		name, want, err string
	}{
		{name: "", want: "UTC"},
		{name: "UTC", want: "UTC"},
		{name: "Europe/Copenhagen", want: "Europe/Copenhagen"},
		{name: "Australia/Lord_Howe", want: "Australia/Lord_Howe"},
		{name: "Europe/Copenhagn", err: "unknown time zone Europe/Copenhagn"},
		{name: "Local", err: "unknown time zone Local"},
	} {
		loc, err := cron.LoadLocation(tc.name)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("LoadLocation(%q) error = %v, want %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("LoadLocation(%q): %v", tc.name, err)
		case loc.String() != tc.want:
			t.Errorf("LoadLocation(%q) = %v, want %v", tc.name, loc, tc.want)
		}
	}
}
