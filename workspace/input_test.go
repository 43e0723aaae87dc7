package workspace_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"runnel/workspace"
)

func TestCheckInput(t *testing.T) {
	fields := []workspace.Field{
		{Name: "name", Type: "string", Required: true},
		{Name: "count", Type: "integer", Default: int64(3), HasDefault: true},
		{Name: "ratio", Type: "number"},
		{Name: "on", Type: "boolean", Default: true, HasDefault: true},
		{Name: "list", Type: "array", Default: []any{"a"}, HasDefault: true},
		{Name: "obj", Type: "object"},
	}
	tests := []struct {
		name    string
		fields  []workspace.Field
		in      map[string]any
		want    map[string]any
		wantErr string
	}{
		{name: "defaults and nulls", fields: fields,
			in:   map[string]any{"name": "x"},
			want: map[string]any{"name": "x", "count": int64(3), "ratio": nil, "on": true, "list": []any{"a"}, "obj": nil}},
		{name: "null takes the default", fields: fields,
			in:   map[string]any{"name": "x", "count": nil, "on": nil},
			want: map[string]any{"name": "x", "count": int64(3), "ratio": nil, "on": true, "list": []any{"a"}, "obj": nil}},
		{name: "json numbers", fields: fields,
			in:   map[string]any{"name": "x", "count": 5.0, "ratio": 0.5, "obj": map[string]any{}, "extra": "kept"},
			want: map[string]any{"name": "x", "count": 5.0, "ratio": 0.5, "on": true, "list": []any{"a"}, "obj": map[string]any{}, "extra": "kept"}},
		{name: "json.Number", fields: fields,
			in:   map[string]any{"name": "x", "count": json.Number("12"), "ratio": json.Number("1e3")},
			want: map[string]any{"name": "x", "count": json.Number("12"), "ratio": json.Number("1e3"), "on": true, "list": []any{"a"}, "obj": nil}},
		{name: "big integer json.Number", fields: fields,
			in:   map[string]any{"name": "x", "count": json.Number("123456789012345678901234567890")},
			want: map[string]any{"name": "x", "count": json.Number("123456789012345678901234567890"), "ratio": nil, "on": true, "list": []any{"a"}, "obj": nil}},
		{name: "yaml ints", fields: fields,
			in:   map[string]any{"name": "x", "count": int64(7), "ratio": 2},
			want: map[string]any{"name": "x", "count": int64(7), "ratio": 2, "on": true, "list": []any{"a"}, "obj": nil}},
		{name: "nil input", fields: []workspace.Field{{Name: "o", Type: "string"}},
			in: nil, want: map[string]any{"o": nil}},
		{name: "no fields passes through", fields: nil,
			in: map[string]any{"k": []any{1.0}}, want: map[string]any{"k": []any{1.0}}},
		{name: "all problems in field order", fields: fields,
			in:      map[string]any{"count": 2.5, "ratio": "1", "on": "true", "list": "a", "obj": []any{}},
			wantErr: "missing required field 'name'; field 'count' must be an integer; field 'ratio' must be a number; field 'on' must be a boolean; field 'list' must be an array; field 'obj' must be an object"},
		{name: "no coercion of strings", fields: fields,
			in:      map[string]any{"name": 5.0, "count": "5"},
			wantErr: "field 'name' must be a string; field 'count' must be an integer"},
		{name: "invalid json.Number", fields: fields,
			in:      map[string]any{"name": "x", "count": json.Number("12x"), "ratio": json.Number("")},
			wantErr: "field 'count' must be an integer; field 'ratio' must be a number"},
		{name: "fraction in json.Number", fields: fields,
			in:      map[string]any{"name": "x", "count": json.Number("1.5")},
			wantErr: "field 'count' must be an integer"},
		{name: "required null", fields: fields,
			in:      map[string]any{"name": nil},
			wantErr: "missing required field 'name'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workspace.CheckInput(tt.fields, tt.in)
			if tt.wantErr != "" {
				var ie *workspace.InputError
				if !errors.As(err, &ie) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("got %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("effective input (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckInputCopiesDefaults(t *testing.T) {
	fields := []workspace.Field{{Name: "o", Type: "object", Default: map[string]any{"k": []any{"v"}}, HasDefault: true}}
	in := map[string]any{"x": 1.0}
	got, err := workspace.CheckInput(fields, in)
	if err != nil {
		t.Fatal(err)
	}
	got["o"].(map[string]any)["k"].([]any)[0] = "changed"
	if diff := cmp.Diff(map[string]any{"k": []any{"v"}}, fields[0].Default); diff != "" {
		t.Errorf("the default was changed through the result (-want +got):\n%s", diff)
	}
	if _, added := in["o"]; added {
		t.Error("CheckInput changed its argument")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "2d", want: 48 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1d2h3m4s", want: 26*time.Hour + 3*time.Minute + 4*time.Second},
		{in: "90", want: 90 * time.Second},
		{in: "1h90m", want: 150 * time.Minute},
		{in: "365d", want: 365 * 24 * time.Hour},
		{in: "31536000", want: 365 * 24 * time.Hour},
		{in: "0", err: "range"},
		{in: "0s", err: "range"},
		{in: "0h0m", err: "range"},
		{in: "366d", err: "range"},
		{in: "365d1s", err: "range"},
		{in: "99999999999999999999999d", err: "range"},
		{in: "31536001", err: "range"},
		{in: "", err: "syntax"},
		{in: "5x", err: "syntax"},
		{in: "30m1h", err: "syntax"},
		{in: "1h1h", err: "syntax"},
		{in: "1h30", err: "syntax"},
		{in: "h", err: "syntax"},
		{in: "-5s", err: "syntax"},
		{in: "1.5h", err: "syntax"},
		{in: " 5m", err: "syntax"},
		{in: "5M", err: "syntax"},
		{in: "1w", err: "syntax"},
	}
	for _, tt := range tests {
		got, err := workspace.ParseDuration(tt.in)
		switch tt.err {
		case "":
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		case "range":
			if !errors.Is(err, workspace.ErrDurationRange) {
				t.Errorf("ParseDuration(%q) = %v, %v; want a range error", tt.in, got, err)
			}
		case "syntax":
			if err == nil || errors.Is(err, workspace.ErrDurationRange) {
				t.Errorf("ParseDuration(%q) = %v, %v; want a syntax error", tt.in, got, err)
			}
		}
	}
}
