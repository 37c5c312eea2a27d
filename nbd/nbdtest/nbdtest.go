// Package nbdtest is a minimal NBD client for tests: the fixed newstyle
// handshake that selects an export with NBD_OPT_GO (after
// NBD_OPT_STRUCTURED_REPLY when asked), requests, and simple replies. It
// speaks the protocol from its own constants, not the server's.
package nbdtest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

const (
	optMagic           = 0x49484156454f5054 // "IHAVEOPT"
	requestMagic       = 0x25609513
	simpleReplyMagic   = 0x67446698
	optGo              = 7
	optStructuredReply = 8
	repAck             = 1
	cmdDisc            = 2
)

// Client is one NBD connection in the transmission phase. Requests go
// through W (buffered: Flush sends them); R reads the replies.
type Client struct {
	Conn net.Conn
	R    *bufio.Reader
	W    *bufio.Writer
}

// Dial connects to addr and selects the export name. It returns the
// client, or nil and the error reply type of the option the server refused
// (the connection closed). A transport failure or a greeting that is not
// NBD's fails the test.
func Dial(tb testing.TB, addr, name string, structured bool) (*Client, uint32) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	cl := &Client{Conn: c, R: bufio.NewReader(c), W: bufio.NewWriterSize(c, 4<<20)}
	var hs [18]byte
	if _, err := io.ReadFull(cl.R, hs[:]); err != nil || string(hs[:8]) != "NBDMAGIC" || binary.BigEndian.Uint64(hs[8:]) != optMagic {
		tb.Fatalf("handshake: %v %q", err, hs)
	}
	binary.Write(c, binary.BigEndian, uint32(3)) // fixed newstyle, no zeroes
	opt := func(o uint32, data []byte) uint32 {
		h := binary.BigEndian.AppendUint64(nil, optMagic)
		h = binary.BigEndian.AppendUint32(h, o)
		h = binary.BigEndian.AppendUint32(h, uint32(len(data)))
		c.Write(append(h, data...))
		for {
			var rh [20]byte
			if _, err := io.ReadFull(cl.R, rh[:]); err != nil {
				tb.Fatal(err)
			}
			typ := binary.BigEndian.Uint32(rh[12:])
			io.CopyN(io.Discard, cl.R, int64(binary.BigEndian.Uint32(rh[16:])))
			if typ == repAck {
				return 0
			}
			if typ&(1<<31) != 0 {
				return typ
			}
		}
	}
	if structured {
		if typ := opt(optStructuredReply, nil); typ != 0 {
			c.Close()
			return nil, typ
		}
	}
	data := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	data = append(data, name...)
	if typ := opt(optGo, binary.BigEndian.AppendUint16(data, 0)); typ != 0 {
		c.Close()
		return nil, typ
	}
	return cl, 0
}

// Send queues one request (W.Flush sends it).
func (cl *Client) Send(typ uint16, handle uint64, off int64, n uint32, payload []byte) {
	h := binary.BigEndian.AppendUint32(nil, requestMagic)
	h = binary.BigEndian.AppendUint16(h, 0)
	h = binary.BigEndian.AppendUint16(h, typ)
	h = binary.BigEndian.AppendUint64(h, handle)
	h = binary.BigEndian.AppendUint64(h, uint64(off))
	h = binary.BigEndian.AppendUint32(h, n)
	cl.W.Write(h)
	cl.W.Write(payload)
}

// SimpleReply reads one simple reply's header and returns its error and
// handle (a read's data follows it on R); anything but a simple reply
// fails the test.
func (cl *Client) SimpleReply(tb testing.TB) (errno uint32, handle uint64) {
	tb.Helper()
	var r [16]byte
	if _, err := io.ReadFull(cl.R, r[:]); err != nil {
		tb.Fatal(err)
	}
	if binary.BigEndian.Uint32(r[:]) != simpleReplyMagic {
		tb.Fatalf("not a simple reply: %x", r)
	}
	return binary.BigEndian.Uint32(r[4:]), binary.BigEndian.Uint64(r[8:])
}

// Close sends NBD_CMD_DISC and closes the connection.
func (cl *Client) Close() {
	cl.Send(cmdDisc, 0, 0, 0, nil)
	cl.W.Flush()
	cl.Conn.Close()
}

// MustDial is Dial for an export the server must serve: a refusal fails the
// test.
func MustDial(tb testing.TB, addr, name string, structured bool) *Client {
	tb.Helper()
	cl, typ := Dial(tb, addr, name, structured)
	if cl == nil {
		tb.Fatalf("NBD_OPT_GO %s: error %#x", name, typ)
	}
	return cl
}
