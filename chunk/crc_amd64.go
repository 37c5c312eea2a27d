package chunk

import (
	"hash/crc32"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// crc32cFold is CRC-32C by carry-less multiplication (crc_amd64.s): crc is
// the inverted running value, len(p) >= crcFoldMin and a multiple of 16; it
// returns the inverted result.
//
//go:noescape
func crc32cFold(crc uint32, p []byte, k *[10]uint64) uint32

// hasCRCFold reports whether crc32cFold runs here: VPCLMULQDQ on 512-bit
// registers (AVX-512F, VL for the ternary logic on 128-bit ones).
var hasCRCFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ

// crcFoldMin is the shortest input crc32cFold takes (its first step loads
// 256 bytes); below ~1 KiB hash/crc32's CRC32-instruction code is as fast.
const crcFoldMin = 1024

// crcFoldK are crc32cFold's constants, in its order: the folding constants
// x^(d+32) and x^(d-32) mod P for distances d of 256, 64 and 16 bytes, then
// x^64 mod P and 0, then P itself (33 bits) and mu = floor(x^64 / P) for
// the Barrett reduction; every one bit-reflected, as the CRC is (crcFoldK
// in crc_test.go checks them against the published ones).
var crcFoldK = [10]uint64{
	crcXnModP(2048 + 32), crcXnModP(2048 - 32),
	crcXnModP(512 + 32), crcXnModP(512 - 32),
	crcXnModP(128 + 32), crcXnModP(128 - 32),
	crcXnModP(64), 0,
	crcXnModP(32) | 1, crcMu(),
}

// castagnoliPoly is CRC-32C's polynomial without its x^32 term, unreflected.
const castagnoliPoly = 0x1EDC6F41

// crcXnModP is x^n mod P, bit-reflected and shifted left once (33 bits), as
// the folding multiplies it.
func crcXnModP(n int) uint64 {
	r := uint64(1)
	for range n {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= 1<<32 | castagnoliPoly
		}
	}
	return uint64(bits.Reverse32(uint32(r))) << 1
}

// crcMu is floor(x^64 / P), bit-reflected over its 33 bits.
func crcMu() uint64 {
	p := uint64(1)<<32 | castagnoliPoly
	var hi, lo uint64 = 1, 0 // x^64: bit 64 in hi, bits 0-63 in lo
	var q uint64
	for i := 64; i >= 32; i-- {
		bit := hi & 1
		if i < 64 {
			bit = lo >> uint(i) & 1
		}
		if bit == 0 {
			continue
		}
		q |= 1 << uint(i-32)
		if s := uint(i - 32); s == 32 {
			hi ^= 1
			lo ^= castagnoliPoly << 32
		} else {
			lo ^= p << s
		}
	}
	return uint64(bits.Reverse64(q) >> 31)
}

// crc is CRC-32C of p: by folding where the CPU has it and p is long
// enough (on the bench host, Zen 4, ~3x hash/crc32's rate on 64 KiB),
// hash/crc32 for the rest (TestCRCMatchesHashCRC32 compares them at every
// length and alignment).
func crc(p []byte) uint32 {
	if !hasCRCFold || len(p) < crcFoldMin {
		return crc32.Checksum(p, castagnoli)
	}
	n := len(p) &^ 15
	c := ^crc32cFold(^uint32(0), p[:n], &crcFoldK)
	return crc32.Update(c, castagnoli, p[n:])
}
