package chunk

import (
	"bytes"
	"testing"
)

// FuzzPackTail feeds arbitrary bytes to the pack trailer and header
// decoders: they must fail cleanly, never panic or index out of range.
func FuzzPackTail(f *testing.F) {
	for _, key := range [][]byte{nil, bytes.Repeat([]byte{1}, 32)} {
		c, err := newCodec(key, 1, 1)
		if err != nil {
			f.Fatal(err)
		}
		es := []entry{{id: ID{1}, kind: kindS2, off: 0, slen: 10, plen: 20, crc: 7}, {id: ID{2}, off: 10, slen: 5, plen: 5}}
		f.Add(append(make([]byte, 15), c.packTail(es)...), key != nil)
		c.close()
	}
	f.Fuzz(func(t *testing.T, pack []byte, encrypted bool) {
		var key []byte
		if encrypted {
			key = bytes.Repeat([]byte{1}, 32)
		}
		c, err := newCodec(key, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		size := int64(len(pack))
		if size < trailerSize {
			return
		}
		hl, hc, err := parseTrailer(pack[size-trailerSize:], size)
		if err != nil {
			return
		}
		start := size - trailerSize - hl
		es, err := c.parseHeader(pack[start:size-trailerSize], hc, start)
		if err != nil {
			return
		}
		for _, e := range es {
			if int64(e.off)+int64(e.slen) > start {
				t.Fatalf("entry outside records accepted: %+v", e)
			}
			c.decode(nil, e.id, e.kind, int(e.plen), pack[e.off:e.off+e.slen], true)
		}
	})
}

// FuzzOpenObject checks the sealed-object decoder on arbitrary input.
func FuzzOpenObject(f *testing.F) {
	c, _ := newCodec(nil, 1, 1)
	f.Add(c.sealObject("snapshot/x", []byte(`{"id":"x"}`)))
	c.close()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := newCodec(nil, 1, 1)
		defer c.close()
		c.openObject("snapshot/x", b)
	})
}
