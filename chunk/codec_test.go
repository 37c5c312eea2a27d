package chunk_test

import (
	"context"
	"testing"

	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
)

// Random blocks are recognised from samples and stored raw; text, and a
// block that is random only at the start, are compressed; a random block
// that starts like text is tried whole and stored raw. So with MinLZ (the
// default, whose trials are MinLZ's) and with S2.
func TestIncompressibleStoredRaw(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []string{"", chunk.CompressionS2} {
		s := open(t, mem.New(nil), t.TempDir(), nil, comp)
		w := s.NewWriter()
		defer w.Close()
		rnd := randBytes(64<<10, 77)
		if _, n, err := w.Put(ctx, rnd); err != nil || n != len(rnd) {
			t.Fatalf("%q: random block stored as %d bytes (err %v), want raw %d", comp, n, err, len(rnd))
		}
		mixed := append(randBytes(8<<10, 78), textBytes(56<<10, 79)...)
		if _, n, err := w.Put(ctx, mixed); err != nil || n >= len(mixed)*3/4 {
			t.Fatalf("%q: mostly-text block stored as %d of %d bytes (err %v)", comp, n, len(mixed), err)
		}
		textHead := append(textBytes(1<<10, 80), randBytes(63<<10, 81)...)
		if _, n, err := w.Put(ctx, textHead); err != nil || n != len(textHead) {
			t.Fatalf("%q: random block with a text head stored as %d bytes (err %v), want raw %d", comp, n, err, len(textHead))
		}
		for _, d := range [][]byte{rnd, mixed, textHead} {
			id := s.Sum(d)
			got, err := s.Get(ctx, id, nil)
			if err != nil || string(got) != string(d) {
				t.Fatalf("%q: get %s: %v", comp, id.Short(), err)
			}
		}
	}
}
