package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestMalformedHeadsAreAnsweredInARMsShape: a request head net/http
// refuses (a control character in a header field, a bad or a second
// differing Content-Length, a Transfer-Encoding other than chunked, an
// HTTP version other than 1.0 and 1.1, no Host or two) is answered with a
// CloudError saying what to fix, and its connection closed: net/http
// answered each itself in plain text ("400 Bad Request: invalid header
// value", "501 Not Implemented", "505 HTTP Version Not Supported"), which
// an SDK reports as an unparsable error. The data planes answer in Azure
// Storage's XML.
func TestMalformedHeadsAreAnsweredInARMsShape(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	auth := "Authorization: Bearer " + e.Token(e.Cred) + "\r\n"
	path := "/subscriptions/" + e.Sub + "/resourceGroups/rg?api-version=2021-04-01"
	get := "GET " + path + " HTTP/1.1\r\n"
	for _, c := range []struct {
		what, head string
		status     int
		code, says string
	}{
		{"a control character in a header value", get + "Host: {host}\r\n" + auth + "X-Thing: a\x01b\r\n", 400, "InvalidRequestHeader", "X-Thing"},
		{"DEL in a header value", get + "Host: {host}\r\nX-Thing: a\x7f\r\n" + auth, 400, "InvalidRequestHeader", `\x7f`},
		{"a control character in a header name", get + "Host: {host}\r\n" + auth + "X-Th\x02ing: ab\r\n", 400, "InvalidRequestHeader", `\x02`},
		{"a space in a header name", get + "Host: {host}\r\n" + auth + "X Thing: ab\r\n", 400, "InvalidRequestHeader", "header field name"},
		{"a header line without a colon", get + "Host: {host}\r\n" + auth + "X-Thing\r\n", 400, "InvalidRequestHeader", "X-Thing"},
		{"a Content-Length that is no number", "PUT " + path + " HTTP/1.1\r\nHost: {host}\r\n" + auth + "Content-Length: 12x\r\n", 400, "InvalidContentLength", "12x"},
		{"a negative Content-Length", "PUT " + path + " HTTP/1.1\r\nHost: {host}\r\n" + auth + "Content-Length: -1\r\n", 400, "InvalidContentLength", "-1"},
		{"two differing Content-Lengths", "PUT " + path + " HTTP/1.1\r\nHost: {host}\r\n" + auth + "Content-Length: 2\r\nContent-Length: 3\r\n", 400, "InvalidContentLength", "3"},
		{"Transfer-Encoding gzip", "PUT " + path + " HTTP/1.1\r\nHost: {host}\r\n" + auth + "Transfer-Encoding: gzip\r\n", 501, "UnsupportedTransferEncoding", "gzip"},
		{"Transfer-Encoding gzip, chunked", "PUT " + path + " HTTP/1.1\r\nHost: {host}\r\n" + auth + "Transfer-Encoding: gzip, chunked\r\n", 501, "UnsupportedTransferEncoding", "gzip"},
		{"HTTP/9.9", "GET " + path + " HTTP/9.9\r\nHost: {host}\r\n" + auth, 505, "HttpVersionNotSupported", "HTTP/9.9"},
		{"HTTP/1.x", "GET " + path + " HTTP/1.x\r\nHost: {host}\r\n" + auth, 505, "HttpVersionNotSupported", "HTTP/1.x"},
		{"a Content-Length that is no number before Host", "PUT " + path + " HTTP/1.1\r\nContent-Length: 12x\r\nHost: {host}\r\n" + auth, 400, "InvalidContentLength", "12x"},
		{"Transfer-Encoding gzip before Host", "PUT " + path + " HTTP/1.1\r\nTransfer-Encoding: gzip\r\nHost: {host}\r\n" + auth, 501, "UnsupportedTransferEncoding", "gzip"},
		{"two Hosts", get + "Host: {host}\r\nHost: other.example\r\n" + auth, 400, "InvalidHostHeader", "Host"},
		{"no Host", get + auth, 400, "InvalidHostHeader", "Host"},
		{"a Host with a space", get + "Host: a b\r\n" + auth, 400, "InvalidHostHeader", "a b"},
		{"a request line without a version", "GET " + path + "\r\nHost: {host}\r\n" + auth, 400, "InvalidRequestHead", "GET /path HTTP/1.1"},
	} {
		resp, b := rawExchange(t, e, c.head)
		var m struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != c.status || m.Error.Code != c.code || !strings.Contains(m.Error.Message, c.says) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("X-Ms-Request-Id") == "" {
			t.Errorf("%s: %d %s %q, want %d %s in JSON with a request id, saying %q", c.what, resp.StatusCode, resp.Header.Get("Content-Type"), b, c.status, c.code, c.says)
		}
		if !resp.Close {
			t.Errorf("%s: the connection is kept open", c.what)
		}
	}
	// A malformed head after a request served on the same connection
	// (its answer written: fixConn no longer takes writes for a
	// handler's) is answered in ARM's shape too.
	c, u := dialARM(t, e)
	defer c.Close()
	if _, err := io.WriteString(c, get+"Host: "+u.Host+"\r\n"+auth+"\r\n"+"GET "+path+" HTTP/9.9\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i, want := range []int{200, 505} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("pipelined answer %d: %d %s %q, want %d in JSON", i, resp.StatusCode, resp.Header.Get("Content-Type"), b, want)
		}
	}
	// The data planes answer in Azure Storage's XML, the target in
	// absolute form (scheme and host before the path, as a proxy is sent
	// it) too: its answer was ARM's JSON.
	for _, head := range []string{"GET /sas/disks/d HTTP/1.1\r\nHost: {host}\r\nX-Thing: a\x01\r\n", "PUT /sas/disks/d HTTP/1.1\r\nHost: {host}\r\nContent-Length: x\r\n",
		"GET https://{host}/sas/disks/d HTTP/1.1\r\nHost: example.net\r\nX-Thing: a\x01\r\n", "PUT HTTPS://{host}/storage/blob/acct/box/b HTTP/1.1\r\nHost: example.net\r\nContent-Length: x\r\n",
		"GET http://{host}/storage/blob/acct/box/b?comp=list HTTP/1.1\r\nHost: example.net\r\nX-Thing: a\x01\r\n"} {
		resp, b := rawExchange(t, e, head)
		if resp.StatusCode != 400 || resp.Header.Get("X-Ms-Error-Code") == "" || !strings.Contains(string(b), "<Error><Code>") || resp.Header.Get("X-Ms-Request-Id") == "" {
			t.Errorf("%q: %d %v %s, want 400 in XML", head, resp.StatusCode, resp.Header, b)
		}
	}
}

// TestMalformedHeadAfterAnUpgradeIsJSON: on a connection fixConn passes
// through unparsed once a request had an Upgrade header, a later head
// net/http refuses is still answered in ARM's shape, from what net/http
// said (the head fixConn kept is the first request's, with nothing wrong).
func TestMalformedHeadAfterAnUpgradeIsJSON(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	c, u := dialARM(t, e)
	auth := "Authorization: Bearer " + e.Token(e.Cred) + "\r\n"
	path := "/subscriptions/" + e.Sub + "/resourceGroups/rg?api-version=2021-04-01"
	go io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+u.Host+"\r\n"+auth+"Upgrade: foo\r\n\r\n"+
		"GET "+path+" HTTP/1.1\r\nHost: "+u.Host+"\r\n"+auth+"Transfer-Encoding: gzip\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []int{200, 501} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		var m struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != want || want != 200 && (json.Unmarshal(b, &m) != nil || !strings.Contains(m.Error.Message, "ransfer encoding")) {
			t.Errorf("response %d: %d %s, want %d", i, resp.StatusCode, b, want)
		}
	}
}

// TestPlainHTTPOnTheTLSPortIsAnswered: a request sent in plain HTTP to the
// server's TLS port is answered 400 HttpsRequired in ARM's shape (in plain
// HTTP, the connection then closed): the connection was closed with no
// answer at all.
func TestPlainHTTPOnTheTLSPortIsAnswered(t *testing.T) {
	e := testserver.Start(t)
	u, err := url.Parse(e.Conn.ARMEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.WriteString(c, method+" /subscriptions?api-version=2021-04-01 HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s in plain HTTP: %v", method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		var m struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(b, &m) != nil || resp.StatusCode != 400 || m.Error.Code != "HttpsRequired" || !strings.Contains(m.Error.Message, "https://") ||
			resp.Header.Get("X-Ms-Request-Id") == "" || !resp.Close {
			t.Errorf("%s in plain HTTP: %d %v %s", method, resp.StatusCode, resp.Header, b)
		}
	}
}
