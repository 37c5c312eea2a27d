package store

import (
	"strings"
	"testing"
)

// TestLowerKeyIsToLower compares lowerKey with strings.ToLower over every
// byte value at every position of keys of several lengths (the word loop,
// the tail, both), and over real keys.
func TestLowerKeyIsToLower(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := lowerKey(s), strings.ToLower(s); got != want {
			t.Fatalf("lowerKey(%q) = %q, want %q", s, got, want)
		}
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 40} {
		base := strings.Repeat("a", n)
		check(base)
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				check(base[:i] + string([]byte{byte(c)}) + base[i+1:])
			}
		}
	}
	for _, s := range []string{
		"/subscriptions/0a1b2c3d-1111-2222-3333-444455556666/resourcegroups/bench",
		"/subscriptions/0a1b2c3d-1111-2222-3333-444455556666/resourceGroups/Bench",
		"0a1b2c3d-1111-2222-3333-444455556666", "@[`{ZAza", "Ünïcödé-KEY", "straße", "İstanbul",
	} {
		check(s)
	}
}

func BenchmarkLowerKey(b *testing.B) {
	key := "/subscriptions/0a1b2c3d-1111-2222-3333-444455556666/resourcegroups/bench"
	for _, f := range []struct {
		name string
		fn   func(string) string
	}{{"lowerKey", lowerKey}, {"ToLower", strings.ToLower}} {
		b.Run(f.name, func(b *testing.B) {
			for range b.N {
				if f.fn(key) != key {
					b.Fatal("changed")
				}
			}
		})
	}
}
