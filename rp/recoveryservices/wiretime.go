package recoveryservices

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// wireTime is a date-time that parses every form the SDK and the seeds send
// (with or without a zone, 'T' or a space, fractional seconds) and always
// emits RFC 3339 in UTC.
type wireTime struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

func parseWireTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	// OData filters write '2016-01-01 00:00:00 AM' (a 24-hour clock with a
	// redundant AM/PM) as well as '2016-01-01 12:30:00 PM' (12-hour).
	if u := strings.ToUpper(s); strings.HasSuffix(u, " AM") || strings.HasSuffix(u, " PM") {
		t, err := parseWireTime(strings.TrimSpace(s[:len(s)-3]))
		if err != nil {
			return t, err
		}
		switch h := t.Hour(); {
		case strings.HasSuffix(u, " PM") && h < 12:
			t = t.Add(12 * time.Hour)
		case strings.HasSuffix(u, " AM") && h == 12:
			t = t.Add(-12 * time.Hour)
		}
		return t, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time (use ISO 8601, e.g. 2024-01-01T02:00:00Z)", s)
}

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date-time must be a string")
	}
	if s == "" {
		return nil
	}
	v, err := parseWireTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

func (t wireTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

func wt(t time.Time) *wireTime { return &wireTime{t.UTC()} }
