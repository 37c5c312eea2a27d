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
// records, pack headers); and the folding code itself, called directly,
// carries any running CRC it is given.
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
	if hasCRCFold {
		// A running CRC carried in: the fold of the second part continues
		// hash/crc32's CRC of the first.
		for _, n := range []int{256, 272, 1024, 4096 + 48, 64 << 10} {
			for range 20 {
				head := rng.IntN(300)
				p := buf[head : head+n]
				c0 := crc32.Checksum(buf[:head], castagnoli)
				got := ^crc32cFold(^c0, p, &crcFoldK)
				if want := crc32.Checksum(buf[:head+n], castagnoli); got != want {
					t.Fatalf("fold of %d bytes after %d: %08x, want %08x", n, head, got, want)
				}
			}
		}
	}
}

// TestCRCFoldConstants: the constants computed from the polynomial are
// the published ones for CRC-32C (the 64- and 16-byte folds, x^64 and mu
// of Intel's paper as in Linux's and Go's CLMUL CRC code; P bit-reflected
// with its x^32 term).
func TestCRCFoldConstants(t *testing.T) {
	want := map[int]uint64{2: 0x0740eef02, 3: 0x09e4addf8, 4: 0x0f20c0dfe, 5: 0x14cd00bd6, 6: 0x0dd45aab8, 8: 0x105ec76f1, 9: 0x0dea713f1}
	for i, w := range want {
		if crcFoldK[i] != w {
			t.Errorf("crcFoldK[%d] = %#x, want %#x", i, crcFoldK[i], w)
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
