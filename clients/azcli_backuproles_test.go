package clients_test

import (
	"os"
	"path/filepath"
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
//
// The owner then manages the operator's role with az role (through
// workaround 2 of testdata/azcli/sitecustomize.py: Debian's az 2.45 fails
// every az role command inside the CLI): az role definition list finds the
// built-in role by name; az role assignment delete (-g, --role) takes the
// operator's role away and az role assignment create
// (--assignee-object-id, --assignee-principal-type) gives it back, which
// the operator sees at once; a principal the directory lacks is
// PrincipalNotFound; a custom role goes through az role definition
// create, update and delete.
func TestAzCLIBackupRolesLogIn(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	az.run("group", "create", "-n", "ops", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "create", "-g", "ops", "-n", "opsvault", "-l", "westus", "-o", "none")
	principal := func(name, scope, role string) (*azCLI, string) {
		resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": name})
		if resp.StatusCode != 201 {
			t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
		}
		fixture.Assign(t, e, scope, role, str(m, "objectId"))
		return loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret")), str(m, "objectId") // fails the test when no subscription is listed
	}
	reader, _ := principal("backup-reader", sub, rbac.BackupReader)
	if out := reader.tsv("backup", "vault", "list", "--query", "[].name"); out != "opsvault" {
		t.Fatalf("az backup vault list as the subscription's Backup Reader: %q", out)
	}
	reader.fails("AuthorizationFailed", "backup", "policy", "delete", "-g", "ops", "-v", "opsvault", "-n", "DefaultPolicy")
	operator, operatorID := principal("backup-operator", sub+"/resourceGroups/ops", rbac.BackupOperator)
	policies := []string{"backup", "policy", "list", "-g", "ops", "-v", "opsvault", "--query", "[?name=='DefaultPolicy'].name"}
	if out := operator.tsv(policies...); out != "DefaultPolicy" {
		t.Fatalf("az backup policy list as the group's Backup Operator: %q", out)
	}

	// az role, as the owner.
	if out := az.tsv("role", "definition", "list", "--name", "Backup Operator", "--query", "[].[name,roleType]"); out != rbac.BackupOperator+"\tBuiltInRole" {
		t.Fatalf("az role definition list --name 'Backup Operator': %q", out)
	}
	az.run("role", "assignment", "delete", "-g", "ops", "--role", "Backup Operator", "-o", "none")
	operator.fails("AuthorizationFailed", policies...)
	created := az.json("role", "assignment", "create", "--assignee-object-id", operatorID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Backup Operator", "-g", "ops")
	if str(created, "principalId") != operatorID || str(created, "roleDefinitionId") != sub+"/providers/Microsoft.Authorization/roleDefinitions/"+rbac.BackupOperator {
		t.Fatalf("az role assignment create: %v", created)
	}
	if out := operator.tsv(policies...); out != "DefaultPolicy" {
		t.Fatalf("az backup policy list after az role assignment create: %q", out)
	}
	az.fails("PrincipalNotFound", "role", "assignment", "create", "--assignee-object-id", "00000000-0000-0000-0000-000000000001",
		"--assignee-principal-type", "ServicePrincipal", "--role", "Reader", "-g", "ops")

	def := filepath.Join(t.TempDir(), "role.json")
	write := func(actions string) {
		t.Helper()
		body := `{"Name":"Disk Peeker","Description":"reads disks","Actions":[` + actions + `],"AssignableScopes":["` + sub + `"]}`
		if err := os.WriteFile(def, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`"Microsoft.Compute/disks/read"`)
	if out := az.tsv("role", "definition", "create", "--role-definition", "@"+def, "--query", "[roleName,roleType]"); out != "Disk Peeker\nCustomRole" {
		t.Fatalf("az role definition create: %q", out)
	}
	write(`"Microsoft.Compute/disks/read","Microsoft.Compute/snapshots/read"`)
	if out := az.tsv("role", "definition", "update", "--role-definition", "@"+def, "--query", "permissions[0].actions"); out != "Microsoft.Compute/disks/read\nMicrosoft.Compute/snapshots/read" {
		t.Fatalf("az role definition update: %q", out)
	}
	az.run("role", "definition", "delete", "--name", "Disk Peeker", "-o", "none")
	if out := az.tsv("role", "definition", "list", "--custom-role-only", "true", "--query", "[].roleName"); out != "" {
		t.Fatalf("custom roles after az role definition delete: %q", out)
	}
}
