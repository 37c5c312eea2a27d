package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type pipeConn struct {
	net.Conn
	r io.Reader
}

func (p pipeConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// readAllFixed reads in through a fixConn with reads of size bytes (a
// small one exercises the state machine, a large one the lines handed
// over together).
func readAllFixed(in string, size int) string {
	fc := newFixConn(pipeConn{r: strings.NewReader(in)}, nil)
	var out bytes.Buffer
	buf := make([]byte, size)
	for {
		n, err := fc.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func TestFixConnRepairsOnlyRequestLines(t *testing.T) {
	body := "GET /x?a=b c HTTP/1.1\r\n" // inside a body: must stay untouched
	in := "GET /p?$filter=principalId eq 'x' HTTP/1.1\r\nHost: h\r\n\r\n" +
		"PUT /q HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body +
		"POST /c?f=a b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n3\r\n a \r\n0\r\n\r\n" +
		"DELETE /d?x=1 HTTP/1.1\r\n\r\n"
	want := "GET /p?$filter=principalId%20eq%20'x' HTTP/1.1\r\nHost: h\r\n\r\n" +
		"PUT /q HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body +
		"POST /c?f=a%20b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n3\r\n a \r\n0\r\n\r\n" +
		"DELETE /d?x=1 HTTP/1.1\r\n\r\n"
	for _, size := range []int{1, 7, 30, 64, 4096} {
		if got := readAllFixed(in, size); got != want {
			t.Fatalf("reads of %d bytes: got\n%q\nwant\n%q", size, got, want)
		}
	}
}

// TestFixConnHandsOnAHeadInOneRead: the lines of a request's head that
// have arrived are handed on in one Read (net/http reads each Read through
// its connReader and bufio: one per line was ~4 % of a GET's CPU), and
// only the head: its body and the requests pipelined after it wait in
// fixConn.
func TestFixConnHandsOnAHeadInOneRead(t *testing.T) {
	head := "PUT /p?a=b c HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer x\r\nContent-Length: 3\r\n\r\n"
	next := "GET /q HTTP/1.1\r\nHost: h\r\n\r\n"
	fc := newFixConn(pipeConn{r: strings.NewReader(head + "abc" + next + next)}, nil)
	buf := make([]byte, 4096)
	for i, want := range []string{strings.Replace(head, "b c", "b%20c", 1), "abc", next, next} {
		n, err := fc.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %d: %q, %v; want %q", i+1, buf[:n], err, want)
		}
	}
}

// TestFixConnHugeChunk: a chunk size near the largest int64 (plus the
// chunk's CRLF it would overflow) is passed through, not counted: it
// panicked in Read.
func TestFixConnHugeChunk(t *testing.T) {
	for _, size := range []string{"7fffffffffffffff", "7ffffffffffffffe"} {
		in := "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\nxyz"
		if got := readAllFixed(in, 7); got != in {
			t.Fatalf("chunk size %s: got %q", size, got)
		}
	}
}

// TestFixConnRewritesTargetsNetURLRefuses: a '%' in a request-target's
// path that starts no percent-encoded byte becomes %25 and a control
// character its escape, with the header rejectKey naming the first; a
// '%' in the query is the router's to refuse (net/url reads the query
// as it is).
func TestFixConnRewritesTargetsNetURLRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"GET /a%ZZ/b%2F%4 HTTP/1.1\r\n\r\n":    "GET /a%25ZZ/b%2F%254 HTTP/1.1\r\nSafehold-Rejected: uri escape %ZZ\r\n\r\n",
		"GET /a%?x=%zz HTTP/1.1\r\n\r\n":       "GET /a%25?x=%zz HTTP/1.1\r\nSafehold-Rejected: uri escape %\r\n\r\n",
		"GET /a\x01 b?x=\x7f HTTP/1.1\r\n\r\n": "GET /a%01%20b?x=%7F HTTP/1.1\r\nSafehold-Rejected: uri control 01\r\n\r\n",
		"GET /a?x=%zz HTTP/1.1\r\n\r\n":        "GET /a?x=%zz HTTP/1.1\r\n\r\n",
	} {
		for _, size := range []int{1, 7, 4096} {
			if got := readAllFixed(in, size); got != want {
				t.Errorf("%q in reads of %d bytes: got %q, want %q", in, size, got, want)
			}
		}
	}
}

// TestFixConnCutsAHeadTooLarge: a request's head over maxHead, in a
// header line longer than the connection's buffer or in many lines, is cut
// there (a line passed on in part ends there) and gets the header
// rejectKey; the rest of it is dropped, but for its Host, and the next
// request on the connection is read as before.
func TestFixConnCutsAHeadTooLarge(t *testing.T) {
	next := "GET /b c HTTP/1.1\r\nHost: h\r\n\r\n"
	for what, head := range map[string]string{
		"a line of 2 MiB":       "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("a", 2<<20) + "\r\nHost: h\r\n\r\n",
		"300 lines of 4 KiB":    "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 4<<10)+"\r\n", 300) + "Host: h\r\n\r\n",
		"lines of 40 KiB":       "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 40<<10)+"\r\n", 30) + "Host: h\r\n\r\n",
		"a line ending at 1MiB": "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("a", maxHead-len("GET / HTTP/1.1\r\nX-A: \r\n")) + "\r\n\r\n",
	} {
		for _, size := range []int{7, 4096} {
			got := readAllFixed(head+next, size)
			if !strings.HasSuffix(got, "\r\n"+rejectKey+": "+rejectHeadTooLarge+"\r\nHost: h\r\n\r\nGET /b%20c HTTP/1.1\r\nHost: h\r\n\r\n") &&
				!strings.HasSuffix(got, "\r\n"+rejectKey+": "+rejectHeadTooLarge+"\r\n\r\nGET /b%20c HTTP/1.1\r\nHost: h\r\n\r\n") ||
				len(got)-len(next) > maxHead+4096 || !strings.HasPrefix(got, "GET / HTTP/1.1\r\nX-A: aaa") {
				t.Errorf("%s in reads of %d bytes: %d bytes, %.40q...%q", what, size, len(got), got, got[max(0, len(got)-120):])
			}
		}
	}
}

func FuzzFixConn(f *testing.F) {
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nxyz")
	f.Add("GET /a b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	f.Add("GET /a%ZZ\x01 b?c=%zz HTTP/1.1\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		out := readAllFixed(in, 7)
		if big := readAllFixed(in, 4096); big != out {
			t.Fatalf("reads of 7 and 4096 bytes differ: %q, %q", out, big)
		}
		// Without a '%' or a control character (fixRequestLine's
		// rejectKey) only spaces may become %20: removing the escapes
		// gives the input back.
		if strings.ContainsFunc(in, func(r rune) bool { return r == '%' || r < ' ' && r != '\r' && r != '\n' || r == 0x7f }) {
			return
		}
		if strings.ReplaceAll(out, "%20", " ") != in {
			t.Fatalf("changed more than spaces: %q -> %q", in, out)
		}
	})
}

// headsReader returns one request head per Read, as a client that waits
// for each response sends them.
type headsReader struct {
	head []byte
	n    int
}

func (h *headsReader) Read(p []byte) (int, error) {
	if h.n == 0 {
		return 0, io.EOF
	}
	h.n--
	return copy(p, h.head), nil
}

// BenchmarkFixConnGETHead reads b.N GET heads (with a bearer token of 1.2
// KB, as a client of Safehold sends) through a fixConn and net/http's
// request parser, as the server reads them.
//
//	go test ./server -run '^$' -bench FixConnGETHead -benchmem
func BenchmarkFixConnGETHead(b *testing.B) {
	head := []byte("GET /subscriptions/0b0f0b0f-0000-4000-8000-000000000000/resourcegroups/bench?api-version=2021-04-01 HTTP/1.1\r\n" +
		"Host: 127.0.0.1:8443\r\nAuthorization: Bearer " + strings.Repeat("x", 1200) + "\r\n\r\n")
	fc := newFixConn(pipeConn{r: &headsReader{head: head, n: b.N}}, nil)
	br := bufio.NewReaderSize(fc, 4096) // net/http's
	b.ReportAllocs()
	b.SetBytes(int64(len(head)))
	for range b.N {
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

// A handler served with Azure's headers written by the connection
// (requestWriter.azureHeaders) that sets one of them itself sends its own
// value and the others once; the connection adds its lines to the final
// response only, and to each response once.
func TestConnConstantHeadersYieldToTheHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ConnContext: connContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &requestWriter{statusWriter: statusWriter{ResponseWriter: w, ids: [...]string{"r1", "c1", "SAFEHOLD:r1", ""}}, fc: connOf(r.Context())}
		if rw.fc == nil {
			t.Error("no fixConn in the request's context")
		}
		rw.azureHeaders(false, true)
		switch r.URL.Path {
		case "/own":
			w.Header().Set("Cache-Control", "no-store")
			rw.WriteHeader(200)
		case "/ownid":
			w.Header().Set("X-Ms-Request-Id", "mine")
			rw.Write([]byte("x"))
		case "/write":
			rw.Write([]byte("x"))
		case "/hint":
			rw.WriteHeader(http.StatusEarlyHints)
			rw.Write([]byte("x"))
		case "/none":
		}
	})}
	go srv.Serve(&fixListener{Listener: ln})
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, p := range []string{"/own", "/write", "/hint", "/none", "/ownid", "/write", "/own"} {
		resp, err := hc.Get("http://" + ln.Addr().String() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := map[string]string{"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1", "X-Content-Type-Options": "nosniff",
			"X-Ms-Request-Id": "r1", "X-Ms-Correlation-Request-Id": "c1", "X-Ms-Routing-Request-Id": "SAFEHOLD:r1"}
		switch p {
		case "/own":
			want["Cache-Control"] = "no-store"
		case "/ownid":
			want["X-Ms-Request-Id"] = "mine"
		}
		for k, v := range want {
			if got := resp.Header[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s %q, want once %q", p, k, got, v)
			}
		}
		for _, k := range []string{"Strict-Transport-Security", "X-Ms-Client-Request-Id"} {
			if got := resp.Header[k]; got != nil {
				t.Errorf("%s: %s %q, want none", p, k, got)
			}
		}
	}
}

// limitConn takes the first n bytes written to it, then fails.
type limitConn struct {
	net.Conn
	n   int
	got bytes.Buffer
}

func (c *limitConn) Write(p []byte) (int, error) {
	if len(p) > c.n {
		c.got.Write(p[:c.n])
		n := c.n
		c.n = 0
		return n, io.ErrShortWrite
	}
	c.n -= len(p)
	return c.got.Write(p)
}

// fixConn's Write answers how much of the caller's bytes were written when
// the connection takes only part of them with its header lines.
func TestFixConnShortWriteWithHeaders(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"
	lines := "X-Y: z\r\n"
	status := len("HTTP/1.1 200 OK\r\n")
	for _, c := range []struct{ took, want int }{
		{0, 0}, {5, 5}, {status, status}, {status + 3, status}, {status + len(lines), status},
		{status + len(lines) + 4, status + 4}, {len(resp) + len(lines), len(resp)},
	} {
		lc := &limitConn{n: c.took}
		fc := newFixConn(lc, nil)
		fc.addHeaders([]byte(lines))
		n, err := fc.Write([]byte(resp))
		if n != c.want || (err == nil) != (c.took == len(resp)+len(lines)) {
			t.Errorf("connection took %d: Write = %d, %v; want %d", c.took, n, err, c.want)
		}
		if full := resp[:status] + lines + resp[status:]; lc.got.String() != full[:c.took] {
			t.Errorf("connection took %d: got %q", c.took, lc.got.String())
		}
	}
}

// TestFixConnReadsALongRequestLine: a request line longer than the
// connection's buffer (32 KiB) is read whole and fixed as a short one (a
// space, a stray '%'), and one over maxHead is cut to its method and path
// with the rest of its head dropped but Host; the next request on the
// connection is read as it was sent.
func TestFixConnReadsALongRequestLine(t *testing.T) {
	next := "GET /b c HTTP/1.1\r\nHost: h\r\n\r\n"
	q := strings.Repeat("a", 40<<10)
	for _, size := range []int{7, 4096} {
		got := readAllFixed("GET /a%ZZ b?x="+q+" HTTP/1.1\r\nHost: h\r\n\r\n"+next, size)
		if want := "GET /a%25ZZ%20b?x=" + q + " HTTP/1.1\r\n" + rejectKey + ": " + rejectURI + "escape %ZZ\r\nHost: h\r\n\r\nGET /b%20c HTTP/1.1\r\nHost: h\r\n\r\n"; got != want {
			t.Errorf("a request line of 40 KiB in reads of %d bytes: %.80q...%q", size, got, got[max(0, len(got)-120):])
		}
		got = readAllFixed("PUT /p/%zz "+strings.Repeat("a", 2<<20)+"?x=y HTTP/1.1\r\nX-A: b\r\nHost: h\r\n\r\n"+next, size)
		if want := "PUT /p/zz HTTP/1.1\r\n" + rejectKey + ": " + rejectHeadTooLarge + "\r\nHost: h\r\n\r\nGET /b%20c HTTP/1.1\r\nHost: h\r\n\r\n"; !strings.HasPrefix(got, "PUT /p/zz") || !strings.HasSuffix(got, want[len("PUT /p/zz"):]) || len(got) > 2048 {
			t.Errorf("a request line of 2 MiB in reads of %d bytes: %d bytes, %.80q...%q", size, len(got), got, got[max(0, len(got)-120):])
		}
	}
}

// deadlineConn counts the deadline calls that change nothing: no deadline
// set where there is none.
type deadlineConn struct {
	net.Conn
	mu               sync.Mutex
	rd, wd           time.Time
	calls, redundant int
}

func (c *deadlineConn) set(d *time.Time, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if t.IsZero() && d.IsZero() {
		c.redundant++
	}
	*d = t
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set(&c.rd, t)
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.set(&c.wd, t)
	return c.Conn.SetWriteDeadline(t)
}

type deadlineListener struct {
	net.Listener
	conns chan *deadlineConn
}

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: c}
	l.conns <- dc
	return dc, nil
}

// TestFixConnPassesOnlyDeadlinesThatChange: net/http clears a connection's
// read deadline twice in a row on every request and its write deadline,
// never set, after every answer; fixConn passes on only the calls that
// change the connection's deadlines, and the ones that do all arrive (the
// idle and header timeouts, the abort of the background read).
func TestFixConnPassesOnlyDeadlinesThatChange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := deadlineListener{Listener: ln, conns: make(chan *deadlineConn, 1)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, ConnState: connIdle}
	go srv.Serve(&fixListener{Listener: dl})
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	const n = 5
	for range n {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Fatalf("answer %q", body)
		}
	}
	dc := <-dl.conns
	dc.mu.Lock()
	defer dc.mu.Unlock()
	// Per request: the header timeout, its clearing, the abort's past
	// deadline and its clearing, the idle timeout.
	if dc.redundant != 0 || dc.calls < 5*n-2 {
		t.Fatalf("%d deadline calls for %d requests, %d of them clearing no deadline", dc.calls, n, dc.redundant)
	}
}
