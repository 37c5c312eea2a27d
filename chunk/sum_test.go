package chunk

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"lukechampine.com/blake3"
)

// The codec's IDs are BLAKE3-256 digests (plain, or keyed with the derived
// ID key) for every length, also when its pooled hashers and group buffers
// are reused across lengths: both ways of computing them (in place, chosen
// on CPUs with AVX-512 where it is the faster, and zeebo/blake3's pooled
// hashers).
func TestSumIsBLAKE3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	plain, keyed := testCodecs(t)
	lens := []int{0, 1, 64, 65, 1023, 1024, 1025, 2048, 8<<10 - 1, 8 << 10, 8<<10 + 1, 16<<10 - 1, 16 << 10, 16<<10 + 1,
		24 << 10, 32 << 10, 48<<10 + 5, 64<<10 - 1, 64 << 10, 64<<10 + 1, 80 << 10, 128 << 10, 256 << 10, len(data)}
	for i := 0; i < 30; i++ {
		lens = append(lens, rng.IntN(len(data)+1))
	}
	for _, n := range lens {
		p := data[len(data)-n:]
		h := blake3.New(32, keyed.idKey)
		h.Write(p)
		var wantKeyed ID
		h.Sum(wantKeyed[:0])
		for _, c := range []struct {
			name string
			got  ID
			want ID
		}{
			{"plain", plain.sum(p), blake3.Sum256(p)},
			{"plain in place", plain.sumInPlace(p), blake3.Sum256(p)},
			{"plain hasher", plain.sumHasher(p), blake3.Sum256(p)},
			{"plain zeebo", plain.sumZeebo(p), blake3.Sum256(p)},
			{"keyed", keyed.sum(p), wantKeyed},
			{"keyed in place", keyed.sumInPlace(p), wantKeyed},
			{"keyed hasher", keyed.sumHasher(p), wantKeyed},
			{"keyed zeebo", keyed.sumZeebo(p), wantKeyed},
		} {
			if c.got != c.want {
				t.Fatalf("%s, %d bytes: %x, want %x", c.name, n, c.got, c.want)
			}
		}
	}
}

// tailLen bounds the pack tail (header, sealed when encrypted, and
// trailer), which a pack buffer keeps room for.
func TestTailLenBoundsPackTail(t *testing.T) {
	plain, keyed := testCodecs(t)
	for _, c := range []*codec{plain, keyed} {
		for _, n := range []int{0, 1, 7, 300, 5000} {
			if got, bound := len(c.packTail(make([]entry, n))), c.tailLen(n); got > bound {
				t.Errorf("encrypted=%v, %d entries: tail of %d bytes, tailLen %d", c.aead != nil, n, got, bound)
			}
		}
	}
}

// testCodecs returns an unencrypted and an encrypted codec, closed when
// the test ends.
func testCodecs(t *testing.T) (plain, keyed *codec) {
	t.Helper()
	var err error
	if plain, err = newCodec(nil, 1, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.close)
	if keyed, err = newCodec(make([]byte, 32), 1, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keyed.close)
	return plain, keyed
}

// The choice between the two ways of hashing (hashInPlace) is measured in
// the calling thread's CPU time: the clock is there and counts this
// thread's hashing, so the choice is not left to its fallback.
func TestThreadCPUCountsHashing(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	plain, _ := testCodecs(t)
	buf := make([]byte, 4<<20)
	t0, ok := threadCPU()
	if !ok {
		t.Fatal("no thread CPU clock")
	}
	for range 8 {
		plain.sumHasher(buf)
	}
	if t1, ok := threadCPU(); !ok || t1 <= t0 {
		t.Fatalf("thread CPU time %v, then %v (%v): hashing 32 MiB did not count", t0, t1, ok)
	}
	inPlaceFaster() // runs to its end on any CPU (the AVX-512 code only runs where sum may choose it)
}

// sumTree (AVX-512VL: hashF8 and hashP8, rewritten from zeebo/blake3's
// AVX2 code) computes BLAKE3 for every size it takes, plain and keyed, on
// many inputs: the same IDs as zeebo/blake3 and lukechampine.com/blake3.
func TestTreeSumMatchesZeebo(t *testing.T) {
	if !hasTree8 {
		t.Skip("no AVX-512VL here: sumTree is not used")
	}
	plain, keyed := testCodecs(t)
	rng := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 64<<10)
	for round := range 50 {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if round%5 == 0 { // runs of equal bytes, as text and zeros hold
			clear(p[rng.IntN(len(p)):])
		}
		for _, n := range []int{8 << 10, 16 << 10, 32 << 10, 64 << 10} {
			if !treeSized(n) {
				t.Fatalf("treeSized(%d) = false", n)
			}
			h := blake3.New(32, keyed.idKey)
			h.Write(p[:n])
			var wantKeyed ID
			h.Sum(wantKeyed[:0])
			if got, want := plain.sumTree(p[:n]), blake3.Sum256(p[:n]); got != want || plain.sumZeebo(p[:n]) != want {
				t.Fatalf("round %d, %d bytes: sumTree %x, want %x", round, n, got, want)
			}
			if got := keyed.sumTree(p[:n]); got != wantKeyed || keyed.sumZeebo(p[:n]) != wantKeyed {
				t.Fatalf("round %d, %d bytes, keyed: sumTree %x, want %x", round, n, got, wantKeyed)
			}
		}
	}
	for _, n := range []int{0, 1024, 8<<10 - 1, 8<<10 + 1, 24 << 10, 48 << 10, 128 << 10} {
		if treeSized(n) {
			t.Errorf("treeSized(%d) = true", n)
		}
	}
}
