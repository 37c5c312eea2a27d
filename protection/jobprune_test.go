package protection

import (
	"testing"
	"time"
)

func TestParseJobRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"P180D": 180 * 24 * time.Hour, "720h": 30 * 24 * time.Hour, "P1D": 24 * time.Hour, "off": -1} {
		if got, err := ParseJobRetention(in); err != nil || got != want {
			t.Errorf("ParseJobRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"PT23H", "12h", "monthly", ""} {
		if got, err := ParseJobRetention(in); err == nil {
			t.Errorf("ParseJobRetention(%q) = %v, want an error", in, got)
		}
	}
}
