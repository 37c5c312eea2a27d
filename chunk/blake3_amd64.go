package chunk

import "golang.org/x/sys/cpu"

// hasTree8 reports whether hashF8 and hashP8 (blake3_amd64.s) run here.
var hasTree8 = cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// hashF8 compresses the whole chunks of input[:length] (up to eight, 1 KiB
// each, numbered from counter) and writes their chaining values to out,
// word-major: out[8*w+i] is word w of chunk i's value. chain receives the
// chaining value before the last block of the last chunk (unused here).
//
//go:noescape
func hashF8(input *[8192]byte, length, counter uint64, flags uint32, key *[8]uint32, out *[64]uint32, chain *[8]uint32)

// hashP8 compresses n parent nodes, the i-th of the chaining values
// left[i] and right[i] (word-major, as hashF8's out), into out.
//
//go:noescape
func hashP8(left, right *[64]uint32, flags uint32, key *[8]uint32, out *[64]uint32, n int)

// hasF16 reports whether hashF16 (blake3x16_amd64.s) runs here.
var hasF16 = cpu.X86.HasAVX512F

// hashF16 compresses the sixteen whole chunks of input (1 KiB each,
// numbered from counter) and writes their chaining values word-major,
// the even chunks' to left and the odd ones' to right, as hashP8 takes
// the tree's pairs: left[8*w+i] is word w of chunk 2i's value,
// right[8*w+i] of chunk 2i+1's.
//
//go:noescape
func hashF16(input *[16384]byte, counter uint64, flags uint32, key *[8]uint32, left, right *[64]uint32)
