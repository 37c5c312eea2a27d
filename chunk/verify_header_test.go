package chunk

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/mem"
)

// A pack whose header (checksum intact) disagrees with the index that
// verify reads it by is reported: once the store is reopened, the header is
// the index, and the entry it changed would no longer read.
func TestVerifyReportsHeaderDisagreeingWithIndex(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	s, err := Open(ctx, be, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3; i++ {
		p := make([]byte, 5000)
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		if _, _, err := w.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var key string
	be.List(ctx, "pack/", func(in blob.Info) error { key = in.Key; return nil })
	data, err := be.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	hl, _, err := parseTrailer(data[len(data)-trailerSize:], int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	hdrStart := int64(len(data)) - trailerSize - hl
	hdr := data[hdrStart : len(data)-trailerSize]
	// The first entry's CRC field, then the header's own checksum.
	hdr[4+entrySize-4] ^= 0xff
	binary.LittleEndian.PutUint32(data[len(data)-trailerSize+4:], crc(hdr))
	if _, err := s.c.parseHeader(hdr, crc(hdr), hdrStart); err != nil {
		t.Fatalf("the changed header must still parse: %v", err)
	}
	if err := be.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := be.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	var bad []BadChunk
	if _, err := s.Verify(ctx, VerifyOptions{}, func(b BadChunk) { bad = append(bad, b) }); err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Pack != key || !errors.Is(bad[0].Err, ErrCorrupt) || !strings.Contains(bad[0].Err.Error(), "header") {
		t.Fatalf("verify reported %+v, want the pack's header", bad)
	}
}
