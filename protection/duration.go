package protection

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is an ISO 8601 duration (PnYnMnWnDTnHnMnS). Years, months, weeks
// and days are calendar units (added with calendar arithmetic in the
// schedule's time zone); hours, minutes and seconds are exact.
type Duration struct {
	Years, Months, Weeks, Days int
	Hours, Minutes             int
	Seconds                    float64
}

// ParseDuration parses an ISO 8601 duration such as P7D, P30D, P12W, P1Y,
// PT4H or P1DT12H. Negative and empty durations are rejected.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	in := strings.ToUpper(strings.TrimSpace(s))
	if len(in) < 3 || in[0] != 'P' {
		return d, fmt.Errorf("%q is not an ISO 8601 duration (examples: P7D, P12W, P1Y, PT4H)", s)
	}
	rest := in[1:]
	timePart := false
	seen := ""
	any := false
	units := d.intUnits()
	for len(rest) > 0 {
		if rest[0] == 'T' {
			if timePart {
				return d, fmt.Errorf("%q: 'T' appears twice", s)
			}
			timePart = true
			rest = rest[1:]
			if rest == "" {
				return d, fmt.Errorf("%q: no time components after 'T'", s)
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 || i == len(rest) {
			return d, fmt.Errorf("%q is not an ISO 8601 duration (examples: P7D, P12W, P1Y, PT4H)", s)
		}
		num, unit := strings.ReplaceAll(rest[:i], ",", "."), rest[i]
		rest = rest[i+1:]
		key := string(unit)
		if timePart {
			key = "T" + key
		}
		if strings.Contains(seen, key+"|") {
			return d, fmt.Errorf("%q: unit %c given twice", s, unit)
		}
		seen += key + "|"
		if strings.Contains(num, ".") && key != "TS" {
			return d, fmt.Errorf("%q: only seconds may have a fraction", s)
		}
		if key == "TS" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return d, fmt.Errorf("%q: bad seconds %q", s, num)
			}
			d.Seconds = f
			any = true
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n > 100000 {
			return d, fmt.Errorf("%q: bad number %q", s, num)
		}
		i = slices.IndexFunc(units, func(u intUnit) bool { return u.key == key })
		if i < 0 {
			return d, fmt.Errorf("%q: unknown unit %c", s, unit)
		}
		*units[i].n = n
		any = true
	}
	if !any {
		return d, fmt.Errorf("%q is an empty duration", s)
	}
	return d, nil
}

// IsZero reports whether d is zero length.
func (d Duration) IsZero() bool { return d == Duration{} }

// Calendar reports whether d has calendar components (years, months, weeks or days).
func (d Duration) Calendar() bool {
	return d.Years != 0 || d.Months != 0 || d.Weeks != 0 || d.Days != 0
}

// Fixed is the exact part of d (hours, minutes, seconds).
func (d Duration) Fixed() time.Duration {
	return time.Duration(d.Hours)*time.Hour + time.Duration(d.Minutes)*time.Minute + time.Duration(d.Seconds*float64(time.Second))
}

// Approx is d's nominal length (a year = 365 days, a month = 30 days): for
// limits and estimates only, never for schedule or expiry times.
func (d Duration) Approx() time.Duration {
	days := d.Years*365 + d.Months*30 + d.Weeks*7 + d.Days
	return time.Duration(days)*24*time.Hour + d.Fixed()
}

// Times returns d repeated n times (P1D × 3 = P3D).
func (d Duration) Times(n int) Duration {
	return Duration{Years: d.Years * n, Months: d.Months * n, Weeks: d.Weeks * n, Days: d.Days * n,
		Hours: d.Hours * n, Minutes: d.Minutes * n, Seconds: d.Seconds * float64(n)}
}

// AddTo adds d to t with calendar arithmetic in t's location: years and
// months keep the day of month, clamped to the month's last day (Jan 31 +
// P1M = Feb 28 or 29), weeks and days keep the wall-clock time across DST
// changes, then the exact part is added.
func (d Duration) AddTo(t time.Time) time.Time {
	if d.Years != 0 || d.Months != 0 {
		y, m, day := t.Date()
		hh, mm, ss := t.Clock()
		total := int(m) - 1 + d.Months + 12*d.Years
		ny := y + total/12
		nm := total % 12
		if nm < 0 {
			nm += 12
			ny--
		}
		last := time.Date(ny, time.Month(nm+2), 0, 0, 0, 0, 0, t.Location()).Day()
		if day > last {
			day = last
		}
		t = time.Date(ny, time.Month(nm+1), day, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	if d.Weeks != 0 || d.Days != 0 {
		t = t.AddDate(0, 0, 7*d.Weeks+d.Days)
	}
	return t.Add(d.Fixed())
}

// String formats d in ISO 8601 (P7D, PT4H, P1Y2M).
func (d Duration) String() string {
	if d.IsZero() {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	timePart := false
	for _, u := range d.intUnits() {
		if strings.HasPrefix(u.key, "T") && !timePart {
			if d.Hours == 0 && d.Minutes == 0 && d.Seconds == 0 {
				break
			}
			b.WriteByte('T')
			timePart = true
		}
		if *u.n != 0 {
			fmt.Fprintf(&b, "%d%s", *u.n, strings.TrimPrefix(u.key, "T"))
		}
	}
	if d.Seconds != 0 { // after the other time units, which wrote the 'T'
		b.WriteString(strconv.FormatFloat(d.Seconds, 'f', -1, 64) + "S")
	}
	return b.String()
}

// intUnit is one of a Duration's whole-number units: its key (the ISO 8601
// designator, T-prefixed in the time part) and its field.
type intUnit struct {
	key string
	n   *int
}

// intUnits lists d's whole-number units in ISO 8601 order (seconds, which
// may have a fraction, are apart): the one table parsing and formatting use.
func (d *Duration) intUnits() []intUnit {
	return []intUnit{{"Y", &d.Years}, {"M", &d.Months}, {"W", &d.Weeks}, {"D", &d.Days}, {"TH", &d.Hours}, {"TM", &d.Minutes}}
}

// FormatElapsed formats an elapsed time as an ISO 8601 duration as Azure
// reports the durations of jobs and their tasks (.NET's TimeSpan): hours,
// minutes and seconds with at most seven decimals (PT6M5.7409896S), zero
// parts left out (PT1H), PT0S for nothing.
func FormatElapsed(e time.Duration) string {
	if e < 0 {
		e = 0
	}
	h := int(e / time.Hour)
	e -= time.Duration(h) * time.Hour
	m := int(e / time.Minute)
	e -= time.Duration(m) * time.Minute
	s := e.Seconds()
	out := "PT"
	if h > 0 {
		out += strconv.Itoa(h) + "H"
	}
	if m > 0 {
		out += strconv.Itoa(m) + "M"
	}
	if s > 0 || (h == 0 && m == 0) {
		out += strings.TrimRight(strings.TrimRight(strconv.FormatFloat(s, 'f', 7, 64), "0"), ".") + "S"
	}
	return out
}

// Schedule yields the times a protected item is backed up.
type Schedule interface {
	// Next is the first scheduled time strictly after t (zero when the
	// schedule has no more runs).
	Next(t time.Time) time.Time
}

// RepeatingInterval is an ISO 8601 repeating interval
// R[n]/<start>/<period>, e.g. R/2021-01-01T08:00:00+00:00/PT4H: runs at
// start, start+period, start+2×period, ... (n runs when n is given).
// Occurrence k is start + k×period computed with calendar arithmetic
// (Duration.AddTo) in Start's location, so P1D keeps the time of day.
type RepeatingInterval struct {
	Start  time.Time
	Period Duration
	Count  int // 0 = unbounded

	// wall is the start's wall clock as written (its fields, in UTC) when
	// that time does not exist in Start's location (a start without an
	// offset in a DST gap, which time.Date moved by an hour): calendar
	// periods count from it, so the later days keep the time of day the
	// schedule names rather than the moved one. Zero otherwise.
	wall time.Time
}

// ParseRepeatingInterval parses R[n]/<start>/<period>. A start without a
// zone offset is taken in loc (UTC when nil); with an offset it is converted
// to loc so that calendar periods follow loc's wall clock.
func ParseRepeatingInterval(s string, loc *time.Location) (RepeatingInterval, error) {
	var ri RepeatingInterval
	if loc == nil {
		loc = time.UTC
	}
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) != 3 || len(parts[0]) == 0 || (parts[0][0] != 'R' && parts[0][0] != 'r') {
		return ri, fmt.Errorf("%q is not a repeating interval of the form R/<start date-time>/<period> (example: R/2021-01-01T08:00:00+00:00/PT4H)", s)
	}
	if n := parts[0][1:]; n != "" {
		c, err := strconv.Atoi(n)
		if err != nil || c < 1 {
			return ri, fmt.Errorf("%q: the repetition count %q must be a positive integer", s, n)
		}
		ri.Count = c
	}
	start, err := ParseDateTime(parts[1], loc)
	if err != nil {
		return ri, fmt.Errorf("%q: %v", s, err)
	}
	ri.Start = start.In(loc)
	// A start without an offset whose wall clock is in a gap of loc (one
	// with an offset is that instant in loc, whose wall clock exists).
	if wall, err := ParseDateTime(parts[1], time.UTC); err == nil && !hasOffset(parts[1]) && !sameWallClock(wall, ri.Start) {
		ri.wall = wall
	}
	if ri.Period, err = ParseDuration(parts[2]); err != nil {
		return ri, fmt.Errorf("%q: %v", s, err)
	}
	if ri.Period.Approx() < time.Minute {
		return ri, fmt.Errorf("%q: the period %s is shorter than a minute", s, parts[2])
	}
	return ri, nil
}

// offsetLayouts are the date-time layouts ParseDateTime reads with a zone
// offset.
var offsetLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"}

// hasOffset reports whether the date-time s carries a zone offset.
func hasOffset(s string) bool {
	for _, f := range offsetLayouts {
		if _, err := time.Parse(f, strings.TrimSpace(s)); err == nil {
			return true
		}
	}
	return false
}

// ParseDateTime parses an ISO 8601 date-time with or without a zone offset
// (without one it is taken in loc) and with optional fractional seconds.
func ParseDateTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, f := range offsetLayouts {
		if t, err := time.Parse(f, s); err == nil {
			return t, nil
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, f := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(f, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date-time (example: 2021-01-01T08:00:00+00:00)", s)
}

// sameWallClock reports whether a and b show the same date and time of
// day, each in its own location.
func sameWallClock(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute() && a.Second() == b.Second() && a.Nanosecond() == b.Nanosecond()
}

// At is occurrence k (0-based).
func (ri RepeatingInterval) At(k int) time.Time {
	fixed := ri.Period.Fixed()
	if !ri.Period.Calendar() {
		return addTimes(ri.Start, k, fixed)
	}
	d := ri.Period.Times(k)
	d.Hours, d.Minutes, d.Seconds = 0, 0, 0
	if ri.wall.IsZero() {
		return addTimes(d.AddTo(ri.Start), k, fixed)
	}
	// The calendar part on the wall clock as written, then that wall
	// clock in Start's location (moved only if it falls in a gap too),
	// then the exact part: what AddTo does from a start that exists.
	w := d.AddTo(ri.wall)
	y, m, day := w.Date()
	return addTimes(time.Date(y, m, day, w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), ri.Start.Location()), k, fixed)
}

// addTimes is t plus k times p, added in steps whose product fits a
// time.Duration (292 years): k × PT4H past about 640,000 occurrences
// overflowed, wrapping the sum back before t.
func addTimes(t time.Time, k int, p time.Duration) time.Time {
	if p <= 0 || k <= 0 {
		return t
	}
	step := int(math.MaxInt64 / int64(p))
	for ; k > step; k -= step {
		t = t.Add(time.Duration(step) * p)
	}
	return t.Add(time.Duration(k) * p)
}

// occurrencesBetween estimates how many periods of approx lie from a to
// b, without the saturation of b.Sub(a) past 292 years.
func occurrencesBetween(a, b time.Time, approx time.Duration) int {
	return int(float64(b.Unix()-a.Unix()) / approx.Seconds())
}

// Next is the first occurrence strictly after t.
func (ri RepeatingInterval) Next(t time.Time) time.Time {
	if t.Before(ri.Start) {
		return ri.Start
	}
	approx := ri.Period.Approx()
	k := occurrencesBetween(ri.Start, t, approx) - 1
	if k < 0 {
		k = 0
	}
	for !ri.At(k).After(t) {
		k++
	}
	for k > 0 && ri.At(k-1).After(t) {
		k--
	}
	if ri.Count > 0 && k >= ri.Count {
		return time.Time{}
	}
	return ri.At(k)
}

// Prev is the last occurrence at or before t (zero before Start).
func (ri RepeatingInterval) Prev(t time.Time) time.Time {
	if t.Before(ri.Start) {
		return time.Time{}
	}
	n := ri.Next(t)
	if n.IsZero() { // past the last of Count occurrences
		return ri.At(ri.Count - 1)
	}
	approx := ri.Period.Approx()
	k := occurrencesBetween(ri.Start, n, approx) + 1
	for k > 0 && !ri.At(k).Before(n) {
		k--
	}
	for ri.At(k + 1).Before(n) {
		k++
	}
	return ri.At(k)
}

// WeeklySchedule runs at fixed times of day on some weekdays (every day
// when Weekdays is empty), in Location: the shape of Recovery Services IaaS
// policies' daily and weekly schedules.
type WeeklySchedule struct {
	Times    []time.Duration // offsets from local midnight, e.g. 22h30m
	Weekdays []time.Weekday
	Location *time.Location
}

// Next is the first run strictly after t.
func (w WeeklySchedule) Next(t time.Time) time.Time {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	if len(w.Times) == 0 {
		return time.Time{}
	}
	var best time.Time
	for day := 0; day <= 8; day++ {
		w.runsOn(t, day, loc, func(c time.Time) {
			if c.After(t) && (best.IsZero() || c.Before(best)) {
				best = c
			}
		})
		if !best.IsZero() {
			return best
		}
	}
	return best
}

// runsOn calls fn with each run on the day day days after t's (in loc).
func (w WeeklySchedule) runsOn(t time.Time, day int, loc *time.Location, fn func(time.Time)) {
	y, m, d := t.In(loc).Date()
	midnight := time.Date(y, m, d+day, 0, 0, 0, 0, loc)
	if len(w.Weekdays) > 0 && !slices.Contains(w.Weekdays, midnight.Weekday()) {
		return
	}
	for _, off := range w.Times {
		h := int(off / time.Hour)
		mi := int((off % time.Hour) / time.Minute)
		fn(time.Date(midnight.Year(), midnight.Month(), midnight.Day(), h, mi, 0, 0, loc))
	}
}

// Prev is the last run at or before t (zero when there is none).
func (w WeeklySchedule) Prev(t time.Time) time.Time {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	var best time.Time
	for day := 0; day >= -8 && len(w.Times) > 0; day-- {
		w.runsOn(t, day, loc, func(c time.Time) {
			if !c.After(t) && c.After(best) {
				best = c
			}
		})
		if !best.IsZero() {
			return best
		}
	}
	return best
}

// LoadTimeZone resolves a policy time zone: empty means UTC; Windows names
// Azure uses ("Pacific Standard Time") and IANA names ("Europe/Berlin") work.
func LoadTimeZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use UTC, a Windows name such as \"Pacific Standard Time\", or an IANA name such as \"Europe/Berlin\")", name)
	}
	return loc, nil
}
