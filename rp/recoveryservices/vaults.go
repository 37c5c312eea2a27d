package recoveryservices

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

const vaultType = "Microsoft.RecoveryServices/vaults"

// Vault is a Recovery Services vault as the wire shows it.
type Vault struct {
	arm.TrackedResource
	Etag       string          `json:"etag,omitempty"`
	SKU        *VaultSKU       `json:"sku,omitempty"`
	Identity   *VaultIdentity  `json:"identity,omitempty"`
	Properties map[string]any  `json:"properties"`
	SystemData *arm.SystemData `json:"systemData,omitempty"`
}

// VaultSKU is the vault's sku.
type VaultSKU struct {
	Name     string `json:"name"`
	Tier     string `json:"tier,omitempty"`
	Family   string `json:"family,omitempty"`
	Size     string `json:"size,omitempty"`
	Capacity string `json:"capacity,omitempty"`
}

// VaultIdentity is the vault's managed identity (resource.SetIdentity has
// the rules both vault kinds share).
type VaultIdentity = resource.Identity

// identityKinds: a Recovery Services vault spells the identity with both
// kinds "SystemAssigned, UserAssigned" (its spec's enum).
var identityKinds = resource.IdentityKinds{Both: "SystemAssigned, UserAssigned"}

// vaultRecord is what the store keeps for a vault.
type vaultRecord struct {
	Vault
	UniqueID string `json:"safeholdUniqueId"`
}

func (pr *Provider) vaultIDOf(r *arm.Request) arm.ResourceID {
	return vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("vaultName"))
}

// loadVault reads a vault, 404 if absent.
func (pr *Provider) loadVault(ctx context.Context, rd store.Reader, id arm.ResourceID) (*vaultRecord, error) {
	var v vaultRecord
	if err := resource.Get(ctx, rd, id, &v); err != nil {
		return nil, err
	}
	v.Location = resource.NormLocation(v.Location) // records from before locations were normalized
	return &v, nil
}

// vaultOf reads the vault a backup request addresses.
func (pr *Provider) vaultOf(r *arm.Request) (*vaultRecord, arm.ResourceID, error) {
	id := pr.vaultIDOf(r)
	v, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, id)
	if err != nil {
		return nil, id, err
	}
	return v, vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), v.Name), nil
}

// foundVaultID is the id of the vault a request addresses (404 when it
// does not exist), as the vault spells its name.
// Only the vault's name is read from its document (resource.GetShared: not
// decoded again while it is unchanged).
func (pr *Provider) foundVaultID(r *arm.Request) (arm.ResourceID, error) {
	id := pr.vaultIDOf(r)
	n, err := resource.GetShared[resource.Named](r.HTTP.Context(), store.Prefetched(r.HTTP.Context(), pr.p.Store), id)
	if err != nil {
		return id, err
	}
	return vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), n.Name), nil
}

// vaultAndBody resolves the vault a POST addresses and decodes its body,
// which may be absent, into in.
func (pr *Provider) vaultAndBody(r *arm.Request, in any) (arm.ResourceID, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return vid, err
	}
	return vid, r.DecodeOptional(in)
}

// vaultFilter resolves the vault a request addresses and parses its
// $filter, which may name only fields.
func (pr *Provider) vaultFilter(r *arm.Request, fields ...string) (arm.ResourceID, map[string]string, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return vid, nil, err
	}
	f, err := parseFilter(r.Query("$filter"), fields...)
	return vid, f, err
}

// decodeVault decodes a vault PUT or PATCH body and checks what both share:
// the verify tags and the caller's access to each user-assigned identity it
// gives the vault (Azure's linked check: assign action on the identity).
func decodeVault(r *arm.Request, in *Vault) error {
	if err := r.Decode(in); err != nil {
		return err
	}
	if err := checkVaultProperties(in.Properties); err != nil {
		return err
	}
	if err := r.CheckLinked(append(arm.AssignLinks(resource.AssignIdentity, in.Identity.UserAssignedIDs()), kekLink(in.Properties))...); err != nil {
		return err
	}
	return protection.CheckVerifyTags(in.Tags)
}

// kekLink is the link of the user-assigned identity a vault's properties
// reach its customer-managed key with
// (encryption.kekIdentity.userAssignedIdentity): the assign action, as for
// the vault's own identities.
func kekLink(p map[string]any) arm.Link {
	enc, _ := p["encryption"].(map[string]any)
	kek, _ := enc["kekIdentity"].(map[string]any)
	id, _ := kek["userAssignedIdentity"].(string)
	return arm.LinkTo(resource.AssignIdentity, id)
}

func (pr *Provider) putVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, rg, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("vaultName")
	var in Vault
	if err := decodeVault(r, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Location) == "" {
		return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition: set 'location' to the vault's region, e.g. 'westus'.")
	}
	if err := resource.CheckLocation(in.Location, vaultType); err != nil {
		return nil, err
	}
	if in.SKU != nil && in.SKU.Name != "" && !strings.EqualFold(in.SKU.Name, "Standard") && !strings.EqualFold(in.SKU.Name, "RS0") {
		return nil, arm.BadRequest("InvalidSkuName", "The sku name '%s' is invalid: use 'Standard' or 'RS0'.", in.SKU.Name)
	}
	if in.Identity != nil {
		if _, _, _, err := identityKinds.ParseIdentityType(in.Identity.Type); err != nil {
			return nil, err
		}
	}
	id := vaultID(sub, rg, name)
	now := pr.p.Now()
	created := false
	var out vaultRecord
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.CheckResourceGroup(ctx, tx, sub, rg); err != nil {
			return err
		}
		old, err := pr.loadVault(ctx, tx, id)
		if arm.IsNotFound(err) {
			// The naming rules apply to a new vault: one an earlier
			// release created under rules since tightened (a name
			// starting with a digit) stays updatable.
			if err := validateVaultName(name); err != nil {
				return err
			}
			created = true
			old = &vaultRecord{UniqueID: uuid.NewString()}
			old.Name = name
		} else if err != nil {
			return err
		}
		// If-Match / If-None-Match again against the vault this write
		// replaces: the router's check read it before this transaction.
		if err := r.CheckConditions(!created, old.Etag); err != nil {
			return err
		}
		if !created && !strings.EqualFold(resource.NormLocation(old.Location), resource.NormLocation(in.Location)) {
			return arm.Conflict("LocationNotAvailableForResourceType", "The vault '%s' exists in location '%s'; it cannot move to '%s'. Delete it first or use its location.", old.Name, old.Location, in.Location)
		}
		out = *old
		out.Type = vaultType
		if created || old.ID == "" {
			out.ID = vaultID(sub, rg, old.Name).String()
		} // else the vault keeps its id as created, whatever the casing of the path that updates it
		out.Location = resource.NormLocation(in.Location)
		// A PUT of an existing vault that omits tags keeps them, as Azure's
		// Recovery Services vaults do: Azure's PUT examples (an update of
		// the existing vault swaggerExample, answered 200) document the tags
		// an earlier update set and the request does not send, and az
		// resource tag had to move from PUT to PATCH to change a Recovery
		// Services vault's tags (azure-cli#11588). Tags sent replace them.
		if created || in.Tags != nil {
			out.Tags = in.Tags
		}
		// Azure echoes the sku name the caller sent (Standard or RS0). Its
		// examples disagree (PUTVault.json documents RS0 for a Standard
		// request, PUTVault_WithUserAssignedIdentity.json, the same request,
		// documents Standard, as every GET, list and PATCH example does);
		// clients rely on the echo: Terraform's azurerm reads sku.name back
		// into a `sku = "Standard"` configuration with no diff suppression.
		skuName := "RS0"
		if in.SKU != nil && strings.EqualFold(in.SKU.Name, "Standard") {
			skuName = "Standard"
		} else if in.SKU == nil && old.SKU != nil && old.SKU.Name != "" {
			skuName = old.SKU.Name
		}
		out.SKU = &VaultSKU{Name: skuName, Tier: "Standard"}
		if err := pr.applyIdentity(ctx, tx, &out, in.Identity, false); err != nil {
			return err
		}
		out.Properties = mergeVaultProperties(old.Properties, in.Properties)
		if err := checkOneWaySettings(old.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.guardImmutability(r, id, old.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.softDeleteToConfig(ctx, tx, r, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := redundancyToConfig(ctx, tx, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := encryptionToConfig(ctx, tx, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.saveVault(ctx, tx, r, id, &out, now); err != nil {
			return err
		}
		if created {
			return pr.createDefaultPolicies(ctx, tx, vaultID(sub, rg, old.Name), now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.CreatedOrOK(created, out.Vault), nil
}

func (pr *Provider) patchVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in Vault
	if err := decodeVault(r, &in); err != nil {
		return nil, err
	}
	id := pr.vaultIDOf(r)
	var out vaultRecord
	op := &ops.Operation{Kind: opKindVault, ResourceID: id.String(), Caller: r.Caller()}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		v, err := pr.loadVault(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := r.CheckConditions(true, v.Etag); err != nil {
			return err
		}
		out = *v
		if in.Tags != nil {
			out.Tags = in.Tags
		}
		if err := pr.applyIdentity(ctx, tx, &out, in.Identity, true); err != nil {
			return err
		}
		out.Properties = patchVaultProperties(v.Properties, in.Properties)
		if err := checkOneWaySettings(v.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.guardImmutability(r, id, v.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.softDeleteToConfig(ctx, tx, r, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := redundancyToConfig(ctx, tx, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := encryptionToConfig(ctx, tx, id, in.Properties, out.Properties); err != nil {
			return err
		}
		if err := pr.saveVault(ctx, tx, r, id, &out, pr.p.Now()); err != nil {
			return err
		}
		op.Result, op.ResultStatus = mustJSON(out.Vault), http.StatusOK
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	// Azure answers a vault PATCH as an operation: 202 with both polling
	// headers; the operation result is the vault.
	vid := vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), out.Name).String()
	return arm.Accepted().Async(r, vid+"/operationStatus/"+op.ID, vid+"/operationResults/"+op.ID), nil
}

// saveVault stores a vault that r changed at now (a new etag, its
// systemData touched by the caller) and plans its verify runs anew.
func (pr *Provider) saveVault(ctx context.Context, tx store.Tx, r *arm.Request, id arm.ResourceID, v *vaultRecord, now time.Time) error {
	v.Etag = nextETag(v.Etag, now)
	v.SystemData = arm.Touch(v.SystemData, r.Caller(), now)
	if err := markMUA(ctx, tx, id, v); err != nil {
		return err
	}
	if err := resource.Put(ctx, tx, id, v); err != nil {
		return err
	}
	return pr.Engine.PlanVerify(ctx, tx, engineVault(v))
}

// vaultOperationResult answers GET vault/operationResults/{id}: 202 while
// the operation runs, then 200 with the vault (the spec allows 200 and 202
// only: an operation without a body of its own answers the vault as it is
// now).
func (pr *Provider) vaultOperationResult(r *arm.Request) (*arm.Response, error) {
	resp, err := armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	if err != nil || resp.Status != http.StatusNoContent {
		return resp, err
	}
	v, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, pr.vaultIDOf(r))
	if err != nil {
		return nil, err
	}
	return arm.OK(v.Vault), nil
}

// applyIdentity sets the vault's identity from a request's (nil: kept as
// it is) by resource.SetIdentity: the system-assigned principal is kept
// across writes and deleted when dropped, each user-assigned identity is
// checked and answered with its own principal; merge (PATCH) adds the given
// user-assigned identities to the vault's and removes those given as null.
// A vault with identity None answers no identity.
func (pr *Provider) applyIdentity(ctx context.Context, tx store.Tx, v *vaultRecord, in *VaultIdentity, merge bool) error {
	if in == nil {
		return nil
	}
	out, err := pr.p.SetIdentity(ctx, tx, identityKinds, v.ID, v.Identity, in, merge)
	if err != nil {
		return err
	}
	if out.Type == "None" {
		out = nil
	}
	v.Identity = out
	return nil
}

// mergeVaultProperties is old's properties overlaid with in's, with the
// defaults filled in.
// immutabilityOf is the immutabilitySettings.state of vault properties p
// ("" when none).
func immutabilityOf(p map[string]any) string {
	ss, _ := p["securitySettings"].(map[string]any)
	im, _ := ss["immutabilitySettings"].(map[string]any)
	st, _ := im["state"].(string)
	return st
}

// checkImmutability refuses a write that changes a vault's locked
// immutability (properties old to new): as in Azure, Locked cannot be
// undone. Security settings sent without immutabilitySettings keep the
// vault's.
func checkImmutability(old, new map[string]any) error {
	from, to := immutabilityOf(old), immutabilityOf(new)
	if from != "" && to == "" {
		if ss, ok := new["securitySettings"].(map[string]any); ok {
			ss["immutabilitySettings"] = map[string]any{"state": from}
			return nil
		}
	}
	if strings.EqualFold(from, "Locked") && !strings.EqualFold(to, "Locked") {
		return arm.BadRequestAt("properties.securitySettings.immutabilitySettings.state", "UserErrorImmutabilityStateLocked",
			"The vault's immutability is Locked, which cannot be changed to '%s': a locked vault stays immutable. Leave immutabilitySettings.state Locked (or out of the request).", to)
	}
	return nil
}

// checkOneWaySettings holds the vault settings Azure does not let a write
// undo (properties old to new): immutability Locked (checkImmutability)
// and cross-subscription restore PermanentlyDisabled ("cannot be
// re-enabled"); a write that leaves either out keeps it.
func checkOneWaySettings(old, new map[string]any) error {
	if err := checkImmutability(old, new); err != nil {
		return err
	}
	return vaultface.KeepFinal("BMSUserErrorInvalidInput", "properties", old, new, "PermanentlyDisabled",
		"restoreSettings", "crossSubscriptionRestoreSettings", "crossSubscriptionRestoreState")
}

func mergeVaultProperties(old, in map[string]any) map[string]any {
	props := map[string]any{}
	for k, v := range old {
		props[k] = v
	}
	for k, v := range in {
		props[k] = v
	}
	fillVaultProperties(props)
	return props
}

// patchVaultProperties applies a PATCH's properties to old as a JSON merge
// patch (RFC 7396, as ARM PATCH works): nested objects merge field by
// field, null removes a field; the defaults are then filled in.
func patchVaultProperties(old, in map[string]any) map[string]any {
	props := vaultface.MergePatch(old, in)
	fillVaultProperties(props)
	return props
}

func fillVaultProperties(p map[string]any) {
	p["provisioningState"] = "Succeeded"
	// A customer-managed key's identity is the system-assigned one only
	// when the caller says so.
	if enc, ok := p["encryption"].(map[string]any); ok {
		if kek, ok := enc["kekIdentity"].(map[string]any); ok {
			if _, set := kek["useSystemAssignedIdentity"]; !set {
				kek["useSystemAssignedIdentity"] = false
			}
		}
	}
	if _, ok := p["publicNetworkAccess"]; !ok {
		p["publicNetworkAccess"] = "Enabled"
	}
	if _, ok := p["backupStorageVersion"]; !ok {
		p["backupStorageVersion"] = "V2"
	}
	if _, ok := p["redundancySettings"]; !ok {
		p["redundancySettings"] = map[string]any{"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Disabled"}
	}
	if _, ok := p["securitySettings"]; !ok {
		p["securitySettings"] = map[string]any{"softDeleteSettings": map[string]any{"softDeleteState": "Disabled", "softDeleteRetentionPeriodInDays": 14},
			"immutabilitySettings": map[string]any{"state": "Disabled"}}
	}
	if _, ok := p["privateEndpointStateForBackup"]; !ok {
		p["privateEndpointStateForBackup"] = "None"
		p["privateEndpointStateForSiteRecovery"] = "None"
	}
}

const etagLayout = "2006-01-02T15:04:05.0000000Z"

func etagAt(t time.Time) string {
	return `W/"datetime'` + strings.ReplaceAll(t.UTC().Format(etagLayout), ":", "%3A") + `'"`
}

// nextETag is the etag of a vault written at now whose etag was old: the
// time of the write, as Azure's, but always another than old, so that an
// If-Match of the version before refuses a write (two writes at one
// instant of a frozen clock, or one moved back, had the same etag): 100
// ns, the etag's precision, after old's time when now is not later.
func nextETag(old string, now time.Time) string {
	if t, err := time.Parse(etagLayout, strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(old, `W/"datetime'`), `'"`), "%3A", ":")); err == nil && !now.Truncate(100).After(t) {
		now = t.Add(100)
	}
	return etagAt(now)
}

func validateVaultName(name string) error {
	if len(name) < 2 || len(name) > 50 {
		return arm.BadRequest("InvalidResourceName", "The vault name '%s' is invalid: it must be 2 to 50 characters long.", name)
	}
	for i, c := range name {
		ok := c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok || i == 0 && (c == '-' || c >= '0' && c <= '9') {
			return arm.BadRequest("InvalidResourceName", "The vault name '%s' is invalid: use letters, digits and hyphens, starting with a letter.", name)
		}
	}
	return nil
}

func (pr *Provider) getVault(r *arm.Request) (*arm.Response, error) {
	v, err := pr.loadVault(r.HTTP.Context(), pr.p.Store, pr.vaultIDOf(r))
	if err != nil {
		return nil, err
	}
	return arm.OK(v.Vault), nil
}

func (pr *Provider) listVaultsRG(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, rg := r.Param("subscriptionId"), r.Param("resourceGroupName")
	if err := resource.CheckResourceGroup(ctx, store.Prefetched(ctx, pr.p.Store), sub, rg); err != nil {
		return nil, err
	}
	return pr.listVaults(r, "/subscriptions/"+sub+"/resourceGroups/"+rg)
}

func (pr *Provider) listVaultsSub(r *arm.Request) (*arm.Response, error) {
	return pr.listVaults(r, "/subscriptions/"+r.Param("subscriptionId"))
}

func (pr *Provider) listVaults(r *arm.Request, scope string) (*arm.Response, error) {
	out, err := resource.ListAs(r.HTTP.Context(), pr.p.Store, vaultType, scope, func(v *vaultRecord) Vault {
		v.Location = resource.NormLocation(v.Location)
		return v.Vault
	})
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, out, 200)
}

// deleteVault is synchronous (the SDK accepts 200 only). A vault that still
// protects items is refused, as Azure does.
func (pr *Provider) deleteVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := pr.vaultIDOf(r)
	v, err := pr.loadVault(ctx, pr.p.Store, id)
	if arm.IsNotFound(err) {
		return arm.OK(nil), nil // the SDK accepts 200 only
	}
	if err != nil {
		return nil, err
	}
	if err := pr.vaultEmpty(ctx, pr.p.Store, v); err != nil {
		return nil, err
	}
	if err := pr.removeVault(ctx, v, true); err != nil && !errors.Is(err, errVaultGone) {
		return nil, err
	}
	// (errVaultGone: another DELETE of the vault, running at once, removed
	// it first; this one finds it gone, as a DELETE of a vault that is not
	// there does. It was 404 ResourceNotFound.)
	return arm.OK(nil), nil
}

// errVaultGone is removeVault's error when the vault it was given is no
// longer in the store: another delete removed it (and a client may have
// made a vault of the same name since, which it leaves).
var errVaultGone = errors.New("the vault was deleted meanwhile")

// vaultEmpty refuses the delete of a vault that still holds protected
// items, soft-deleted ones included (Azure's ServiceResourceNotEmpty): a
// DELETE of the vault and a resource group's delete (its DeleteCheck)
// alike.
func (pr *Provider) vaultEmpty(ctx context.Context, r store.Reader, v *vaultRecord) error {
	items, err := resource.List[itemRecord](ctx, r, itemType, v.ID)
	if err != nil {
		return err
	}
	if n := softDeletedCount(items); n > 0 {
		return arm.BadRequest("ServiceResourceNotEmpty", "Vault '%s' cannot be deleted as there are existing resources within the vault: %d protected item(s), %d of them soft-deleted. Stop protection and delete backup data of each item first; soft-deleted items are purged at the end of their soft-delete retention (or undelete them, disable soft delete and delete them again).", v.Name, len(items), n)
	}
	if len(items) > 0 {
		return arm.BadRequest("ServiceResourceNotEmpty", "Vault '%s' cannot be deleted as there are existing resources within the vault: %d protected item(s). Stop protection and delete backup data of each item first.", v.Name, len(items))
	}
	return nil
}

// checkDeleteVault is a resource group delete's check of a vault in it
// (resource.DeleteCheck): vaultEmpty.
func (pr *Provider) checkDeleteVault(ctx context.Context, r store.Reader, id, _ string) error {
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	v, err := pr.loadVault(ctx, r, rid)
	if arm.IsNotFound(err) {
		return nil // (gone meanwhile)
	}
	if err != nil {
		return err
	}
	return pr.vaultEmpty(ctx, r, v)
}

// removeVault drops a vault with everything under it (cascade from a
// resource-group delete, or an empty vault's delete): errVaultGone, doing
// nothing, once v is no longer the vault of its id.
//
// The DELETE of a vault it found empty (checked) cascades over no
// protected item: the transaction that removes the vault checks it empty
// again (vaultEmpty), so an item whose PUT was accepted after the first
// check refuses the delete (ServiceResourceNotEmpty) rather than being
// removed with the vault, or left behind it; the item's PUT reads the
// vault in its own transaction, so one of the two wins. A resource
// group's delete cascades over its items: its group takes no new ones once
// Deleting.
func (pr *Provider) removeVault(ctx context.Context, v *vaultRecord, checked bool) error {
	id, err := arm.ParseID(v.ID)
	if err != nil {
		return err
	}
	same := func(rd store.Reader) error {
		cur, err := pr.loadVault(ctx, rd, id)
		if arm.IsNotFound(err) || (err == nil && cur.UniqueID != v.UniqueID) {
			return errVaultGone
		}
		return err
	}
	if err := same(pr.p.Store); err != nil {
		return err
	}
	if !checked {
		items, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, id.String())
		if err != nil {
			return err
		}
		for i := range items {
			if err := pr.removeItem(ctx, &items[i], nil); err != nil {
				return err
			}
		}
	}
	var removeTier func()
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		err := same(tx)
		if err != nil {
			return err
		}
		if checked {
			if err := pr.vaultEmpty(ctx, tx, v); err != nil {
				return err
			}
		}
		if err := pr.dropVaultPrincipal(ctx, tx, id); err != nil {
			return err
		}
		// Its vault tier is never opened again from here on (a
		// collection requested before would make it again), and is
		// deleted by a task: the DELETE does not wait for a collection
		// of it nor for its objects' deletion (minutes for a big vault).
		if removeTier, err = pr.Engine.RemoveVaultTx(ctx, tx, v.UniqueID); err != nil {
			return err
		}
		return pr.p.DropOwner(ctx, tx, id, v.Identity, protection.DeleteJobs)
	})
	if err != nil {
		return err
	}
	removeTier()
	return nil
}

// checkName answers whether a vault name is free in a resource group.
func (pr *Provider) checkName(r *arm.Request) (*arm.Response, error) {
	var in struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Type != "" && !strings.EqualFold(in.Type, vaultType) {
		return nil, arm.BadRequest("InvalidResourceType", "type '%s' is not supported: use 'Microsoft.RecoveryServices/Vaults'.", in.Type)
	}
	if err := resource.CheckLocation(r.Param("location"), namespace+"/locations/checkNameAvailability"); err != nil {
		return nil, err
	}
	if err := resource.CheckResourceGroup(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	invalid := ""
	if err := validateVaultName(in.Name); err != nil {
		invalid = err.(*arm.Error).Message
	}
	id := vaultID(r.Param("subscriptionId"), r.Param("resourceGroupName"), in.Name)
	return arm.CheckName("Invalid", invalid, func() (bool, error) { return resource.Exists(r.HTTP.Context(), pr.p.Store, id.String()) },
		"Resource name already exists.")
}
