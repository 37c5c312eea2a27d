package protection

import (
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Duration
	}{
		{"P7D", Duration{Days: 7}},
		{"P30D", Duration{Days: 30}},
		{"P12W", Duration{Weeks: 12}},
		{"P1Y", Duration{Years: 1}},
		{"PT4H", Duration{Hours: 4}},
		{"P1DT12H", Duration{Days: 1, Hours: 12}},
		{"PT6M5.7409896S", Duration{Minutes: 6, Seconds: 5.7409896}},
		{"p1y2m3dt4h5m6s", Duration{Years: 1, Months: 2, Days: 3, Hours: 4, Minutes: 5, Seconds: 6}},
	} {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "P", "7D", "PT", "P1H", "P1.5D", "P1D1D", "PX", "P-1D", "PT4"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	for d, want := range map[Duration]string{
		{Days: 1, Hours: 12}: "P1DT12H",
		{Years: 1, Months: 2, Weeks: 3, Days: 4, Hours: 5, Minutes: 6, Seconds: 7.5}: "P1Y2M3W4DT5H6M7.5S",
		{Weeks: 12}:     "P12W",
		{Minutes: 30}:   "PT30M",
		{Seconds: 5.25}: "PT5.25S",
		{}:              "PT0S",
	} {
		if s := d.String(); s != want {
			t.Errorf("%+v.String() = %s, want %s", d, s, want)
		}
	}
}

func TestCalendarArithmetic(t *testing.T) {
	jan31 := mustTime(t, "2024-01-31T10:00:00Z")
	if got := (Duration{Months: 1}).AddTo(jan31); !got.Equal(mustTime(t, "2024-02-29T10:00:00Z")) {
		t.Errorf("Jan 31 + P1M = %v", got)
	}
	if got := (Duration{Years: 1}).AddTo(mustTime(t, "2024-02-29T00:00:00Z")); !got.Equal(mustTime(t, "2025-02-28T00:00:00Z")) {
		t.Errorf("Feb 29 + P1Y = %v", got)
	}
	if got := (Duration{Months: 13}).AddTo(jan31); !got.Equal(mustTime(t, "2025-02-28T10:00:00Z")) {
		t.Errorf("Jan 31 + P13M = %v", got)
	}
	// Days keep the wall-clock time across a DST change.
	ny, _ := time.LoadLocation("America/New_York")
	before := time.Date(2024, 3, 9, 22, 0, 0, 0, ny)
	if got := (Duration{Days: 1}).AddTo(before); got.Hour() != 22 || got.Sub(before) != 23*time.Hour {
		t.Errorf("DST day: %v (%v)", got, got.Sub(before))
	}
	for d, want := range map[time.Duration]string{
		6*time.Minute + 5740*time.Millisecond: "PT6M5.74S",
		0:                                     "PT0S",
		-time.Second:                          "PT0S",
		time.Hour:                             "PT1H",
		26*time.Hour + 3*time.Minute:          "PT26H3M",
		5*time.Second + 123456789:             "PT5.1234568S", // .NET's seven decimals
	} {
		if got := FormatElapsed(d); got != want {
			t.Errorf("FormatElapsed(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestRepeatingInterval(t *testing.T) {
	ri, err := ParseRepeatingInterval("R/2021-01-01T08:00:00+00:00/PT4H", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op       string
		f        func(time.Time) time.Time
		at, want string
	}{
		{"Next", ri.Next, "2020-12-01T00:00:00Z", "2021-01-01T08:00:00Z"},
		{"Next", ri.Next, "2021-01-01T08:00:00Z", "2021-01-01T12:00:00Z"},
		{"Next", ri.Next, "2021-01-01T11:59:59Z", "2021-01-01T12:00:00Z"},
		{"Next", ri.Next, "2021-03-05T23:00:00Z", "2021-03-06T00:00:00Z"},
		{"Prev", ri.Prev, "2021-01-01T08:00:00Z", "2021-01-01T08:00:00Z"},
		{"Prev", ri.Prev, "2021-01-01T11:59:59Z", "2021-01-01T08:00:00Z"},
		{"Prev", ri.Prev, "2021-03-06T00:00:00Z", "2021-03-06T00:00:00Z"},
		{"Prev", ri.Prev, "2021-03-06T03:00:00Z", "2021-03-06T00:00:00Z"},
	} {
		if got := c.f(mustTime(t, c.at)); !got.Equal(mustTime(t, c.want)) {
			t.Errorf("%s(%s) = %v, want %s", c.op, c.at, got, c.want)
		}
	}
	daily, err := ParseRepeatingInterval("R/2021-05-19T06:30:00+02:00/P1D", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := daily.Next(mustTime(t, "2022-01-01T05:00:00Z")); !got.Equal(mustTime(t, "2022-01-02T04:30:00Z")) {
		t.Errorf("daily Next = %v", got)
	}
	// Calendar periods follow the time zone's wall clock.
	ny, _ := time.LoadLocation("America/New_York")
	dz, err := ParseRepeatingInterval("R/2024-03-01T22:00:00/P1D", ny)
	if err != nil {
		t.Fatal(err)
	}
	if got := dz.Next(time.Date(2024, 3, 20, 0, 0, 0, 0, ny)); got.In(ny).Hour() != 22 || got.In(ny).Day() != 20 {
		t.Errorf("zoned daily Next = %v", got.In(ny))
	}
	if got := ri.Prev(mustTime(t, "2020-01-01T00:00:00Z")); !got.IsZero() {
		t.Errorf("Prev before start = %v", got)
	}
	if got := daily.Prev(mustTime(t, "2022-01-02T04:29:00Z")); !got.Equal(mustTime(t, "2022-01-01T04:30:00Z")) {
		t.Errorf("daily Prev = %v", got)
	}
	r3, _ := ParseRepeatingInterval("R3/2021-01-01T00:00:00Z/PT1H", nil)
	if got := r3.Prev(mustTime(t, "2021-01-02T00:00:00Z")); !got.Equal(mustTime(t, "2021-01-01T02:00:00Z")) {
		t.Errorf("R3 Prev = %v", got)
	}
	if got := r3.Next(mustTime(t, "2021-01-01T02:00:00Z")); !got.IsZero() {
		t.Errorf("R3 beyond count = %v", got)
	}
	for _, bad := range []string{"R/PT4H", "2021-01-01T08:00:00Z/PT4H", "R/2021-01-01/PT4H", "R/2021-01-01T08:00:00Z/4H", "R0/2021-01-01T08:00:00Z/PT4H", "R/08:00:00/PT4H"} {
		if _, err := ParseRepeatingInterval(bad, nil); err == nil {
			t.Errorf("ParseRepeatingInterval(%q) succeeded", bad)
		}
	}
}

func TestWeeklySchedule(t *testing.T) {
	w := WeeklySchedule{Times: []time.Duration{22*time.Hour + 30*time.Minute}, Weekdays: []time.Weekday{time.Sunday, time.Wednesday}}
	got := w.Next(mustTime(t, "2024-05-01T23:00:00Z")) // a Wednesday, after 22:30
	if !got.Equal(mustTime(t, "2024-05-05T22:30:00Z")) {
		t.Errorf("Next = %v", got)
	}
	d := WeeklySchedule{Times: []time.Duration{2 * time.Hour}}
	if got := d.Next(mustTime(t, "2024-05-01T01:00:00Z")); !got.Equal(mustTime(t, "2024-05-01T02:00:00Z")) {
		t.Errorf("daily Next = %v", got)
	}
}

func TestRetentionTagging(t *testing.T) {
	r := Retention{Rules: []TagRule{
		{Tag: "Default", Priority: 99, Default: true, Retain: Duration{Days: 7}},
		{Tag: "Daily", Priority: 25, Criteria: []string{FirstOfDay}, Retain: Duration{Days: 30}},
		{Tag: "Weekly", Priority: 20, Criteria: []string{FirstOfWeek}, Retain: Duration{Weeks: 12}},
	}}
	sat := mustTime(t, "2021-01-02T08:00:00Z") // Saturday
	if got := r.Tag(sat, nil); got.Tag != "Weekly" {
		t.Errorf("first ever = %s", got.Tag)
	}
	if got := r.Tag(sat.Add(4*time.Hour), []time.Time{sat}); got.Tag != "Default" {
		t.Errorf("second of day = %s", got.Tag)
	}
	sun := mustTime(t, "2021-01-03T00:00:00Z")
	if got := r.Tag(sun, []time.Time{sat}); got.Tag != "Weekly" {
		t.Errorf("first of week (Sunday) = %s", got.Tag)
	}
	mon := mustTime(t, "2021-01-04T00:00:00Z")
	if got := r.Tag(mon, []time.Time{sat, sun}); got.Tag != "Daily" {
		t.Errorf("first of Monday = %s", got.Tag)
	}
	if e := r.Expiry(mon, TagRule{Retain: Duration{Days: 30}}); !e.Equal(mustTime(t, "2021-02-03T00:00:00Z")) {
		t.Errorf("expiry = %v", e)
	}
}

// TestRepeatingIntervalCenturiesOn: Next and Prev of a schedule whose
// start lies more than 292 years (a time.Duration) before the time asked
// about: the occurrence arithmetic overflowed (k × PT4H wrapped negative),
// so Next looped for ever, and with the server's clock set to 2400 (it
// goes up to 9000) the scheduled run spun a core and the server never
// shut down (hostile28). Calendar periods too.
func TestRepeatingIntervalCenturiesOn(t *testing.T) {
	for _, c := range []struct{ interval, at, next, prev string }{
		{"R/2021-01-01T08:00:00+00:00/PT4H", "2400-01-01T01:00:00Z", "2400-01-01T04:00:00Z", "2400-01-01T00:00:00Z"},
		{"R/2021-01-01T08:00:00+00:00/PT4H", "8999-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "8999-12-31T20:00:00Z"},
		{"R/2021-01-01T08:30:00+00:00/PT1H", "2400-01-01T00:00:00Z", "2400-01-01T00:30:00Z", "2399-12-31T23:30:00Z"},
		{"R/2021-01-01T08:00:00+00:00/P1D", "2400-01-01T09:00:00Z", "2400-01-02T08:00:00Z", "2400-01-01T08:00:00Z"},
	} {
		ri, err := ParseRepeatingInterval(c.interval, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan [2]time.Time, 1)
		at := mustTime(t, c.at)
		go func() { done <- [2]time.Time{ri.Next(at), ri.Prev(at)} }()
		select {
		case got := <-done:
			if !got[0].Equal(mustTime(t, c.next)) || !got[1].Equal(mustTime(t, c.prev)) {
				t.Errorf("%s at %s: Next %v, Prev %v; want %s, %s", c.interval, c.at, got[0], got[1], c.next, c.prev)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s at %s: Next/Prev still running after a minute", c.interval, c.at)
		}
	}
}
