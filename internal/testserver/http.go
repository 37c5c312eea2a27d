package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// RequestOption changes one raw request sent by Env.Do.
type RequestOption func(*request)

type request struct {
	cred      azcore.TokenCredential
	token     string
	noAuth    bool
	anyStatus bool
	ids       bool
	headers   http.Header
}

// As signs the request with a token of cred instead of the admin's.
func As(cred azcore.TokenCredential) RequestOption {
	return func(r *request) { r.cred = cred }
}

// Bearer sends token as it is (any string, even one that is not a JWT);
// an empty token sends no Authorization header at all.
func Bearer(token string) RequestOption {
	return func(r *request) {
		if token == "" {
			r.noAuth = true
		}
		r.token = token
	}
}

// AnyStatus lets a 5xx answer through to the caller, for tests that make
// the server fail on purpose (fault rules).
func AnyStatus() RequestOption {
	return func(r *request) { r.anyStatus = true }
}

// RequestIDs sends a client request id (x-ms-client-request-id) and fails
// the test unless the answer carries ARM's request ids (x-ms-request-id,
// x-ms-correlation-request-id) and echoes the client's.
func RequestIDs() RequestOption {
	return func(r *request) {
		r.ids = true
		r.headers.Set("x-ms-client-request-id", "client-req-1")
	}
}

// Header sets a request header.
func Header(key, value string) RequestOption {
	return func(r *request) { r.headers.Set(key, value) }
}

// Token is an ARM access token of cred (the admin's when cred is nil).
func (e *Env) Token(cred azcore.TokenCredential) string {
	e.T.Helper()
	if cred == nil {
		cred = e.Cred
	}
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	if err != nil {
		e.T.Fatalf("get token: %v", err)
	}
	return tk.Token
}

// Do sends one raw HTTP request to the server, signed with the admin's token
// unless an option says otherwise. path is an ARM path (joined to the ARM
// endpoint) or a full URL. body is nil or a nil []byte (no body), []byte or
// string (sent as is), or any other value (sent as JSON); a body goes with
// Content-Type application/json.
//
// It returns the response, whose Body can still be read, and the body
// decoded as a JSON object (nil when empty). The test fails on a transport
// error, on a body that is not JSON, and on any 5xx answer unless AnyStatus
// is given: Safehold answers bad input with an ARM error, never with a
// server error.
func (e *Env) Do(method, path string, body any, opts ...RequestOption) (*http.Response, map[string]any) {
	e.T.Helper()
	r := &request{headers: http.Header{}}
	for _, o := range opts {
		o(r)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.Conn.ARMEndpoint + path
	}
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case []byte:
		if v != nil {
			rd = bytes.NewReader(v)
		}
	case string:
		rd = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			e.T.Fatalf("%s %s: encode body: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	switch {
	case r.noAuth:
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	default:
		req.Header.Set("Authorization", "Bearer "+e.Token(r.cred))
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		req.Header[k] = v
	}
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		e.T.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.T.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if r.ids {
		if resp.Header.Get("x-ms-request-id") == "" || resp.Header.Get("x-ms-correlation-request-id") == "" {
			e.T.Fatalf("%s %s: missing request id headers: %v", method, path, resp.Header)
		}
		if resp.Header.Get("x-ms-client-request-id") != r.headers.Get("x-ms-client-request-id") {
			e.T.Fatalf("%s %s: client request id not echoed", method, path)
		}
	}
	if resp.StatusCode >= 500 && !r.anyStatus {
		e.T.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var m map[string]any
	if len(b) > 0 {
		// A few ARM lists (the platform image catalog) answer a bare
		// JSON array, as Azure does; those leave m nil.
		if err := json.Unmarshal(b, &m); err != nil && !(bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) && json.Valid(b)) {
			e.T.Fatalf("%s %s: %d, non-JSON body (%s): %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	return resp, m
}

// ErrorCode is the code of an ARM error body ({"error":{"code":...}}), or "".
func ErrorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// WantError fails the test unless err is an ARM error (an SDK
// *azcore.ResponseError) with status and code; it returns that error.
func WantError(t testing.TB, what string, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s: want %d %s, got %v", what, status, code, err)
	}
	return re
}

// HasError reports whether err is an error an SDK client returned for an
// ARM or storage answer (an *azcore.ResponseError) with status (any when
// 0) and code (any when "").
func HasError(err error, status int, code string) bool {
	st, c := ErrorOf(err)
	return st != 0 && (status == 0 || st == status) && (code == "" || c == code)
}

// ErrorOf is the HTTP status and error code of an error an SDK client
// returned for an ARM or storage answer (an *azcore.ResponseError); 0 and
// "" for any other error, nil included.
func ErrorOf(err error) (status int, code string) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return 0, ""
	}
	return re.StatusCode, re.ErrorCode
}

// Field walks a dotted path ("properties.extendedInfo.recoveryPointCount")
// through a decoded JSON object; nil when any step is missing.
func Field(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// OpID is the operation id at the end of a polling URL (an
// Azure-AsyncOperation or Location header); the test fails on an empty or
// malformed URL.
func OpID(t testing.TB, pollingURL string) string {
	t.Helper()
	u, err := url.Parse(pollingURL)
	if err != nil || pollingURL == "" {
		t.Fatalf("bad polling URL %q", pollingURL)
	}
	return path.Base(u.Path)
}

// Poll GETs an operation's status URL (Azure-AsyncOperation) until its
// status is no longer InProgress, and returns that last body. The test
// fails on an answer other than 200 and when the operation is still
// running after two minutes.
func (e *Env) Poll(url string, opts ...RequestOption) map[string]any {
	e.T.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, m := e.Do("GET", url, nil, opts...)
		if resp.StatusCode != http.StatusOK {
			e.T.Fatalf("status %s: %d %v", url, resp.StatusCode, m)
		}
		if s, _ := m["status"].(string); s != "" && s != "InProgress" {
			return m
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("operation %s did not finish: %v", url, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Count pages an Azure SDK pager to its end and returns how many items its
// pages held (the length of each page's Value list).
func Count[T any](t testing.TB, ctx context.Context, pg *runtime.Pager[T]) int {
	t.Helper()
	n := 0
	for pg.More() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := reflect.ValueOf(page).FieldByName("Value")
		if !v.IsValid() || v.Kind() != reflect.Slice {
			t.Fatalf("%T has no Value list", page)
		}
		n += v.Len()
	}
	return n
}

// ResourceGroups creates (or updates) resource groups in westus in the
// server's subscription; the test fails unless each answers 200 or 201.
func (e *Env) ResourceGroups(names ...string) {
	e.T.Helper()
	for _, name := range names {
		resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/"+name+"?api-version=2021-04-01", map[string]any{"location": "westus"})
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			e.T.Fatalf("create resource group %s: %d %v", name, resp.StatusCode, m)
		}
	}
}

// DeleteGroup DELETEs resource group name (202 expected: the test fails
// otherwise) and polls its operation's Location until it answers other
// than 202: that answer's status and body (200 when the group is gone,
// the operation's error otherwise). The test fails after two minutes.
func (e *Env) DeleteGroup(name string) (int, map[string]any) {
	e.T.Helper()
	resp, m := e.Do("DELETE", "/subscriptions/"+e.Sub+"/resourcegroups/"+name+"?api-version=2021-04-01", nil)
	if resp.StatusCode != http.StatusAccepted {
		e.T.Fatalf("delete group %s: %d %v", name, resp.StatusCode, m)
	}
	loc := resp.Header.Get("Location")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, m := e.Do("GET", loc, nil, AnyStatus())
		if resp.StatusCode != http.StatusAccepted {
			return resp.StatusCode, m
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("delete group %s: still running", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Metrics reads /metrics and returns its sample values by "name{labels}".
func (e *Env) Metrics() map[string]float64 {
	t := e.T
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	resp, err := hc.Get(e.Conn.ARMEndpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	b := new(strings.Builder)
	if _, err := io.Copy(b, resp.Body); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// PageNames reads the list at u a page of one item at a time (u asks for
// $top=1) through each nextLink and calls between (when not nil) after
// each page but the last, with the page's index; it returns the items'
// names in the order the pages gave them.
func (e *Env) PageNames(t testing.TB, u string, between func(page int)) []string {
	t.Helper()
	var names []string
	for n := 0; u != ""; n++ {
		resp, m := e.Do("GET", u, nil)
		vals, _ := m["value"].([]any)
		if resp.StatusCode != 200 || len(vals) != 1 {
			t.Fatalf("GET %s: %d %v", u, resp.StatusCode, m)
		}
		name, _ := Field(vals[0].(map[string]any), "name").(string)
		names = append(names, name)
		u, _ = m["nextLink"].(string)
		if u != "" && between != nil {
			between(n)
		}
	}
	return names
}
