package chunk

import (
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3"
)

// The codec's IDs are BLAKE3-256 digests (plain, or keyed with the derived
// ID key) for every length, also when its pooled hashers are reused across
// lengths.
func TestSumIsBLAKE3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	plain, err := newCodec(nil, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.close()
	keyed, err := newCodec(make([]byte, 32), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer keyed.close()
	lens := []int{0, 1, 1023, 1024, 1025, 16<<10 - 1, 16 << 10, 16<<10 + 1, 64 << 10, 64<<10 + 1, len(data)}
	for i := 0; i < 30; i++ {
		lens = append(lens, rng.IntN(len(data)+1))
	}
	for _, n := range lens {
		p := data[len(data)-n:]
		if got, want := plain.sum(p), ID(blake3.Sum256(p)); got != want {
			t.Fatalf("plain, %d bytes: %x, want %x", n, got, want)
		}
		h := blake3.New(32, keyed.idKey)
		h.Write(p)
		var want ID
		h.Sum(want[:0])
		if got := keyed.sum(p); got != want {
			t.Fatalf("keyed, %d bytes: %x, want %x", n, got, want)
		}
	}
}
