package server_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"

	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultNameChecksNeedTheGroupAndTheType: both vault kinds'
// checkNameAvailability (at a resource group) answer 404
// ResourceGroupNotFound for a group that does not exist, as ARM does for
// any request below a missing group, and a Backup vault's 400
// InvalidResourceType for a type that is not its own, as a Recovery
// Services vault's already did: both answered a missing group's name
// available, and a Backup vault's check of any type (Microsoft.Compute/disks)
// too.
func TestVaultNameChecksNeedTheGroupAndTheType(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1")
	ctx := e.Ctx()
	dp := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	rs, err := armrecoveryservices.NewClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	loc := "westus"
	dpCheck := func(rg, typ string) (bool, error) {
		r, err := dp.CheckNameAvailability(ctx, rg, loc, armdataprotection.CheckNameAvailabilityRequest{Name: to.Ptr("vault9"), Type: to.Ptr(typ)}, nil)
		return r.NameAvailable != nil && *r.NameAvailable, err
	}
	rsCheck := func(rg string) (bool, error) {
		r, err := rs.CheckNameAvailability(ctx, rg, loc, armrecoveryservices.CheckNameAvailabilityParameters{Name: to.Ptr("vault9"), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
		return r.NameAvailable != nil && *r.NameAvailable, err
	}
	if ok, err := dpCheck("rg1", "Microsoft.DataProtection/BackupVaults"); err != nil || !ok {
		t.Fatalf("Backup vault name in rg1: %v %v", ok, err)
	}
	if ok, err := rsCheck("rg1"); err != nil || !ok {
		t.Fatalf("Recovery Services vault name in rg1: %v %v", ok, err)
	}
	_, err = dpCheck("nosuchrg", "Microsoft.DataProtection/BackupVaults")
	testserver.WantError(t, "Backup vault name in a missing group", err, http.StatusNotFound, "ResourceGroupNotFound")
	_, err = rsCheck("nosuchrg")
	testserver.WantError(t, "Recovery Services vault name in a missing group", err, http.StatusNotFound, "ResourceGroupNotFound")
	_, err = dpCheck("rg1", "Microsoft.Compute/disks")
	testserver.WantError(t, "Backup vault name check of another type", err, http.StatusBadRequest, "InvalidResourceType")
	// A location that is none (ARM's answer to a location-based
	// operation's): both answered the name available.
	loc = "mars"
	_, err = dpCheck("rg1", "Microsoft.DataProtection/BackupVaults")
	testserver.WantError(t, "Backup vault name at locations/mars", err, http.StatusBadRequest, "LocationNotAvailableForResourceType")
	_, err = rsCheck("rg1")
	testserver.WantError(t, "Recovery Services vault name at locations/mars", err, http.StatusBadRequest, "LocationNotAvailableForResourceType")
	loc = "West US" // a display name is a location too
	if ok, err := dpCheck("rg1", "Microsoft.DataProtection/BackupVaults"); err != nil || !ok {
		t.Errorf("Backup vault name at locations/West US: %v %v", ok, err)
	}
}
