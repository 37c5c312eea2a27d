// Package nbd serves block devices over the Network Block Device protocol
// (fixed newstyle handshake): OPT_GO, OPT_INFO, OPT_LIST, OPT_ABORT,
// OPT_EXPORT_NAME, structured replies and the base:allocation meta
// context; READ, WRITE, FLUSH, TRIM, WRITE_ZEROES, DISC and BLOCK_STATUS.
// Exports are looked up by name at connection time.
package nbd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/safehold/safehold/volume"
)

// Export is a block device served over NBD (a *volume.Volume).
type Export interface {
	Size() int64
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Zero(off, n int64) error
	Flush() error
	DataRanges(off, n int64) ([]volume.Range, error)
}

// ErrUnknownExport is returned by a Lookup for a name it does not serve.
var ErrUnknownExport = errors.New("unknown export")

// ErrAccessEnded is returned by an export whose grant was revoked or
// expired; requests then fail with EPERM.
var ErrAccessEnded = errors.New("access to the export ended (endGetAccess or expiry)")

// Releaser is implemented by exports that hold something for the
// connection that opened them: the server calls Release when that
// connection ends (or at once for an export only inspected, OPT_INFO).
type Releaser interface{ Release() }

func release(e Export) {
	if r, ok := e.(Releaser); ok {
		r.Release()
	}
}

// ReadOnly is implemented by exports that refuse writes: the server then
// advertises NBD_FLAG_READ_ONLY and answers writes with EPERM.
type ReadOnly interface{ ReadOnly() bool }

func readOnly(e Export) bool {
	r, ok := e.(ReadOnly)
	return ok && r.ReadOnly()
}

// Server is an NBD server.
type Server struct {
	// Lookup opens the export of a name (ErrUnknownExport when none).
	Lookup func(ctx context.Context, name string) (Export, error)
	// List names the exports (OPT_LIST); nil lists none.
	List   func(ctx context.Context) ([]string, error)
	Logger *slog.Logger
	// TLS, when set, is offered through NBD_OPT_STARTTLS, and required:
	// every option but STARTTLS and ABORT before it is answered
	// NBD_REP_ERR_TLS_REQD.
	TLS *tls.Config
	// HandshakeTimeout bounds the handshake and option negotiation of a
	// connection (DefaultHandshakeTimeout when zero): a client that
	// connects and stalls before transmission is hung up on instead of
	// holding its goroutine, and any export it looked up, for ever.
	HandshakeTimeout time.Duration

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Protocol constants.
const (
	nbdMagic        = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic        = 0x49484156454f5054 // "IHAVEOPT"
	repMagic        = 0x3e889045565a9
	requestMagic    = 0x25609513
	simpleMagic     = 0x67446698
	structuredMagic = 0x668e33ef

	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	optExportName      = 1
	optAbort           = 2
	optList            = 3
	optStartTLS        = 5
	optInfo            = 6
	optGo              = 7
	optStructuredReply = 8
	optListMetaContext = 9
	optSetMetaContext  = 10

	repAck         = 1
	repServer      = 2
	repInfo        = 3
	repMetaContext = 4
	repErrUnsup    = 1<<31 + 1
	repErrPolicy   = 1<<31 + 2
	repErrInvalid  = 1<<31 + 3
	repErrTLSReqd  = 1<<31 + 5
	repErrUnknown  = 1<<31 + 6
	repErrTooBig   = 1<<31 + 9

	infoExport    = 0
	infoName      = 1
	infoBlockSize = 3

	tflagHasFlags    = 1 << 0
	tflagReadOnly    = 1 << 1
	tflagSendFlush   = 1 << 2
	tflagSendFUA     = 1 << 3
	tflagSendTrim    = 1 << 5
	tflagWriteZeroes = 1 << 6
	tflagSendDF      = 1 << 7
	tflagMultiConn   = 1 << 8
	tflagFastZero    = 1 << 11

	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdCache       = 5
	cmdWriteZeroes = 6
	cmdBlockStatus = 7

	cmdFlagFUA      = 1 << 0
	cmdFlagNoHole   = 1 << 1
	cmdFlagDF       = 1 << 2
	cmdFlagReqOne   = 1 << 3
	cmdFlagFastZero = 1 << 4

	replyFlagDone       = 1
	replyTypeNone       = 0
	replyTypeOffsetData = 1
	replyTypeBlockStat  = 5
	replyTypeError      = 1<<15 + 1

	stateHole = 1
	stateZero = 2

	eperm     = 1
	eio       = 5
	enomem    = 12
	einval    = 22
	enospc    = 28
	eoverflow = 75
	enotsup   = 95
	eshutdown = 108

	// MaxRequest is the largest READ/WRITE payload accepted.
	MaxRequest   = 32 << 20
	allocationID = 1
)

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.ln = ln
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if err := s.serveConn(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.logger().Debug("nbd connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

type conn struct {
	s          *Server
	nc         net.Conn
	tls        bool // STARTTLS done
	r          *bufio.Reader
	w          *bufio.Writer
	noZeroes   bool
	structured bool
	allocation bool // base:allocation selected
	export     Export
	name       string
}

// DefaultHandshakeTimeout is a Server's HandshakeTimeout when unset.
const DefaultHandshakeTimeout = time.Minute

func (s *Server) serveConn(nc net.Conn) error {
	c := &conn{s: s, nc: nc, r: bufio.NewReaderSize(nc, 256<<10), w: bufio.NewWriterSize(nc, 256<<10)}
	limit := s.HandshakeTimeout
	if limit <= 0 {
		limit = DefaultHandshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(limit))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		if c.export != nil {
			release(c.export)
		}
	}()
	var hs [18]byte
	binary.BigEndian.PutUint64(hs[0:], nbdMagic)
	binary.BigEndian.PutUint64(hs[8:], optMagic)
	binary.BigEndian.PutUint16(hs[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.w.Write(hs[:]); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.r, cf[:]); err != nil {
		return err
	}
	flags := binary.BigEndian.Uint32(cf[:])
	if flags&flagFixedNewstyle == 0 {
		return errors.New("client does not support fixed newstyle")
	}
	c.noZeroes = flags&flagNoZeroes != 0
	done, err := c.negotiate(ctx)
	if err != nil || !done {
		return err
	}
	nc.SetDeadline(time.Time{}) // transmission: a mounted export may idle
	return c.transmit()
}

// negotiate runs option haggling; done reports that transmission starts.
func (c *conn) negotiate(ctx context.Context) (bool, error) {
	for {
		var h [16]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return false, err
		}
		if binary.BigEndian.Uint64(h[0:]) != optMagic {
			return false, errors.New("bad option magic")
		}
		opt, n := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
		if n > 64<<10 {
			return false, fmt.Errorf("option %d: %d bytes of data is too much", opt, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(c.r, data); err != nil {
			return false, err
		}
		if c.s.TLS != nil && !c.tls && opt != optStartTLS && opt != optAbort {
			if opt == optExportName {
				return false, errors.New("NBD_OPT_EXPORT_NAME before STARTTLS on a TLS-only server")
			}
			c.replyErr(opt, repErrTLSReqd, "this server requires TLS: negotiate NBD_OPT_STARTTLS first (nbds:// or the client's TLS option)")
			if err := c.w.Flush(); err != nil {
				return false, err
			}
			continue
		}
		switch opt {
		case optExportName:
			exp, err := c.s.Lookup(ctx, string(data))
			if err != nil {
				return false, fmt.Errorf("export %q: %w", data, err) // the protocol can only hang up
			}
			c.export, c.name = exp, string(data)
			var b [10]byte
			binary.BigEndian.PutUint64(b[0:], uint64(exp.Size()))
			binary.BigEndian.PutUint16(b[8:], transmissionFlags(exp))
			c.w.Write(b[:])
			if !c.noZeroes {
				c.w.Write(make([]byte, 124))
			}
			return true, c.w.Flush()
		case optAbort:
			c.reply(opt, repAck, nil)
			c.w.Flush()
			return false, nil
		case optList:
			if n != 0 {
				c.replyErr(opt, repErrInvalid, "OPT_LIST takes no data")
				break
			}
			var names []string
			if c.s.List != nil {
				var err error
				if names, err = c.s.List(ctx); err != nil {
					c.replyErr(opt, repErrPolicy, "cannot list exports")
					break
				}
			}
			for _, name := range names {
				c.reply(opt, repServer, with32(uint32(len(name)), name))
			}
			c.reply(opt, repAck, nil)
		case optStartTLS:
			switch {
			case c.s.TLS == nil:
				c.replyErr(opt, repErrPolicy, "TLS is not offered on this listener")
			case c.tls:
				c.replyErr(opt, repErrInvalid, "TLS is already negotiated")
			case n != 0:
				c.replyErr(opt, repErrInvalid, "NBD_OPT_STARTTLS takes no data")
			default:
				c.reply(opt, repAck, nil)
				if err := c.w.Flush(); err != nil {
					return false, err
				}
				tc := tls.Server(c.nc, c.s.TLS)
				hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := tc.HandshakeContext(hctx)
				cancel()
				if err != nil {
					return false, fmt.Errorf("TLS handshake: %w", err)
				}
				c.tls = true
				c.r, c.w = bufio.NewReaderSize(tc, 256<<10), bufio.NewWriterSize(tc, 256<<10)
			}
		case optStructuredReply:
			if n != 0 {
				c.replyErr(opt, repErrInvalid, "OPT_STRUCTURED_REPLY takes no data")
				break
			}
			c.structured = true
			c.reply(opt, repAck, nil)
		case optInfo, optGo:
			ok, err := c.infoGo(ctx, opt, data)
			if err != nil {
				return false, err
			}
			if ok && opt == optGo {
				return true, c.w.Flush()
			}
		case optListMetaContext, optSetMetaContext:
			c.metaContext(opt, data)
		default:
			c.replyErr(opt, repErrUnsup, "option not supported")
		}
		if err := c.w.Flush(); err != nil {
			return false, err
		}
	}
}

func transmissionFlags(e Export) uint16 {
	f := uint16(tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagSendTrim | tflagWriteZeroes | tflagSendDF | tflagMultiConn | tflagFastZero)
	if readOnly(e) {
		f |= tflagReadOnly
	}
	return f
}

func (c *conn) reply(opt, typ uint32, data []byte) {
	var h [20]byte
	binary.BigEndian.PutUint64(h[0:], repMagic)
	binary.BigEndian.PutUint32(h[8:], opt)
	binary.BigEndian.PutUint32(h[12:], typ)
	binary.BigEndian.PutUint32(h[16:], uint32(len(data)))
	c.w.Write(h[:])
	c.w.Write(data)
}

func (c *conn) replyErr(opt, typ uint32, msg string) { c.reply(opt, typ, []byte(msg)) }

// infoGo answers OPT_INFO and OPT_GO; ok reports success.
func (c *conn) infoGo(ctx context.Context, opt uint32, data []byte) (bool, error) {
	if len(data) < 6 {
		c.replyErr(opt, repErrInvalid, "short OPT_INFO/OPT_GO request")
		return false, nil
	}
	name, rest, ok := str32(data)
	if !ok || len(rest) < 2 {
		c.replyErr(opt, repErrInvalid, "malformed OPT_INFO/OPT_GO request")
		return false, nil
	}
	nreq := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+2*nreq {
		c.replyErr(opt, repErrInvalid, "malformed information request list")
		return false, nil
	}
	exp, err := c.s.Lookup(ctx, name)
	if err != nil {
		if errors.Is(err, ErrUnknownExport) {
			c.replyErr(opt, repErrUnknown, fmt.Sprintf("no export named %q", name))
		} else {
			c.replyErr(opt, repErrPolicy, "cannot open export: "+err.Error())
		}
		return false, nil
	}
	var b [12]byte
	binary.BigEndian.PutUint16(b[0:], infoExport)
	binary.BigEndian.PutUint64(b[2:], uint64(exp.Size()))
	binary.BigEndian.PutUint16(b[10:], transmissionFlags(exp))
	c.reply(opt, repInfo, b[:])
	for i := 0; i < nreq; i++ {
		switch binary.BigEndian.Uint16(rest[2+2*i:]) {
		case infoName:
			nb := make([]byte, 2+len(name))
			binary.BigEndian.PutUint16(nb, infoName)
			copy(nb[2:], name)
			c.reply(opt, repInfo, nb)
		case infoBlockSize:
			var bs [14]byte
			binary.BigEndian.PutUint16(bs[0:], infoBlockSize)
			binary.BigEndian.PutUint32(bs[2:], 1)
			binary.BigEndian.PutUint32(bs[6:], 4096)
			binary.BigEndian.PutUint32(bs[10:], MaxRequest)
			c.reply(opt, repInfo, bs[:])
		}
	}
	c.reply(opt, repAck, nil)
	if opt == optGo {
		c.export, c.name = exp, name
	} else {
		release(exp)
	}
	return true, nil
}

// metaContext answers OPT_LIST_META_CONTEXT and OPT_SET_META_CONTEXT; only
// base:allocation exists.
func (c *conn) metaContext(opt uint32, data []byte) {
	if opt == optSetMetaContext && !c.structured {
		c.replyErr(opt, repErrInvalid, "negotiate structured replies first")
		return
	}
	if len(data) < 8 {
		c.replyErr(opt, repErrInvalid, "short meta context request")
		return
	}
	_, p, ok := str32(data)
	if !ok || len(p) < 4 {
		c.replyErr(opt, repErrInvalid, "malformed meta context request")
		return
	}
	nq := binary.BigEndian.Uint32(p)
	p = p[4:]
	var queries []string
	for i := uint32(0); i < nq; i++ {
		var q string
		if q, p, ok = str32(p); !ok {
			c.replyErr(opt, repErrInvalid, "malformed meta context query")
			return
		}
		queries = append(queries, q)
	}
	match := false
	if opt == optListMetaContext && len(queries) == 0 {
		match = true
	}
	for _, q := range queries {
		if q == "base:allocation" || (opt == optListMetaContext && (q == "base:" || q == "base")) {
			match = true
		}
	}
	if opt == optSetMetaContext {
		c.allocation = match
	}
	if match {
		c.reply(opt, repMetaContext, with32(allocationID, "base:allocation"))
	}
	c.reply(opt, repAck, nil)
}

// str32 reads a string with its 32-bit length in front (an export name, a
// meta context query) from p; ok is false when p is too short for it.
func str32(p []byte) (s string, rest []byte, ok bool) {
	if len(p) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(len(p)-4) < uint64(n) {
		return "", nil, false
	}
	return string(p[4 : 4+n]), p[4+n:], true
}

// with32 is s with the 32-bit v in front (its length, a meta context's id).
func with32(v uint32, s string) []byte {
	b := make([]byte, 4+len(s))
	binary.BigEndian.PutUint32(b, v)
	copy(b[4:], s)
	return b
}
