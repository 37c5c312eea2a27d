package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// A nameRule is what the name of one kind of resource may be: its pattern,
// the kind it names (what) and the rule in words (400 InvalidResourceName).
type nameRule struct {
	re         *regexp.Regexp
	what, rule string
}

func newNameRule(pattern, what, rule string) nameRule {
	return nameRule{re: regexp.MustCompile(pattern), what: what, rule: rule}
}

var vaultName = newNameRule(`^[A-Za-z][A-Za-z0-9-]{0,48}[A-Za-z0-9]$`, "backup vault", "use 2 to 50 letters, digits and hyphens, starting with a letter and ending with a letter or digit")

// newName is the name in route parameter param of a resource a PUT
// creates or replaces, checked against its rule.
func newName(r *arm.Request, param string, rule nameRule) (string, error) {
	name := r.Param(param)
	if !rule.re.MatchString(name) {
		return "", arm.BadRequest("InvalidResourceName", "The %s name '%s' is invalid: %s.", rule.what, name, rule.rule)
	}
	return name, nil
}

// decodeNamed decodes a PUT's body, then checks its name as newName does.
func decodeNamed[T any](r *arm.Request, param string, rule nameRule) (*T, string, error) {
	in := new(T)
	if err := r.Decode(in); err != nil {
		return nil, "", err
	}
	name, err := newName(r, param, rule)
	return in, name, err
}

// checkPlacement checks where a PUT puts a tracked resource of type typ:
// the request's resource group exists and location is set and offered.
func (pr *Provider) checkPlacement(r *arm.Request, location, typ string) error {
	if err := resource.CheckResourceGroup(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return err
	}
	if strings.TrimSpace(location) == "" {
		return fieldError("location", "is required (e.g. 'westus')")
	}
	return resource.CheckLocation(location, typ)
}

func (pr *Provider) loadVault(ctx context.Context, r store.Reader, id arm.ResourceID) (*vaultResource, error) {
	var v vaultResource
	if err := resource.Get(ctx, r, id, &v); err != nil {
		return nil, err
	}
	v.Location = resource.NormLocation(v.Location)
	fillVaultSettings(v.Properties) // records stored before these were filled
	return &v, nil
}

// vaultFor loads the vault a request addresses (404 if the group or vault is
// missing), as read for the request's checks (store.Prefetched): for a
// handler's first reads, before it writes.
func (pr *Provider) vaultFor(r *arm.Request) (*vaultResource, error) {
	ctx := r.HTTP.Context()
	rd := store.Prefetched(ctx, pr.p.Store)
	if err := resource.CheckResourceGroup(ctx, rd, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	return pr.loadVault(ctx, rd, vaultIDOf(r))
}

// vaultNamed is vaultFor for views that show only the vault's id and name
// (jobView): the same 404s, and only those two read from the vault's
// document (resource.GetShared: not decoded again while it is unchanged).
func (pr *Provider) vaultNamed(r *arm.Request) (*vaultResource, error) {
	ctx := r.HTTP.Context()
	rd := store.Prefetched(ctx, pr.p.Store)
	if err := resource.CheckResourceGroup(ctx, rd, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	n, err := resource.GetShared[resource.Named](ctx, rd, vaultIDOf(r))
	if err != nil {
		return nil, err
	}
	return &vaultResource{TrackedResource: arm.TrackedResource{ID: n.ID, Name: n.Name}}, nil
}

// checkVault returns the error vaultFor would (404 if the group or vault is
// missing) without reading the vault's body: for requests that only need it
// to exist (policies, guard proxies, instance lists), no JSON decode.
func (pr *Provider) checkVault(r *arm.Request) error {
	ctx := r.HTTP.Context()
	rd := store.Prefetched(ctx, pr.p.Store)
	if err := resource.CheckResourceGroup(ctx, rd, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return err
	}
	id := vaultIDOf(r)
	ok, err := resource.Exists(ctx, rd, id.String())
	if err != nil {
		return err
	}
	if !ok {
		return resource.NotFound(id)
	}
	return nil
}

// putTracked creates or replaces the tracked resource id names in one
// transaction: put makes and stores it from the stored one (nil when there
// is none), and the answer is 201 for a new resource, else 200.
func putTracked[T any](pr *Provider, r *arm.Request, id arm.ResourceID, put func(tx store.Tx, old *T) (*T, error)) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	created := false
	var out *T
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		old := new(T)
		err := resource.Get(ctx, tx, id, old)
		if isNotFound(err) {
			old, err = nil, nil
		}
		if err != nil {
			return err
		}
		created = old == nil
		out, err = put(tx, old)
		return err
	})
	if err != nil {
		return nil, err
	}
	return arm.CreatedOrOK(created, out), nil
}

// inVault is h for a child of a vault: it answers NotFound (checkVault)
// unless the vault the request addresses exists.
func (pr *Provider) inVault(h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if err := pr.checkVault(r); err != nil {
			return nil, err
		}
		return h(r)
	}
}

// vaultAndBody loads the vault a request addresses and decodes its body.
func vaultAndBody[T any](pr *Provider, r *arm.Request) (*vaultResource, *T, error) {
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, nil, err
	}
	in := new(T)
	if err := r.Decode(in); err != nil {
		return nil, nil, err
	}
	return vault, in, nil
}

// instanceFor loads the vault and the backup instance a request addresses.
func (pr *Provider) instanceFor(r *arm.Request) (*vaultResource, *instanceResource, error) {
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, nil, err
	}
	bi, err := pr.loadInstance(r.HTTP.Context(), pr.p.Store, instanceIDOf(r))
	if err != nil {
		return nil, nil, err
	}
	return vault, bi, nil
}

func checkStorageSettings(ss []storageSetting) error {
	if len(ss) == 0 {
		return fieldError("properties.storageSettings", "is required: give at least one, e.g. [{\"datastoreType\":\"VaultStore\",\"type\":\"LocallyRedundant\"}]")
	}
	for i := range ss {
		dt, ok := canonical(ss[i].DatastoreType, []string{"VaultStore", "OperationalStore", "ArchiveStore"})
		if !ok {
			return fieldError("properties.storageSettings["+itoa(i)+"].datastoreType", "'%s' is not supported; allowed values: 'VaultStore', 'OperationalStore', 'ArchiveStore'", ss[i].DatastoreType)
		}
		t, ok := canonical(ss[i].Type, []string{"LocallyRedundant", "GeoRedundant", "ZoneRedundant"})
		if !ok {
			return fieldError("properties.storageSettings["+itoa(i)+"].type", "'%s' is not supported; allowed values: 'LocallyRedundant', 'GeoRedundant', 'ZoneRedundant'", ss[i].Type)
		}
		ss[i].DatastoreType, ss[i].Type = dt, t
	}
	return nil
}

// checkSettings checks a vault's settings object (raw, at field) against
// its shape in settingShapes and returns it with Azure's spelling of the
// properties the shape names (vaultface.CheckShape).
func checkSettings(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return raw, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fieldError(field, "must be a JSON object")
	}
	shape, ok := settingShapes[field]
	if !ok {
		return raw, nil
	}
	if err := vaultface.CheckShape("InvalidRequestContent", field, m, shape); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// checkAllSettings checks a vault write's security, feature and
// monitoring settings (checkSettings), leaving them in Azure's spelling.
func checkAllSettings(security, feature, monitoring *json.RawMessage) error {
	for _, s := range []struct {
		field string
		raw   *json.RawMessage
	}{{"properties.securitySettings", security}, {"properties.featureSettings", feature}, {"properties.monitoringSettings", monitoring}} {
		out, err := checkSettings(s.field, *s.raw)
		if err != nil {
			return err
		}
		*s.raw = out
	}
	return nil
}

// settingShapes are the enumerated values in a vault's feature and
// monitoring settings (Azure's CrossRegionRestoreState,
// CrossSubscriptionRestoreState and AlertsState), checked as Azure does:
// a value outside them is 400, never stored.
var settingShapes = map[string]vaultface.Shape{
	// Checked by checkSecuritySettings; named here for their spelling.
	"properties.securitySettings": vaultface.Object(map[string]vaultface.Shape{
		"softDeleteSettings":   vaultface.Fields(map[string]vaultface.Shape{"state": vaultface.Any, "retentionDurationInDays": vaultface.Any}),
		"immutabilitySettings": vaultface.Fields(map[string]vaultface.Shape{"state": vaultface.Any}),
		// A customer-managed key (stored as sent): Azure's EncryptionState,
		// InfrastructureEncryptionState and IdentityType.
		"encryptionSettings": vaultface.Object(map[string]vaultface.Shape{"state": vaultface.Enum("Enabled", "Disabled", "Inconsistent"), "infrastructureEncryption": vaultface.OnOff,
			"keyVaultProperties": vaultface.Object(map[string]vaultface.Shape{"keyUri": vaultface.String}),
			"kekIdentity":        vaultface.Object(map[string]vaultface.Shape{"identityType": vaultface.Enum("SystemAssigned", "UserAssigned"), "identityId": vaultface.String})}),
	}),
	"properties.featureSettings": vaultface.Object(map[string]vaultface.Shape{
		"crossRegionRestoreSettings":       vaultface.Object(map[string]vaultface.Shape{"state": vaultface.OnOff}),
		"crossSubscriptionRestoreSettings": vaultface.Object(map[string]vaultface.Shape{"state": vaultface.Enum("Disabled", "PermanentlyDisabled", "Enabled")}),
	}),
	"properties.monitoringSettings": vaultface.Object(map[string]vaultface.Shape{
		"azureMonitorAlertSettings": vaultface.Object(map[string]vaultface.Shape{"alertsForAllJobFailures": vaultface.OnOff}),
	}),
}

// decodeVaultBody decodes a vault PUT or PATCH body into in and checks what
// both share: the caller's access to the identities it links (identity)
// and the verify tags (tags), both fields of in.
func decodeVaultBody(r *arm.Request, in any, identity **identityDetails, tags *map[string]string) error {
	if err := r.Decode(in); err != nil {
		return err
	}
	if err := r.CheckLinked(append(arm.AssignLinks(assignIdentity, (*identity).UserAssignedIDs()), kekLink(r.Body))...); err != nil {
		return err
	}
	return protection.CheckVerifyTags(*tags)
}

// kekLink is the link of the user-assigned identity a vault body reaches
// its customer-managed key with
// (properties.securitySettings.encryptionSettings.kekIdentity.identityId):
// the assign action, as for the vault's own identities.
func kekLink(body []byte) arm.Link {
	var b struct {
		Properties struct {
			SecuritySettings struct {
				EncryptionSettings struct {
					KekIdentity struct {
						IdentityID string `json:"identityId"`
					} `json:"kekIdentity"`
				} `json:"encryptionSettings"`
			} `json:"securitySettings"`
		} `json:"properties"`
	}
	if json.Unmarshal(body, &b) != nil {
		return arm.Link{}
	}
	return arm.LinkTo(assignIdentity, b.Properties.SecuritySettings.EncryptionSettings.KekIdentity.IdentityID)
}

func (pr *Provider) putVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if err := checkNoUndelete(r); err != nil {
		return nil, err
	}
	var in vaultResource
	if err := decodeVaultBody(r, &in, &in.Identity, &in.Tags); err != nil {
		return nil, err
	}
	name, err := newName(r, "vaultName", vaultName)
	if err != nil {
		return nil, err
	}
	if err := pr.checkPlacement(r, in.Location, typeVault); err != nil {
		return nil, err
	}
	if in.Properties == nil {
		return nil, fieldError("properties", "is required: give at least properties.storageSettings")
	}
	if err := checkStorageSettings(in.Properties.StorageSettings); err != nil {
		return nil, err
	}
	if err := checkAllSettings(&in.Properties.SecuritySettings, &in.Properties.FeatureSettings, &in.Properties.MonitoringSettings); err != nil {
		return nil, err
	}
	if in.Identity != nil {
		if _, _, _, err := identityKinds.ParseIdentityType(in.Identity.Type); err != nil {
			return nil, err
		}
	}
	id := vaultIDOf(r)
	return putTracked(pr, r, id, func(tx store.Tx, old *vaultResource) (*vaultResource, error) {
		exists := old != nil
		if exists && resource.NormLocation(old.Location) != resource.NormLocation(in.Location) {
			return nil, fieldError("location", "'%s' differs from the vault's location '%s'; a vault cannot move", in.Location, old.Location)
		}
		// Azure answers locations normalised ("West US" → "westus").
		out := vaultResource{TrackedResource: arm.TrackedResource{ID: id.String(), Name: name, Type: typeVault, Location: resource.NormLocation(in.Location), Tags: in.Tags}, Properties: in.Properties}
		if exists {
			// The vault keeps its id as created, whatever the casing of
			// the path that updates it (as its name).
			out.ID, out.Name, out.Location, out.SystemData = old.ID, old.Name, resource.NormLocation(old.Location), old.SystemData
		}
		var oldSecurity json.RawMessage
		if exists && old.Properties != nil {
			oldSecurity = old.Properties.SecuritySettings
			if err := checkStorageLocked(ctx, tx, old, in.Properties.StorageSettings); err != nil {
				return nil, err
			}
		}
		sec, err := checkSecuritySettings(in.Properties.SecuritySettings, oldSecurity, !exists, false)
		if err != nil {
			return nil, err
		}
		if encryptionRaw(in.Properties.SecuritySettings) != nil {
			if sec, err = checkEncryption(oldSecurity, sec); err != nil {
				return nil, err
			}
		}
		if err := pr.guardSecurity(r, oldSecurity, sec, in.Properties.ResourceGuardOperationRequests); err != nil {
			return nil, err
		}
		out.Properties.SecuritySettings = sec
		if exists && old.Properties != nil {
			if out.Properties.FeatureSettings, err = keepFinalSettings(old.Properties.FeatureSettings, out.Properties.FeatureSettings); err != nil {
				return nil, err
			}
		}
		var oldIdentity *identityDetails
		if exists {
			oldIdentity = old.Identity
		}
		ident, err := pr.setIdentity(ctx, tx, id.String(), oldIdentity, in.Identity, false)
		if err != nil {
			return nil, err
		}
		out.Identity = ident
		out.Properties.ProvisioningState = "Succeeded"
		out.Properties.ResourceMoveState = "Unknown"
		px, err := resource.GuardProxyOf(ctx, tx, id.String())
		if err != nil {
			return nil, err
		}
		guarded := px != nil
		out.Properties.IsVaultProtectedByResourceGuard = &guarded
		return &out, pr.saveVault(ctx, tx, r, id, &out)
	})
}

func (pr *Provider) patchVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in vaultPatch
	if err := decodeVaultBody(r, &in, &in.Identity, &in.Tags); err != nil {
		return nil, err
	}
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	id := vaultIDOf(r)
	var out vaultResource
	op := &ops.Operation{Kind: opVaultUpdate, ResourceID: id.String(), Caller: r.Caller(), ResultStatus: http.StatusOK}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.Get(ctx, tx, id, &out); err != nil {
			return err
		}
		out.Location = resource.NormLocation(out.Location)
		op.Location = out.Location
		if in.Tags != nil {
			out.Tags = in.Tags
		}
		if in.Identity != nil {
			ident, err := pr.setIdentity(ctx, tx, id.String(), out.Identity, in.Identity, true)
			if err != nil {
				return err
			}
			out.Identity = ident
		}
		if p := in.Properties; p != nil {
			if err := checkAllSettings(&p.SecuritySettings, &p.FeatureSettings, &p.MonitoringSettings); err != nil {
				return err
			}
			if len(p.SecuritySettings) > 0 {
				sec, err := checkSecuritySettings(p.SecuritySettings, out.Properties.SecuritySettings, false, true)
				if err != nil {
					return err
				}
				if encryptionRaw(p.SecuritySettings) != nil {
					if sec, err = checkEncryption(out.Properties.SecuritySettings, sec); err != nil {
						return err
					}
				}
				if err := pr.guardSecurity(r, out.Properties.SecuritySettings, sec, p.ResourceGuardOperationRequests); err != nil {
					return err
				}
				out.Properties.SecuritySettings = sec
			}
			// ARM's PATCH merges: a setting the request leaves out stays.
			fs, err := mergeSettings(out.Properties.FeatureSettings, p.FeatureSettings)
			if err != nil {
				return err
			}
			if out.Properties.FeatureSettings, err = keepFinalSettings(out.Properties.FeatureSettings, fs); err != nil {
				return err
			}
			if out.Properties.MonitoringSettings, err = mergeSettings(out.Properties.MonitoringSettings, p.MonitoringSettings); err != nil {
				return err
			}
			if p.ResourceGuardOperationRequests != nil {
				out.Properties.ResourceGuardOperationRequests = p.ResourceGuardOperationRequests
			}
		}
		if err := pr.saveVault(ctx, tx, r, id, &out); err != nil {
			return err
		}
		b, err := json.Marshal(&out)
		if err != nil {
			return err
		}
		op.Result = b
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	// Azure answers a vault PATCH as an operation: 202 with both polling
	// headers (the location-scoped status and result); the result is the vault.
	return opAccepted(r, out.Location, op), nil
}

// saveVault stores a vault that r changed: its default settings filled
// in, its systemData touched by the caller, its security levels worked out
// again, and its verify runs planned anew.
func (pr *Provider) saveVault(ctx context.Context, tx store.Tx, r *arm.Request, id arm.ResourceID, v *vaultResource) error {
	fillVaultSettings(v.Properties)
	v.SystemData = arm.Touch(v.SystemData, r.Caller(), pr.p.Now())
	v.Properties.SecureScore, v.Properties.BcdrSecurityLevel = securityLevels(v)
	if err := resource.Put(ctx, tx, id, v); err != nil {
		return err
	}
	return pr.Engine.PlanVerify(ctx, tx, engineVault(v))
}

func (pr *Provider) getVault(r *arm.Request) (*arm.Response, error) {
	v, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(v), nil
}

// scopedLists answers the resources of type typ below a resource group
// (rg) and below a subscription (sub), a page of 100, after checking that
// the group or subscription exists; each, when not nil, adjusts every
// resource before it is answered.
func scopedLists[T any](pr *Provider, typ string, each func(*T)) (rg, sub arm.Handler) {
	list := func(r *arm.Request, scope string) (*arm.Response, error) {
		vs, err := resource.List[T](r.HTTP.Context(), pr.p.Store, typ, scope)
		if err != nil {
			return nil, err
		}
		if each != nil {
			for i := range vs {
				each(&vs[i])
			}
		}
		return arm.PageOK(r, vs, 100)
	}
	rg = func(r *arm.Request) (*arm.Response, error) {
		sub, rg := r.Param("subscriptionId"), r.Param("resourceGroupName")
		if err := resource.CheckResourceGroup(r.HTTP.Context(), pr.p.Store, sub, rg); err != nil {
			return nil, err
		}
		return list(r, "/subscriptions/"+sub+"/resourceGroups/"+rg)
	}
	sub = func(r *arm.Request) (*arm.Response, error) {
		if err := resource.CheckSubscription(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId")); err != nil {
			return nil, err
		}
		return list(r, "/subscriptions/"+r.Param("subscriptionId"))
	}
	return rg, sub
}

func (pr *Provider) deleteVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	id := vaultIDOf(r)
	seen, err := pr.loadVault(ctx, pr.p.Store, id)
	if arm.IsNotFound(err) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	err = pr.vaultDeletable(ctx, pr.p.Store, id)
	if err == nil {
		// Soft-deleted backup instances left with soft delete Off are
		// purged with the vault: the vault's resource guard must allow
		// that.
		err = resource.CheckCascade(ctx, pr.p.Store, id.String(), r.Allowed)
	}
	if err == nil {
		err = pr.dropVault(ctx, id, seen)
	}
	if err != nil {
		// Another DELETE of the vault, running at once, removed it
		// first: this one finds it gone, as a DELETE of a vault that is
		// not there does (it was 404 ResourceNotFound).
		if arm.IsNotFound(err) || errors.Is(err, errVaultReplaced) {
			if cur, e := pr.loadVault(ctx, pr.p.Store, id); arm.IsNotFound(e) || (e == nil && !sameVault(seen, cur)) {
				return arm.NoContent(), nil
			}
		}
		return nil, err
	}
	return arm.OK(nil), nil
}

// errVaultReplaced is dropVault's error when the vault of its id is no
// longer the one its DELETE began with: another DELETE removed that one
// and a client made a vault of the same name since, which this DELETE
// leaves.
var errVaultReplaced = errors.New("the vault was deleted and made again meanwhile")

// sameVault reports whether a and b are one vault, not two made one after
// the other under one id: by their creation time, and their system
// identity's principal.
func sameVault(a, b *vaultResource) bool {
	if a.SystemData != nil && b.SystemData != nil && !a.SystemData.CreatedAt.Equal(b.SystemData.CreatedAt) {
		return false
	}
	if a.Identity != nil && b.Identity != nil && a.Identity.PrincipalID != b.Identity.PrincipalID {
		return false
	}
	return true
}

// vaultDeletable refuses the delete of a vault that still holds backup
// instances, or soft-deleted ones while soft delete is on (Always On
// included): a DELETE of the vault and a resource group's delete (its
// DeleteCheck) alike. Those left with soft delete Off go with the vault.
func (pr *Provider) vaultDeletable(ctx context.Context, r store.Reader, id arm.ResourceID) error {
	bis, err := resource.List[instanceResource](ctx, r, typeInstance, id.String())
	if err != nil {
		return err
	}
	if len(bis) > 0 {
		return arm.Errorf(http.StatusBadRequest, "UserErrorVaultHasBackupInstances",
			"The Backup vault '%s' still has %d backup instance(s) (for example '%s'); delete them (DELETE .../backupInstances/{name}) before deleting the vault.", id.Name(), len(bis), bis[0].Name)
	}
	vault, err := pr.loadVault(ctx, r, id)
	if err != nil {
		return err
	}
	if vaultSoftDelete(vault).enabled() {
		ds, err := resource.List[deletedInstanceResource](ctx, r, typeDeleted, id.String())
		if err != nil {
			return err
		}
		if len(ds) > 0 {
			return arm.Errorf(http.StatusBadRequest, "UserErrorVaultHasSoftDeletedBackupInstances",
				"The Backup vault '%s' still has %d soft-deleted backup instance(s) (for example '%s', purged at %s); undelete and delete them with soft delete turned Off, or wait for their purge, before deleting the vault.", id.Name(), len(ds), ds[0].Name, ds[0].Properties.DeletionInfo.ScheduledPurgeTime)
		}
	}
	return nil
}

// checkDeleteVault is a resource group delete's check of a vault in it
// (resource.DeleteCheck): vaultDeletable.
func (pr *Provider) checkDeleteVault(ctx context.Context, r store.Reader, id, _ string) error {
	vid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	if err := pr.vaultDeletable(ctx, r, vid); !arm.IsNotFound(err) {
		return err
	}
	return nil // (gone meanwhile)
}

// cascadeDeleteVault removes a vault with its policies, jobs, identity and
// every other resource under it (its backup instances are deleted first,
// by their own OnDelete).
func (pr *Provider) cascadeDeleteVault(ctx context.Context, id string) error {
	vid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return pr.dropVault(ctx, vid, nil)
}

// dropVault is cascadeDeleteVault of vault vid, which must be seen (nil:
// whichever is there) when it is removed: errVaultReplaced otherwise.
//
// A vault's DELETE (seen) found it deletable (vaultDeletable) and cascades
// over no backup instance: the transaction that removes the vault checks
// it again, so an instance whose PUT was accepted (201) after that first
// check refuses the delete (UserErrorVaultHasBackupInstances) rather than
// being removed with the vault, or left behind it holding its disk; the
// instance's PUT reads the vault in its own transaction, so one of the two
// wins. A resource group's delete (seen nil) cascades over its instances:
// its group takes no new ones once Deleting.
func (pr *Provider) dropVault(ctx context.Context, vid arm.ResourceID, seen *vaultResource) error {
	if seen == nil {
		bis, err := resource.List[instanceResource](ctx, pr.p.Store, typeInstance, vid.String())
		if err != nil {
			return err
		}
		for _, bi := range bis {
			if err := pr.cascadeDeleteInstance(ctx, bi.ID); err != nil {
				return err
			}
		}
	}
	if err := pr.purgeDeletedOf(ctx, vid.String()); err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		v, err := pr.loadVault(ctx, tx, vid)
		if err != nil {
			return err
		}
		if seen != nil {
			if !sameVault(seen, v) {
				return errVaultReplaced
			}
			if err := pr.vaultDeletable(ctx, tx, vid); err != nil {
				return err
			}
		}
		// What is under the vault (its policies, its resource guard proxy)
		// goes with it: a proxy left behind would keep its guard in use and
		// link a new vault of the same name.
		return pr.p.DropOwner(ctx, tx, vid, v.Identity, protection.DeleteJobs)
	})
}

func (pr *Provider) checkName(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, fieldError("name", "is required")
	}
	if in.Type != "" && !strings.EqualFold(in.Type, namespace+"/backupVaults") {
		return nil, arm.BadRequest("InvalidResourceType", "type '%s' is not supported: use 'Microsoft.DataProtection/BackupVaults'.", in.Type)
	}
	if err := resource.CheckLocation(r.Param("location"), namespace+"/locations/checkNameAvailability"); err != nil {
		return nil, err
	}
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	invalid := ""
	if !vaultName.re.MatchString(in.Name) {
		invalid = "Use 3 to 50 letters, digits and hyphens, starting with a letter."
	}
	id := arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), namespace, "backupVaults", in.Name)
	return arm.CheckName("Invalid", invalid, func() (bool, error) { return resource.Exists(ctx, pr.p.Store, id.String()) },
		"A Backup vault named '"+in.Name+"' already exists in this resource group.")
}

func itoa(i int) string { return strconv.Itoa(i) }

func (pr *Provider) cascadeDeletePolicy(ctx context.Context, id string) error {
	pid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		err := resource.Delete(ctx, tx, pid)
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// checkStorageLocked refuses a change of vault old's storage redundancy
// (storageSettings, the redundancy of each datastore) once the vault
// protects a backup instance, as Azure locks it then (a Recovery Services
// vault's storageType likewise: StorageModelModifyError): its backups are
// stored as it said when they were made.
func checkStorageLocked(ctx context.Context, rd store.Reader, old *vaultResource, ss []storageSetting) error {
	was := map[string]string{}
	for _, s := range old.Properties.StorageSettings {
		was[s.DatastoreType] = s.Type
	}
	now := map[string]string{}
	for _, s := range ss {
		now[s.DatastoreType] = s.Type
	}
	if maps.Equal(was, now) {
		return nil
	}
	bis, err := resource.List[instanceResource](ctx, rd, typeInstance, old.ID)
	if err != nil || len(bis) == 0 {
		return err
	}
	names := make([]string, len(bis))
	for i, bi := range bis {
		names[i] = bi.Name
	}
	return arm.BadRequestAt("properties.storageSettings", "UserErrorInvalidOperationForCurrentState",
		"The storage redundancy of Backup vault '%s' is locked once it protects a backup instance, and cannot be changed thereafter (it is %s; it protects %s). Send the vault's storageSettings as they are, or create another vault with the redundancy you want.",
		old.Name, storageText(old.Properties.StorageSettings), strings.Join(names, ", "))
}

// storageText is storageSettings as the error names them: VaultStore
// LocallyRedundant, ...
func storageText(ss []storageSetting) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.DatastoreType + " " + s.Type
	}
	return strings.Join(parts, ", ")
}
