package recoveryservices_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKVaultIdentities: a Recovery Services vault's identity through the
// Go SDK, as Azure stores and echoes it: user-assigned identities keep their
// principal across writes, a PATCH merges user-assigned identities (null
// removes one) and keeps the system-assigned principal, SystemAssigned
// drops the user-assigned ones, None drops everything; malformed
// identities are 400s naming the field.
func TestSDKVaultIdentities(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	uami2 := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id2"
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	ua := func(ids ...string) map[string]*armrecoveryservices.UserIdentity {
		m := map[string]*armrecoveryservices.UserIdentity{}
		for _, id := range ids {
			m[id] = &armrecoveryservices.UserIdentity{}
		}
		return m
	}
	patch := func(id *armrecoveryservices.IdentityData) (*armrecoveryservices.Vault, error) {
		pl, err := vc.BeginUpdate(ctx, "vaultrg", "v1", armrecoveryservices.PatchVault{Identity: id}, nil)
		if err != nil {
			return nil, err
		}
		r, err := pl.PollUntilDone(ctx, fixture.Poll)
		return &r.Vault, err
	}

	body := fixture.StandardVault()
	body.Identity = &armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: ua(uami)}
	v := fixture.RSVault(t, e, "vaultrg", "v1", body)
	if v.Identity == nil || *v.Identity.Type != armrecoveryservices.ResourceIdentityTypeUserAssigned || v.Identity.PrincipalID != nil ||
		v.Identity.UserAssignedIdentities[uami] == nil || v.Identity.UserAssignedIdentities[uami].PrincipalID == nil || v.Identity.UserAssignedIdentities[uami].ClientID == nil {
		t.Fatalf("user-assigned vault identity %+v", v.Identity)
	}
	principal := *v.Identity.UserAssignedIdentities[uami].PrincipalID

	// The same identity keeps its principal on another PUT and on a GET.
	v = fixture.RSVault(t, e, "vaultrg", "v1", body)
	if got, err := vc.Get(ctx, "vaultrg", "v1", nil); err != nil || *got.Identity.UserAssignedIdentities[uami].PrincipalID != principal ||
		*v.Identity.UserAssignedIdentities[uami].PrincipalID != principal {
		t.Fatalf("identity principal changed: %v %+v", err, got.Identity)
	}

	// PATCH both kinds with a second identity: the first is kept (merge),
	// a system principal is made.
	pv, err := patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned), UserAssignedIdentities: ua(uami2)})
	if err != nil || *pv.Identity.Type != armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned || pv.Identity.PrincipalID == nil ||
		len(pv.Identity.UserAssignedIdentities) != 2 || *pv.Identity.UserAssignedIdentities[uami].PrincipalID != principal {
		t.Fatalf("PATCH both kinds: %v %+v", err, pv)
	}
	system := *pv.Identity.PrincipalID

	// null removes one user-assigned identity; the system principal stays.
	pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned),
		UserAssignedIdentities: map[string]*armrecoveryservices.UserIdentity{uami2: nil}})
	if err != nil || len(pv.Identity.UserAssignedIdentities) != 1 || pv.Identity.UserAssignedIdentities[uami] == nil || *pv.Identity.PrincipalID != system {
		t.Fatalf("PATCH removing %s: %v %+v", uami2, err, pv.Identity)
	}

	// SystemAssigned drops the user-assigned identities, keeps the principal.
	pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssigned)})
	if err != nil || *pv.Identity.Type != armrecoveryservices.ResourceIdentityTypeSystemAssigned || len(pv.Identity.UserAssignedIdentities) != 0 || *pv.Identity.PrincipalID != system {
		t.Fatalf("PATCH SystemAssigned: %v %+v", err, pv.Identity)
	}

	// None: no identity.
	if pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeNone)}); err != nil || pv.Identity != nil {
		t.Fatalf("PATCH None: %v %+v", err, pv)
	}
	if got, err := vc.Get(ctx, "vaultrg", "v1", nil); err != nil || got.Identity != nil {
		t.Fatalf("GET after None: %v %+v", err, got.Identity)
	}

	// Malformed identities are 400s naming the field, on PUT and PATCH.
	var re *azcore.ResponseError
	for _, c := range []struct {
		id    *armrecoveryservices.IdentityData
		field string
	}{
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned)}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: ua("/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Compute/disks/d1")}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssigned), UserAssignedIdentities: ua(uami)}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityType("Magic"))}, "identity.type"},
	} {
		bad := fixture.StandardVault()
		bad.Identity = c.id
		pl, err := vc.BeginCreateOrUpdate(ctx, "vaultrg", "bad", bad, nil)
		if err == nil {
			_, err = pl.PollUntilDone(ctx, fixture.Poll)
		}
		if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("PUT identity %+v: %v", c.id, err)
		}
		if _, err := patch(c.id); !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("PATCH identity %+v: %v", c.id, err)
		}
	}
}
