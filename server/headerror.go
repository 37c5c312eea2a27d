package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/blobwire"
	rpstorage "github.com/safehold/safehold/rp/storage"
)

// netHTTPErrorHeaders follows the status line of the answers net/http
// writes itself, in plain text, to a request head it refuses (and only
// of those: a handler's answer has a Date and its headers sorted).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// maxHeadKept is the most bytes of a request's head fixConn keeps to say
// what net/http refused in it (headError).
const maxHeadKept = 64 << 10

// keepHead adds line to the head fixConn keeps of the request being read
// (a new one when first): a copy of each line, its only cost on the
// path of every request; the checks run only once net/http has refused
// the head (headError).
func (c *fixConn) keepHead(line []byte, first bool) {
	if first {
		if cap(c.kept) > 16<<10 {
			c.kept = nil // a large head: do not keep its buffer
		}
		c.kept = c.kept[:0]
	}
	if len(c.kept)+len(line) <= maxHeadKept {
		c.kept = append(c.kept, line...)
	}
}

// netHTTPError is the answer to write instead of p when p is net/http's
// own plain-text answer to a head it refused ("400 Bad Request", "501 Not
// Implemented", "505 HTTP Version Not Supported"): the error in ARM's
// shape (Azure Storage's XML on the data planes) saying what is wrong
// with the head, read from what fixConn kept of it; nil for any other p.
func (c *fixConn) netHTTPError(p []byte) []byte {
	if len(p) < len("HTTP/1.1 400") || p[9] < '4' || string(p[:9]) != "HTTP/1.1 " {
		return nil
	}
	i := bytes.Index(p, []byte(netHTTPErrorHeaders))
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return nil
	}
	status, _ := strconv.Atoi(string(p[9:12]))
	e, target, method := headError(c.kept, status, string(p[i+len(netHTTPErrorHeaders):]))
	id, routing := requestIDs()
	w := &bufResponse{h: http.Header{}}
	w.h.Set("X-Ms-Request-Id", id)
	w.h.Set("X-Ms-Correlation-Request-Id", id)
	w.h.Set("X-Ms-Routing-Request-Id", routing)
	if path := targetPath(target); strings.HasPrefix(path, "/sas/disks/") || strings.HasPrefix(path, rpstorage.BlobPrefix) {
		code := e.Code
		if code == "InvalidRequestHeader" {
			code = "InvalidHeaderValue" // Azure Storage's
		}
		blobwire.WriteError(w, &http.Request{Method: method}, blobwire.Errorf(e.Status, code, "%s", e.Message))
	} else {
		arm.WriteError(w, e)
	}
	out := fmt.Appendf(nil, "HTTP/1.1 %03d %s\r\n", w.status, http.StatusText(w.status))
	if c.tls != nil {
		out = append(out, constLinesTLS...)
	} else {
		out = append(out, constLines...)
	}
	w.h.Set("Connection", "close")
	w.h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	var hb bytes.Buffer
	w.h.Write(&hb)
	out = append(append(append(out, hb.Bytes()...), "\r\n"...), w.body.Bytes()...)
	return out
}

// targetPath is the path of a request target: the target itself, or in
// absolute form (a scheme and a host before the path, as a proxy is sent
// it) what follows the host.
func targetPath(target string) string {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/?") {
		return target
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// headError says what is wrong with a request head net/http refused with
// status and text (its plain-text answer): the first of an HTTP version
// other than 1.0 and 1.1, a header line that is no field, a field name
// that is no token, a Host missing, repeated or malformed, a control
// character in a field's value, a Transfer-Encoding other than chunked, a
// Content-Length that is no number or two that differ. It also returns
// the request's target and method, for the shape of the answer.
func headError(head []byte, status int, text string) (e *arm.Error, target, method string) {
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	proto := ""
	if sp1, sp2 := bytes.IndexByte(line, ' '), bytes.LastIndexByte(line, ' '); sp1 > 0 && sp2 > sp1 {
		method, target, proto = string(line[:sp1]), string(line[sp1+1:sp2]), string(line[sp2+1:])
		if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
			return arm.Errorf(http.StatusHTTPVersionNotSupported, "HttpVersionNotSupported", "The request's HTTP version %s is not supported: send HTTP/1.1.", quote(proto)), target, method
		}
	} else {
		return arm.BadRequest("InvalidRequestHead", "The request line %s is not a method, a target and the HTTP version, separated by spaces (GET /path HTTP/1.1).", quote(string(line))), target, method
	}
	var hosts, cls, tes []string
	var bad *arm.Error
	ended := false // the head kept to its blank line: fixConn passes the rest of one through unread after a Content-Length or Transfer-Encoding it cannot frame
	for len(rest) > 0 && bad == nil {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			ended = true
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		switch {
		case !ok:
			return arm.BadRequest("InvalidRequestHeader", "The header line %s has no ':' between a field's name and its value.", quote(string(line))), target, method
		case !httpguts.ValidHeaderFieldName(string(k)):
			return arm.BadRequest("InvalidRequestHeader", "The header field name %s is not valid: a name is letters, digits and !#$%%&'*+-.^_`|~ only, with no space before its ':'.", quote(string(k))), target, method
		}
		v = bytes.Trim(v, " \t")
		switch name := http.CanonicalHeaderKey(string(k)); name {
		case "Host":
			hosts = append(hosts, string(v))
		case "Content-Length":
			cls = append(cls, string(v))
		case "Transfer-Encoding":
			tes = append(tes, string(v))
		}
		for _, b := range v {
			if b < ' ' && b != '\t' || b == 0x7f {
				bad = arm.BadRequest("InvalidRequestHeader", "The header field %s contains the control character %q: remove it, or percent-encode the value.", quote(string(k)), string(rune(b)))
				break
			}
		}
	}
	switch {
	case len(hosts) == 0 && ended && proto == "HTTP/1.1" && method != http.MethodConnect:
		return arm.BadRequest("InvalidHostHeader", "The request has no Host header: HTTP/1.1 requires one, naming the server (host and port)."), target, method
	case len(hosts) > 1:
		return arm.BadRequest("InvalidHostHeader", "The request has %d Host headers: send one, naming the server (host and port).", len(hosts)), target, method
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return arm.BadRequest("InvalidHostHeader", "The Host header %s is not a host and port: send the server's name or address, with its port.", quote(hosts[0])), target, method
	case bad != nil:
		return bad, target, method
	case len(tes) > 1 || len(tes) == 1 && !strings.EqualFold(tes[0], "chunked"):
		return arm.Errorf(http.StatusNotImplemented, "UnsupportedTransferEncoding", "The Transfer-Encoding %s is not supported: send the body with a Content-Length, or with the one Transfer-Encoding chunked.", quote(strings.Join(tes, ", "))), target, method
	}
	for i, cl := range cls {
		if _, err := strconv.ParseUint(cl, 10, 63); err != nil {
			return arm.BadRequest("InvalidContentLength", "The Content-Length %s is not a number of bytes: send the body's length in decimal digits.", quote(cl)), target, method
		}
		if i > 0 && cl != cls[0] {
			return arm.BadRequest("InvalidContentLength", "The request has the Content-Lengths %s and %s: send one, the body's length.", quote(cls[0]), quote(cl)), target, method
		}
	}
	// Not one of those: net/http's reason, as it said it ("400 Bad
	// Request: why", or the status alone).
	if status < 400 || status > 599 {
		status = http.StatusBadRequest
	}
	why := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(text, strconv.Itoa(status)+" "+http.StatusText(status)), ":"))
	if why == "" {
		why = "it does not follow HTTP/1.1"
	}
	return arm.Errorf(status, "InvalidRequestHead", "The request's head is malformed (%s): check its request line and header fields.", why), target, method
}

// quote quotes s for a message, at most 200 bytes of it.
func quote(s string) string {
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "..."
	}
	return strconv.Quote(s)
}

// bufResponse is a ResponseWriter in memory.
type bufResponse struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *bufResponse) Header() http.Header { return w.h }
func (w *bufResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *bufResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// answerPlainHTTP answers a request sent in plain HTTP to the TLS port
// (its TLS handshake failed on a record that starts like an HTTP request)
// with 400 HttpsRequired in ARM's shape, in plain HTTP, before the
// connection is closed: net/http answers such a request itself only when
// it terminates TLS ("Client sent an HTTP request to an HTTPS server." in
// plain text), and with fixConn terminating it the client got no answer
// at all, the connection closed.
func (c *fixConn) answerPlainHTTP(err error) {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil {
		return
	}
	switch string(re.RecordHeader[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "PATCH", "DELET", "OPTIO":
	default:
		return
	}
	c.answeredPlain = true
	id, routing := requestIDs()
	body := `{"error":{"code":"HttpsRequired","message":"The server takes HTTPS only: this request was sent in plain HTTP to its TLS port. Send it to https:// at the same host and port."}}` + "\n"
	fmt.Fprintf(re.Conn, "HTTP/1.1 400 Bad Request\r\n%sContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nX-Ms-Request-Id: %s\r\nX-Ms-Correlation-Request-Id: %s\r\nX-Ms-Routing-Request-Id: %s\r\n\r\n%s",
		constLines, len(body), id, id, routing, body)
}
