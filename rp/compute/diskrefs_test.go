package compute_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// A disk encryption set through the Go SDK: created with a system-assigned
// identity, listed, updated, named by a disk and a snapshot (its
// associated resources), refused to delete while they name it, and
// deleted once they are gone; a disk naming a set that does not exist is
// refused.
func TestSDKDiskEncryptionSet(t *testing.T) {
	e, ctx := start(t)
	f, err := armcompute.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	sets := f.NewDiskEncryptionSetsClient()
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1"
	key := "https://kv1.vault.azure.net/keys/k1/0123456789abcdef"
	res, err := fixture.Wait(sets.BeginCreateOrUpdate(ctx, e.rg, "des1", armcompute.DiskEncryptionSet{
		Location: to.Ptr("West US"),
		Identity: &armcompute.EncryptionSetIdentity{Type: to.Ptr(armcompute.DiskEncryptionSetIdentityTypeSystemAssigned)},
		Properties: &armcompute.EncryptionSetProperties{
			ActiveKey: &armcompute.KeyForDiskEncryptionSet{KeyURL: to.Ptr(key), SourceVault: &armcompute.SourceVault{ID: to.Ptr(vault)}}},
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	set := res.DiskEncryptionSet
	desID := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.Compute/diskEncryptionSets/des1"
	if !strings.EqualFold(*set.ID, desID) || set.Identity == nil || set.Identity.PrincipalID == nil || *set.Identity.PrincipalID == "" ||
		*set.Properties.EncryptionType != armcompute.DiskEncryptionSetTypeEncryptionAtRestWithCustomerKey ||
		*set.Properties.ActiveKey.KeyURL != key || *set.Properties.ProvisioningState != "Succeeded" || set.Properties.LastKeyRotationTimestamp == nil {
		t.Fatalf("created set: %+v %+v %+v", set, set.Identity, set.Properties)
	}
	principal := *set.Identity.PrincipalID

	// Listed by group and subscription; another group lists none.
	byRG := func(rg string) []string {
		return listIDs(t, sets.NewListByResourceGroupPager(rg, nil), func(p armcompute.DiskEncryptionSetsClientListByResourceGroupResponse) []*armcompute.DiskEncryptionSet {
			return p.Value
		})
	}
	if ids := listIDs(t, sets.NewListPager(nil), func(p armcompute.DiskEncryptionSetsClientListResponse) []*armcompute.DiskEncryptionSet {
		return p.Value
	}); !slices.Equal(ids, []string{*set.ID}) {
		t.Fatalf("list: %v", ids)
	}
	if ids := byRG(e.rg); !slices.Equal(ids, []string{*set.ID}) {
		t.Fatalf("list rg1: %v", ids)
	}
	if ids := byRG("rg2"); len(ids) != 0 {
		t.Fatalf("rg2 lists %v", ids)
	}

	// A new key is a rotation; the principal stays.
	key2 := "https://kv1.vault.azure.net/keys/k1/fedcba9876543210"
	up, err := fixture.Wait(sets.BeginUpdate(ctx, e.rg, "des1", armcompute.DiskEncryptionSetUpdate{
		Tags: map[string]*string{"env": to.Ptr("test")},
		Properties: &armcompute.DiskEncryptionSetUpdateProperties{ActiveKey: &armcompute.KeyForDiskEncryptionSet{KeyURL: to.Ptr(key2)},
			RotationToLatestKeyVersionEnabled: to.Ptr(true)}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if u := up.DiskEncryptionSet; *u.Properties.ActiveKey.KeyURL != key2 || !*u.Properties.RotationToLatestKeyVersionEnabled || *u.Tags["env"] != "test" ||
		*u.Identity.PrincipalID != principal || !u.Properties.LastKeyRotationTimestamp.After(*set.Properties.LastKeyRotationTimestamp) && !u.Properties.LastKeyRotationTimestamp.Equal(*set.Properties.LastKeyRotationTimestamp) {
		t.Fatalf("updated set: %+v %+v", u, u.Properties)
	}

	// Bad input: no key, a key that is not a Key Vault key's URL, an
	// unknown encryption type.
	for _, c := range []struct {
		what string
		p    *armcompute.EncryptionSetProperties
	}{
		{"no key", &armcompute.EncryptionSetProperties{}},
		{"not a key URL", &armcompute.EncryptionSetProperties{ActiveKey: &armcompute.KeyForDiskEncryptionSet{KeyURL: to.Ptr("kv1/k1")}}},
		{"unknown type", &armcompute.EncryptionSetProperties{ActiveKey: &armcompute.KeyForDiskEncryptionSet{KeyURL: to.Ptr(key)}, EncryptionType: to.Ptr(armcompute.DiskEncryptionSetType("Rot13"))}},
	} {
		_, err := fixture.Wait(sets.BeginCreateOrUpdate(ctx, e.rg, "bad", armcompute.DiskEncryptionSet{Location: to.Ptr("westus"), Properties: c.p}, nil))
		testserver.WantError(t, c.what, err, 400, "InvalidParameter")
	}

	// A disk and a snapshot naming the set: its associated resources.
	d := fixture.EmptyDisk("westus", 1)
	d.Properties.Encryption = &armcompute.Encryption{DiskEncryptionSetID: to.Ptr(desID), Type: to.Ptr(armcompute.EncryptionTypeEncryptionAtRestWithCustomerKey)}
	disk := e.putDisk("cmk", d)
	if disk.Properties.Encryption == nil || !strings.EqualFold(*disk.Properties.Encryption.DiskEncryptionSetID, desID) {
		t.Fatalf("disk's encryption: %+v", disk.Properties.Encryption)
	}
	_, err = fixture.Wait(e.snaps.BeginCreateOrUpdate(ctx, e.rg, "cmksnap", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("cmk"))},
		Encryption:   &armcompute.Encryption{DiskEncryptionSetID: to.Ptr(desID)}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var assoc []string
	for p := sets.NewListAssociatedResourcesPager(e.rg, "des1", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Value {
			assoc = append(assoc, strings.ToLower(*v))
		}
	}
	slices.Sort(assoc)
	if want := []string{strings.ToLower(e.diskID("cmk")), strings.ToLower(e.snapID("cmksnap"))}; !slices.Equal(assoc, want) {
		t.Fatalf("associated resources %v, want %v", assoc, want)
	}

	// A set that does not exist: 400, and no disk.
	missing := d
	missing.Properties.Encryption = &armcompute.Encryption{DiskEncryptionSetID: to.Ptr(desID + "x")}
	_, err = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "nocmk", missing, nil))
	if re := testserver.WantError(t, "a missing set", err, 400, "BadRequest"); !strings.Contains(re.Error(), "des1x") {
		t.Fatalf("the refusal does not name the set: %v", re)
	}
	var nf *azcore.ResponseError
	if _, err := e.disks.Get(ctx, e.rg, "nocmk", nil); !errors.As(err, &nf) || nf.StatusCode != 404 {
		t.Fatalf("refused disk exists: %v", err)
	}

	// Deleting the set while they name it: 409 naming them; the set stays.
	_, err = fixture.Wait(sets.BeginDelete(ctx, e.rg, "des1", nil))
	if re := testserver.WantError(t, "delete a set in use", err, 409, "OperationNotAllowed"); !strings.Contains(re.Error(), "cmksnap") {
		t.Fatalf("the refusal does not name the snapshot: %v", re)
	}
	if _, err := sets.Get(ctx, e.rg, "des1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.snaps.BeginDelete(ctx, e.rg, "cmksnap", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.disks.BeginDelete(ctx, e.rg, "cmk", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(sets.BeginDelete(ctx, e.rg, "des1", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := sets.Get(ctx, e.rg, "des1", nil); !errors.As(err, &nf) || nf.StatusCode != 404 {
		t.Fatalf("deleted set: %v", err)
	}
	// Deleting it again: nothing to do (204).
	if _, err := fixture.Wait(sets.BeginDelete(ctx, e.rg, "des1", nil)); err != nil {
		t.Fatal(err)
	}
}

// A disk access through the Go SDK: created, its private link resource
// (the disks group) and no private endpoint connections, named by a
// private disk, refused to delete while it is, deleted once it is not.
func TestSDKDiskAccess(t *testing.T) {
	e, ctx := start(t)
	f, err := armcompute.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	accesses := f.NewDiskAccessesClient()
	res, err := fixture.Wait(accesses.BeginCreateOrUpdate(ctx, e.rg, "da1", armcompute.DiskAccess{Location: to.Ptr("westus")}, nil))
	if err != nil {
		t.Fatal(err)
	}
	a := res.DiskAccess
	if *a.Properties.ProvisioningState != "Succeeded" || a.Properties.TimeCreated == nil || len(a.Properties.PrivateEndpointConnections) != 0 {
		t.Fatalf("created access: %+v", a.Properties)
	}
	up, err := fixture.Wait(accesses.BeginUpdate(ctx, e.rg, "da1", armcompute.DiskAccessUpdate{Tags: map[string]*string{"k": to.Ptr("v")}}, nil))
	if err != nil || *up.Tags["k"] != "v" || !up.Properties.TimeCreated.Equal(*a.Properties.TimeCreated) {
		t.Fatalf("update: %v %+v", err, up)
	}
	if ids := listIDs(t, accesses.NewListPager(nil), func(p armcompute.DiskAccessesClientListResponse) []*armcompute.DiskAccess { return p.Value }); !slices.Equal(ids, []string{*a.ID}) {
		t.Fatalf("list: %v", ids)
	}
	pl, err := accesses.GetPrivateLinkResources(ctx, e.rg, "da1", nil)
	if err != nil || len(pl.Value) != 1 || *pl.Value[0].Properties.GroupID != "disks" {
		t.Fatalf("private link resources: %v %+v", err, pl)
	}
	for p := accesses.NewListPrivateEndpointConnectionsPager(e.rg, "da1", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil || len(page.Value) != 0 {
			t.Fatalf("private endpoint connections: %v %+v", err, page)
		}
	}

	d := fixture.EmptyDisk("westus", 1)
	d.Properties.NetworkAccessPolicy = to.Ptr(armcompute.NetworkAccessPolicyAllowPrivate)
	d.Properties.DiskAccessID = a.ID
	disk := e.putDisk("private", d)
	if disk.Properties.DiskAccessID == nil || !strings.EqualFold(*disk.Properties.DiskAccessID, *a.ID) {
		t.Fatalf("disk's access: %v", disk.Properties.DiskAccessID)
	}
	_, err = fixture.Wait(accesses.BeginDelete(ctx, e.rg, "da1", nil))
	testserver.WantError(t, "delete an access in use", err, 409, "OperationNotAllowed")
	if _, err := fixture.Wait(e.disks.BeginDelete(ctx, e.rg, "private", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(accesses.BeginDelete(ctx, e.rg, "da1", nil)); err != nil {
		t.Fatal(err)
	}
	var nf *azcore.ResponseError
	if _, err := accesses.Get(ctx, e.rg, "da1", nil); !errors.As(err, &nf) || nf.StatusCode != 404 {
		t.Fatalf("deleted access: %v", err)
	}
}

// listIDs are the ids of every resource a pager's pages hold.
func listIDs[P, R any](t *testing.T, p *runtime.Pager[P], values func(P) []*R) []string {
	t.Helper()
	var ids []string
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values(page) {
			b, _ := json.Marshal(v)
			var h struct{ ID string }
			json.Unmarshal(b, &h)
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// setAndOutsider creates the disk encryption set des1 in rg1 (with a
// system-assigned identity) and a principal contributing to rg2 alone;
// it returns the admin's sets client, the set, the principal and its
// compute clients, once its role lets it create the empty disk rg2/disk.
func setAndOutsider(t *testing.T, e *env, ctx context.Context, disk string) (*armcompute.DiskEncryptionSetsClient, armcompute.DiskEncryptionSetsClientCreateOrUpdateResponse, string, *armcompute.ClientFactory) {
	t.Helper()
	f, err := armcompute.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	sets := f.NewDiskEncryptionSetsClient()
	set, err := fixture.Wait(sets.BeginCreateOrUpdate(ctx, e.rg, "des1", armcompute.DiskEncryptionSet{Location: to.Ptr("westus"),
		Identity:   &armcompute.EncryptionSetIdentity{Type: to.Ptr(armcompute.DiskEncryptionSetIdentityTypeSystemAssigned)},
		Properties: &armcompute.EncryptionSetProperties{ActiveKey: &armcompute.KeyForDiskEncryptionSet{KeyURL: to.Ptr("https://kv1.vault.azure.net/keys/k1/1")}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	objectID, cred := fixture.Principal(t, e.Env, "rg2-contributor")
	fixture.Assign(t, e.Env, "/subscriptions/"+e.Sub+"/resourceGroups/rg2", rbac.Contributor, objectID)
	cf, err := armcompute.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	dc := cf.NewDisksClient()
	e.WaitFor("the contributor's role", func() bool {
		_, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg2", disk, fixture.EmptyDisk("westus", 1), nil))
		return err == nil
	})
	return sets, set, objectID, cf
}

// A contributor of rg2 may not name a set of rg1 it cannot read (403
// LinkedAuthorizationFailed naming the set's read, and no disk); once it
// may read that one set, the same disk is created, and the set is not
// deleted while the disk names it.
func TestDiskEncryptionSetLinkedAccess(t *testing.T) {
	e, ctx := start(t)
	sets, set, objectID, cf := setAndOutsider(t, e, ctx, "plain")
	dc := cf.NewDisksClient()
	d := fixture.EmptyDisk("westus", 1)
	d.Properties.Encryption = &armcompute.Encryption{DiskEncryptionSetID: set.ID}
	_, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg2", "cmk", d, nil))
	if re := testserver.WantError(t, "a set the caller may not read", err, 403, "LinkedAuthorizationFailed"); !strings.Contains(re.Error(), "diskEncryptionSets/read") {
		t.Fatalf("the refusal does not name the set's read: %v", re)
	}
	var nf *azcore.ResponseError
	if _, err := dc.Get(ctx, "rg2", "cmk", nil); !errors.As(err, &nf) || nf.StatusCode != 404 {
		t.Fatalf("refused disk exists: %v", err)
	}
	fixture.Assign(t, e.Env, *set.ID, rbac.Reader, objectID)
	e.WaitFor("the reader's role on the set", func() bool {
		_, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg2", "cmk", d, nil))
		return err == nil
	})
	_, err = fixture.Wait(sets.BeginDelete(ctx, e.rg, "des1", nil))
	if re := testserver.WantError(t, "delete a set a disk of another group names", err, 409, "OperationNotAllowed"); !strings.Contains(strings.ToLower(re.Error()), "/resourcegroups/rg2/providers/microsoft.compute/disks/cmk") {
		t.Fatalf("the refusal does not name the disk: %v", re)
	}
}

// A VM's storage profile names disk encryption sets as a disk does
// (managedDisk.diskEncryptionSet.id of its OS and data disks), and they
// are checked the same way: a contributor of rg2 who may not read a set
// of rg1 is refused (403 LinkedAuthorizationFailed naming the set's read,
// and no VM); a set that does not exist is 400 naming it; a readable one
// is accepted, and the disk the VM creates with it names the set, which
// then cannot be deleted.
func TestVMDiskEncryptionSetChecked(t *testing.T) {
	e, ctx := start(t)
	sets, set, objectID, cf := setAndOutsider(t, e, ctx, "os")
	dc, vc := cf.NewDisksClient(), cf.NewVirtualMachinesClient()
	var err error
	osID := "/subscriptions/" + e.Sub + "/resourceGroups/rg2/providers/Microsoft.Compute/disks/os"
	vm := func(osSet, dataSet string) armcompute.VirtualMachine {
		return armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
			StorageProfile: &armcompute.StorageProfile{
				OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
					ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID), DiskEncryptionSet: &armcompute.DiskEncryptionSetParameters{ID: to.Ptr(osSet)}}},
				DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), Name: to.Ptr("data0"), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](1),
					ManagedDisk: &armcompute.ManagedDiskParameters{DiskEncryptionSet: &armcompute.DiskEncryptionSetParameters{ID: to.Ptr(dataSet)}}}}}}}
	}
	_, err = fixture.Wait(vc.BeginCreateOrUpdate(ctx, "rg2", "vm1", vm(*set.ID, *set.ID), nil))
	if re := testserver.WantError(t, "a set the caller may not read", err, 403, "LinkedAuthorizationFailed"); !strings.Contains(re.Error(), "diskEncryptionSets/read") {
		t.Fatalf("the refusal does not name the set's read: %v", re)
	}
	if _, err := vc.Get(ctx, "rg2", "vm1", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("refused VM: %v", err)
	}
	fixture.Assign(t, e.Env, *set.ID, rbac.Reader, objectID)
	// (in rg2, which the caller may read: elsewhere it would learn
	// nothing but a 403)
	missing := "/subscriptions/" + e.Sub + "/resourceGroups/rg2/providers/Microsoft.Compute/diskEncryptionSets/des1x"
	e.WaitFor("the reader's role on the set", func() bool {
		_, err = fixture.Wait(vc.BeginCreateOrUpdate(ctx, "rg2", "vm1", vm(*set.ID, missing), nil))
		return !testserver.HasError(err, 403, "LinkedAuthorizationFailed")
	})
	if re := testserver.WantError(t, "a missing set", err, 400, "BadRequest"); !strings.Contains(re.Error(), "des1x") || !strings.Contains(re.Error(), "dataDisks[0].managedDisk.diskEncryptionSet.id") {
		t.Fatalf("the refusal does not name the missing set and its field: %v", re)
	}
	if _, err := fixture.Wait(vc.BeginCreateOrUpdate(ctx, "rg2", "vm1", vm(*set.ID, *set.ID), nil)); err != nil {
		t.Fatalf("a VM naming a set it may read: %v", err)
	}
	// attachDetachDataDisks checks the set an attached disk names too.
	_, err = fixture.Wait(vc.BeginAttachDetachDataDisks(ctx, "rg2", "vm1", armcompute.AttachDetachDataDisksRequest{DataDisksToAttach: []*armcompute.DataDisksToAttach{{
		DiskID: to.Ptr(osID), Lun: to.Ptr[int32](5), DiskEncryptionSet: &armcompute.DiskEncryptionSetParameters{ID: to.Ptr(missing)}}}}, nil))
	if re := testserver.WantError(t, "attach naming a missing set", err, 400, "BadRequest"); !strings.Contains(re.Error(), "dataDisksToAttach[0].diskEncryptionSet.id") {
		t.Fatalf("the refusal does not name the field: %v", re)
	}
	data, err := dc.Get(ctx, "rg2", "data0", nil)
	if err != nil || data.Properties.Encryption == nil || data.Properties.Encryption.DiskEncryptionSetID == nil || !strings.EqualFold(*data.Properties.Encryption.DiskEncryptionSetID, *set.ID) {
		t.Fatalf("the data disk the VM created: %v %+v", err, data.Properties)
	}
	_, err = fixture.Wait(sets.BeginDelete(ctx, e.rg, "des1", nil))
	if re := testserver.WantError(t, "delete a set a VM's disk names", err, 409, "OperationNotAllowed"); !strings.Contains(strings.ToLower(re.Error()), "/disks/data0") {
		t.Fatalf("the refusal does not name the disk: %v", re)
	}
}

// TestDiskAccessPrivateEndpointConnectionsAnswerAsNone: a disk access lists
// no private endpoint connections (Safehold makes no private endpoints),
// so, through the Go SDK's DiskAccessesClient at the pinned api-version
// and the oldest one that has them (2020-09-30), reading one by name and
// approving it (PUT) are 404 ResourceNotFound naming the connection, and
// deleting it finds nothing to delete (it succeeds); in an access that does
// not exist they are 404 for the access. All three were 404
// InvalidResourceType, saying Azure has no such type, while the list of
// that type answered.
func TestDiskAccessPrivateEndpointConnectionsAnswerAsNone(t *testing.T) {
	e, ctx := start(t)
	for _, v := range []string{"", "2020-09-30"} {
		o := *e.Opts
		o.APIVersion = v
		f, err := armcompute.NewClientFactory(e.Sub, e.Cred, &o)
		if err != nil {
			t.Fatal(err)
		}
		accesses := f.NewDiskAccessesClient()
		if _, err := fixture.Wait(accesses.BeginCreateOrUpdate(ctx, e.rg, "da1", armcompute.DiskAccess{Location: to.Ptr("westus")}, nil)); err != nil {
			t.Fatal(err)
		}
		want := func(what string, err error, code, names string) {
			t.Helper()
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != code || !strings.Contains(re.Error(), names) {
				t.Errorf("%s at %q: %v, want 404 %s naming %s", what, v, err, code, names)
			}
		}
		_, err = accesses.GetAPrivateEndpointConnection(ctx, e.rg, "da1", "pe1.conn", nil)
		want("a connection's read", err, "ResourceNotFound", "diskAccesses/da1/privateEndpointConnections/pe1.conn")
		_, err = fixture.Wait(accesses.BeginUpdateAPrivateEndpointConnection(ctx, e.rg, "da1", "pe1.conn", armcompute.PrivateEndpointConnection{
			Properties: &armcompute.PrivateEndpointConnectionProperties{PrivateLinkServiceConnectionState: &armcompute.PrivateLinkServiceConnectionState{
				Status: to.Ptr(armcompute.PrivateEndpointServiceConnectionStatusApproved)}}}, nil))
		want("a connection's approval", err, "ResourceNotFound", "diskAccesses/da1/privateEndpointConnections/pe1.conn")
		if _, err := fixture.Wait(accesses.BeginDeleteAPrivateEndpointConnection(ctx, e.rg, "da1", "pe1.conn", nil)); err != nil {
			t.Errorf("a connection's delete at %q: %v", v, err)
		}
		_, err = accesses.GetAPrivateEndpointConnection(ctx, e.rg, "nope", "pe1.conn", nil)
		want("a connection of an access that does not exist", err, "ResourceNotFound", "'Microsoft.Compute/diskAccesses/nope'")
		_, err = fixture.Wait(accesses.BeginDeleteAPrivateEndpointConnection(ctx, e.rg, "nope", "pe1.conn", nil))
		want("a connection's delete in an access that does not exist", err, "ResourceNotFound", "'Microsoft.Compute/diskAccesses/nope'")
	}
}
