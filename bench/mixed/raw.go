package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection over TLS that the load
// loop drives itself: it writes a request in one piece and reads the
// answer into a buffer it reuses. net/http's client cost about half the
// server's CPU per request (two goroutines per connection handing each
// request and answer over, a new body buffer grown for each answer,
// their garbage), on the two cores the server shares with it; this one
// allocates almost nothing per request and runs in its caller's goroutine.
// It reads what the server may send: a status line, headers, and a body of
// Content-Length bytes or chunked; anything else is an error.
type rawConn struct {
	addr, host string
	cfg        *tls.Config
	auth       string // "Bearer …"
	tc         *tls.Conn
	br         *bufio.Reader
	req        []byte // the request being written
	body       []byte // the last answer's body
}

func newRawConn(base string, cfg *tls.Config, token string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":443"
	}
	return &rawConn{addr: addr, host: u.Host, cfg: cfg, auth: "Bearer " + token}, nil
}

// do sends one request and returns the answer's status and body (valid
// until the next call). A failed request closes the connection; the next
// one dials again.
func (c *rawConn) do(method, path, body string) (int, []byte, error) {
	if c.tc == nil {
		tc, err := tls.Dial("tcp", c.addr, c.cfg)
		if err != nil {
			return 0, nil, err
		}
		c.tc, c.br = tc, bufio.NewReaderSize(tc, 64<<10)
	}
	st, closing, err := c.roundTrip(method, path, body)
	if err != nil || closing {
		c.tc.Close()
		c.tc = nil
	}
	if err != nil {
		return 0, nil, err
	}
	return st, c.body, nil
}

func (c *rawConn) roundTrip(method, path, body string) (status int, closing bool, err error) {
	r := append(c.req[:0], method...)
	r = append(r, ' ')
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.host...)
	r = append(r, "\r\nAuthorization: "...)
	r = append(r, c.auth...)
	if body != "" {
		r = append(r, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		r = strconv.AppendInt(r, int64(len(body)), 10)
	}
	r = append(r, "\r\n\r\n"...)
	r = append(r, body...)
	c.req = r
	c.tc.SetDeadline(time.Now().Add(time.Minute)) // as the net/http client's Timeout
	if _, err = c.tc.Write(r); err != nil {
		return 0, false, err
	}

	line, err := c.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	st, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	clen, chunked := -1, false
	for {
		line, err := c.line()
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if clen, err = strconv.Atoi(string(v)); err != nil || clen < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(v, []byte("chunked")) {
				return 0, false, fmt.Errorf("unsupported Transfer-Encoding %q", v)
			}
			chunked = true
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	c.body = c.body[:0]
	switch {
	case st == 204 || st == 304 || (st >= 100 && st < 200):
	case chunked:
		for {
			line, err := c.line()
			if err != nil {
				return 0, false, err
			}
			size, _, _ := bytes.Cut(line, []byte(";"))
			n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("bad chunk size %q", line)
			}
			if n == 0 {
				for { // trailers, up to the empty line
					if line, err = c.line(); err != nil || len(line) == 0 {
						break
					}
				}
				if err != nil {
					return 0, false, err
				}
				break
			}
			if err := c.readBody(int(n)); err != nil {
				return 0, false, err
			}
			if line, err = c.line(); err != nil || len(line) != 0 {
				return 0, false, errors.Join(err, errors.New("no CRLF after a chunk"))
			}
		}
	case clen >= 0:
		if err := c.readBody(clen); err != nil {
			return 0, false, err
		}
	default:
		return 0, false, errors.New("an answer with neither Content-Length nor chunked body")
	}
	return st, closing, nil
}

// readBody appends n bytes of the answer to c.body.
func (c *rawConn) readBody(n int) error {
	i := len(c.body)
	c.body = append(c.body, make([]byte, n)...)[:i+n]
	_, err := io.ReadFull(c.br, c.body[i:])
	return err
}

// line reads one line without its CRLF (valid until the next read).
func (c *rawConn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(l[:len(l)-1], []byte("\r")), nil
}
