package dataprotection_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// sdkVersions are the oldest Data Protection api-version and the newest
// stable and preview ones, as a caller pinning one sends them.
func sdkVersions() []string {
	stable, preview := "", ""
	for _, v := range arm.APIVersionsDataProtection {
		if arm.IsPreviewVersion(v) {
			preview = max(preview, v)
		} else {
			stable = max(stable, v)
		}
	}
	return []string{"2021-01-01", stable, preview}
}

// versionFactory is a client factory of the SDK sending api-version v.
func versionFactory(t *testing.T, e *testserver.Env, v string) *armdataprotection.ClientFactory {
	t.Helper()
	o := *e.Opts
	o.APIVersion = v
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDiskInstanceTakesOnlyWhatADiskHas: a disk backup instance is
// checked for what Azure's disk datasource has, through the Go SDK at the
// oldest and newest api-versions, by its PUT and by validateForBackup: backup
// datasource parameters (of AKS clusters and blob containers) and
// datasource credentials (a secret store, of databases) are 400 naming the
// field (a disk is read with the vault's identity); a datasource set other
// than the disk itself (a disk is its own set, as an AKS cluster is) is 400
// naming dataSourceSetInfo.resourceID. One naming the disk in another case
// is answered as the disk (its id, name, type and location), and the
// snapshot resource group as the group's id. Before, all of them were
// stored and answered as sent.
func TestDiskInstanceTakesOnlyWhatADiskHas(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	for i, v := range sdkVersions() {
		f := versionFactory(t, e, v)
		rg, diskRG, snapRG := fmt.Sprintf("vault-rg%d", i), fmt.Sprintf("disk-rg%d", i), fmt.Sprintf("snap-rg%d", i)
		e.ResourceGroups(rg, diskRG, snapRG)
		snapRGID := "/subscriptions/" + e.Sub + "/resourceGroups/" + snapRG
		diskID, _ := fixture.Disk(t, e, diskRG, "data", 1, 0)
		principal := *fixture.BackupVault(t, e, rg, "vault").Identity.PrincipalID
		fixture.Assign(t, e, diskID, fixture.RoleDiskBackupReader, principal)
		fixture.Assign(t, e, snapRGID, fixture.RoleDiskSnapshotContributor, principal)
		pol, err := f.NewBackupPoliciesClient().CreateOrUpdate(ctx, rg, "vault", "p1", fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", ""), nil)
		if err != nil {
			t.Fatalf("policy at %s: %v", v, err)
		}
		instance := func(snapshotRG string) *armdataprotection.BackupInstance {
			return &armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), DataSourceInfo: fixture.Datasource(diskID, "data"),
				PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
					DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
						ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
						ResourceGroupID: to.Ptr(snapshotRG)}}}}}
		}
		set := func(id string) *armdataprotection.DatasourceSet {
			return &armdataprotection.DatasourceSet{ObjectType: to.Ptr("DatasourceSet"), DatasourceType: to.Ptr("Microsoft.Compute/disks"), ResourceID: to.Ptr(id)}
		}
		bis := f.NewBackupInstancesClient()
		for _, c := range []struct {
			name, field string
			change      func(*armdataprotection.BackupInstance)
		}{
			{"AKS backup parameters", "policyInfo.policyParameters.backupDatasourceParametersList[0]", func(bi *armdataprotection.BackupInstance) {
				bi.PolicyInfo.PolicyParameters.BackupDatasourceParametersList = []armdataprotection.BackupDatasourceParametersClassification{&armdataprotection.KubernetesClusterBackupDatasourceParameters{
					ObjectType: to.Ptr("KubernetesClusterBackupDatasourceParameters"), IncludeClusterScopeResources: to.Ptr(true), SnapshotVolumes: to.Ptr(true)}}
			}},
			{"blob backup parameters", "policyInfo.policyParameters.backupDatasourceParametersList[0]", func(bi *armdataprotection.BackupInstance) {
				bi.PolicyInfo.PolicyParameters.BackupDatasourceParametersList = []armdataprotection.BackupDatasourceParametersClassification{&armdataprotection.BlobBackupDatasourceParameters{
					ObjectType: to.Ptr("BlobBackupDatasourceParameters"), ContainersList: []*string{to.Ptr("c1")}}}
			}},
			{"secret store credentials", "datasourceAuthCredentials", func(bi *armdataprotection.BackupInstance) {
				bi.DatasourceAuthCredentials = &armdataprotection.SecretStoreBasedAuthCredentials{ObjectType: to.Ptr("SecretStoreBasedAuthCredentials"),
					SecretStoreResource: &armdataprotection.SecretStoreResource{SecretStoreType: to.Ptr(armdataprotection.SecretStoreTypeAzureKeyVault), URI: to.Ptr("https://kv1.vault.azure.net/secrets/s1")}}
			}},
			{"another disk as the set", "dataSourceSetInfo.resourceID", func(bi *armdataprotection.BackupInstance) {
				bi.DataSourceSetInfo = set(strings.Replace(diskID, "/disks/data", "/disks/other", 1))
			}},
			{"the disk's group as the set", "dataSourceSetInfo.resourceID", func(bi *armdataprotection.BackupInstance) {
				bi.DataSourceSetInfo = set("/subscriptions/" + e.Sub + "/resourceGroups/" + diskRG)
			}},
			{"a set of another type", "dataSourceSetInfo.datasourceType", func(bi *armdataprotection.BackupInstance) {
				bi.DataSourceSetInfo = set(diskID)
				bi.DataSourceSetInfo.DatasourceType = to.Ptr("Microsoft.ContainerService/managedClusters")
			}},
		} {
			bi := instance(snapRGID)
			c.change(bi)
			_, err := bis.BeginCreateOrUpdate(ctx, rg, "vault", "bi1", armdataprotection.BackupInstanceResource{Properties: bi}, nil)
			if !refusedNaming(err, "properties."+c.field) {
				t.Errorf("PUT with %s at %s: %v, want 400 naming properties.%s", c.name, v, err, c.field)
			}
			_, err = bis.BeginValidateForBackup(ctx, rg, "vault", armdataprotection.ValidateForBackupRequest{BackupInstance: bi}, nil)
			if !refusedNaming(err, "backupInstance."+c.field) {
				t.Errorf("validateForBackup with %s at %s: %v, want 400 naming backupInstance.%s", c.name, v, err, c.field)
			}
		}
		if _, err := bis.Get(ctx, rg, "vault", "bi1", nil); !testserver.HasError(err, 404, "ResourceNotFound") {
			t.Fatalf("the instance after refused PUTs at %s: %v, want 404", v, err)
		}

		// The disk as its own set, named in another case, and the snapshot
		// group spelled otherwise: answered as the disk and the group.
		bi := instance(strings.Replace(strings.ToUpper(snapRGID), "/SUBSCRIPTIONS/"+strings.ToUpper(e.Sub)+"/RESOURCEGROUPS/", "/subscriptions/"+e.Sub+"/resourcegroups/", 1))
		bi.DataSourceSetInfo = set(strings.ToLower(diskID))
		if _, err := fixture.Wait(bis.BeginValidateForBackup(ctx, rg, "vault", armdataprotection.ValidateForBackupRequest{BackupInstance: bi}, nil)); err != nil {
			t.Fatalf("validateForBackup with the disk as its set at %s: %v", v, err)
		}
		if _, err := fixture.Wait(bis.BeginCreateOrUpdate(ctx, rg, "vault", "bi1", armdataprotection.BackupInstanceResource{Properties: bi}, nil)); err != nil {
			t.Fatalf("PUT with the disk as its set at %s: %v", v, err)
		}
		got, err := bis.Get(ctx, rg, "vault", "bi1", nil)
		if err != nil {
			t.Fatal(err)
		}
		p := got.Properties
		if s := p.DataSourceSetInfo; s == nil || *s.ResourceID != diskID || *s.ResourceName != "data" || *s.ResourceType != "Microsoft.Compute/disks" ||
			*s.DatasourceType != "Microsoft.Compute/disks" || *s.ObjectType != "DatasourceSet" || *s.ResourceLocation != "westus" {
			t.Errorf("the instance's datasource set at %s: %+v, want the disk %s", v, s, diskID)
		}
		ds := p.PolicyInfo.PolicyParameters.DataStoreParametersList
		if len(ds) != 1 || *ds[0].(*armdataprotection.AzureOperationalStoreParameters).ResourceGroupID != snapRGID {
			t.Errorf("the instance's snapshot resource group at %s: %+v, want %s", v, ds[0], snapRGID)
		}
		if p.PolicyInfo.PolicyParameters.BackupDatasourceParametersList != nil || p.DatasourceAuthCredentials != nil {
			t.Errorf("the instance at %s has backup parameters %v and credentials %v", v, p.PolicyInfo.PolicyParameters.BackupDatasourceParametersList, p.DatasourceAuthCredentials)
		}
	}
}
