package cron

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	tests := []struct {
		expr string
		next time.Time
		bad  bool
	}{
		{expr: "* * * * *", next: time.Date(2026, 1, 1, 10, 1, 0, 0, time.UTC)},
		{expr: "*/15 * * * *", next: time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC)},
		{expr: "0 3 * * *", next: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)},
		{expr: "@hourly", next: time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)},
		{expr: "", bad: true},
		{expr: "* * * *", bad: true},
		{expr: "61 * * * *", bad: true},
		{expr: "* * * * * *", bad: true},
		{expr: "TZ=Asia/Dubai * * * * *", bad: true},
		{expr: "@sometimes", bad: true},
		{expr: "@every 30s", bad: true},
		{expr: "@every 2m", next: time.Date(2026, 1, 1, 10, 2, 0, 0, time.UTC)},
		{expr: "@every 90s", bad: true},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr)
		if tt.bad {
			if err == nil {
				t.Errorf("Parse(%q): no error", tt.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := s.Next(base); !got.Equal(tt.next) {
			t.Errorf("Parse(%q).Next = %v, want %v", tt.expr, got, tt.next)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"* * * * *", "@every 1m", "1-5/2 0 1 1 MON"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err == nil {
			s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		}
	})
}
