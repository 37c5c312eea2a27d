package protection

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLastOccurrenceWithoutTheWalk: the latest occurrence in a window,
// found directly (Prev), is the one walking every occurrence finds, for
// repeating intervals (fixed and calendar periods, bounded counts) and
// weekly schedules in zones with daylight saving, over windows from a
// minute to years; and a hundred years of an hourly schedule is one step.
func TestLastOccurrenceWithoutTheWalk(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2021, 1, 1, 8, 0, 0, 0, berlin)
	var scheds []Schedule
	for _, spec := range []string{"R/2021-01-01T08:00:00+01:00/PT4H", "R/2021-01-01T08:00:00+01:00/PT1H", "R/2021-03-27T02:30:00+01:00/P1D",
		"R/2021-01-31T08:00:00+01:00/P1M", "R/2021-01-01T08:00:00+01:00/P1W", "R5/2021-01-01T08:00:00+01:00/P1D", "R/2021-01-01T00:00:00Z/PT90M"} {
		ri, err := ParseRepeatingInterval(spec, berlin)
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, ri)
	}
	scheds = append(scheds,
		WeeklySchedule{Times: []time.Duration{22*time.Hour + 30*time.Minute}, Weekdays: []time.Weekday{time.Sunday, time.Wednesday}, Location: berlin},
		WeeklySchedule{Times: []time.Duration{2*time.Hour + 30*time.Minute, 14 * time.Hour}, Location: ny},
		WeeklySchedule{Times: []time.Duration{0}, Weekdays: []time.Weekday{time.Saturday}},
	)
	rng := rand.New(rand.NewPCG(22, 5))
	spans := []time.Duration{time.Minute, time.Hour, 4 * time.Hour, 24 * time.Hour, 9 * 24 * time.Hour, 400 * 24 * time.Hour}
	for i, s := range scheds {
		for n := 0; n < 400; n++ {
			from := start.Add(-48*time.Hour + time.Duration(rng.Int64N(int64(3*365*24*time.Hour))))
			if n%5 == 0 { // on an occurrence: the window includes it
				from = s.Next(from)
				if from.IsZero() {
					continue
				}
			}
			to := from.Add(time.Duration(rng.Int64N(int64(spans[n%len(spans)]))))
			if got, want := lastOccurrence(s, from, to), walkLastOccurrence(s, from, to); !got.Equal(want) {
				t.Fatalf("schedule %d %+v in [%v, %v]: lastOccurrence %v, walking %v", i, s, from, to, got, want)
			}
		}
	}
	hourly := scheds[1]
	from := time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC)
	to := from.AddDate(100, 0, 0)
	want := time.Date(2121, 6, 1, 10, 0, 0, 0, time.UTC)
	if got := lastOccurrence(hourly, from, to); !got.Equal(want) {
		t.Fatalf("a hundred years of hourly runs: last %v, want %v", got, want)
	}
}

// BenchmarkLastOccurrenceHundredYears: the catch-up run's occurrence after
// the clock was advanced a hundred years past an hourly schedule.
func BenchmarkLastOccurrenceHundredYears(b *testing.B) {
	ri, err := ParseRepeatingInterval("R/2021-01-01T08:00:00Z/PT1H", nil)
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC)
	to := from.AddDate(100, 0, 0)
	b.Run("Prev", func(b *testing.B) {
		for b.Loop() {
			lastOccurrence(ri, from, to)
		}
	})
	b.Run("Walk", func(b *testing.B) {
		for b.Loop() {
			walkLastOccurrence(ri, from, to)
		}
	})
}
