package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestRBAC: a Backup Reader cannot trigger a backup, a Backup Operator can;
// restoring needs write access where the restore creates disks and VMs.
func TestRBAC(t *testing.T) {
	const v = rsAPI
	e, R, I, _ := protectedApp(t)
	e.ResourceGroups("restorerg")

	principal := func(name, role, scope string) *spCred { return newPrincipal(t, e, name, role, scope) }
	rgScope := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg"
	reader := principal("reader", rbac.BackupReader, rgScope)
	operator := principal("operator", rbac.BackupOperator, rgScope)

	resp, m := e.Do("GET", I+v, nil, testserver.As(reader.cred))
	must(t, "reader reads", resp, m, 200)
	resp, m = e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}}, testserver.As(reader.cred))
	must(t, "reader backs up", resp, m, 403)
	resp, m = e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}}, testserver.As(operator.cred))
	must(t, "operator backs up", resp, m, 202)
	if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
		t.Fatalf("job %v", j)
	}
	resp, m = e.Do("DELETE", I+v, nil, testserver.As(operator.cred))
	must(t, "operator deletes backup data", resp, m, 403)
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	point := str(m["value"].([]any)[0].(map[string]any), "name")
	body := map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest", "recoveryType": "AlternateLocation",
		"targetVirtualMachineId": "/subscriptions/" + e.Sub + "/resourceGroups/restorerg/providers/Microsoft.Compute/virtualMachines/app2",
		"targetResourceGroupId":  "/subscriptions/" + e.Sub + "/resourceGroups/restorerg"}}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, body, testserver.As(operator.cred))
	if resp.StatusCode != 403 || !strings.Contains(str(m, "error.message"), "Microsoft.Compute/") {
		t.Fatalf("restore without rights on the target: %d %v", resp.StatusCode, m)
	}
	grant(t, e, operator.objectID, rbac.Contributor, "/subscriptions/"+e.Sub+"/resourceGroups/restorerg")
	e.WaitFor("restore allowed", func() bool {
		resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, body, testserver.As(operator.cred))
		return resp.StatusCode == 202
	})
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore %v", st)
	}
}

// newPrincipal creates a service principal with role at scope.
func newPrincipal(t *testing.T, e *testserver.Env, name, role, scope string) *spCred {
	t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": name})
	must(t, "create sp", resp, m, 201)
	sp := &spCred{objectID: str(m, "objectId")}
	cred, err := e.Conn.CredentialFor(str(m, "appId"), str(m, "clientSecret"))
	if err != nil {
		t.Fatal(err)
	}
	sp.cred = cred
	grant(t, e, sp.objectID, role, scope)
	return sp
}

type spCred struct {
	objectID string
	cred     azcore.TokenCredential
}

func grant(t *testing.T, e *testserver.Env, principal, role, scope string) {
	t.Helper()
	resp, m := e.Do("PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleDefinitionId": "/subscriptions/" + e.Sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role, "principalId": principal}})
	must(t, "assign role", resp, m, 200, 201)
}
