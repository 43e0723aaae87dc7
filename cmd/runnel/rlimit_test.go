package main

import "testing"

func TestLogFileBudget(t *testing.T) {
	tests := []struct {
		name       string
		configured int
		limit      uint64
		want       int
	}{
		{"limit unknown", 128, 0, 128},
		{"high limit", 128, 1 << 20, 128},
		{"exactly half", 128, 256, 128},
		{"low limit", 128, 200, 100},
		{"tiny limit", 128, 1, 1},
		{"configured above a high limit", 100000, 65536, 32768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logFileBudget(tt.configured, tt.limit); got != tt.want {
				t.Errorf("logFileBudget(%d, %d) = %d, want %d", tt.configured, tt.limit, got, tt.want)
			}
		})
	}
}
