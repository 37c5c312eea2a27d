package chunk

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRCFoldCarriesARunningCRC: crc32cFold, called directly, continues
// hash/crc32's CRC-32C of the bytes before its input.
func TestCRCFoldCarriesARunningCRC(t *testing.T) {
	if !hasCRCFold {
		t.Skip("no AVX-512 VPCLMULQDQ here")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 64<<10+512)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
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

// TestCRCFoldConstants: the constants computed from the polynomial are
// the ones github.com/klauspost/crc32 v1.3.0 publishes for CRC-32C (its
// 64- and 16-byte folds, x^64 and mu), and P bit-reflected with its x^32
// term as bit 0.
func TestCRCFoldConstants(t *testing.T) {
	want := map[int]uint64{2: 0x0740eef02, 3: 0x09e4addf8, 4: 0x0f20c0dfe, 5: 0x14cd00bd6, 6: 0x0dd45aab8, 8: 0x105ec76f1, 9: 0x0dea713f1}
	for i, w := range want {
		if crcFoldK[i] != w {
			t.Errorf("crcFoldK[%d] = %#x, want %#x", i, crcFoldK[i], w)
		}
	}
}
