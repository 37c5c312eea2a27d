package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// backupStatus and backupPreValidateProtection through the SDK: a
// protected VM is reported with its vault, container, item and policy, and
// protecting it again is refused (in its vault: VirtualMachineAlreadyProtected;
// in another: already protected there; in a vault of another region: cross
// region); an unprotected VM is NotProtected and may be protected. Bad input
// gets ARM errors: unknown VM 404, a region other than the VM's 400, no
// resourceId or vaultId 400, an unknown vault 404; reading the status needs
// read access to the VM (403 LinkedAuthorizationFailed).
func TestBackupStatusAndPreValidate(t *testing.T) {
	e, R, _, vm := protectedApp(t)
	ctx := e.Ctx()
	const v = rsAPI
	other := mkVM(t, e, "vmrg", "other", 0, 1<<20)
	R2 := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv2"
	mkVault(t, e, R2+v, "westus")
	R3 := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv-east"
	mkVault(t, e, R3+v, "eastus")
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)

	st, err := bf.NewBackupStatusClient().Get(ctx, "westus", armrecoveryservicesbackup.BackupStatusRequest{ResourceID: to.Ptr(vm.ID), ResourceType: to.Ptr(armrecoveryservicesbackup.DataSourceTypeVM)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *st.ProtectionStatus != armrecoveryservicesbackup.ProtectionStatusProtected || !strings.EqualFold(*st.VaultID, R) || *st.PolicyName != "DefaultPolicy" ||
		*st.ContainerName != "IaasVMContainer;iaasvmcontainerv2;vmrg;app" || *st.ProtectedItemName != "VM;iaasvmcontainerv2;vmrg;app" ||
		*st.FabricName != armrecoveryservicesbackup.FabricNameAzure || *st.ErrorCode != "Success" {
		t.Fatalf("status of the protected VM: %s", show(st))
	}
	st, err = bf.NewBackupStatusClient().Get(ctx, "westus", armrecoveryservicesbackup.BackupStatusRequest{ResourceID: to.Ptr(other.ID), ResourceType: to.Ptr(armrecoveryservicesbackup.DataSourceTypeVM)}, nil)
	if err != nil || *st.ProtectionStatus != armrecoveryservicesbackup.ProtectionStatusNotProtected || st.VaultID != nil {
		t.Fatalf("status of the unprotected VM: %v %s", err, show(st))
	}

	pre := func(vmID, vaultID string) armrecoveryservicesbackup.PreValidateEnableBackupResponse {
		t.Helper()
		r, err := bf.NewProtectionIntentClient().Validate(ctx, "westus", armrecoveryservicesbackup.PreValidateEnableBackupRequest{
			ResourceID: to.Ptr(vmID), ResourceType: to.Ptr(armrecoveryservicesbackup.DataSourceTypeVM), VaultID: to.Ptr(vaultID), Properties: to.Ptr("")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.PreValidateEnableBackupResponse
	}
	if r := pre(vm.ID, R); *r.Status != armrecoveryservicesbackup.ValidationStatusFailed || *r.ErrorCode != "VirtualMachineAlreadyProtected" ||
		*r.ProtectedItemName != "VM;iaasvmcontainerv2;vmrg;app" || r.Recommendation == nil || r.ErrorMessage == nil {
		t.Fatalf("pre-validation in its own vault: %s", show(r))
	}
	if r := pre(vm.ID, R2); *r.Status != armrecoveryservicesbackup.ValidationStatusFailed || *r.ErrorCode != "BMSUserErrorAlreadyProtected" || !strings.Contains(*r.ErrorMessage, "'rv'") {
		t.Fatalf("pre-validation in another vault: %s", show(r))
	}
	if r := pre(other.ID, R3); *r.Status != armrecoveryservicesbackup.ValidationStatusFailed || *r.ErrorCode != "BMSUserErrorCrossRegionVMNotSupported" {
		t.Fatalf("pre-validation in a vault of another region: %s", show(r))
	}
	if r := pre(other.ID, R2); *r.Status != armrecoveryservicesbackup.ValidationStatusSucceeded || r.ErrorCode != nil {
		t.Fatalf("pre-validation of an unprotected VM: %s", show(r))
	}
	// What it answered is what enabling protection does.
	resp, m := e.Do("PUT", R2+"/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;app/protectedItems/VM;iaasvmcontainerv2;vmrg;app"+v,
		map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm.ID, "policyId": R2 + "/backupPolicies/DefaultPolicy"}})
	if resp.StatusCode != 400 || str(m, "error.code") != "BMSUserErrorAlreadyProtected" {
		t.Fatalf("protect in another vault: %d %v", resp.StatusCode, m)
	}
	protect(t, e, R2+"/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;other/protectedItems/VM;iaasvmcontainerv2;vmrg;other"+v, other.ID, R2+"/backupPolicies/DefaultPolicy")

	L := "/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/locations/"
	missing := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/nope"
	for _, c := range []struct {
		what, path string
		body       map[string]any
		status     int
		code       string
	}{
		{"status of an unknown VM", L + "westus/backupStatus", map[string]any{"resourceType": "VM", "resourceId": missing}, 404, "BMSUserErrorVMNotFound"},
		{"status at another region", L + "eastus/backupStatus", map[string]any{"resourceType": "VM", "resourceId": vm.ID}, 400, "BMSUserErrorLocationMismatch"},
		{"status without resourceId", L + "westus/backupStatus", map[string]any{"resourceType": "VM"}, 400, "BMSUserErrorInvalidInput"},
		{"status of a disk", L + "westus/backupStatus", map[string]any{"resourceType": "VM", "resourceId": vm.OSDiskID}, 400, "BMSUserErrorInvalidInput"},
		{"status of another type", L + "westus/backupStatus", map[string]any{"resourceType": "AzureFileShare", "resourceId": vm.ID}, 400, "BMSUserErrorInvalidInput"},
		{"pre-validation of an unknown VM", L + "westus/backupPreValidateProtection", map[string]any{"resourceType": "VM", "resourceId": missing, "vaultId": R}, 404, "BMSUserErrorVMNotFound"},
		{"pre-validation without vaultId", L + "westus/backupPreValidateProtection", map[string]any{"resourceType": "VM", "resourceId": vm.ID}, 400, "BMSUserErrorInvalidInput"},
		{"pre-validation with a disk as vault", L + "westus/backupPreValidateProtection", map[string]any{"resourceType": "VM", "resourceId": vm.ID, "vaultId": vm.OSDiskID}, 400, "BMSUserErrorInvalidInput"},
		{"pre-validation in an unknown vault", L + "westus/backupPreValidateProtection", map[string]any{"resourceType": "VM", "resourceId": vm.ID, "vaultId": R + "x"}, 404, "ResourceNotFound"},
	} {
		resp, m := e.Do("POST", c.path+v, c.body)
		if resp.StatusCode != c.status || str(m, "error.code") != c.code || str(m, "error.message") == "" {
			t.Errorf("%s: %d %v, want %d %s", c.what, resp.StatusCode, m, c.status, c.code)
		}
	}

	// Reading a VM's backup status needs read access to the VM.
	reader := newPrincipal(t, e, "reader", rbac.BackupReader, "/subscriptions/"+e.Sub)
	body := map[string]any{"resourceType": "VM", "resourceId": vm.ID}
	resp, m = e.Do("POST", L+"westus/backupStatus"+v, map[string]any{"resourceType": "VM", "resourceId": vm.ID}, testserver.As(reader.cred))
	if resp.StatusCode != 403 || str(m, "error.code") != "LinkedAuthorizationFailed" {
		t.Fatalf("status without read access to the VM: %d %v", resp.StatusCode, m)
	}
	grant(t, e, reader.objectID, rbac.Reader, "/subscriptions/"+e.Sub+"/resourceGroups/vmrg")
	e.WaitFor("status with read access to the VM", func() bool {
		resp, m = e.Do("POST", L+"westus/backupStatus"+v, body, testserver.As(reader.cred))
		return resp.StatusCode == 200 && str(m, "protectionStatus") == "Protected"
	})
}

// backupValidateFeatures: a VM of a size and storage SKU can be backed up
// when the size can have disks of that SKU.
func TestValidateFeatures(t *testing.T) {
	e := testserver.Start(t)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	for _, c := range []struct{ size, sku, want string }{
		{"Standard_D2s_v3", "Premium", "Supported"}, {"Standard_DS1_v2", "Premium", "Supported"}, {"Standard_B1ms", "Premium", "Supported"},
		{"Standard_D2_v3", "Premium", "NotSupported"}, {"Basic_A0", "Premium", "NotSupported"}, {"Basic_A0", "Standard", "Supported"},
		{"Standard_D2_v3", "", "Supported"},
	} {
		r, err := bf.NewFeatureSupportClient().Validate(e.Ctx(), "westus", &armrecoveryservicesbackup.AzureVMResourceFeatureSupportRequest{
			FeatureType: to.Ptr("AzureVMResourceBackup"), VMSize: to.Ptr(c.size), VMSKU: to.Ptr(c.sku)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.SupportStatus == nil || string(*r.SupportStatus) != c.want {
			t.Errorf("%s with %q disks: %s, want %s", c.size, c.sku, show(r), c.want)
		}
	}
	u := "/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/locations/westus/backupValidateFeatures?api-version=2024-04-01"
	for _, body := range []map[string]any{
		{"featureType": "AzureVMResourceBackup", "vmSku": "Premium"},
		{"featureType": "AzureVMResourceBackup", "vmSize": "Huge", "vmSku": "Premium"},
		{"featureType": "AzureVMResourceBackup", "vmSize": "Standard_D2s_v3", "vmSku": "Gold"},
		{"featureType": "Other", "vmSize": "Standard_D2s_v3"},
	} {
		resp, m := e.Do("POST", u, body)
		if resp.StatusCode != 400 || str(m, "error.code") != "BMSUserErrorInvalidInput" {
			t.Errorf("%v: %d %v", body, resp.StatusCode, m)
		}
	}
}
