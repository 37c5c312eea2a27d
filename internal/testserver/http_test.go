package testserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// Env.Do signs as the admin by default, sends no token with Bearer(""), the
// given one with Bearer, bodies as JSON, and leaves the answer readable.
func TestDo(t *testing.T) {
	e := testserver.Start(t)
	rg := "/subscriptions/" + e.Sub + "/resourcegroups/rg1?api-version=2021-04-01"
	resp, m := e.Do("PUT", rg, map[string]any{"location": "westus"}, testserver.Header("x-ms-client-request-id", "c1"))
	if resp.StatusCode != http.StatusCreated || testserver.Field(m, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("create group: %d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("x-ms-client-request-id") != "c1" {
		t.Fatalf("header not sent: %v", resp.Header)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `"westus"`) {
		t.Fatalf("body not readable again: %q", b)
	}
	if resp, m := e.Do("GET", rg, nil, testserver.Bearer("")); resp.StatusCode != http.StatusUnauthorized || testserver.ErrorCode(m) != "AuthenticationFailed" {
		t.Fatalf("no token: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", rg, nil, testserver.Bearer("not-a-jwt")); resp.StatusCode != http.StatusUnauthorized || testserver.ErrorCode(m) == "" {
		t.Fatalf("bad token: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", e.Conn.ARMEndpoint+rg, nil, testserver.Bearer(e.Token(nil))); resp.StatusCode != http.StatusOK || m["name"] != "rg1" {
		t.Fatalf("full URL with the admin's token: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", rg, `{"location":`); resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) == "" {
		t.Fatalf("malformed body sent as is: %d %v", resp.StatusCode, m)
	}
	if testserver.Field(m, "properties.nope.deeper") != nil || testserver.Field(nil, "a") != nil {
		t.Fatal("Field of a missing path is not nil")
	}
}
