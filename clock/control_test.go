package clock

import (
	"testing"
	"time"
)

// TestFrozenOffsetFallsAsRealTimePasses pins what State.Offset means for a
// frozen clock: Now minus real time when asked, so it falls as real time
// passes (its comment said it stayed as it was when the clock froze, while
// `safehold clock show -o json` showed it shrink), and Resume keeps the
// offset of the moment it resumes.
func TestFrozenOffsetFallsAsRealTimePasses(t *testing.T) {
	real := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	c := NewControlAt(func() time.Time { return real })
	at := real.Add(9 * time.Hour)
	if st := c.Set(at); !st.Frozen || !st.Now.Equal(at) || st.Offset != 9*time.Hour {
		t.Fatalf("after Set: %+v", st)
	}
	real = real.Add(time.Hour)
	if st := c.State(); !st.Now.Equal(at) || st.Offset != 8*time.Hour {
		t.Fatalf("an hour of real time later, frozen: %+v (want now %s, offset 8h)", st, at)
	}
	if st := c.Resume(); st.Frozen || !st.Now.Equal(at) || st.Offset != 8*time.Hour {
		t.Fatalf("after Resume: %+v", st)
	}
	real = real.Add(time.Hour)
	if st := c.State(); !st.Now.Equal(at.Add(time.Hour)) || st.Offset != 8*time.Hour {
		t.Fatalf("an hour after Resume: %+v (want now %s, offset 8h)", st, at.Add(time.Hour))
	}
}
