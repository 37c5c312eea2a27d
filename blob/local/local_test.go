package local_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend { return openTemp(t) })
}

// openTemp opens a backend on a fresh temporary directory.
func openTemp(t *testing.T) *local.Backend {
	t.Helper()
	b, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Large objects read back exactly, whole and in unaligned ranges, through
// Get and through GetInto with a scratch buffer too small (a new buffer) or
// large enough (read into it), and a range past the end is refused.
func TestLargeObjects(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t)
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, 9<<20+4096+123)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	objs := map[string][]byte{
		"pack/aligned0001":   big[:8<<20],                // a whole number of pages
		"pack/unaligned0002": big[:9<<20+123],            // a short last page
		"pack/offset0003":    big[4096+7 : 4096+7+3<<20], // a buffer off the page boundary
	}
	for k, v := range objs {
		if err := b.Put(ctx, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for k, v := range objs {
		n := int64(len(v))
		for _, r := range [][2]int64{{0, -1}, {0, n}, {1, n - 1}, {4095, 1<<20 + 2}, {n - (1<<20 + 5), 1<<20 + 5}, {12345, 2<<20 - 1}, {n - 1, 1}} {
			got, err := b.Get(ctx, k, r[0], r[1])
			if err != nil {
				t.Fatalf("get %s [%d, +%d): %v", k, r[0], r[1], err)
			}
			want := v[r[0]:]
			if r[1] >= 0 {
				want = v[r[0] : r[0]+r[1]]
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("get %s [%d, +%d): %d bytes differ from what was put", k, r[0], r[1], len(got))
			}
			for _, scratch := range [][]byte{make([]byte, 10), make([]byte, len(big))} {
				got, err := b.GetInto(ctx, k, r[0], r[1], scratch)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("get %s [%d, +%d) into %d bytes: %d bytes (%v) differ from what was put", k, r[0], r[1], len(scratch), len(got), err)
				}
				if into := len(scratch) >= len(want); into != (len(got) == 0 || &got[0] == &scratch[0]) {
					t.Fatalf("get %s [%d, +%d) into %d bytes: read into the scratch buffer: %v, want %v", k, r[0], r[1], len(scratch), !into, into)
				}
			}
		}
		if _, err := b.Get(ctx, k, n-10, 2<<20); err == nil {
			t.Fatalf("get %s past its end: no error", k)
		}
	}
}
