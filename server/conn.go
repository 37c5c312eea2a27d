package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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

	head    int    // bytes of the current request's head read so far (maxHead)
	reqLine []byte // a request line longer than br's buffer, read so far
	midLine bool   // inside a header line longer than br's buffer
	dropped int64  // bytes of a head over maxHead dropped (stDropHead)

	partial       []byte // the start of a line a read deadline cut (Read)
	answeredPlain bool   // a plain-HTTP request on the TLS port was answered (answerPlainHTTP)
	kept          []byte // the head of the request being read, kept to say what net/http refused in it (keepHead)
	serving       bool   // a handler has the request (middleware) until its answer is written (connIdle): writes are its answer, never net/http's own (netHTTPError)

	// rdClear, wdClear: the connection has no read (write) deadline, as
	// the last one set through fixConn was none (SetReadDeadline)
	rdClear, wdClear bool

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
	stDropHead // the rest of a head over maxHead, read and dropped
)

// maxHead is the most bytes of a request's head (its request line and
// header lines) the server takes: net/http's default, under its own limit
// (4 KiB more), so that net/http never answers one itself, in plain text.
// A longer head is cut at the limit and the rest of it read and dropped
// (up to maxDropped bytes more); the request gets the header rejectKey
// (rejectHeadTooLarge), which the middleware answers with 431 in ARM's
// shape.
const (
	maxHead    = http.DefaultMaxHeaderBytes
	maxDropped = 8 << 20
)

// rejectKey is the header fixConn adds to a request net/http would refuse
// in plain text, for the middleware to refuse in ARM's shape (rejected);
// its value says why: rejectHeadTooLarge, or rejectURI and what is wrong
// with the request-target. A client sending the header itself only has
// its own request refused.
const (
	rejectKey          = "Safehold-Rejected"
	rejectHeadTooLarge = "head-too-large"
	rejectURI          = "uri "
)

func newFixConn(c net.Conn, t *tls.Conn) *fixConn {
	var src net.Conn = c
	if t != nil {
		src = t
	}
	// (a connection just accepted has no deadlines)
	return &fixConn{Conn: src, tls: t, br: bufio.NewReaderSize(src, 32<<10), rdClear: true, wdClear: true}
}

func (c *fixConn) Read(p []byte) (int, error) {
	n, err := c.read(p)
	if err != nil && c.tls != nil && !c.answeredPlain && !isTimeout(err) {
		// (not a deadline: net/http's abort of its background read, at
		// the end of every request, where errors.As costs ~1 % of a GET)
		c.answerPlainHTTP(err)
	}
	return n, err
}

func (c *fixConn) read(p []byte) (int, error) {
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
		if len(c.partial) > 0 { // the start of the line, read before a deadline
			line = append(c.partial, line...)
			c.partial = c.partial[:0]
		}
		if err == bufio.ErrBufferFull {
			if out, ok := c.longLine(line); ok {
				c.out = append(c.out, out...)
				continue
			}
			c.out = append(c.out, line...)
			c.raw = true
			break
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && len(line) > 0 {
				// A deadline cut the line (net/http's abort of its
				// background read while the client's next request is
				// arriving): keep its start for the next Read, which
				// reads the line on. Passed on as it was, its rest was
				// taken for a new line (a request line of a header
				// line's tail, or a body framed by a header cut in two).
				c.partial = append(c.partial, line...)
				return 0, err
			}
			if len(line) > 0 || len(c.reqLine) > 0 {
				c.out = append(append(c.out, c.reqLine...), line...)
				c.reqLine = nil
				break
			}
			return 0, err
		}
		c.out = append(c.out, c.process(line)...)
		// The rest of the head, as far as it has arrived, in the same
		// Read: the lines read and processed one by one as above (ReadSlice
		// finds each in br's buffer: nothing is read from the connection),
		// only not handed on one per Read (each through net/http's
		// connReader and bufio). It stops at the head's end: the body and
		// any pipelined request still wait here.
		for !c.raw && (c.state == stHeaders || c.state == stDropHead) && c.lineBuffered() {
			line, _ = c.br.ReadSlice('\n')
			c.out = append(c.out, c.process(line)...)
		}
	}
	n := copy(p, c.out[c.outPos:])
	c.outPos += n
	return n, nil
}

// lineBuffered reports whether br's buffer holds a whole line.
func (c *fixConn) lineBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func (c *fixConn) nextAfterData() {
	if c.state == stChunkData {
		c.state = stChunkSize
	} else {
		c.state = stRequestLine
	}
}

// endHead follows a request's head with its body, if it has one.
func (c *fixConn) endHead() {
	switch {
	case c.chunked:
		c.state = stChunkSize
	case c.clen > 0:
		c.state, c.remain = stBody, c.clen
	default:
		c.state = stRequestLine
	}
}

// longLine takes part of a line longer than br's buffer: a header line's
// (a header field's name and the start of its value, or more of its
// value), counted against maxHead, or one of a head being dropped; ok is
// false for any other (a request line, a chunk size, or a header line of
// a field that frames the body or with no name): the connection is then
// passed through, and net/http reads it as it is.
func (c *fixConn) longLine(part []byte) (out []byte, ok bool) {
	switch c.state {
	case stRequestLine:
		// Kept until it ends (process), up to maxHead: a longer one is
		// cut to its method and the start of its path (no query), and
		// the rest of its head dropped.
		if c.reqLine = append(c.reqLine, part...); len(c.reqLine) <= maxHead {
			return nil, true
		}
		method, target, _ := bytes.Cut(c.reqLine, []byte(" "))
		if len(method) > 32 {
			method = method[:32]
		}
		target, _, _ = bytes.Cut(target[:min(len(target), 1024)], []byte("?"))
		line := append(append([]byte(nil), method...), " /"...)
		for _, b := range bytes.TrimLeft(target, "/") {
			if b > ' ' && b != 0x7f && b != '%' {
				line = append(line, b)
			}
		}
		line = append(line, " HTTP/1.1\r\n"...)
		c.reqLine, c.chunked, c.clen, c.head = nil, false, 0, len(line)
		line = append(line, c.tooLarge(false, false)...)
		c.midLine = true // (the rest of the request line)
		return line, true
	case stHeaders:
		if !c.midLine {
			k, _, ok := bytes.Cut(part, []byte(":"))
			k = bytes.TrimSpace(k)
			if !ok || bytes.EqualFold(k, []byte("content-length")) || bytes.EqualFold(k, []byte("transfer-encoding")) || bytes.EqualFold(k, []byte("upgrade")) {
				return nil, false
			}
		}
		cut := c.midLine
		c.midLine = true
		if c.head += len(part); c.head > maxHead {
			return c.tooLarge(cut, false), true
		}
		return part, true
	case stDropHead:
		c.midLine = true
		if c.dropped += int64(len(part)); c.dropped > maxDropped {
			c.midLine = false
			c.endHead()
			return []byte("\r\n"), true
		}
		return nil, true
	}
	return nil, false
}

// tooLarge ends the head of a request that went over maxHead with the
// header rejectKey: cut says the line being read was passed on in part
// (it ends there), ended that the head ended with the line (its blank
// line); else the rest of the head is dropped (stDropHead).
func (c *fixConn) tooLarge(cut, ended bool) []byte {
	var b []byte
	if cut {
		b = append(b, "\r\n"...)
	}
	b = appendHeaderLine(b, rejectKey, rejectHeadTooLarge)
	if ended {
		c.endHead()
		return append(b, "\r\n"...)
	}
	c.state, c.dropped = stDropHead, 0
	return b
}

func (c *fixConn) process(line []byte) []byte {
	switch c.state {
	case stRequestLine:
		if c.reqLine != nil { // the end of a long one (longLine)
			line, c.reqLine = append(c.reqLine, line...), nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return line // tolerated blank lines between requests
		}
		c.state, c.chunked, c.clen, c.midLine = stHeaders, false, 0, false
		line = fixRequestLine(line)
		c.head = len(line)
		c.keepHead(line, true)
		return line
	case stHeaders:
		c.head += len(line)
		c.keepHead(line, false)
		if c.midLine { // the end of a long line
			c.midLine = false
			if c.head > maxHead {
				return c.tooLarge(true, false)
			}
			return line
		}
		t := bytes.TrimRight(line, "\r\n")
		if c.head > maxHead {
			return c.tooLarge(false, len(t) == 0)
		}
		if len(t) == 0 {
			c.endHead()
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
	case stDropHead:
		if c.midLine {
			c.midLine = false
		} else if t := bytes.TrimRight(line, "\r\n"); len(t) == 0 {
			c.endHead()
			return line
		} else if k, _, _ := bytes.Cut(t, []byte(":")); bytes.EqualFold(bytes.TrimSpace(k), []byte("host")) && len(line) <= 1024 {
			return line // net/http refuses an HTTP/1.1 request without Host
		}
		if c.dropped += int64(len(line)); c.dropped > maxDropped {
			c.endHead() // what follows is read as the body, or not at all: the answer closes the connection
			return []byte("\r\n")
		}
		return nil
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

// fixRequestLine turns "GET /a?x=b c HTTP/1.1" into "GET /a?x=b%20c
// HTTP/1.1"; a request-target net/url refuses, which net/http answers
// itself in plain text, into one it reads, with the header rejectKey after
// the request line saying what was wrong (the first of it): a '%' in the
// path that starts no percent-encoded byte ("uri escape %ZZ": the '%' and
// the letters and digits after it, up to two) becomes %25, a control
// character anywhere ("uri control 01": its code in hex) its escape.
func fixRequestLine(line []byte) []byte {
	end := bytes.TrimRight(line, "\r\n")
	sp1 := bytes.IndexByte(end, ' ')
	sp2 := bytes.LastIndexByte(end, ' ')
	if sp1 <= 0 || sp2 <= sp1 || !bytes.HasPrefix(end[sp2+1:], []byte("HTTP/")) {
		return line
	}
	target := end[sp1+1 : sp2]
	fix, query := false, false
	for i, b := range target {
		if b > ' ' && b != 0x7f && b != '%' && b != '?' {
			continue
		}
		switch {
		case b == '?':
			query = true
		case b == '%':
			fix = fix || !query && !isEscape(target[i:])
		default: // a space, or a control character
			fix = true
		}
	}
	if !fix {
		return line
	}
	out := make([]byte, 0, len(line)+64)
	out = append(out, end[:sp1+1]...)
	var why string
	query = false
	for i, b := range target {
		switch {
		case b == '?':
			query = true
		case b == ' ':
			out = append(out, "%20"...)
			continue
		case b == '%' && !query && !isEscape(target[i:]):
			if why == "" {
				n := 1
				for n < 3 && i+n < len(target) && isAlnum(target[i+n]) {
					n++
				}
				why = "escape " + string(target[i:i+n])
			}
			out = append(out, "%25"...)
			continue
		case b < ' ' || b == 0x7f:
			if why == "" {
				why = fmt.Sprintf("control %02x", b)
			}
			out = fmt.Appendf(out, "%%%02X", b)
			continue
		}
		out = append(out, b)
	}
	out = append(append(out, end[sp2:]...), line[len(end):]...)
	if why != "" {
		out = appendHeaderLine(out, rejectKey, rejectURI+why)
	}
	return out
}

// isEscape reports whether s starts with a percent-encoded byte.
func isEscape(s []byte) bool {
	return len(s) >= 3 && s[0] == '%' && isHex(s[1]) && isHex(s[2])
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func isAlnum(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
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

// SetReadDeadline passes t on to the connection, but for no deadline
// when it has none: net/http clears the read deadline twice in a row on
// every request (after reading its head, then as it starts its
// background read) and the write deadline, never set, after every
// answer; each call takes the poller's lock and its timer (~100-200 ns).
// Only the goroutine serving the connection sets its deadlines (net/http
// does, and what a handler sets through http.ResponseController).
func (c *fixConn) SetReadDeadline(t time.Time) error {
	return setChanged(&c.rdClear, t, c.Conn.SetReadDeadline)
}

// SetWriteDeadline is SetReadDeadline's twin for writes.
func (c *fixConn) SetWriteDeadline(t time.Time) error {
	return setChanged(&c.wdClear, t, c.Conn.SetWriteDeadline)
}

// setChanged calls set(t) unless t is no deadline and clear says there
// is none, and keeps clear.
func setChanged(clear *bool, t time.Time, set func(time.Time) error) error {
	if t.IsZero() && *clear {
		return nil
	}
	err := set(t)
	*clear = t.IsZero() && err == nil
	return err
}

// SetDeadline sets both.
func (c *fixConn) SetDeadline(t time.Time) error {
	if t.IsZero() && c.rdClear && c.wdClear {
		return nil
	}
	err := c.Conn.SetDeadline(t)
	c.rdClear = t.IsZero() && err == nil
	c.wdClear = c.rdClear
	return err
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
// final response written since, and writes net/http's own plain-text
// answer to a head it refused in ARM's shape instead (netHTTPError), but
// never while a handler has the request (serving): a body's bytes may
// read like such an answer. net/http writes a response's status line
// and header into its buffered writer and flushes each response before
// the next one (an interim "100 Continue" on its own), so a response
// starts a Write, with its whole status line.
func (c *fixConn) Write(p []byte) (int, error) {
	if c.hdrs == nil {
		if c.serving {
			return c.Conn.Write(p)
		}
		if out := c.netHTTPError(p); out != nil {
			if _, err := c.Conn.Write(out); err != nil {
				return 0, err
			}
			return len(p), nil
		}
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

// connIdle is the server's ConnState hook: a connection turned idle has
// its answer written, so a write before its next request is net/http's own.
//
// It used to yield the processor too (runtime.Gosched before the next
// request's read, since session 11), so that a connection whose client
// sends its next request at once would not keep a processor while the
// others' requests waited. Measured again on 2 cores (bench/arm-get.sh,
// 64 connections, 4 rounds against the same tree with the yield, session
// 31): without it 1.24x the requests per second, 0.87x the CPU per request
// and 0.89x the p99, in every round; yielding only when the next request
// was already buffered kept most of the cost. The scheduler's own
// preemption (10 ms) bounds what one connection can take; a client that
// pipelines its requests is served in order until then.
func connIdle(nc net.Conn, st http.ConnState) {
	if st != http.StateIdle {
		return
	}
	if c, ok := nc.(*fixConn); ok {
		c.serving = false
	}
}
