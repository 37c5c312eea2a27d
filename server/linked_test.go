package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// scopedEnv is a server with resource groups rga and rgb, a disk and a
// snapshot in rgb, and a principal that is Contributor and User Access
// Administrator on rga only.
type scopedEnv struct {
	*testserver.Env
	tok           string // the scoped principal's ARM token
	appID, objID  string
	rga, rgb      string // resource group ids
	diskB, snapB  string // resources in rgb
	diskA         string // a disk in rga (the positive control)
	computeClient *armcompute.ClientFactory
}

func lkJSON(t *testing.T, resp *http.Response, m map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(m)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func startScoped(t *testing.T, opts ...testserver.Option) *scopedEnv {
	t.Helper()
	e := &scopedEnv{Env: testserver.Start(t, opts...)}
	ctx := e.Ctx()
	e.ResourceGroups("rga", "rgb")
	e.rga, e.rgb = "/subscriptions/"+e.Sub+"/resourceGroups/rga", "/subscriptions/"+e.Sub+"/resourceGroups/rgb"
	e.computeClient = testserver.Factory(e.Env, armcompute.NewClientFactory)
	for _, rg := range []string{"rga", "rgb"} {
		if _, err := fixture.Wait(e.computeClient.NewDisksClient().BeginCreateOrUpdate(ctx, rg, "d1", fixture.EmptyDisk("westus", 1), nil)); err != nil {
			t.Fatal(err)
		}
	}
	e.diskA, e.diskB = e.rga+"/providers/Microsoft.Compute/disks/d1", e.rgb+"/providers/Microsoft.Compute/disks/d1"
	if _, err := fixture.Wait(e.computeClient.NewSnapshotsClient().BeginCreateOrUpdate(ctx, "rgb", "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskB)}}}, nil)); err != nil {
		t.Fatal(err)
	}
	e.snapB = e.rgb + "/providers/Microsoft.Compute/snapshots/s1"

	resp, m := raw(t, e.Env, "POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", "", []byte(`{"displayName":"scoped"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create sp: %s", lkJSON(t, resp, m))
	}
	e.appID, e.objID = m["appId"].(string), m["objectId"].(string)
	for _, role := range []string{rbac.Contributor, rbac.UserAccessAdministrator} {
		fixture.Assign(t, e.Env, e.rga, role, e.objID)
	}
	cred, err := e.Conn.CredentialFor(e.appID, m["clientSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	e.tok = e.Token(cred)
	return e
}

// linkedCase is one reference the API accepts, made by the scoped
// principal from rga to something in rgb.
type linkedCase struct {
	name           string
	method, path   string // path under the subscription's resource groups, with api-version
	body           string
	action, scope  string // the request's own action and scope
	linkedAction   string
	linkedScope    string
	okPath, okBody string // the same reference inside rga: allowed (empty: no control)
}

func (e *scopedEnv) checkLinked(t *testing.T, c linkedCase) {
	t.Helper()
	resp, m := raw(t, e.Env, c.method, c.path, e.tok, []byte(c.body))
	if resp.StatusCode != http.StatusForbidden || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" {
		t.Fatalf("%s: want 403 LinkedAuthorizationFailed, got %s", c.name, lkJSON(t, resp, m))
	}
	msg := m["error"].(map[string]any)["message"].(string)
	if c.action == "" { // the request's own action and scope are the router's; check the rest
		tail := fmt.Sprintf("; however, it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.", c.linkedAction, c.linkedScope)
		head := fmt.Sprintf("The client '%s' with object id '%s' has permission to perform action '", e.appID, e.objID)
		if !strings.HasPrefix(msg, head) || !strings.HasSuffix(strings.ToLower(msg), strings.ToLower(tail)) {
			t.Fatalf("%s: message\n got %s\nwant %s…%s", c.name, msg, head, tail)
		}
		return
	}
	want := fmt.Sprintf("The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
		e.appID, e.objID, c.action, c.scope, c.linkedAction, c.linkedScope)
	if !strings.EqualFold(msg, want) {
		t.Fatalf("%s: message\n got %s\nwant %s", c.name, msg, want)
	}
	if c.okPath != "" {
		resp, m := raw(t, e.Env, c.method, c.okPath, e.tok, []byte(c.okBody))
		if resp.StatusCode >= 300 {
			t.Fatalf("%s: the same reference inside rga: %s", c.name, lkJSON(t, resp, m))
		}
	}
}

// TestLinkedAccessIsChecked walks every reference the API accepts with a
// principal that may write only in rga, naming a resource in rgb: each is
// a 403 LinkedAuthorizationFailed in Azure's words, and the same reference
// inside rga works.
func TestLinkedAccessIsChecked(t *testing.T) {
	e := startScoped(t)
	const cv = "?api-version=2024-03-02"
	disk := func(rg, name string) string {
		return e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
	}
	snap := func(rg, name string) string {
		return e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/snapshots/" + name
	}
	vm := func(rg, name string) string {
		return e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name
	}
	p := func(id string) string { return "/subscriptions/" + id }
	creation := func(opt, src string) string {
		return fmt.Sprintf(`{"location":"westus","properties":{"creationData":{"createOption":%q,"sourceResourceId":%q}}}`, opt, src)
	}
	importURI := func(uri string) string {
		return fmt.Sprintf(`{"location":"westus","properties":{"creationData":{"createOption":"Import","sourceUri":%q}}}`, uri)
	}
	vmBody := func(osDisk string, dataDisks ...string) string {
		dd := []string{}
		for i, d := range dataDisks {
			dd = append(dd, fmt.Sprintf(`{"lun":%d,"createOption":"Attach","managedDisk":{"id":%q}}`, i, d))
		}
		return fmt.Sprintf(`{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":%q}},"dataDisks":[%s]}}}`,
			osDisk, strings.Join(dd, ","))
	}
	// A read SAS on rgb's disk, issued to the admin and leaked to the scoped principal.
	gp, err := e.computeClient.NewDisksClient().BeginGrantAccess(e.Ctx(), "rgb", "d1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	g := fixture.Done(t, gp, err)
	sasB := *g.AccessSAS
	// A second disk in rga for the VM controls.
	resp, m := raw(t, e.Env, "PUT", p(disk("rga", "d2"))+cv, e.tok, []byte(`{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`))
	if resp.StatusCode >= 300 {
		t.Fatalf("create rga/d2: %s", lkJSON(t, resp, m))
	}
	roleDef := func(scope string) string {
		return fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, scope+"/providers/Microsoft.Authorization/roleDefinitions/"+rbac.Reader, e.objID)
	}
	raID := e.rga + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString()
	// typeOf is the resource type an id names (Microsoft.Compute/disks).
	typeOf := func(id string) string {
		rest := id[strings.LastIndex(id, "/providers/")+len("/providers/"):]
		return rest[:strings.LastIndex(rest, "/")]
	}
	// put is a PUT of the disk or snapshot id (in rga) whose body names
	// linkedScope (in rgb); ok, when not empty, is the same body naming
	// rga's counterpart, which is allowed.
	put := func(name, id, body, linkedScope, ok string) linkedCase {
		c := linkedCase{name: name, method: "PUT", path: p(id) + cv, body: body, action: typeOf(id) + "/write", scope: p(id),
			linkedAction: typeOf(linkedScope) + "/read", linkedScope: linkedScope}
		if ok != "" {
			c.okPath, c.okBody = c.path, ok
		}
		return c
	}
	cases := []linkedCase{
		put("disk Copy from a disk", disk("rga", "c1"), creation("Copy", e.diskB), e.diskB, creation("Copy", e.diskA)),
		put("disk Copy from a snapshot", disk("rga", "c2"), creation("Copy", e.snapB), e.snapB, ""),
		put("disk Restore", disk("rga", "c3"), creation("Restore", e.snapB), e.snapB, ""),
		put("disk Import from a Safehold resource URL", disk("rga", "c4"), importURI(e.Conn.ARMEndpoint+e.diskB), e.diskB, importURI(e.Conn.ARMEndpoint+e.diskA)),
		put("disk Import from a Safehold SAS URL", disk("rga", "c5"), importURI(sasB), e.diskB, ""),
		put("snapshot Copy of a disk", snap("rga", "s1"), creation("Copy", e.diskB), e.diskB, creation("Copy", e.diskA)),
		put("snapshot Copy of a snapshot", snap("rga", "s2"), creation("Copy", e.snapB), e.snapB, ""),
		put("snapshot CopyStart of a snapshot", snap("rga", "s3"), creation("CopyStart", e.snapB), e.snapB, ""),
		{name: "VM OS disk", method: "PUT", path: p(vm("rga", "v1")) + "?api-version=2024-11-01", body: vmBody(e.diskB),
			action: "Microsoft.Compute/virtualMachines/write", scope: p(vm("rga", "v1")), linkedAction: "Microsoft.Compute/disks/write", linkedScope: e.diskB},
		{name: "VM data disk", method: "PUT", path: p(vm("rga", "v2")) + "?api-version=2024-11-01", body: vmBody(e.diskA, e.diskB),
			action: "Microsoft.Compute/virtualMachines/write", scope: p(vm("rga", "v2")), linkedAction: "Microsoft.Compute/disks/write", linkedScope: e.diskB,
			okPath: p(vm("rga", "v2")) + "?api-version=2024-11-01", okBody: vmBody(e.diskA, p(disk("rga", "d2")))},
		{name: "role definition id in a role assignment", method: "PUT", path: raID + "?api-version=2022-04-01",
			body: roleDef(e.rgb), action: "Microsoft.Authorization/roleAssignments/write", scope: raID,
			linkedAction: "Microsoft.Authorization/roleDefinitions/read", linkedScope: e.rgb,
			okPath: e.rga + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01", okBody: roleDef("/subscriptions/" + e.Sub)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.checkLinked(t, c) })
	}
	// A VM PATCH attaching rgb's disk is refused as well.
	resp, m = raw(t, e.Env, "PATCH", p(vm("rga", "v2"))+"?api-version=2024-11-01", e.tok,
		[]byte(fmt.Sprintf(`{"properties":{"storageProfile":{"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":%q}},{"lun":1,"createOption":"Attach","managedDisk":{"id":%q}}]}}}`, p(disk("rga", "d2")), e.diskB)))
	if resp.StatusCode != http.StatusForbidden || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" {
		t.Fatalf("VM PATCH attaching rgb's disk: %s", lkJSON(t, resp, m))
	}
	// Nothing was created in rga from rgb.
	for _, name := range []string{"c2", "c3", "c5"} {
		if resp, _ := raw(t, e.Env, "GET", p(disk("rga", name))+cv, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("disk %s exists after a refused copy: %d", name, resp.StatusCode)
		}
	}
}

// TestLinkedAccessBackup walks the references of the two vault kinds with
// the principal scoped to rga: backup-instance datasources, snapshot
// resource groups, policies and identities, restore targets, user-assigned
// identities of vaults, protected VMs, their policies and restore targets.
func TestLinkedAccessBackup(t *testing.T) {
	e := startScoped(t)
	const dv = "?api-version=2024-04-01"
	const rv = "?api-version=2023-04-01"
	dvault := e.rga + "/providers/Microsoft.DataProtection/backupVaults/dv"
	rvault := e.rga + "/providers/Microsoft.RecoveryServices/vaults/rv"
	for _, c := range []struct{ path, body string }{
		{dvault + dv, `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{rvault + rv, `{"location":"westus","sku":{"name":"Standard"},"properties":{"publicNetworkAccess":"Enabled"}}`},
	} {
		if resp, m := raw(t, e.Env, "PUT", c.path, e.tok, []byte(c.body)); resp.StatusCode >= 300 {
			t.Fatalf("create vault: %s", lkJSON(t, resp, m))
		}
	}
	uami := func(rg string) string {
		return "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	}
	bi := func(disk, policy, snapRG, identity string) string {
		idd := ""
		if identity != "" {
			idd = fmt.Sprintf(`,"identityDetails":{"useSystemAssignedIdentity":false,"userAssignedIdentityArmUrl":%q}`, identity)
		}
		return fmt.Sprintf(`{"objectType":"BackupInstance","dataSourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":%q,"resourceLocation":"westus","resourceName":"d1","resourceType":"Microsoft.Compute/disks","resourceUri":%q},"policyInfo":{"policyId":%q,"policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":%q}]}}%s}`,
			disk, disk, policy, snapRG, idd)
	}
	polA := dvault + "/backupPolicies/p1"
	polB := e.rgb + "/providers/Microsoft.DataProtection/backupVaults/other/backupPolicies/p1"
	biPath := dvault + "/backupInstances/bi1" + dv
	restoreBody := func(target string) string {
		return fmt.Sprintf(`{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"x","sourceDataStoreType":"OperationalStore","restoreTargetInfo":{"objectType":"RestoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus","datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":%q,"resourceLocation":"westus","resourceName":"r1","resourceType":"Microsoft.Compute/disks","resourceUri":""}}}`, target)
	}
	vmB := e.rgb + "/providers/Microsoft.Compute/virtualMachines/vm1"
	vmA := e.rga + "/providers/Microsoft.Compute/virtualMachines/vm1"
	item := func(rg string) string {
		return rvault + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;" + rg + ";vm1/protectedItems/VM;iaasvmcontainerv2;" + rg + ";vm1"
	}
	itemBody := func(vm, policy string) string {
		return fmt.Sprintf(`{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","sourceResourceId":%q,"policyId":%q}}`, vm, policy)
	}
	rsPolB := e.rgb + "/providers/Microsoft.RecoveryServices/vaults/other/backupPolicies/DefaultPolicy"
	rsRestore := item("rga") + "/recoveryPoints/1/restore?api-version=2024-04-01"
	rsRestoreBody := func(format string, args ...any) string {
		return fmt.Sprintf(`{"properties":{"objectType":"IaasVMRestoreRequest","sourceResourceId":%q,"region":"westus",`+format+`}}`, append([]any{vmA}, args...)...)
	}
	stagingB := e.rgb + "/providers/Microsoft.Storage/storageAccounts/stagingb"
	cases := []linkedCase{
		{name: "backup instance datasource", method: "PUT", path: biPath, body: `{"properties":` + bi(e.diskB, polA, e.rga, "") + `}`,
			linkedAction: "Microsoft.Compute/disks/read", linkedScope: e.diskB},
		{name: "backup instance snapshot resource group", method: "PUT", path: biPath, body: `{"properties":` + bi(e.diskA, polA, e.rgb, "") + `}`,
			linkedAction: "Microsoft.Compute/snapshots/write", linkedScope: e.rgb},
		{name: "backup instance policy", method: "PUT", path: biPath, body: `{"properties":` + bi(e.diskA, polB, e.rga, "") + `}`,
			linkedAction: "Microsoft.DataProtection/backupVaults/backupPolicies/read", linkedScope: polB},
		{name: "backup instance user-assigned identity", method: "PUT", path: biPath, body: `{"properties":` + bi(e.diskA, polA, e.rga, uami("rgb")) + `}`,
			linkedAction: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", linkedScope: uami("rgb")},
		{name: "validateForBackup datasource", method: "POST", path: dvault + "/validateForBackup" + dv, body: `{"backupInstance":` + bi(e.diskB, polA, e.rga, "") + `}`,
			linkedAction: "Microsoft.Compute/disks/read", linkedScope: e.diskB},
		{name: "Backup vault restore target", method: "POST", path: dvault + "/backupInstances/bi1/restore" + dv, body: restoreBody(e.rgb + "/providers/Microsoft.Compute/disks/r1"),
			linkedAction: "Microsoft.Compute/disks/write", linkedScope: e.rgb + "/providers/Microsoft.Compute/disks/r1"},
		{name: "Backup vault validateRestore target", method: "POST", path: dvault + "/backupInstances/bi1/validateRestore" + dv, body: `{"restoreRequestObject":` + restoreBody(e.rgb+"/providers/Microsoft.Compute/disks/r1") + `}`,
			linkedAction: "Microsoft.Compute/disks/write", linkedScope: e.rgb + "/providers/Microsoft.Compute/disks/r1"},
		{name: "Backup vault user-assigned identity", method: "PUT", path: e.rga + "/providers/Microsoft.DataProtection/backupVaults/dv2" + dv,
			body:         fmt.Sprintf(`{"location":"westus","identity":{"type":"UserAssigned","userAssignedIdentities":{%q:{}}},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`, uami("rgb")),
			linkedAction: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", linkedScope: uami("rgb")},
		{name: "Backup vault PATCH user-assigned identity", method: "PATCH", path: dvault + dv,
			body:         fmt.Sprintf(`{"identity":{"type":"SystemAssigned,UserAssigned","userAssignedIdentities":{%q:{}}}}`, uami("rgb")),
			linkedAction: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", linkedScope: uami("rgb")},
		{name: "Recovery Services vault user-assigned identity", method: "PUT", path: e.rga + "/providers/Microsoft.RecoveryServices/vaults/rv2" + rv,
			body:         fmt.Sprintf(`{"location":"westus","sku":{"name":"Standard"},"identity":{"type":"UserAssigned","userAssignedIdentities":{%q:{}}},"properties":{}}`, uami("rgb")),
			linkedAction: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", linkedScope: uami("rgb")},
		{name: "Recovery Services vault PATCH user-assigned identity", method: "PATCH", path: rvault + rv,
			body:         fmt.Sprintf(`{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{%q:{}}}}`, uami("rgb")),
			linkedAction: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", linkedScope: uami("rgb")},
		{name: "protected VM", method: "PUT", path: item("rgb") + "?api-version=2024-04-01", body: itemBody(vmB, rvault+"/backupPolicies/DefaultPolicy"),
			linkedAction: "Microsoft.Compute/virtualMachines/read", linkedScope: vmB},
		{name: "protected item policy", method: "PUT", path: item("rga") + "?api-version=2024-04-01", body: itemBody(vmA, rsPolB),
			linkedAction: "Microsoft.RecoveryServices/vaults/backupPolicies/read", linkedScope: rsPolB},
		{name: "Recovery Services restore target", method: "POST", path: item("rga") + "/recoveryPoints/1/restore?api-version=2024-04-01",
			body:         fmt.Sprintf(`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryType":"RestoreDisks","sourceResourceId":%q,"targetResourceGroupId":%q,"region":"westus"}}`, vmA, e.rgb),
			linkedAction: "Microsoft.Compute/disks/write", linkedScope: e.rgb},
		{name: "Recovery Services restore identity-based staging account", method: "POST", path: rsRestore,
			body:         rsRestoreBody(`"recoveryType":"RestoreDisks","targetResourceGroupId":%q,"identityBasedRestoreDetails":{"objectType":"IdentityBasedRestoreDetails","targetStorageAccountId":%q}`, e.rga, stagingB),
			linkedAction: "Microsoft.Storage/storageAccounts/read", linkedScope: stagingB},
		{name: "Recovery Services unmanaged restore (disks in the staging account's group)", method: "POST", path: rsRestore,
			body:         rsRestoreBody(`"recoveryType":"restoredisks","storageAccountId":%q`, stagingB),
			linkedAction: "Microsoft.Compute/disks/write,Microsoft.Storage/storageAccounts/read", linkedScope: e.rgb + "," + stagingB},
		{name: "Recovery Services restore to a new VM (disks in its group)", method: "POST", path: rsRestore,
			body:         rsRestoreBody(`"recoveryType":"AlternateLocation","targetVirtualMachineId":%q`, e.rgb+"/providers/Microsoft.Compute/virtualMachines/vm2"),
			linkedAction: "Microsoft.Compute/disks/write,Microsoft.Compute/virtualMachines/write", linkedScope: e.rgb + "," + e.rgb + "/providers/Microsoft.Compute/virtualMachines/vm2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.checkLinked(t, c) })
	}
}
