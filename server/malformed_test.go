package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// rawExchange sends head (a request line and header lines, without the
// blank line that ends them) on a new TLS connection to the server and
// reads the answer.
func rawExchange(t *testing.T, e *testserver.Env, head string) (*http.Response, []byte) {
	t.Helper()
	c, u := dialARM(t, e)
	head = strings.Replace(head, "{host}", u.Host, 1)
	done := make(chan error, 1)
	go func() { // the server may answer before it has read the whole head
		_, err := io.WriteString(c, head+"\r\n")
		done <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.80q...: %v", head, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%.80q...: reading the body: %v", head, err)
	}
	c.Close()
	<-done
	return resp, b
}

// TestMalformedRequestsAreAnsweredInARMsShape: a request whose path has a
// '%' that starts no percent-encoded byte or a control character, and one
// whose head (request line and header fields) is over 1 MiB, are answered
// with a CloudError, as ARM answers every error (400 InvalidRequestUri
// naming what to fix, 431 RequestHeaderFieldsTooLarge saying the limit);
// net/http answered them itself in plain text ("400 Bad Request",
// "431 Request Header Fields Too Large"), which an SDK reports as an
// unparsable error. A request line longer than the connection's buffer
// (32 KiB) is no exception: it was passed through as it was, to the same
// plain-text answers. A head just under the limit, one header line or
// request line of 64 KiB included, is still served, and the disk data
// plane answers in Azure Storage's XML.
func TestMalformedRequestsAreAnsweredInARMsShape(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	auth := "Authorization: Bearer " + e.Token(e.Cred) + "\r\n"
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/"
	cloudError := func(what string, resp *http.Response, b []byte, status int, code string, says ...string) {
		t.Helper()
		var m struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != status || m.Error.Code != code ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("X-Ms-Request-Id") == "" {
			t.Errorf("%s: %d %s %q, want %d %s in JSON with a request id", what, resp.StatusCode, resp.Header.Get("Content-Type"), b, status, code)
			return
		}
		for _, s := range says {
			if !strings.Contains(m.Error.Message, s) {
				t.Errorf("%s: message %q does not say %q", what, m.Error.Message, s)
			}
		}
	}
	for _, c := range []struct{ path, says string }{
		{rg + "rg%ZZ?api-version=2021-04-01", "%ZZ"},
		{rg + "rg%4?api-version=2021-04-01", "%4"},
		{rg + "rg%?api-version=2021-04-01", `"%"`},
		{rg + "r%zzg/x%GG?api-version=2021-04-01", "%zz"},
		{rg + "r\x01g?api-version=2021-04-01", `\x01`},
		{rg + "rg?api-version=2021-04-01&x=\x7f", `\x7f`},
		{"/sub%scriptions", "%sc"},
		// A request line longer than the connection's buffer (32 KiB).
		{rg + "rg%ZZ?api-version=2021-04-01&x=" + strings.Repeat("a", 40<<10), "%ZZ"},
	} {
		for _, a := range []string{auth, ""} {
			resp, b := rawExchange(t, e, "GET "+c.path+" HTTP/1.1\r\nHost: {host}\r\n"+a)
			cloudError(strconv.Quote(c.path), resp, b, 400, "InvalidRequestUri", c.says)
		}
	}
	// The same path escaped right is served (and a '%' escaped as %25).
	if resp, b := rawExchange(t, e, "GET "+rg+"rg%25ZZ?api-version=2021-04-01 HTTP/1.1\r\nHost: {host}\r\n"+auth); resp.StatusCode != 404 {
		t.Errorf("GET rg%%25ZZ: %d %s, want 404 (no such group)", resp.StatusCode, b)
	}
	get := "GET " + rg + "rg?api-version=2021-04-01 HTTP/1.1\r\nHost: {host}\r\n" + auth
	big := func(n int) string { return "X-Big: " + strings.Repeat("b", n-len("X-Big: \r\n")) + "\r\n" }
	for _, c := range []struct {
		what string
		head string
	}{
		{"one header line of 2 MiB", get + big(2<<20)},
		{"one header line of 1 MiB", get + big(1<<20)},
		{"200 lines of 8 KiB", get + strings.Repeat(big(8<<10), 200)},
		{"a 2 MiB line before Host", "GET " + rg + "rg?api-version=2021-04-01 HTTP/1.1\r\n" + big(2<<20) + "Host: {host}\r\n" + auth},
		{"a 2 MiB body of a header line", get + "X-Big: " + strings.Repeat("b", 2<<20) + "\r\n" + big(100)},
		{"a request line of 2 MiB", "GET " + rg + "rg?api-version=2021-04-01&x=" + strings.Repeat("a", 2<<20) + " HTTP/1.1\r\nHost: {host}\r\n" + auth},
		{"a request line of 2 MiB in its path", "GET " + rg + strings.Repeat("a", 2<<20) + "?api-version=2021-04-01 HTTP/1.1\r\nHost: {host}\r\n" + auth},
	} {
		resp, b := rawExchange(t, e, c.head)
		cloudError(c.what, resp, b, 431, "RequestHeaderFieldsTooLarge", "1 MiB")
	}
	for _, c := range []struct {
		what string
		head string
	}{
		{"one header line of 64 KiB", get + big(64<<10)},
		{"a request line of 64 KiB", "GET " + rg + "rg?api-version=2021-04-01&x=" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: {host}\r\n" + auth},
		{"a head of 1 MiB less 100 bytes", get + strings.Repeat(big(8<<10), 127) + big((1<<20)-100-len(get)-127*(8<<10))},
	} {
		if resp, b := rawExchange(t, e, c.head); resp.StatusCode != 200 {
			t.Errorf("%s: %d %.300s, want 200", c.what, resp.StatusCode, b)
		}
	}
	// The disk data plane (a SAS is its authorization) answers Azure
	// Storage's errors in XML.
	for _, head := range []string{"GET /sas/disks/d%ZZ HTTP/1.1\r\nHost: {host}\r\n", "GET /sas/disks/d%ZZ?x=" + strings.Repeat("a", 40<<10) + " HTTP/1.1\r\nHost: {host}\r\n"} {
		resp, b := rawExchange(t, e, head)
		if resp.StatusCode != 400 || resp.Header.Get("X-Ms-Error-Code") != "InvalidUri" || !strings.Contains(string(b), "<Code>InvalidUri</Code>") || !strings.Contains(string(b), "%ZZ") {
			t.Errorf("GET /sas/disks/d%%ZZ (%d bytes): %d %v %s, want 400 InvalidUri in XML", len(head), resp.StatusCode, resp.Header, b)
		}
	}
	resp, b := rawExchange(t, e, "GET /sas/disks/d?x="+strings.Repeat("a", 2<<20)+" HTTP/1.1\r\nHost: {host}\r\n")
	if resp.StatusCode != 431 || resp.Header.Get("X-Ms-Error-Code") != "RequestHeaderFieldsTooLarge" || !strings.Contains(string(b), "<Code>RequestHeaderFieldsTooLarge</Code>") {
		t.Errorf("GET /sas/disks/d with a request line of 2 MiB: %d %v %s, want 431 in XML", resp.StatusCode, resp.Header, b)
	}
}
