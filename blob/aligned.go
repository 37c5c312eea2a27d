package blob

import "unsafe"

// Align is the alignment of direct I/O (O_DIRECT): a backend may write a
// buffer that starts on an Align boundary to storage without copying it
// (blob/local does for large objects, skipping the page cache), so callers
// that put large objects (the chunk store's packs) allocate them with
// AlignedBuf.
const Align = 4096

// AlignedBuf returns n bytes (capacity n) starting on an Align boundary.
func AlignedBuf(n int) []byte {
	b := make([]byte, n+Align)
	a := int(uintptr(unsafe.Pointer(&b[0])) % Align)
	if a != 0 {
		a = Align - a
	}
	return b[a : a+n : a+n]
}

// Aligned reports whether p is non-empty and starts on an Align boundary.
func Aligned(p []byte) bool {
	return len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))%Align == 0
}
