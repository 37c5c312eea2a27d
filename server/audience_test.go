package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// tokenFor asks the token endpoint for a client-credentials token with scope.
func tokenFor(t *testing.T, e *testserver.Env, scope string) (int, map[string]any) {
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.Conn.ClientID}, "client_secret": {e.Conn.ClientSecret}, "scope": {scope}}
	resp, err := hc.PostForm(e.Conn.ARMEndpoint+"/"+e.Conn.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestTokenAudiences: the token endpoint issues tokens only for the
// server's ARM endpoint and the public ARM audiences (AADSTS500011 for
// anything else), and ARM accepts exactly those audiences: a correctly
// signed token for another one is 401 InvalidAuthenticationTokenAudience
// with ARM's WWW-Authenticate header.
func TestTokenAudiences(t *testing.T) {
	e := testserver.Start(t)
	subs := "/subscriptions?api-version=2022-12-01"
	for _, scope := range []string{e.Conn.ARMEndpoint + "/.default", e.Conn.ARMEndpoint + "//.default",
		"https://management.azure.com/.default", "https://management.azure.com//.default",
		"https://management.core.windows.net//.default", "https://management.core.windows.net/.default"} {
		st, m := tokenFor(t, e, scope)
		if st != 200 {
			t.Fatalf("token for %s: %d %v", scope, st, m)
		}
		if resp, m := raw(t, e, "GET", subs, m["access_token"].(string), nil); resp.StatusCode != 200 {
			t.Fatalf("ARM with a token for %s: %d %v", scope, resp.StatusCode, m)
		}
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(e.Conn.ARMEndpoint, "https://127.0.0.1"), ":")
	other := "https://127.0.0.1:1"
	if port == "1" {
		other = "https://127.0.0.1:2"
	}
	for _, scope := range []string{other + "/.default", "https://vault.azure.net/.default", "https://evil.example/.default", "https://localhost:1/.default"} {
		st, m := tokenFor(t, e, scope)
		if st != 400 || m["error"] != "invalid_resource" || !strings.HasPrefix(m["error_description"].(string), "AADSTS500011:") {
			t.Fatalf("token for %s: want 400 invalid_resource AADSTS500011, got %d %v", scope, st, m)
		}
	}
	p, err := e.Server.Platform.Dir.Get(context.Background(), e.Server.Bootstrap.AdminObjectID)
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{other, other + "/", "https://evil.example", "https://management.azure.com.evil.example/", "https://127.0.0.1"} {
		tok, _, err := e.Server.Issuer.Issue(p, aud, e.Conn.ARMEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		resp, m := raw(t, e, "GET", subs, tok, nil)
		if resp.StatusCode != 401 || testserver.ErrorCode(m) != "InvalidAuthenticationTokenAudience" {
			t.Fatalf("token with aud %s: want 401 InvalidAuthenticationTokenAudience, got %d %v", aud, resp.StatusCode, m)
		}
		msg := m["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, "'"+aud+"'") || !strings.Contains(msg, "'https://management.azure.com/'") || !strings.Contains(msg, "'"+e.Conn.ARMEndpoint+"/'") {
			t.Fatalf("audience message: %s", msg)
		}
		checkWWWAuthenticate(t, e, resp, "wrong audience")
	}
	// A missing token is answered the same way.
	resp, m := raw(t, e, "GET", subs, "-", nil)
	if resp.StatusCode != 401 || testserver.ErrorCode(m) != "AuthenticationFailed" {
		t.Fatalf("no token: %d %v", resp.StatusCode, m)
	}
	checkWWWAuthenticate(t, e, resp, "no token")
}

func checkWWWAuthenticate(t *testing.T, e *testserver.Env, resp *http.Response, what string) {
	t.Helper()
	h := resp.Header.Get("WWW-Authenticate")
	want := `Bearer authorization_uri="` + e.Conn.ARMEndpoint + "/" + e.Conn.TenantID + `", error="invalid_token", error_description="`
	if !strings.HasPrefix(h, want) || !strings.HasSuffix(h, `"`) || len(h) <= len(want)+1 {
		t.Fatalf("%s: WWW-Authenticate %q, want %s…\"", what, h, want)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%s: status %d", what, resp.StatusCode)
	}
}

// TestWrongChildTypeIsNamed: a misspelt child type is named in the 404,
// not its (correct) parent type.
func TestWrongChildTypeIsNamed(t *testing.T) {
	e := testserver.Start(t)
	for _, path := range []string{
		"/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/x/backupInstance?api-version=2024-04-01",
		"/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/x/backupInstance/bi?api-version=2024-04-01",
	} {
		resp, m := raw(t, e, "GET", path, "", nil)
		msg, _ := m["error"].(map[string]any)["message"].(string)
		if resp.StatusCode != 404 || testserver.ErrorCode(m) != "InvalidResourceType" || !strings.Contains(msg, "'backupVaults/backupInstance'") {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, m)
		}
	}
}
