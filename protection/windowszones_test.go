package protection

import (
	"testing"
	"time"
)

// TestWindowsZones: every Windows time zone id Azure's policies may carry
// resolves, in any case, and a sample lands at its offsets (standard time
// in January and July, daylight time where the zone keeps it): Safehold
// knew 15 of them, and a policy in Korea Standard Time was refused.
func TestWindowsZones(t *testing.T) {
	for win, iana := range windowsZones {
		if _, err := LoadTimeZone(win); err != nil {
			t.Errorf("%s (%s): %v", win, iana, err)
		}
	}
	h := func(x float64) int { return int(x * 3600) }
	for _, c := range []struct {
		name     string
		jan, jul int // UTC offsets in seconds on 2026-01-15 and 2026-07-15
	}{
		{"Korea Standard Time", h(9), h(9)},
		{"E. Australia Standard Time", h(10), h(10)},
		{"AUS Eastern Standard Time", h(11), h(10)},
		{"SA Pacific Standard Time", h(-5), h(-5)},
		{"Central Standard Time (Mexico)", h(-6), h(-6)},
		{"Pacific Standard Time", h(-8), h(-7)},
		{"India Standard Time", h(5.5), h(5.5)},
		{"Nepal Standard Time", h(5.75), h(5.75)},
		{"New Zealand Standard Time", h(13), h(12)},
		{"South Africa Standard Time", h(2), h(2)},
		{"UTC-11", h(-11), h(-11)},
		{"UTC+12", h(12), h(12)},
		{"GMT Standard Time", 0, h(1)},
		{"Greenwich Standard Time", 0, 0},
		{"korea standard time", h(9), h(9)},
	} {
		loc, err := LoadTimeZone(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		_, jan := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC).In(loc).Zone()
		_, jul := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC).In(loc).Zone()
		if jan != c.jan || jul != c.jul {
			t.Errorf("%s: offsets %ds and %ds, want %ds and %ds", c.name, jan, jul, c.jan, c.jul)
		}
	}
	if _, err := LoadTimeZone("Mars Standard Time"); err == nil {
		t.Error("Mars Standard Time resolved")
	}
}
