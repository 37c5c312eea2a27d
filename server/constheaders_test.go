package server_test

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// Every answer carries Azure's headers once, with Azure's values and the
// request's ids, whether the connection writes them (ARM's answers) or the
// header map holds them (other paths): pipelined requests on one TLS
// connection, a PUT that waits for "100 Continue", a 404, a HEAD, a 401 and
// a non-ARM path.
func TestConstantHeadersOnTheWire(t *testing.T) {
	e := testserver.Start(t)
	tok := e.Token(e.Cred)
	c, u := dialARM(t, e)
	rg := "/subscriptions/" + e.Sub + "/resourcegroups/hdrs?api-version=2021-04-01"
	body := `{"location":"westus"}`
	type step struct {
		method, path, head string
		status             int
	}
	auth := "Authorization: Bearer " + tok + "\r\n"
	steps := []step{
		{"PUT", rg, auth + "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 201},
		{"GET", rg, auth + "X-Ms-Client-Request-Id: c1\r\nX-Ms-Correlation-Request-Id:  corr-1 \r\n\r\n", 200},
		{"GET", strings.Replace(rg, "hdrs", "nothere", 1), auth + "\r\n", 404},
		{"HEAD", rg, auth + "\r\n", 204},
		{"GET", rg, "\r\n", 401},
		{"GET", "/healthz", "\r\n", 200},
		{"GET", rg, auth + "\r\n", 200},
	}
	var reqs strings.Builder
	for _, s := range steps {
		reqs.WriteString(s.method + " " + s.path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + s.head)
	}
	if _, err := c.Write([]byte(reqs.String())); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	want := map[string]string{
		"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1", "X-Content-Type-Options": "nosniff",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	}
	for i, s := range steps {
		req, _ := http.NewRequest(s.method, "https://"+u.Host+s.path, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%d %s %s: %v", i, s.method, s.path, err)
		}
		if resp.StatusCode == 100 { // the PUT's: nothing but the status line, as net/http writes it
			if len(resp.Header) != 0 {
				t.Fatalf("100 Continue with headers %v", resp.Header)
			}
			if resp, err = http.ReadResponse(br, req); err != nil {
				t.Fatal(err)
			}
		} else if s.method == "PUT" {
			t.Fatalf("PUT with Expect: 100-continue: %s first", resp.Status)
		}
		resp.Body.Close()
		if resp.StatusCode != s.status {
			t.Fatalf("%d %s %s: %s, want %d", i, s.method, s.path, resp.Status, s.status)
		}
		for k, v := range want {
			if got := resp.Header[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%d %s %s: %s %q, want once %q", i, s.method, s.path, k, got, v)
			}
		}
		if s.path == "/healthz" {
			continue
		}
		id := resp.Header["X-Ms-Request-Id"]
		if len(id) != 1 || len(id[0]) != 36 {
			t.Fatalf("%d %s %s: X-Ms-Request-Id %q", i, s.method, s.path, id)
		}
		ids := map[string]string{"X-Ms-Correlation-Request-Id": id[0], "X-Ms-Routing-Request-Id": "SAFEHOLD:" + id[0], "X-Ms-Client-Request-Id": ""}
		if i == 1 { // what the client sent, as net/http read it
			ids["X-Ms-Correlation-Request-Id"], ids["X-Ms-Client-Request-Id"] = "corr-1", "c1"
		}
		for k, v := range ids {
			if got := resp.Header[k]; v == "" && got != nil || v != "" && (len(got) != 1 || got[0] != v) {
				t.Errorf("%d %s %s: %s %q, want %q", i, s.method, s.path, k, got, v)
			}
		}
	}
}

// dialARM opens a TLS connection to the server's ARM endpoint, closed when
// the test ends.
func dialARM(t *testing.T, e *testserver.Env) (*tls.Conn, *url.URL) {
	t.Helper()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.Conn.ARMEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", u.Host, hc.Transport.(*http.Transport).TLSClientConfig.Clone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, u
}
