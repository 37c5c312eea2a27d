package clients_test

import (
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestAzCLIBackupRolesLogIn: a service principal whose only role is one
// of Azure Backup's, which grant no Microsoft.Resources/subscriptions/read
// (Backup Reader on the subscription, Backup Operator on a resource
// group), logs in with az login, as in Azure, where a subscription is
// listed to every caller with a role in it, and works with az backup
// within its role. Both were listed no subscription: az login failed
// with "No subscriptions found".
func TestAzCLIBackupRolesLogIn(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	az.run("group", "create", "-n", "ops", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "create", "-g", "ops", "-n", "opsvault", "-l", "westus", "-o", "none")
	principal := func(name, scope, role string) *azCLI {
		resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": name})
		if resp.StatusCode != 201 {
			t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
		}
		fixture.Assign(t, e, scope, role, str(m, "objectId"))
		return loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret")) // fails the test when no subscription is listed
	}
	reader := principal("backup-reader", sub, rbac.BackupReader)
	if out := reader.tsv("backup", "vault", "list", "--query", "[].name"); out != "opsvault" {
		t.Fatalf("az backup vault list as the subscription's Backup Reader: %q", out)
	}
	reader.fails("AuthorizationFailed", "backup", "policy", "delete", "-g", "ops", "-v", "opsvault", "-n", "DefaultPolicy")
	operator := principal("backup-operator", sub+"/resourceGroups/ops", rbac.BackupOperator)
	if out := operator.tsv("backup", "policy", "list", "-g", "ops", "-v", "opsvault", "--query", "[?name=='DefaultPolicy'].name"); out != "DefaultPolicy" {
		t.Fatalf("az backup policy list as the group's Backup Operator: %q", out)
	}
}
