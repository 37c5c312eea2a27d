package chunk

import (
	"encoding/binary"
	"sync"

	"github.com/minio/minlz"
)

// encodeMinLZ is minlz.Encode(dst, src, minlz.LevelFastest): the same MinLZ
// block, which minlz.Decode reads. Blocks of 16-64 KiB (every full chunk)
// go through encodeMinLZ64K where it runs (minlz_amd64.s: MinLZ's own
// encoder for that size, see there for what differs); the rest through
// minlz. dst must hold minlz.MaxEncodedLen(len(src)) bytes.
func encodeMinLZ(dst, src []byte) ([]byte, error) {
	if len(src) <= 16<<10 || len(src) > 64<<10 || !hasMinLZ64K {
		return minlz.Encode(dst, src, minlz.LevelFastest)
	}
	if n := minlz.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	} else {
		dst = dst[:n]
	}
	dst[0] = 0 // a MinLZ block, not Snappy
	d := 1 + binary.PutUvarint(dst[1:], uint64(len(src)))
	table := minlzTables.Get().(*[16 << 10]byte)
	n := encodeMinLZ64K(dst[d:], src, table)
	minlzTables.Put(table)
	if n > 0 {
		return dst[:d+n], nil
	}
	// Saves too little: minlz's uncompressed form, a zero length then src.
	return append(append(dst[:0], 0, 0), src...), nil
}

// minlzTables are encodeMinLZ64K's hash tables (it clears one itself; a
// table on the stack would be cleared twice).
var minlzTables = sync.Pool{New: func() any { return new([16 << 10]byte) }}
