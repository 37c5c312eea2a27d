package store

import "strings"

// lowerKey is strings.ToLower(s). Most keys are lower-case ASCII already
// (ids the router and the callers lower-case): it finds that eight bytes at
// a time and returns s, where strings.ToLower checks byte by byte (~2 ns a
// byte here, a resource group's key ~150 ns; the read cache lower-cases the
// key of every read, three per authenticated GET).
func lowerKey(s string) string {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		// The compiler makes this one 8-byte load.
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&high != 0 {
			return strings.ToLower(s) // not ASCII
		}
		// Every byte is below 0x80, so these sums carry into no other
		// byte: a byte's high bit is set in the first iff it is >= 'A',
		// in the second iff it is > 'Z'.
		if (w+(0x80-'A')*ones)&^(w+(0x80-'Z'-1)*ones)&high != 0 {
			return strings.ToLower(s) // an upper-case letter
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
