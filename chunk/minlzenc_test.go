package chunk

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/minio/minlz"
)

// minlzInputs are blocks for encodeMinLZ: text, random, zeros, runs, a mix,
// at every length around the sizes where the encoders change and the
// encoder's margins (16 KiB, 64 KiB), and the repository's Go source.
func minlzInputs(t testing.TB) [][]byte {
	text := logText(1<<20, 3)
	rnd := randData(1<<20, 4)
	var in [][]byte
	lens := []int{0, 1, 2, 17, 31, 32, 33, 100, 1 << 10, 4 << 10, 16<<10 - 1, 16 << 10, 16<<10 + 1, 16<<10 + 17, 40000, 64<<10 - 17, 64<<10 - 16, 64<<10 - 8, 64<<10 - 1, 64 << 10, 64<<10 + 1, 256 << 10}
	for i := -40; i <= 40; i++ {
		lens = append(lens, 16<<10+i, 64<<10+i)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range lens {
		in = append(in, text[:n], rnd[:n], make([]byte, n), bytes.Repeat([]byte("ab"), n)[:n])
		mix := make([]byte, n)
		for off := 0; off < n; {
			k := min(n-off, 1+r.IntN(300))
			if r.IntN(2) == 0 {
				copy(mix[off:], rnd[off:off+k])
			} else {
				src := r.IntN(max(off, 1))
				for j := range k { // copies from far and near, overlapping
					mix[off+j] = mix[min(src+j, off+j)]
				}
			}
			off += k
		}
		in = append(in, mix)
	}
	for range 200 {
		n := 16<<10 + 1 + r.IntN(48<<10)
		off := r.IntN(len(text) - n)
		in = append(in, text[off:off+n], zipfBlock(r, n))
	}
	// Go source, as a repository of it stores.
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	var src []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			src = append(src, b...)
		}
	}
	for off := 0; off+64<<10 <= len(src) && off < 8<<20; off += 64 << 10 {
		in = append(in, src[off:off+64<<10])
	}
	return in
}

// zipfBlock is n bytes of words drawn with Zipf weights, as the bench
// image's text.
func zipfBlock(r *rand.Rand, n int) []byte {
	z := rand.NewZipf(r, 1.1, 1, 5999)
	var b bytes.Buffer
	for b.Len() < n {
		w := z.Uint64()
		for w > 0 {
			b.WriteByte(byte('a' + w%26))
			w /= 26
		}
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// TestEncodeMinLZ checks that encodeMinLZ writes the block minlz.Encode's
// fastest level writes (the same bytes: the same ratio, and minlz.Decode
// reads it back to the input), on the assembly path and on minlz's.
func TestEncodeMinLZ(t *testing.T) {
	if !hasMinLZ64K {
		t.Log("no assembly encoder here: minlz's path only")
	}
	inputs := minlzInputs(t)
	for _, asm := range []bool{hasMinLZ64K, false} {
		t.Run(fmt.Sprintf("asm=%v", asm), func(t *testing.T) {
			defer func(was bool) { hasMinLZ64K = was }(hasMinLZ64K)
			hasMinLZ64K = asm
			checkEncodeMinLZ(t, inputs)
		})
	}
}

func checkEncodeMinLZ(t *testing.T, inputs [][]byte) {
	t.Helper()
	dst := make([]byte, minlz.MaxEncodedLen(256<<10))
	for i, p := range inputs {
		want, err := minlz.Encode(nil, p, minlz.LevelFastest)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeMinLZ(dst, p)
		if err != nil {
			t.Fatalf("input %d (%d bytes): %v", i, len(p), err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("input %d (%d bytes): encodeMinLZ wrote %d bytes, minlz.Encode %d, not the same", i, len(p), len(got), len(want))
		}
		out, err := minlz.Decode(nil, got)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("input %d (%d bytes): decodes to %d bytes (%v), not the input", i, len(p), len(out), err)
		}
	}
}

// FuzzEncodeMinLZ checks encodeMinLZ against minlz.Encode on arbitrary
// blocks: the seeds are cut and spliced to 16-64 KiB, the sizes the
// assembly takes.
func FuzzEncodeMinLZ(f *testing.F) {
	f.Add([]byte("abcabcabcabd"), uint16(20000))
	f.Add(logText(300, 1), uint16(65535))
	f.Add(randData(64, 2), uint16(17000))
	dst := make([]byte, minlz.MaxEncodedLen(64<<10))
	f.Fuzz(func(t *testing.T, seed []byte, size uint16) {
		if len(seed) == 0 {
			return
		}
		n := 16<<10 + 1 + int(size)%(48<<10)
		p := make([]byte, n)
		for off := 0; off < n; off += len(seed) {
			copy(p[off:], seed)
			if off > 0 && len(seed) > 1 { // vary the repeats: a byte changed per copy
				p[off+int(seed[0])%min(len(seed), n-off)]++
			}
		}
		want, _ := minlz.Encode(nil, p, minlz.LevelFastest)
		got, err := encodeMinLZ(dst, p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: encodeMinLZ wrote %d bytes (%v), minlz.Encode %d", n, len(got), err, len(want))
		}
	})
}

// EncodeMinLZ is encodeMinLZ for the benchmarks of package chunk_test.
var EncodeMinLZ = encodeMinLZ
