package blob

import (
	"testing"
	"unsafe"
)

// HugeBuf gives n bytes of capacity n, on a 2 MiB boundary when n is at
// least 2 MiB (so each whole 2 MiB of it can be one huge page) and on an
// Align boundary otherwise, usable for direct I/O either way.
func TestHugeBuf(t *testing.T) {
	for _, n := range []int{Align, 1 << 20, hugePage, 4<<20 + 2*Align, 8<<20 + 256<<10} {
		b := HugeBuf(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("HugeBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		if !Aligned(b) {
			t.Fatalf("HugeBuf(%d) is not on an Align boundary", n)
		}
		if at := uintptr(unsafe.Pointer(&b[0])) % hugePage; n >= hugePage && at != 0 {
			t.Fatalf("HugeBuf(%d) starts %d bytes past a 2 MiB boundary", n, at)
		}
		b[0], b[n-1] = 1, 2 // the whole buffer is writable
	}
}
