package recoveryservices_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/volume"
)

// must checks a status code.
func must(t *testing.T, what string, resp *http.Response, m map[string]any, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if resp.StatusCode == c {
			return
		}
	}
	t.Fatalf("%s: status %d, want %v: %v", what, resp.StatusCode, codes, m)
}

func str(m map[string]any, path string) string {
	v := testserver.Field(m, path)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// mkVault creates a Recovery Services vault (Standard) with a PUT to url.
func mkVault(t *testing.T, e *testserver.Env, url, location string) {
	t.Helper()
	resp, m := e.Do("PUT", url, map[string]any{"location": location, "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)
	fixture.QuietPolicies(t, e, strings.SplitN(url, "?", 2)[0])
}

// vaultAndVM starts a server with the resource groups vmrg and vaultrg, a
// VM vmrg/name with a 1 MiB OS disk and the vault rv (a PUT at
// vaultVersion, "?api-version=…"); it returns the server, the vault's path,
// the path of the VM's protected item and the VM.
func vaultAndVM(t *testing.T, name, vaultVersion string) (*testserver.Env, string, string, *compute.VM) {
	t.Helper()
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg")
	vm := mkVM(t, e, "vmrg", name, 0, 1<<20)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+vaultVersion, "westus")
	return e, R, R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + name + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + name, vm
}

// rsAPI is the api-version query of the tests that need no other.
const rsAPI = "?api-version=2024-04-01"

// protectedApp starts a server with the VM vmrg/app protected in the vault
// vaultrg/rv (DefaultPolicy); it returns the server, the vault's path, the item's path
// and the VM.
func protectedApp(t *testing.T) (*testserver.Env, string, string, *compute.VM) {
	t.Helper()
	e, R, I, vm := vaultAndVM(t, "app", rsAPI)
	protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	return e, R, I, vm
}

// protect protects a VM with a policy (PUT of the protected item at url).
func protect(t *testing.T, e *testserver.Env, url, vmID, policyID string) {
	t.Helper()
	resp, m := e.Do("PUT", url, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vmID, "policyId": policyID}})
	must(t, "protect", resp, m, 202)
}

// mkVM creates a VM with an OS disk and nData data disks of size bytes each.
func mkVM(t *testing.T, e *testserver.Env, rg, name string, nData int, size int64) *compute.VM {
	t.Helper()
	return mkVMIn(t, e, rg, name, "westus", nData, size)
}

// mkVMIn creates a VM in location with an OS disk and nData data disks of
// size bytes each, through the compute service.
func mkVMIn(t *testing.T, e *testserver.Env, rg, name, location string, nData int, size int64) *compute.VM {
	t.Helper()
	ctx := context.Background()
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/"
	os, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + name + "-os", Location: location, CreateOption: "Empty", SizeBytes: size, OSType: "Linux"})
	if err != nil {
		t.Fatal(err)
	}
	spec := compute.VMSpec{ID: "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name,
		Location: location, OSDiskID: os.ID, OSType: "Linux", VMSize: "Standard_D2s_v3", HardwareProfile: map[string]any{"vmSize": "Standard_D2s_v3"}}
	for i := 0; i < nData; i++ {
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: fmt.Sprintf("%s%s-data%d", base, name, i), Location: location, CreateOption: "Empty", SizeBytes: size})
		if err != nil {
			t.Fatal(err)
		}
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: int32(i), DiskID: d.ID, Name: d.Name})
	}
	vm, err := cs.CreateVM(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// waitNoContent polls an operation's Location (loc) until it stops
// answering 202; its answer must then be 204.
func waitNoContent(t *testing.T, e *testserver.Env, what, loc string) {
	t.Helper()
	e.WaitFor(what, func() bool {
		resp, m := e.Do("GET", loc, nil)
		if resp.StatusCode == 202 {
			return false
		}
		must(t, what+" result", resp, m, 204)
		return true
	})
}

// vaultEnv starts a server with the resource groups vaultrg and more, and a
// standard Recovery Services vault named vault in vaultrg; it returns the
// server and a client factory of the vaults SDK.
func vaultEnv(t *testing.T, vault string, more ...string) (*testserver.Env, *armrecoveryservices.ClientFactory) {
	t.Helper()
	e := testserver.StartWithGroups(t, append([]string{"vaultrg"}, more...)...)
	fixture.RSVault(t, e, "vaultrg", vault, fixture.StandardVault())
	return e, testserver.Factory(e, armrecoveryservices.NewClientFactory)
}

// armVM creates 1 GiB disks and a VM with them through armcompute.
func armVM(t *testing.T, e *testserver.Env, rg, name string, nData int) *compute.VM {
	t.Helper()
	ctx := e.Ctx()
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	disk := func(n string) string {
		d, err := fixture.Wait(cf.NewDisksClient().BeginCreateOrUpdate(ctx, rg, n, fixture.EmptyDisk("westus", 1), nil))
		if err != nil {
			t.Fatal(err)
		}
		return *d.ID
	}
	sp := &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
		ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(disk(name + "-os"))}}}
	for i := 0; i < nData; i++ {
		sp.DataDisks = append(sp.DataDisks, &armcompute.DataDisk{Lun: to.Ptr(int32(i)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(disk(fmt.Sprintf("%s-data%d", name, i)))}})
	}
	res, err := fixture.Wait(cf.NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)}, StorageProfile: sp}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	vm, err := e.Server.Compute.VM(ctx, *res.ID)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// readSAS reads the first n bytes of a disk through a read SAS (the
// page-blob data plane), then revokes access.
func readSAS(t *testing.T, e *testserver.Env, diskID string, n int64) []byte {
	t.Helper()
	pc, revoke := fixture.DiskAccessByID(t, e, diskID, armcompute.AccessLevelRead)
	defer revoke()
	return fixture.ReadPages(t, pc, 0, n)
}

// vm1Container and vm1Item are the protection container and the protected
// item of the VM vmrg/vm1 in a vault's Azure fabric.
const vm1Container, vm1Item = "IaasVMContainer;iaasvmcontainerv2;vmrg;vm1", "VM;iaasvmcontainerv2;vmrg;vm1"

// vm1ID is the resource id of the VM vmrg/vm1.
func vm1ID(e *testserver.Env) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/vm1"
}

// protectVM1 protects vmrg/vm1 in vaultrg/v1 with DefaultPolicy through the SDK.
func protectVM1(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory) {
	t.Helper()
	policyID := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/backupPolicies/DefaultPolicy"
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vm1ID(e)), PolicyID: to.Ptr(policyID)}}, nil); err != nil {
		t.Fatal(err)
	}
}

// protectAndBackUp protects vmrg/vm1 in vaultrg/v1 with DefaultPolicy,
// backs it up once and returns the recovery point's name.
func protectAndBackUp(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory) string {
	t.Helper()
	ctx := e.Ctx()
	protectVM1(t, e, bf)
	if _, err := bf.NewBackupsClient().Trigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	rp := waitPoint(t, e, bf, func(*armrecoveryservicesbackup.RecoveryPointResource) bool { return true })
	e.WaitFor("backup job", func() bool {
		page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Backup'")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Value) == 1 && *page.Value[0].Properties.GetJob().Status == "Completed"
	})
	return rp
}

// backedUpVM1 starts a server with the standard vault vaultrg/v1 and the
// resource groups vmrg and more, creates the VM vmrg/vm1 with nData data
// disks (1 MiB each), protects it with DefaultPolicy and backs it up once.
// It returns the server, a client factory of the backup SDK and the
// recovery point's name.
func backedUpVM1(t *testing.T, nData int, more ...string) (*testserver.Env, *armrecoveryservicesbackup.ClientFactory, string) {
	t.Helper()
	e, _ := vaultEnv(t, "v1", append([]string{"vmrg"}, more...)...)
	mkVM(t, e, "vmrg", "vm1", nData, 1<<20)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	return e, bf, protectAndBackUp(t, e, bf)
}

// vm1Point protects and backs up vmrg/vm1 (protectAndBackUp) and returns
// the recovery point as the SDK reads it.
func vm1Point(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory) *armrecoveryservicesbackup.IaasVMRecoveryPoint {
	t.Helper()
	rp := protectAndBackUp(t, e, bf)
	p, err := bf.NewRecoveryPointsClient().Get(e.Ctx(), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip, ok := p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint)
	if !ok {
		t.Fatalf("recovery point properties %T, want IaasVMRecoveryPoint", p.Properties)
	}
	return ip
}

// vm1PointID is the resource id of the recovery point rp of vmrg/vm1 in vaultrg/v1.
func vm1PointID(e *testserver.Env, rp string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/backupFabrics/Azure/protectionContainers/" +
		vm1Container + "/protectedItems/" + vm1Item + "/recoveryPoints/" + rp
}

// restoreDisks is a RestoreDisks request of the point rp of vmrg/vm1 with
// the staging account sa (and the data disks of luns only, when given;
// every disk otherwise: an empty restoreDiskLunList, which the SDK sends
// for an empty slice, restores the OS disk alone).
func restoreDisks(e *testserver.Env, rp, sa string, luns ...int32) *armrecoveryservicesbackup.IaasVMRestoreRequest {
	rr := &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: to.Ptr(rp),
		RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: to.Ptr(vm1ID(e)), StorageAccountID: to.Ptr(sa),
		Region: to.Ptr("westus"), CreateNewCloudService: to.Ptr(false), OriginalStorageAccountOption: to.Ptr(false)}
	if len(luns) > 0 {
		rr.RestoreDiskLunList = to.SliceOfPtrs(luns...)
	}
	return rr
}

// validationOf is the request that validates the restore rr of the
// recovery point rpID.
func validationOf(rpID string, rr *armrecoveryservicesbackup.IaasVMRestoreRequest) armrecoveryservicesbackup.ValidateOperationRequestResource {
	return armrecoveryservicesbackup.ValidateOperationRequestResource{ID: to.Ptr(rpID),
		Properties: &armrecoveryservicesbackup.ValidateIaasVMRestoreOperationRequest{ObjectType: to.Ptr("ValidateIaasVMRestoreOperationRequest"), RestoreRequest: rr}}
}

// validateRestore validates the restore rr of the recovery point rpID
// synchronously (backupValidateOperation) and returns what it reports.
func validateRestore(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory, rpID string, rr *armrecoveryservicesbackup.IaasVMRestoreRequest) []*armrecoveryservicesbackup.ErrorDetail {
	t.Helper()
	res, err := bf.NewOperationClient().Validate(e.Ctx(), "v1", "vaultrg", validationOf(rpID, rr), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ValidateOperationResponse == nil {
		t.Fatalf("validation answered no validateOperationResponse")
	}
	return res.ValidateOperationResponse.ValidationResults
}

// triggerValidation validates the restore rr of the recovery point rpID as
// an operation (backupTriggerValidateOperation), polls it to its end, and
// returns what the operation's result and its status report (the status
// must be Succeeded and carry the validation).
func triggerValidation(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory, rpID string, rr *armrecoveryservicesbackup.IaasVMRestoreRequest) (result, status []*armrecoveryservicesbackup.ErrorDetail) {
	t.Helper()
	ctx := e.Ctx()
	var raw *http.Response
	vp, err := bf.NewValidateOperationClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", validationOf(rpID, rr), nil)
	if err != nil {
		t.Fatal(err)
	}
	opID := testserver.OpID(t, raw.Header.Get("Location"))
	if _, err := vp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	res, err := bf.NewValidateOperationResultsClient().Get(ctx, "v1", "vaultrg", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ValidateOperationResponse == nil {
		t.Fatalf("triggered validation's result has no validateOperationResponse")
	}
	st, err := bf.NewValidateOperationStatusesClient().Get(ctx, "v1", "vaultrg", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	ext, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusValidateOperationExtendedInfo)
	if *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded || !ok || ext.ValidateOperationResponse == nil {
		t.Fatalf("triggered validation status %+v %#v", st.OperationStatus, st.Properties)
	}
	return res.ValidateOperationResponse.ValidationResults, ext.ValidateOperationResponse.ValidationResults
}

// restoreVM1 triggers the restore rr of the point rp of vmrg/vm1 through
// the SDK and polls it to its end.
func restoreVM1(e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory, rp string, rr *armrecoveryservicesbackup.IaasVMRestoreRequest) error {
	ctx := e.Ctx()
	p, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
	if err != nil {
		return err
	}
	_, err = p.PollUntilDone(ctx, fixture.Poll)
	return err
}

// advanceClock moves the server's clock on by duration (ISO 8601, such as
// P1D), running the scheduled work of the window.
func advanceClock(t *testing.T, e *testserver.Env, duration string) {
	t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", map[string]string{"duration": duration})
	must(t, "clock advance "+duration, resp, m, 200)
}

// backsUpADayLater checks that the item of v is still scheduled: a day on,
// it has more Backup jobs than before.
func backsUpADayLater(t *testing.T, e *testserver.Env, v *fixture.VMVault) {
	t.Helper()
	jc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewBackupJobsClient()
	backups := func() int {
		return testserver.Count(t, e.Ctx(), jc.NewListPager(v.Vault, v.RG, &armrecoveryservicesbackup.BackupJobsClientListOptions{
			Filter: to.Ptr("operation eq 'Backup'")}))
	}
	before := backups()
	advanceClock(t, e, "P1D")
	if after := backups(); after <= before {
		t.Fatalf("backups of %s a day later: %d, before %d", v.Item, after, before)
	}
}

const faultRules = "/providers/Safehold.Admin/faultRules?api-version=2024-01-01"

func readDisk(t *testing.T, cs *compute.Service, id string) []byte {
	t.Helper()
	v, err := cs.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, v.Size())
	if _, err := v.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitPoint waits until vmrg/vm1's newest recovery point in vaultrg/v1
// meets ok and returns its name.
func waitPoint(t *testing.T, e *testserver.Env, bf *armrecoveryservicesbackup.ClientFactory, ok func(*armrecoveryservicesbackup.RecoveryPointResource) bool) string {
	t.Helper()
	var rp string
	e.WaitFor("recovery point", func() bool {
		page, err := bf.NewRecoveryPointsClient().NewListPager("v1", "vaultrg", "Azure", vm1Container, vm1Item, nil).NextPage(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) == 0 || !ok(page.Value[0]) {
			return false
		}
		rp = *page.Value[0].Name
		return true
	})
	return rp
}

// clockedVM starts a server on a fake clock set to start, with the resource
// groups vmrg, vaultrg and restorerg and a VM named name in vmrg (a 1 MiB OS
// disk, no data disk); it returns the server, its clock, the VM and the
// volume of the VM's OS disk.
func clockedVM(t *testing.T, start time.Time, name string) (*testserver.Env, *clock.Fake, *compute.VM, *volume.Volume) {
	t.Helper()
	clk := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(clk))
	e.ResourceGroups("vmrg", "vaultrg", "restorerg")
	vm := mkVM(t, e, "vmrg", name, 0, 1<<20)
	vol, err := e.Server.Compute.Volume(context.Background(), vm.OSDiskID)
	if err != nil {
		t.Fatal(err)
	}
	return e, clk, vm, vol
}
