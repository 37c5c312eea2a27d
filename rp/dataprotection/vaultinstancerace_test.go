package dataprotection_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultDeletedWhileAnInstanceIsPut DELETEs a Backup vault through the
// Go SDK while a backup instance is PUT into it, round after round: one of
// them wins. Either the PUT is accepted (201), its configuration ends
// Succeeded, no job of the vault stays InProgress and the DELETE is 400
// UserErrorVaultHasBackupInstances; or the DELETE removes the vault and the
// PUT is refused (404) and the disk is free: a backup instance of it in
// another vault is configured. The DELETE checked the
// vault empty, then cascaded over the instances it found when it removed
// the vault (and the transaction that removed it deleted whatever was
// under it): an instance whose PUT got 201 after the check was deleted
// with the vault, or left holding its disk (brief inputs28).
func TestVaultDeletedWhileAnInstanceIsPut(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx() // (2 minutes: the setup's; each round has its own)
	e.ResourceGroups("vault-rg", "disk-rg", "snapshot-rg")
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	vc, pc, bic, jc := f.NewBackupVaultsClient(), f.NewBackupPoliciesClient(), f.NewBackupInstancesClient(), f.NewJobsClient()
	snapshotRG := "/subscriptions/" + e.Sub + "/resourceGroups/snapshot-rg"
	start := fixture.ScheduleStart(e)
	// vault makes a vault with soft delete Off (a deleted instance does
	// not stay in it), the roles its instances need, and policy p.
	vault := func(name string) string {
		vp, err := vc.BeginCreateOrUpdate(ctx, "vault-rg", name, armdataprotection.BackupVaultResource{
			Location: to.Ptr("westus"), Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
			Properties: &armdataprotection.BackupVault{StorageSettings: []*armdataprotection.StorageSetting{{
				DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}},
				SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOff)}}}}, nil)
		principal := *fixture.Done(t, vp, err).Identity.PrincipalID
		assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disk-rg", roleDiskBackupReader, principal)
		assign(t, e, snapshotRG, roleDiskSnapshotContributor, principal)
		pol, err := pc.CreateOrUpdate(ctx, "vault-rg", name, "p", fixture.DiskPolicyFrom(start, "PT4H", "P7D", ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		return *pol.ID
	}
	instance := func(diskID, name, policyID string) armdataprotection.BackupInstanceResource {
		return armdataprotection.BackupInstanceResource{Properties: &armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr(name),
			DataSourceInfo: fixture.Datasource(diskID, name),
			PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: to.Ptr(policyID), PolicyParameters: &armdataprotection.PolicyParameters{
				DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
					ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
					ResourceGroupID: to.Ptr(snapshotRG)}}}}}}
	}
	keeperPolicy := vault("keeper")
	const rounds = 24
	put, deleted := 0, 0
	for i := range rounds {
		ctx = e.Ctx()
		name := fmt.Sprintf("race%d", i)
		diskName := fmt.Sprintf("d%d", i)
		diskID := "/subscriptions/" + e.Sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/" + diskName
		newDisk(t, e, diskID, 8<<20, byte(i))
		policyID := vault(name)

		var delErr error
		var wg sync.WaitGroup
		// (Jitter, in turn before either request: it spreads one over the
		// other's steps.)
		jitter := time.Duration(i/2%10) * 300 * time.Microsecond
		wg.Go(func() {
			if i%2 == 0 {
				time.Sleep(jitter)
			}
			delErr = waitErr(vc.BeginDelete(ctx, "vault-rg", name, nil))
		})
		if i%2 == 1 {
			time.Sleep(jitter)
		}
		var raw *http.Response
		p, putErr := bic.BeginCreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "vault-rg", name, "bi", instance(diskID, diskName, policyID), nil)
		wg.Wait()

		var re *azcore.ResponseError
		if putErr == nil {
			put++
			if raw == nil || raw.StatusCode != http.StatusCreated {
				t.Fatalf("round %d: the instance's PUT answered %v, want 201", i, raw)
			}
			if !errors.As(delErr, &re) || re.StatusCode != 400 || re.ErrorCode != "UserErrorVaultHasBackupInstances" {
				_, getErr := bic.Get(ctx, "vault-rg", name, "bi", nil)
				t.Fatalf("round %d: the instance's PUT got 201 and the vault's DELETE ended with %v, want 400 UserErrorVaultHasBackupInstances; the instance now: %v", i, delErr, getErr)
			}
			res, err := fixture.Wait(p, nil)
			if err != nil || res.Properties == nil || *res.Properties.ProvisioningState != "Succeeded" {
				t.Fatalf("round %d: the configuration of the instance that won: %v %v", i, err, res.Properties)
			}
			for page := range fixture.Pages(t, jc.NewListPager("vault-rg", name, nil)) {
				for _, j := range page.Value {
					if st := *j.Properties.Status; st == "InProgress" {
						t.Fatalf("round %d: job %s (%s) of the vault is %s after the instance's configuration ended", i, *j.Name, *j.Properties.OperationCategory, st)
					}
				}
			}
			if err := waitErr(bic.BeginDelete(ctx, "vault-rg", name, "bi", nil)); err != nil {
				t.Fatalf("round %d: delete the instance: %v", i, err)
			}
			if err := waitErr(vc.BeginDelete(ctx, "vault-rg", name, nil)); err != nil {
				t.Fatalf("round %d: delete the emptied vault: %v", i, err)
			}
		} else {
			deleted++
			if delErr != nil {
				t.Fatalf("round %d: the instance's PUT (%v) and the vault's DELETE (%v) both failed", i, putErr, delErr)
			}
			if !errors.As(putErr, &re) || re.StatusCode != 404 {
				t.Fatalf("round %d: the instance's PUT into a vault being deleted: %v, want 404", i, putErr)
			}
		}
		if _, err := vc.Get(ctx, "vault-rg", name, nil); !errors.As(err, &re) || re.StatusCode != 404 {
			t.Fatalf("round %d: the vault after its delete: %v, want 404", i, err)
		}
		if putErr == nil {
			continue // (the instance's own DELETE freed the disk)
		}
		// The disk is free: nothing left holds it.
		kp, err := bic.BeginCreateOrUpdate(ctx, "vault-rg", "keeper", diskName, instance(diskID, diskName, keeperPolicy), nil)
		if err != nil {
			t.Fatalf("round %d: the disk in another vault after the race: %v", i, err)
		}
		if _, err := fixture.Wait(kp, nil); err != nil {
			t.Fatalf("round %d: configure the disk in another vault: %v", i, err)
		}
		if err := waitErr(bic.BeginDelete(ctx, "vault-rg", "keeper", diskName, nil)); err != nil {
			t.Fatalf("round %d: delete the keeper's instance: %v", i, err)
		}
	}
	t.Logf("%d rounds: the instance won %d, the vault's DELETE %d", rounds, put, deleted)
}
