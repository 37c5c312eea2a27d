package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestAzCLIGroupScopedPrincipalLogsIn: a service principal whose only role
// is Contributor on one resource group logs in with az login (ARM lists it
// the subscription, as it does a caller with a role anywhere in it), works
// in its group, and still may not read another group's snapshot as the
// source of a disk (LinkedAuthorizationFailed). A principal with no role
// at all is listed no subscription.
func TestAzCLIGroupScopedPrincipalLogsIn(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	az.run("group", "create", "-n", "mine", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "theirs", "-l", "westus", "-o", "none")
	az.run("disk", "create", "-g", "theirs", "-n", "d1", "--size-gb", "1", "-o", "none")
	az.run("snapshot", "create", "-g", "theirs", "-n", "s1", "--source", "d1", "-o", "none")

	principal := func(name string) map[string]any {
		resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": name})
		if resp.StatusCode != 201 {
			t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
		}
		return m
	}
	m := principal("group-contributor")
	fixture.Assign(t, e, sub+"/resourceGroups/mine", rbac.Contributor, str(m, "objectId"))
	c := loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret"))
	if out := c.tsv("account", "show", "--query", "id"); out != e.Conn.SubscriptionID {
		t.Fatalf("az account show as a resource group's Contributor: %q", out)
	}
	c.run("disk", "create", "-g", "mine", "-n", "own", "--size-gb", "1", "-o", "none")
	c.fails("LinkedAuthorizationFailed", "disk", "create", "-g", "mine", "-n", "copy", "--source", sub+"/resourceGroups/theirs/providers/Microsoft.Compute/snapshots/s1")
	c.fails("AuthorizationFailed", "disk", "show", "-g", "theirs", "-n", "d1")
	if out := c.tsv("disk", "list", "--query", "[].name"); out != "own" {
		t.Fatalf("az disk list as a resource group's Contributor: %q", out)
	}

	// No role anywhere: no subscription to log in to.
	n := principal("nobody")
	nobody := loggedIn(t, e) // a configuration with the cloud registered
	nobody.env = append(nobody.env[:len(nobody.env):len(nobody.env)], "AZURE_CONFIG_DIR="+t.TempDir())
	nobody.run("cloud", "register", "--name", "safehold", "--endpoint-resource-manager", e.Conn.ARMEndpoint+"/", "--suffix-storage-endpoint", "safehold.local")
	nobody.run("cloud", "set", "--name", "safehold")
	r := nobody.exec("login", "--service-principal", "-u", str(n, "appId"), "-p="+str(n, "clientSecret"), "--tenant", e.Conn.TenantID, "-o", "json")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "No subscriptions found") {
		t.Fatalf("az login with no role: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
