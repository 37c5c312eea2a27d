package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Some generated Azure SDK operations (role assignment $filter) put raw
// spaces into the query string, which Azure's front door accepts but Go's
// HTTP/1.1 server rejects as a malformed request line. fixConn repairs such
// request lines (spaces inside the request-target become %20) while passing
// everything else through unchanged; it follows HTTP/1.1 framing
// (Content-Length and chunked bodies) so it only ever touches request
// lines, and falls back to plain pass-through on anything it does not
// understand. The server offers HTTP/1.1 only, so every request passes here.
type fixConn struct {
	net.Conn
	tls *tls.Conn // nil for plain HTTP

	stateOnce sync.Once
	state0    *tls.ConnectionState

	br      *bufio.Reader
	out     []byte // pending output: out[outPos:]
	outPos  int
	state   int
	remain  int64 // body or chunk bytes left to pass through
	chunked bool
	clen    int64
	raw     bool // gave up parsing: pass through

	yield bool // the next Read lets the other goroutines run first (yieldWhenIdle)

	hdrs  []byte // header lines for the next final response (addHeaders)
	lines []byte // a buffer for them, the caller's
	wbuf  []byte // that response's first write with them
}

const (
	stRequestLine = iota
	stHeaders
	stBody
	stChunkSize
	stChunkData
	stTrailers
)

func newFixConn(c net.Conn, t *tls.Conn) *fixConn {
	var src net.Conn = c
	if t != nil {
		src = t
	}
	return &fixConn{Conn: src, tls: t, br: bufio.NewReaderSize(src, 32<<10)}
}

func (c *fixConn) Read(p []byte) (int, error) {
	if c.yield {
		c.yield = false
		runtime.Gosched()
	}
	if c.outPos == len(c.out) {
		c.out, c.outPos = c.out[:0], 0
	}
	for len(c.out) == c.outPos {
		if c.raw {
			return c.br.Read(p)
		}
		if c.state == stBody || c.state == stChunkData {
			if c.remain == 0 {
				c.nextAfterData()
				continue
			}
			n := len(p)
			if int64(n) > c.remain {
				n = int(c.remain)
			}
			n, err := c.br.Read(p[:n])
			c.remain -= int64(n)
			return n, err
		}
		line, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			c.out = append(c.out, line...)
			c.raw = true
			break
		}
		if err != nil {
			if len(line) > 0 {
				c.out = append(c.out, line...)
				break
			}
			return 0, err
		}
		c.out = append(c.out, c.process(line)...)
	}
	n := copy(p, c.out[c.outPos:])
	c.outPos += n
	return n, nil
}

func (c *fixConn) nextAfterData() {
	if c.state == stChunkData {
		c.state = stChunkSize
	} else {
		c.state = stRequestLine
	}
}

func (c *fixConn) process(line []byte) []byte {
	switch c.state {
	case stRequestLine:
		if len(bytes.TrimSpace(line)) == 0 {
			return line // tolerated blank lines between requests
		}
		c.state, c.chunked, c.clen = stHeaders, false, 0
		return fixRequestLine(line)
	case stHeaders:
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			switch {
			case c.chunked:
				c.state = stChunkSize
			case c.clen > 0:
				c.state, c.remain = stBody, c.clen
			default:
				c.state = stRequestLine
			}
			return line
		}
		k, v, ok := bytes.Cut(t, []byte(":"))
		if !ok {
			return line
		}
		k = bytes.TrimSpace(k)
		switch {
		case bytes.EqualFold(k, []byte("content-length")):
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil || n < 0 {
				c.raw = true
			}
			c.clen = n
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			if bytes.EqualFold(bytes.TrimSpace(v), []byte("chunked")) {
				c.chunked = true
			} else {
				c.raw = true
			}
		case bytes.EqualFold(k, []byte("upgrade")):
			c.raw = true
		}
		return line
	case stChunkSize:
		t := strings.TrimSpace(string(line))
		if i := strings.IndexByte(t, ';'); i >= 0 {
			t = t[:i]
		}
		n, err := strconv.ParseInt(t, 16, 64)
		if err != nil || n < 0 || n > math.MaxInt64-2 { // the chunk and its CRLF must count in an int64
			c.raw = true
			return line
		}
		if n == 0 {
			c.state = stTrailers
		} else {
			c.state, c.remain = stChunkData, n+2
		}
		return line
	case stTrailers:
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			c.state = stRequestLine
		}
		return line
	}
	return line
}

// fixRequestLine turns "GET /a?x=b c HTTP/1.1" into "GET /a?x=b%20c HTTP/1.1".
func fixRequestLine(line []byte) []byte {
	if bytes.Count(line, []byte(" ")) <= 2 {
		return line
	}
	s := string(line)
	end := strings.TrimRight(s, "\r\n")
	if strings.Count(end, " ") <= 2 {
		return line
	}
	sp1 := strings.IndexByte(end, ' ')
	sp2 := strings.LastIndexByte(end, ' ')
	proto := end[sp2+1:]
	if !strings.HasPrefix(proto, "HTTP/") || sp1 <= 0 || sp2 <= sp1 {
		return line
	}
	uri := strings.ReplaceAll(end[sp1+1:sp2], " ", "%20")
	return []byte(end[:sp1] + " " + uri + " " + proto + s[len(end):])
}

// fixListener accepts connections, terminates TLS (if configured) and wraps
// each in a fixConn.
type fixListener struct {
	net.Listener
	tlsCfg *tls.Config
}

func (l *fixListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tlsCfg == nil {
		return newFixConn(c, nil), nil
	}
	return newFixConn(c, tls.Server(c, l.tlsCfg)), nil
}

// addHeaders has the connection write lines (each "Name: value\r\n")
// into the header of the next final (not 1xx) response it sends, right
// after its status line; nil takes back lines not yet written. The
// middleware gives it Azure's headers of ARM's answers (the constant ones
// and the request's ids): net/http writes a handler's headers only from
// the response's header map, which it makes for each response, copies at
// WriteHeader and sorts, checks and writes key by key; Azure's nine keys
// made that map and its copy tables (a Go map holds 8 keys in one group),
// ~15 % of a GET's CPU.
// The lines must be valid header fields and must not repeat a header the
// handler sets. Only the goroutine serving the connection calls it, as
// only it writes (net/http serves one request of a connection at a time).
func (c *fixConn) addHeaders(lines []byte) { c.hdrs = lines }

// Write adds the lines of addHeaders after the status line of the first
// final response written since. net/http writes a response's status line
// and header into its buffered writer and flushes each response before
// the next one (an interim "100 Continue" on its own), so a response
// starts a Write, with its whole status line.
func (c *fixConn) Write(p []byte) (int, error) {
	if c.hdrs == nil {
		return c.Conn.Write(p)
	}
	i := statusLineEnd(p)
	if i < 0 {
		c.hdrs = nil // not a response's start: nothing to add it to
		return c.Conn.Write(p)
	}
	if p[len("HTTP/1.1 ")] == '1' { // an interim response: the final one follows
		return c.Conn.Write(p)
	}
	h := c.hdrs
	c.hdrs = nil
	c.wbuf = append(append(append(c.wbuf[:0], p[:i]...), h...), p[i:]...)
	n, err := c.Conn.Write(c.wbuf)
	switch { // what was written of p
	case n >= i+len(h):
		n -= len(h)
	case n > i:
		n = i
	}
	if cap(c.wbuf) > 16<<10 {
		c.wbuf = nil // a large first write: do not keep its buffer
	}
	return n, err
}

// statusLineEnd is the length of the HTTP/1.x status line that p begins
// with ("HTTP/1.1 200 OK\r\n"), or -1.
func statusLineEnd(p []byte) int {
	const head = "HTTP/1.x NNN"
	if len(p) < len(head) || string(p[:len("HTTP/1.")]) != "HTTP/1." || p[8] != ' ' ||
		p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' {
		return -1
	}
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		return -1
	}
	return j + 1
}

type connKey struct{}

// connContext remembers the connection so handlers can see its TLS state.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf returns the request's connection, if the server made it.
func connOf(ctx context.Context) *fixConn {
	fc, _ := ctx.Value(connKey{}).(*fixConn)
	return fc
}

// tlsState returns the TLS state of the connection, if any.
func (fc *fixConn) tlsState() *tls.ConnectionState {
	if fc == nil || fc.tls == nil {
		return nil
	}
	fc.stateOnce.Do(func() { // the handshake is done by the time a request is read
		st := fc.tls.ConnectionState()
		fc.state0 = &st
	})
	return fc.state0
}

// yieldWhenIdle is the server's ConnState hook: a keep-alive connection
// whose answer has been written lets the other connections' goroutines run
// before it reads its next request. Without it, Go's scheduler served a
// connection whose client sends its next request at once back to back:
// net/http hands each request over between the connection's goroutine and
// a background reader it starts per request, and a goroutine readied by
// the one running takes over its time slice, so such a connection kept a
// processor (up to 500 requests, 68 ms, in a trace of bench/arm-get.sh)
// while the others' requests waited: most of the GET benchmark's p99. A
// yield costs little when nothing else is runnable.
//
// The yield happens in the connection's next Read, not in this hook.
// net/http reads the next request's head only through a Read: fixConn
// hands on one line per Read, so net/http never holds more than the line
// it asked for, and pipelined requests wait in fixConn (once fixConn has
// given up parsing and passes bytes through, the hook yields itself).
// Where the waiting goroutines wait matters to the runtime: a new
// goroutine's first stack is the average of the stacks the last garbage
// collection scanned, and connections parked in this hook (at conn.serve's
// depth; most of the connections under load) kept that average at 2 KiB,
// so net/http's background reader, a new goroutine per request, outgrew
// its stack in crypto/tls on most requests (copying it was ~3-4 % of a
// GET's CPU); parked in Read, a few frames deeper, they keep it at 4 KiB.
func yieldWhenIdle(nc net.Conn, st http.ConnState) {
	if st != http.StateIdle {
		return
	}
	if c, ok := nc.(*fixConn); ok && !c.raw {
		c.yield = true
		return
	}
	runtime.Gosched()
}
