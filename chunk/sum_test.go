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
// With hashF16 (AVX-512F) the chunks are hashed sixteen at a time, else
// eight; both ways are checked, on inputs at every alignment.
func TestTreeSumMatchesZeebo(t *testing.T) {
	if !hasTree8 {
		t.Skip("no AVX-512VL here: sumTree is not used")
	}
	f16 := []bool{false}
	if hasF16 {
		f16 = append(f16, true)
	}
	defer func(was bool) { hasF16 = was }(hasF16)
	for _, hasF16 = range f16 {
		treeSumMatchesZeebo(t)
	}
}

func treeSumMatchesZeebo(t *testing.T) {
	plain, keyed := testCodecs(t)
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 64<<10+64)
	for round := range 50 {
		p := buf[round%65:][:64<<10] // every alignment to a cache line
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
				t.Fatalf("hashF16 %v, round %d, %d bytes: sumTree %x, want %x", hasF16, round, n, got, want)
			}
			if got := keyed.sumTree(p[:n]); got != wantKeyed || keyed.sumZeebo(p[:n]) != wantKeyed {
				t.Fatalf("hashF16 %v, round %d, %d bytes, keyed: sumTree %x, want %x", hasF16, round, n, got, wantKeyed)
			}
		}
	}
	for _, n := range []int{0, 1024, 8<<10 - 1, 8<<10 + 1, 24 << 10, 48 << 10, 128 << 10} {
		if treeSized(n) {
			t.Errorf("treeSized(%d) = true", n)
		}
	}
}

// hashF16 gives each of its sixteen chunks the chaining value hashF8 does
// (itself checked against both BLAKE3 libraries above), for any key, flags
// and 64-bit chunk counter, also where the counters' low words wrap
// between two lanes.
func TestHashF16MatchesHashF8(t *testing.T) {
	if !hasF16 || !hasTree8 {
		t.Skip("no AVX-512 here: hashF16 is not used")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 2*group8+64)
	for round := range 40 {
		in := (*[2 * group8]byte)(buf[round%64:])
		for i := range in {
			in[i] = byte(rng.Uint32())
		}
		var key [8]uint32
		for i := range key {
			key[i] = rng.Uint32()
		}
		flags := uint32(round % 32 &^ 3) // CHUNK_START and CHUNK_END are the functions' own
		counter := rng.Uint64()
		switch round % 4 {
		case 0:
			counter = 0
		case 1:
			counter = 1<<32 - uint64(round%16) // the low word wraps inside the sixteen
		case 2:
			counter = 1<<64 - 16
		}
		var left, right [64]uint32
		hashF16(in, counter, flags, &key, &left, &right)
		for half := range 2 {
			var want [64]uint32
			var chain [8]uint32
			hashF8((*[group8]byte)(in[half*group8:]), group8, counter+uint64(8*half), flags, &key, &want, &chain)
			for w := range 8 {
				for i := range 8 {
					c := 8*half + i // chunk c: left's (c/2)-th value if even, right's if odd
					got := left[8*w+c/2]
					if c%2 == 1 {
						got = right[8*w+c/2]
					}
					if x := want[8*w+i]; got != x {
						t.Fatalf("round %d (counter %#x, flags %#x): chunk %d word %d = %#x, want %#x", round, counter, flags, c, w, got, x)
					}
				}
			}
		}
	}
}
