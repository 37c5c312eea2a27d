package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/nbd/nbdtest"
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

func TestStructuredReadAndBlockStatusNeedsContext(t *testing.T) {
	addr, v := serveVolume(t, 1<<20)
	v.WriteAt(bytes.Repeat([]byte{5}, 4096), 8192)
	cl := nbdtest.MustDial(t, addr, "v", true)
	cl.Send(cmdRead, 1, 8192, 4096, nil)
	cl.W.Flush()
	var h [20]byte
	io.ReadFull(cl.R, h[:])
	if binary.BigEndian.Uint32(h[:]) != structuredMagic || binary.BigEndian.Uint16(h[6:]) != replyTypeOffsetData ||
		binary.BigEndian.Uint16(h[4:])&replyFlagDone == 0 || binary.BigEndian.Uint32(h[16:]) != 8+4096 {
		t.Fatalf("read reply header %x", h)
	}
	p := make([]byte, 8+4096)
	io.ReadFull(cl.R, p)
	if binary.BigEndian.Uint64(p) != 8192 || !bytes.Equal(p[8:], bytes.Repeat([]byte{5}, 4096)) {
		t.Fatal("read payload")
	}
	// BLOCK_STATUS without base:allocation selected is an error chunk, not a hang.
	cl.Send(cmdBlockStatus, 2, 0, 4096, nil)
	cl.W.Flush()
	io.ReadFull(cl.R, h[:])
	if binary.BigEndian.Uint16(h[6:]) != replyTypeError {
		t.Fatalf("block status without context: %x", h)
	}
	io.CopyN(io.Discard, cl.R, int64(binary.BigEndian.Uint32(h[16:])))
}

// BenchmarkNBDWrite measures sequential 1 MiB writes through the NBD
// server into a volume, 8 requests in flight.
func BenchmarkNBDWrite(b *testing.B) {
	const size = 1 << 30
	addr, _ := serveVolume(b, size)
	cl := nbdtest.MustDial(b, addr, "v", false)
	p := make([]byte, 1<<20)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	inflight := 0
	for i := 0; i < b.N; i++ {
		cl.Send(cmdWrite, uint64(i), int64(i%(size>>20))<<20, uint32(len(p)), p)
		inflight++
		if inflight == 8 {
			cl.W.Flush()
			for ; inflight > 0; inflight-- {
				if e, _ := cl.SimpleReply(b); e != 0 {
					b.Fatalf("write error %d", e)
				}
			}
		}
	}
	cl.W.Flush()
	for ; inflight > 0; inflight-- {
		cl.SimpleReply(b)
	}
}

// TestStalledHandshakeIsHungUp: a client that connects and stalls before
// transmission (no flags, half an option) is hung up on once the
// handshake timeout passes, instead of holding a goroutine for ever; a
// client that negotiated may idle longer than that and still be served.
func TestStalledHandshakeIsHungUp(t *testing.T) {
	m, err := volume.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Create("v", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	v.WriteAt(bytes.Repeat([]byte{9}, 512), 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The limit is the whole handshake's, from the accept: the negotiating
	// client below has it for its round trips, which a loaded machine can
	// stretch past a few hundred milliseconds (it had 300 ms).
	const limit = 2 * time.Second
	s := &Server{HandshakeTimeout: limit, Lookup: func(ctx context.Context, name string) (Export, error) { return v, nil }}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close(); m.Close() })
	addr := ln.Addr().String()
	// A client that negotiates, then idles while the stalled ones below
	// wait out theirs: it idles past its own handshake limit.
	cl := nbdtest.MustDial(t, addr, "v", false)
	defer cl.Close()

	for name, send := range map[string][]byte{
		"nothing after the greeting": nil,
		"half an option":             append([]byte{0, 0, 0, flagFixedNewstyle | flagNoZeroes}, 0x49, 0x48, 0x41, 0x56),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		greeting := make([]byte, 18)
		if _, err := io.ReadFull(c, greeting); err != nil {
			t.Fatalf("%s: greeting: %v", name, err)
		}
		c.Write(send)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: the server did not hang up: %d bytes, %v after %v", name, n, err, time.Since(start))
		}
		c.Close()
	}

	// The negotiated client has idled through the stalled ones' limits.
	cl.Send(cmdRead, 1, 0, 512, nil)
	cl.W.Flush()
	if errno, h := cl.SimpleReply(t); errno != 0 || h != 1 {
		t.Fatalf("read after idling: errno %d handle %d", errno, h)
	}
	p := make([]byte, 512)
	if _, err := io.ReadFull(cl.R, p); err != nil || !bytes.Equal(p, bytes.Repeat([]byte{9}, 512)) {
		t.Fatalf("read after idling: %v", err)
	}
}

// TestWriteOutOfSpaceIsENOSPC: a write into a volume whose file system is
// full fails with ENOSPC (the client can tell it from a failing disk's
// EIO), and the export serves on: once space is freed the same write
// succeeds and reads back.
func TestWriteOutOfSpaceIsENOSPC(t *testing.T) {
	dir := testsvc.SmallDisk(t, 2)
	m, err := volume.Open(filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Create("v", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Lookup: func(ctx context.Context, name string) (Export, error) { return v, nil }}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close(); m.Close() })
	filler := filepath.Join(dir, "filler")
	testsvc.FillUp(t, filler, 0)

	cl := nbdtest.MustDial(t, ln.Addr().String(), "v", false)
	data := bytes.Repeat([]byte{7}, 1<<20)
	write := func(h uint64) uint32 {
		cl.Send(cmdWrite, h, 4<<20, uint32(len(data)), data)
		cl.Send(cmdFlush, h+1, 0, 0, nil)
		cl.W.Flush()
		e1, _ := cl.SimpleReply(t)
		e2, _ := cl.SimpleReply(t)
		return max(e1, e2)
	}
	if errno := write(1); errno != enospc {
		t.Fatalf("write on a full file system: errno %d, want ENOSPC (%d)", errno, enospc)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if errno := write(3); errno != 0 {
		t.Fatalf("write once freed: errno %d", errno)
	}
	got := make([]byte, len(data))
	if _, err := v.ReadAt(got, 4<<20); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}
