package chunk

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRCMatchesHashCRC32: crc (by folding where the CPU has VPCLMULQDQ)
// equals hash/crc32's CRC-32C at every length up to 4 KiB + 64 and at every
// alignment of the first byte within a 64-byte line, on random bytes, on
// zeros and on all-ones, and at the engine's lengths (64 KiB blocks,
// records, pack headers).
func TestCRCMatchesHashCRC32(t *testing.T) {
	if !hasCRCFold {
		t.Logf("no AVX-512 VPCLMULQDQ here: crc is hash/crc32's (checked all the same)")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64<<10+4096+128)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := make([]byte, len(buf))
	for i := range ones {
		ones[i] = 0xff
	}
	zeros := make([]byte, len(buf))
	for name, b := range map[string][]byte{"random": buf, "zeros": zeros, "ones": ones} {
		for align := range 64 {
			for n := 0; n <= 4096+64; n++ {
				p := b[align : align+n]
				if got, want := crc(p), crc32.Checksum(p, castagnoli); got != want {
					t.Fatalf("%s, align %d, length %d: crc %08x, hash/crc32 %08x", name, align, n, got, want)
				}
			}
		}
		for _, n := range []int{8 << 10, 32<<10 - 1, 37 << 10, 64<<10 - 16, 64<<10 - 1, 64 << 10, 64<<10 + 100} {
			for _, align := range []int{0, 1, 15, 16, 63} {
				p := b[align : align+n]
				if got, want := crc(p), crc32.Checksum(p, castagnoli); got != want {
					t.Fatalf("%s, align %d, length %d: crc %08x, hash/crc32 %08x", name, align, n, got, want)
				}
			}
		}
	}
	for range 2000 {
		n := rng.IntN(64<<10 + 1)
		off := rng.IntN(len(buf) - n + 1)
		p := buf[off : off+n]
		if got, want := crc(p), crc32.Checksum(p, castagnoli); got != want {
			t.Fatalf("offset %d, length %d: crc %08x, hash/crc32 %08x", off, n, got, want)
		}
	}
}

// BenchmarkCRC: crc against hash/crc32's CRC-32C over 64 KiB (a block).
func BenchmarkCRC(b *testing.B) {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i * 131 >> 3)
	}
	b.Run("fold", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc(p)
		}
	})
	b.Run("hash-crc32", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			crc32.Checksum(p, castagnoli)
		}
	})
}
