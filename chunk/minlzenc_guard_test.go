//go:build linux

package chunk

import (
	"bytes"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/minio/minlz"
)

// TestEncodeMinLZReadsNothingPastSrc encodes blocks that end where a
// PROT_NONE page begins, at lengths across the assembly's sizes (16-64
// KiB), so a load past src's end faults instead of reading a neighbour's
// bytes; blocks whose last match runs to their end (zeros, a repeat)
// included. Each block is also minlz.Encode's.
func TestEncodeMinLZReadsNothingPastSrc(t *testing.T) {
	const page = 4096
	mem, err := syscall.Mmap(-1, 0, 64<<10+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	guard := len(mem) - page
	if err := syscall.Mprotect(mem[guard:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	text := logText(1<<20, 5)
	r := rand.New(rand.NewPCG(9, 10))
	dst := make([]byte, minlz.MaxEncodedLen(64<<10))
	var lens []int
	for n := 16<<10 - 2; n <= 64<<10; n++ {
		if n <= 16<<10+64 || n >= 64<<10-64 || n%97 == 0 {
			lens = append(lens, n)
		}
	}
	for _, n := range lens {
		src := mem[guard-n : guard : guard]
		for kind := range 5 {
			switch kind {
			case 0: // text
				off := r.IntN(len(text) - n)
				copy(src, text[off:])
			case 1: // zeros: one repeat to the end
				clear(src)
			case 2: // a run of a few values
				for i := range src {
					src[i] = byte(r.IntN(4))
				}
			case 3: // text ending in a run
				off := r.IntN(len(text) - n)
				copy(src, text[off:])
				for i := n - 40; i < n; i++ {
					src[i] = 'x'
				}
			case 4: // text ending in a copy of earlier bytes
				off := r.IntN(len(text) - n)
				copy(src, text[off:])
				copy(src[n-100:], src[n/2:])
			}
			want, err := minlz.Encode(nil, src, minlz.LevelFastest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeMinLZ(dst, src)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, kind %d: encodeMinLZ wrote %d bytes (%v), minlz.Encode %d", n, kind, len(got), err, len(want))
			}
		}
	}
}
