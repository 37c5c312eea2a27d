package nbd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/safehold/safehold/volume"
)

func serveVolume(tb testing.TB, size int64) (string, *volume.Volume) {
	tb.Helper()
	m, err := volume.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	v, err := m.Create("v", size)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Lookup: func(ctx context.Context, name string) (Export, error) {
		if name != "v" {
			return nil, ErrUnknownExport
		}
		return v, nil
	}}
	go s.Serve(ln)
	tb.Cleanup(func() { s.Close(); m.Close() })
	return ln.Addr().String(), v
}

type client struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(tb testing.TB, addr string, structured bool) *client {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	cl := &client{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 4<<20)}
	io.ReadFull(cl.r, make([]byte, 18))
	binary.Write(c, binary.BigEndian, uint32(3))
	opt := func(o uint32, data []byte) {
		h := binary.BigEndian.AppendUint64(nil, optMagic)
		h = binary.BigEndian.AppendUint32(h, o)
		h = binary.BigEndian.AppendUint32(h, uint32(len(data)))
		c.Write(append(h, data...))
		for {
			var rh [20]byte
			if _, err := io.ReadFull(cl.r, rh[:]); err != nil {
				tb.Fatal(err)
			}
			typ := binary.BigEndian.Uint32(rh[12:])
			io.CopyN(io.Discard, cl.r, int64(binary.BigEndian.Uint32(rh[16:])))
			if typ == repAck {
				return
			}
			if typ&(1<<31) != 0 {
				tb.Fatalf("option %d: error %#x", o, typ)
			}
		}
	}
	if structured {
		opt(optStructuredReply, nil)
	}
	data := binary.BigEndian.AppendUint32(nil, 1)
	data = append(data, 'v')
	opt(optGo, binary.BigEndian.AppendUint16(data, 0))
	return cl
}

func (cl *client) send(typ uint16, handle uint64, off int64, n uint32, payload []byte) {
	h := binary.BigEndian.AppendUint32(nil, requestMagic)
	h = binary.BigEndian.AppendUint16(h, 0)
	h = binary.BigEndian.AppendUint16(h, typ)
	h = binary.BigEndian.AppendUint64(h, handle)
	h = binary.BigEndian.AppendUint64(h, uint64(off))
	h = binary.BigEndian.AppendUint32(h, n)
	cl.w.Write(h)
	cl.w.Write(payload)
}

func (cl *client) simpleReply(tb testing.TB) uint32 {
	var r [16]byte
	if _, err := io.ReadFull(cl.r, r[:]); err != nil {
		tb.Fatal(err)
	}
	return binary.BigEndian.Uint32(r[4:])
}

func TestStructuredReadAndBlockStatusNeedsContext(t *testing.T) {
	addr, v := serveVolume(t, 1<<20)
	v.WriteAt(bytes.Repeat([]byte{5}, 4096), 8192)
	cl := dial(t, addr, true)
	cl.send(cmdRead, 1, 8192, 4096, nil)
	cl.w.Flush()
	var h [20]byte
	io.ReadFull(cl.r, h[:])
	if binary.BigEndian.Uint32(h[:]) != structuredMagic || binary.BigEndian.Uint16(h[6:]) != replyTypeOffsetData ||
		binary.BigEndian.Uint16(h[4:])&replyFlagDone == 0 || binary.BigEndian.Uint32(h[16:]) != 8+4096 {
		t.Fatalf("read reply header %x", h)
	}
	p := make([]byte, 8+4096)
	io.ReadFull(cl.r, p)
	if binary.BigEndian.Uint64(p) != 8192 || !bytes.Equal(p[8:], bytes.Repeat([]byte{5}, 4096)) {
		t.Fatal("read payload")
	}
	// BLOCK_STATUS without base:allocation selected is an error chunk, not a hang.
	cl.send(cmdBlockStatus, 2, 0, 4096, nil)
	cl.w.Flush()
	io.ReadFull(cl.r, h[:])
	if binary.BigEndian.Uint16(h[6:]) != replyTypeError {
		t.Fatalf("block status without context: %x", h)
	}
	io.CopyN(io.Discard, cl.r, int64(binary.BigEndian.Uint32(h[16:])))
}

// BenchmarkNBDWrite measures sequential 1 MiB writes through the NBD
// server into a volume, 8 requests in flight.
func BenchmarkNBDWrite(b *testing.B) {
	const size = 1 << 30
	addr, _ := serveVolume(b, size)
	cl := dial(b, addr, false)
	p := make([]byte, 1<<20)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	inflight := 0
	for i := 0; i < b.N; i++ {
		cl.send(cmdWrite, uint64(i), int64(i%(size>>20))<<20, uint32(len(p)), p)
		inflight++
		if inflight == 8 {
			cl.w.Flush()
			for ; inflight > 0; inflight-- {
				if e := cl.simpleReply(b); e != 0 {
					b.Fatalf("write error %d", e)
				}
			}
		}
	}
	cl.w.Flush()
	for ; inflight > 0; inflight-- {
		cl.simpleReply(b)
	}
}
