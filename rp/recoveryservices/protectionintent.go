package recoveryservices

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// registerProtectionIntents adds the backup protection intents of Azure
// VMs (AzureResourceItem): the intent to protect a VM with a policy, which
// the portal's VM creation sends. Creating one enables the VM's protection
// at once (the same protected item and ConfigureBackup job as a PUT of the
// item); the intent is kept and reads the item's protection state. Intents
// of workloads (SQL, SAP HANA auto-protection) are Azure Backup's agent
// features Safehold does not have. The vault's backupProtectionIntents
// lists them.
func (pr *Provider) registerProtectionIntents(rt *arm.Router, R, F string) {
	rt.Handle("GET", R+"/backupProtectionIntents", pr.listProtectionIntents)
	rt.HandleResource(F+"/backupProtectionIntent/{intentObjectName}", arm.Methods{Get: on(pr.intentOf, pr.getProtectionIntent),
		Put: on(pr.intentOf, pr.putProtectionIntent), Delete: on(pr.intentOf, pr.deleteProtectionIntent)})
}

const intentType = "Microsoft.RecoveryServices/vaults/backupProtectionIntent"

// intentProperties are the properties of an intent a PUT gives and the
// store keeps.
type intentProperties struct {
	SourceID string `json:"sourceResourceId"`
	PolicyID string `json:"policyId"`
	ItemID   string `json:"itemId"` // the protected item the intent made
}

// intentRecord is a stored protection intent.
type intentRecord struct {
	arm.ProxyResource
	intentProperties
}

// intentOf resolves the intent a request addresses: its vault, id and VM.
func (pr *Provider) intentOf(r *arm.Request) (itemPath, error) {
	v, vid, err := pr.vaultOf(r)
	if err != nil {
		return itemPath{}, err
	}
	if f := r.Param("fabricName"); !strings.EqualFold(f, "Azure") {
		return itemPath{}, arm.Errorf(http.StatusNotFound, "BMSUserErrorFabricNotFound", "The backup fabric '%s' does not exist: Azure VMs live in fabric 'Azure'.", f)
	}
	name := r.Param("intentObjectName")
	vm, ok := parseItemName(name)
	if !ok {
		return itemPath{}, arm.BadRequest("BMSUserErrorInvalidInput", "The protection intent name '%s' is invalid: use 'vm;iaasvmcontainerv2;{vmResourceGroup};{vmName}' (only Azure VMs have protection intents here).", name)
	}
	return itemPath{v, vid, fabricID(vid).Child("backupProtectionIntent", name), vm}, nil
}

func (pr *Provider) putProtectionIntent(r *arm.Request, at itemPath) (*arm.Response, error) {
	var in struct {
		Properties *struct {
			ProtectionIntentItemType string `json:"protectionIntentItemType"`
			intentProperties
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	p := in.Properties
	if p == nil {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties is required: give protectionIntentItemType 'AzureResourceItem', sourceResourceId (the VM) and policyId.")
	}
	if !strings.EqualFold(p.ProtectionIntentItemType, "AzureResourceItem") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.protectionIntentItemType '%s' is not supported: use 'AzureResourceItem' (Azure VMs; workload auto-protection is not available here).", p.ProtectionIntentItemType)
	}
	if p.PolicyID == "" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.policyId is required: the backup policy of this vault to protect the VM with.")
	}
	src := p.SourceID
	if src == "" {
		src = arm.NewID(at.vid.SubscriptionID, at.vm.RG, "Microsoft.Compute", "virtualMachines", at.vm.Name).String()
	}
	if svm, ok := vmRefFromID(src); !ok || svm.key() != at.vm.key() {
		return nil, arm.BadRequest("BMSUserErrorInvalidSourceResourceId", "properties.sourceResourceId '%s' must be the VM the intent names ('%s').", src, r.Param("intentObjectName"))
	}
	iid := itemID(at.vid, at.vm)
	if !r.Allowed(namespace+"/vaults/backupFabrics/protectionContainers/protectedItems/write", iid.String()) {
		return nil, arm.Errorf(http.StatusForbidden, "AuthorizationFailed", "The client '%s' does not have authorization to perform action '%s/vaults/backupFabrics/protectionContainers/protectedItems/write' over scope '%s': a protection intent protects the VM.", r.Caller().ObjectID, namespace, iid)
	}
	// Enable protection as a PUT of the item does (its checks: linked
	// access to the VM and policy, the VM's state, the policy's kind).
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"protectedItemType": vmType, "sourceResourceId": src, "policyId": p.PolicyID}})
	r.Params.Set("containername", at.vm.containerName())
	r.Params.Set("protecteditemname", at.vm.itemName())
	r.Body = body
	if _, err := pr.putItem(r); err != nil {
		return nil, err
	}
	rec := intentRecord{ProxyResource: arm.ProxyResource{ID: at.id.String(), Name: r.Param("intentObjectName"), Type: intentType}, intentProperties: intentProperties{SourceID: src, PolicyID: p.PolicyID, ItemID: iid.String()}}
	ctx := r.HTTP.Context()
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := pr.loadVault(ctx, tx, at.vid); err != nil {
			return err
		}
		return resource.Put(ctx, tx, at.id, &rec)
	})
	if err != nil {
		return nil, err
	}
	b, err := pr.intentBody(r, &rec)
	if err != nil {
		return nil, err
	}
	return arm.OK(b), nil
}

// intentBody is the wire intent; its protectionState is the item's.
func (pr *Provider) intentBody(r *arm.Request, rec *intentRecord) (map[string]any, error) {
	state := "NotProtected"
	it, err := pr.loadItem(r.HTTP.Context(), pr.p.Store, mustParse(rec.ItemID))
	switch {
	case err == nil && (it.State == stateProtected || it.State == stateIRPending):
		state = "Protected"
	case err == nil:
		state = "NotProtected" // stopped or suspended
	case !isNotFound(err):
		return nil, err
	}
	return map[string]any{"id": rec.ID, "name": rec.Name, "type": rec.Type, "properties": map[string]any{
		"protectionIntentItemType": "AzureResourceItem", "backupManagementType": "AzureIaasVM",
		"sourceResourceId": rec.SourceID, "policyId": rec.PolicyID, "itemId": rec.ItemID, "protectionState": state,
	}}, nil
}

// listProtectionIntents answers the vault's intents, $filter by
// backupManagementType, itemType (VM), parentName (the VM's resource group)
// and itemName (the VM), paged with nextLink.
func (pr *Provider) listProtectionIntents(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "backupManagementType", "itemType", "parentName", "itemName")
	if err != nil {
		return nil, err
	}
	if !selects(f, "backupmanagementtype", "AzureIaasVM", "itemtype", "VM") {
		return arm.OK(arm.Values([]any{})), nil
	}
	// (Stored under the fabric: the type of the id, not the wire type.)
	recs, err := resource.List[intentRecord](ctx, pr.p.Store, fabricID(vid).Child("backupProtectionIntent", "-").Type(), vid.String())
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(recs))
	for i := range recs {
		vm, ok := vmRefFromID(recs[i].SourceID)
		if !ok || !selects(f, "parentname", vm.RG, "itemname", vm.Name) {
			continue
		}
		b, err := pr.intentBody(r, &recs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return arm.PageOK(r, out, 200)
}

func (pr *Provider) getProtectionIntent(r *arm.Request, at itemPath) (*arm.Response, error) {
	var rec intentRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, at.id, &rec); err != nil {
		if isNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorProtectionIntentNotFound", "The protection intent '%s' does not exist in this vault.", r.Param("intentObjectName"))
		}
		return nil, err
	}
	b, err := pr.intentBody(r, &rec)
	if err != nil {
		return nil, err
	}
	return arm.OK(b), nil
}

// deleteProtectionIntent removes the intent; the VM's protection stays (as
// in Azure: stopping it is a change of the protected item).
func (pr *Provider) deleteProtectionIntent(r *arm.Request, at itemPath) (*arm.Response, error) {
	err := pr.p.Store.Update(r.HTTP.Context(), func(tx store.Tx) error {
		if err := resource.Delete(r.HTTP.Context(), tx, at.id); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}
