package blob

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

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

// hugePage is the size of a transparent huge page (x86-64, arm64 with 4 KiB
// pages).
const hugePage = 2 << 20

// HugeBuf is AlignedBuf for a buffer that is reused for many large direct
// reads and writes (a restore's runs, a verify's packs): it starts on a
// 2 MiB boundary and asks for transparent huge pages (AdviseHuge), so each
// whole 2 MiB of it is one page. A direct transfer pins every page of its
// buffer and hands the device one segment per physically contiguous
// piece: with 4 KiB pages a 4 MiB read or write pinned 1,024 pages
// (gup_fast_fallback, 6 % of a restore's CPU) and went to the disk split
// into many requests. Up to 2 MiB more is allocated than n (never touched).
func HugeBuf(n int) []byte {
	if n < hugePage {
		return AlignedBuf(n)
	}
	b := make([]byte, n+hugePage-Align)
	a := int(uintptr(unsafe.Pointer(&b[0])) % hugePage)
	if a != 0 {
		a = hugePage - a
	}
	b = b[a : a+n : a+n]
	AdviseHuge(b)
	return b
}

// AdviseHuge asks for transparent huge pages under the 2 MiB-aligned
// middle of b (a fresh allocation, not touched yet), where the kernel only
// gives them on request (THP "madvise", the default of many
// distributions). Best effort: an error changes nothing.
func AdviseHuge(b []byte) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((base+hugePage-1)&^(hugePage-1) - base)
	hi := int((base+uintptr(len(b)))&^(hugePage-1) - base)
	if hi > lo {
		unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
	}
}
