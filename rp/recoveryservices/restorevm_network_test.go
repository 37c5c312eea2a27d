package recoveryservices_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/google/uuid"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/rbac"
)

// mkVNet creates the virtual network id (10.0.0.0/16, westus) with the
// subnet name of prefix.
func mkVNet(t *testing.T, e *testserver.Env, id, name, prefix string) {
	t.Helper()
	resp, m := e.Do("PUT", id+"?api-version=2022-01-01", map[string]any{"location": "westus", "properties": map[string]any{
		"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/16"}},
		"subnets":      []any{map[string]any{"name": name, "properties": map[string]any{"addressPrefix": prefix}}}}})
	must(t, "create "+id, resp, m, 200, 201)
}

// TestRestoreToANewVMInASubnetGivesItANIC: a restore to a new VM naming a
// virtual network and subnet (az backup restore restore-disks
// --target-vm-name --target-vnet-name --target-subnet-name) is refused at
// once (400, naming the field) when the subnet does not exist or is not
// the network's; one that fails after its VM is made leaves no network
// interface; one that succeeds gives the VM {vm}-nic, in the subnet with
// its first free address, deleteOption Delete, which the VM's delete
// deletes. Before, the ids were checked for shape only and the VM had no
// network interface.
func TestRestoreToANewVMInASubnetGivesItANIC(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg", "netrg")
	ctx := e.Ctx()
	net := "/subscriptions/" + e.Sub + "/resourceGroups/netrg/providers/Microsoft.Network/virtualNetworks/"
	for _, v := range []string{"vnet1", "vnet2"} {
		mkVNet(t, e, net+v, "default", "10.0.0.0/24")
	}
	target := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r"
	nic := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Network/networkInterfaces/vm1r-nic"
	staging := mkStorage(t, e, "stagerg", "staging1")
	triggerAs := func(bf *armrecoveryservicesbackup.ClientFactory, vnet, subnet string) error {
		rr := restoreDisks(e, rp, staging)
		rr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
		rr.TargetVirtualMachineID = to.Ptr(target)
		rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
		rr.VirtualNetworkID, rr.SubnetID = to.Ptr(net+vnet), to.Ptr(net+subnet)
		poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
		if err != nil {
			return err
		}
		_, err = fixture.Wait(poller, nil)
		return err
	}
	trigger := func(vnet, subnet string) error { return triggerAs(bf, vnet, subnet) }
	for _, c := range []struct{ vnet, subnet, field string }{
		{"vnet1", "vnet1/subnets/missing", "properties.subnetId"},
		{"vnet3", "vnet3/subnets/default", "properties.subnetId"},
		{"vnet2", "vnet1/subnets/default", "properties.subnetId"},
	} {
		err := trigger(c.vnet, c.subnet)
		if !testserver.HasError(err, http.StatusBadRequest, "BMSUserErrorInvalidRestoreInput") || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("a restore into %s: %v, want 400 BMSUserErrorInvalidRestoreInput naming %s", c.subnet, err, c.field)
		}
	}

	// The restore creates the interface on the caller's behalf: a caller
	// who may create the VM and its disks in newrg, and join the subnet,
	// but not write network interfaces there is refused, naming the
	// interface (before, it was accepted and the interface made).
	sub := "/subscriptions/" + e.Sub
	role := uuid.NewString()
	if resp, m := e.Do("PUT", sub+"/providers/Microsoft.Authorization/roleDefinitions/"+role+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": "compute only", "type": "CustomRole",
		"permissions":      []any{map[string]any{"actions": []string{"Microsoft.Compute/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}}},
		"assignableScopes": []string{sub}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	pid, cred := fixture.Principal(t, e, "no-nics")
	for _, rg := range []string{"vaultrg", "vmrg", "stagerg", "netrg"} {
		fixture.Assign(t, e, sub+"/resourceGroups/"+rg, rbac.Contributor, pid)
	}
	fixture.Assign(t, e, sub+"/resourceGroups/newrg", role, pid)
	noNICs, err := armrecoveryservicesbackup.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := triggerAs(noNICs, "vnet1", "vnet1/subnets/default"); !testserver.HasError(err, http.StatusForbidden, "LinkedAuthorizationFailed") ||
		!strings.Contains(err.Error(), "Microsoft.Network/networkInterfaces/write") || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(nic)) {
		t.Fatalf("a restore by a caller who may not write network interfaces in newrg: %v, want 403 LinkedAuthorizationFailed naming %s", err, nic)
	}
	if resp, _ := e.Do("GET", nic+"?api-version=2022-01-01", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused restore's interface: %d, want 404", resp.StatusCode)
	}

	// A restore failing once its VM is made deletes the VM's interface too.
	if _, err := e.Server.Faults.Add(fault.Rule{Name: "aftervm", Operation: fault.OpRestore, Path: "*/virtualMachines/vm1r", Code: "UserErrorVmProvisioningFailed", Count: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := trigger("vnet1", "vnet1/subnets/default"); !testserver.HasError(err, 0, "UserErrorVmProvisioningFailed") {
		t.Fatalf("the restore: %v, want the rule's UserErrorVmProvisioningFailed", err)
	}
	if n := e.FaultRuleHits("aftervm"); n != -1 {
		t.Fatalf("the rule (count 1) is still there, %d hits: it did not match the VM", n)
	}
	testsvc.WaitWithin(t, time.Minute, "the VM and the interface the failed restore made to go", func() bool {
		e.Server.Jobs.Notify()
		resp, _ := e.Do("GET", target+"?api-version=2024-03-01", nil, testserver.AnyStatus())
		nresp, _ := e.Do("GET", nic+"?api-version=2022-01-01", nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusNotFound && nresp.StatusCode == http.StatusNotFound
	})

	if err := trigger("vnet1", "vnet1/subnets/default"); err != nil {
		t.Fatalf("the restore into vnet1/default: %v", err)
	}
	resp, vm := e.Do("GET", target+"?api-version=2024-03-01", nil)
	must(t, "get the restored VM", resp, vm, 200)
	nics, _ := testserver.Field(vm, "properties.networkProfile.networkInterfaces").([]any)
	if len(nics) != 1 {
		t.Fatalf("the restored VM's network interfaces: %v, want %s", testserver.Field(vm, "properties.networkProfile"), nic)
	}
	if n := nics[0].(map[string]any); !strings.EqualFold(str(n, "id"), nic) || str(n, "properties.deleteOption") != "Delete" {
		t.Fatalf("the restored VM's network interface: %v, want %s with deleteOption Delete", n, nic)
	}
	resp, n := e.Do("GET", nic+"?api-version=2022-01-01", nil)
	must(t, "get the VM's interface", resp, n, 200)
	ipc, _ := testserver.Field(n, "properties.ipConfigurations").([]any)
	if !strings.EqualFold(str(n, "properties.virtualMachine.id"), target) || len(ipc) != 1 ||
		str(ipc[0].(map[string]any), "properties.privateIPAddress") != "10.0.0.4" || !strings.EqualFold(str(ipc[0].(map[string]any), "properties.subnet.id"), net+"vnet1/subnets/default") {
		t.Fatalf("the VM's interface: %v, want it in vnet1/default at 10.0.0.4, used by the VM", n)
	}
	// The VM's delete deletes its interface (deleteOption Delete).
	resp, m := e.Do("DELETE", target+"?api-version=2024-03-01", nil)
	must(t, "delete the restored VM", resp, m, 200, 202, 204)
	testsvc.WaitWithin(t, time.Minute, "the VM's interface to go with it", func() bool {
		nresp, _ := e.Do("GET", nic+"?api-version=2022-01-01", nil, testserver.AnyStatus())
		return nresp.StatusCode == http.StatusNotFound
	})
}

// TestRestoreToANewVMAsTheVaultNeedsJoinOnTheSubnet: a restore to a new VM
// in a subnet acting as the vault's managed identity (identityInfo, az
// backup restore restore-disks --mi-system-assigned) is refused at once
// when the vault has no such identity (400 naming properties.identityInfo)
// and when the identity may not join the subnet (403 AuthorizationFailed
// naming it); granted Network Contributor on the network's group, it
// restores. Before, the vault's identity was not looked at.
func TestRestoreToANewVMAsTheVaultNeedsJoinOnTheSubnet(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg", "netrg")
	ctx := e.Ctx()
	net := "/subscriptions/" + e.Sub + "/resourceGroups/netrg/providers/Microsoft.Network/virtualNetworks/vnet1"
	mkVNet(t, e, net, "default", "10.0.0.0/24")
	staging := mkStorage(t, e, "stagerg", "staging1")
	rr := restoreDisks(e, rp, staging)
	rr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	rr.TargetVirtualMachineID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r")
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	rr.VirtualNetworkID, rr.SubnetID = to.Ptr(net), to.Ptr(net+"/subnets/default")
	rr.IdentityInfo = &armrecoveryservicesbackup.IdentityInfo{IsSystemAssignedIdentity: to.Ptr(true)}
	trigger := func() error {
		poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
		if err != nil {
			return err
		}
		_, err = fixture.Wait(poller, nil)
		return err
	}
	if err := trigger(); !testserver.HasError(err, http.StatusBadRequest, "BMSUserErrorInvalidRestoreInput") || !strings.Contains(err.Error(), "properties.identityInfo") {
		t.Fatalf("a restore as a vault without an identity: %v, want 400 naming properties.identityInfo", err)
	}
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1"
	resp, m := e.Do("PATCH", vault+"?api-version=2023-04-01", map[string]any{"identity": map[string]any{"type": "SystemAssigned"}})
	must(t, "give the vault its identity", resp, m, 200, 202)
	resp, m = e.Do("GET", vault+"?api-version=2023-04-01", nil)
	principal := str(m, "identity.principalId")
	if principal == "" {
		t.Fatalf("the vault's identity: %v", m)
	}
	if err := trigger(); !testserver.HasError(err, http.StatusForbidden, "AuthorizationFailed") || !strings.Contains(err.Error(), principal) {
		t.Fatalf("a restore as a vault whose identity may not join the subnet: %v, want 403 naming %s", err, principal)
	}
	grant(t, e, principal, rbac.NetworkContributor, "/subscriptions/"+e.Sub+"/resourceGroups/netrg")
	// It reaches the staging account as that identity too
	// (TestRestoreStagingAndRegion).
	grant(t, e, principal, rbac.StorageAccountContributor, staging)
	var err error
	e.WaitFor("the restore allowed", func() bool {
		err = trigger()
		return !testserver.HasError(err, http.StatusForbidden, "")
	})
	if err != nil {
		t.Fatalf("the restore as the vault, allowed: %v", err)
	}
	resp, n := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/newrg/providers/Microsoft.Network/networkInterfaces/vm1r-nic?api-version=2022-01-01", nil)
	must(t, "the restored VM's interface", resp, n, 200)
}

// TestRestoreToANewVMInAFullSubnetSaysSo: a restore to a new VM in a
// subnet with no free address fails its job with the network's code
// (SubnetIsFull) and message, and leaves nothing. Before, the job ended
// UserErrorRestoreFailed recommending to retry and look for the job id in
// the log, which fails the same way.
func TestRestoreToANewVMInAFullSubnetSaysSo(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg", "netrg")
	ctx := e.Ctx()
	net := "/subscriptions/" + e.Sub + "/resourceGroups/netrg/providers/Microsoft.Network/virtualNetworks/vnet1"
	mkVNet(t, e, net, "small", "10.0.0.0/29")
	for _, n := range []string{"n1", "n2", "n3"} { // .4, .5 and .6: Azure keeps .0 to .3 and .7
		resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/netrg/providers/Microsoft.Network/networkInterfaces/"+n+"?api-version=2022-01-01", map[string]any{"location": "westus",
			"properties": map[string]any{"ipConfigurations": []any{map[string]any{"name": "c", "properties": map[string]any{"subnet": map[string]any{"id": net + "/subnets/small"}}}}}})
		must(t, "create "+n, resp, m, 200, 201)
	}
	rr := restoreDisks(e, rp, mkStorage(t, e, "stagerg", "staging1"))
	rr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	target := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r"
	rr.TargetVirtualMachineID = to.Ptr(target)
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	rr.VirtualNetworkID, rr.SubnetID = to.Ptr(net), to.Ptr(net+"/subnets/small")
	poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(poller, nil); !testserver.HasError(err, 0, "SubnetIsFull") {
		t.Fatalf("the restore into a full subnet: %v, want SubnetIsFull", err)
	}
	page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("restore jobs: %v %v", page.Value, err)
	}
	job, _ := page.Value[0].Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	if job == nil || *job.Status != "Failed" || len(job.ErrorDetails) == 0 || *job.ErrorDetails[0].ErrorTitle != "SubnetIsFull" || len(job.ErrorDetails[0].Recommendations) != 0 {
		t.Fatalf("the restore job: %+v, want Failed with SubnetIsFull and no advice to retry", job)
	}
	testsvc.WaitWithin(t, time.Minute, "the disks the failed restore made to go", func() bool {
		e.Server.Jobs.Notify()
		resp, _ := e.Do("GET", target+"?api-version=2024-03-01", nil, testserver.AnyStatus())
		ds, err := e.Server.Compute.ListDisks(ctx, "/subscriptions/"+e.Sub+"/resourceGroups/newrg")
		return resp.StatusCode == http.StatusNotFound && err == nil && len(ds) == 0
	})
}
