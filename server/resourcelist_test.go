package server_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestResourceListScoped is ARM's generic resource list for a principal
// whose roles are scoped to one resource group (rga): the subscription's
// list (what az resource list sends, with -g as $filter resourceGroup eq)
// holds that group's resources only, its group's list all of them, the
// other group's list is 403; a principal without any role is 403 too,
// not shown an empty list.
func TestResourceListScoped(t *testing.T) {
	e := startScoped(t)
	const v = "api-version=2021-04-01"
	names := func(path, token string) (int, string) {
		t.Helper()
		resp, m := raw(t, e.Env, "GET", path, token, nil)
		var out []string
		items, _ := m["value"].([]any)
		for _, it := range items {
			out = append(out, it.(map[string]any)["name"].(string)+"@"+strings.Split(it.(map[string]any)["id"].(string), "/")[4])
		}
		return resp.StatusCode, strings.Join(out, " ")
	}
	sub := "/subscriptions/" + e.Sub + "/resources?" + v
	for _, c := range []struct {
		path, token string
		status      int
		want        string
	}{
		{sub, "", 200, "d1@rga d1@rgb s1@rgb"},            // the administrator
		{sub, e.tok, 200, "d1@rga"},                       // the scoped principal
		{e.rga + "/resources?" + v, e.tok, 200, "d1@rga"}, // its group
		{e.rgb + "/resources?" + v, e.tok, 403, ""},       // another
		{sub + "&$filter=" + url.QueryEscape("resourceGroup eq 'rgb'"), e.tok, 200, ""},
		{sub + "&$filter=" + url.QueryEscape("resourceGroup eq 'RGB' and resourceType eq 'Microsoft.Compute/snapshots'"), "", 200, "s1@rgb"},
		{sub + "&$filter=" + url.QueryEscape("substringof('1', name) and resourceGroup ne 'rga'"), "", 200, "d1@rgb s1@rgb"},
	} {
		if status, got := names(c.path, c.token); status != c.status || got != c.want {
			t.Errorf("GET %s (scoped %v): %d %q, want %d %q", c.path, c.token != "", status, got, c.status, c.want)
		}
	}
	if resp, m := raw(t, e.Env, "GET", sub+"&$filter="+url.QueryEscape("name eq 'd1' or name eq 's1'"), "", nil); resp.StatusCode != 400 || m["error"].(map[string]any)["code"] != "InvalidFilterInQueryString" {
		t.Errorf("an 'or' filter: %s", lkJSON(t, resp, m))
	}

	// A principal without any role.
	resp, m := raw(t, e.Env, "POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", "", []byte(`{"displayName":"none"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create sp: %s", lkJSON(t, resp, m))
	}
	cred, err := e.Conn.CredentialFor(m["appId"].(string), m["clientSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if status, got := names(sub, e.Token(cred)); status != 403 {
		t.Errorf("a principal without roles: %d %q, want 403", status, got)
	}
}
