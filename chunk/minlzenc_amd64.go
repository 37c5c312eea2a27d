package chunk

import "golang.org/x/sys/cpu"

// encodeMinLZ64K encodes 16 KiB < len(src) <= 64 KiB into dst, which holds
// minlz.MaxEncodedLen(len(src)) bytes less the block's header, returning
// the bytes written, or 0 when the block would save less than 1/32 of src
// (minlz_amd64.s).
//
//go:noescape
func encodeMinLZ64K(dst, src []byte, tmp *[16 << 10]byte) int

// hasMinLZ64K: the assembly's match lengths count trailing zeros with
// TZCNT, relying on TZCNT of 0 being 64; without BMI1 the instruction runs as
// BSF, which leaves its destination unchanged for 0. The tests set it false
// to take minlz's path.
var hasMinLZ64K = cpu.X86.HasBMI1
