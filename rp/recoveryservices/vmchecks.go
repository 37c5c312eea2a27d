package recoveryservices

import (
	"context"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// The checks Azure offers before and around protecting a VM, answered at
// a region (POST /subscriptions/{s}/providers/Microsoft.RecoveryServices/
// locations/{location}/...): backupStatus (is this VM protected, and where;
// `az backup protection check-vm`), backupPreValidateProtection (would
// enabling protection in this vault succeed) and backupValidateFeatures
// (can a VM of this size and storage be backed up).

func (pr *Provider) registerVMChecks(rt *arm.Router, sub string) {
	L := sub + "/providers/Microsoft.RecoveryServices/locations/{location}"
	rt.Handle("POST", L+"/backupStatus", pr.backupStatus, arm.Action(namespace+"/locations/backupStatus/action"))
	rt.Handle("POST", L+"/backupPreValidateProtection", pr.preValidateProtection, arm.Action(namespace+"/locations/backupPreValidateProtection/action"))
	rt.Handle("POST", L+"/backupValidateFeatures", pr.validateFeatures, arm.Action(namespace+"/locations/backupValidateFeatures/action"))
}

// vmRequest is what backupStatus and backupPreValidateProtection name.
type vmRequest struct {
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	VaultID      string `json:"vaultId"`
	Properties   string `json:"properties"`
}

// checkedVM decodes a request naming a VM and reads the VM: the caller
// must be allowed to read it (403 LinkedAuthorizationFailed), an id that
// is not a VM's is 400, a VM that does not exist 404, and the region the
// request is sent to must be the VM's (400), as clients send it
// (`az backup protection check-vm` asks at the VM's location).
func (pr *Provider) checkedVM(r *arm.Request, in *vmRequest) (*vmInfo, error) {
	if err := r.Decode(in); err != nil {
		return nil, err
	}
	if in.ResourceID == "" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "resourceId is required: give the id of the virtual machine to check.")
	}
	if in.ResourceType != "" && !strings.EqualFold(in.ResourceType, "VM") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "resourceType '%s' is not supported: use 'VM'.", in.ResourceType)
	}
	ref, ok := vmRefFromID(in.ResourceID)
	if rid, err := arm.ParseID(in.ResourceID); !ok || err != nil || !strings.EqualFold(rid.SubscriptionID, r.Param("subscriptionId")) {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "resourceId '%s' is not the id of a virtual machine of subscription '%s'.", in.ResourceID, r.Param("subscriptionId"))
	}
	if err := r.CheckLinked(link("Microsoft.Compute/virtualMachines/read", in.ResourceID)); err != nil {
		return nil, err
	}
	if err := pr.checkCompute(); err != nil {
		return nil, err
	}
	vm, err := pr.Compute.VM(r.HTTP.Context(), in.ResourceID)
	if isNotFound(err) {
		return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorVMNotFound", "The virtual machine '%s' was not found in resource group '%s'.", ref.Name, ref.RG)
	}
	if err != nil {
		return nil, err
	}
	if !sameRegion(vm.Location, r.Param("location")) {
		return nil, arm.BadRequest("BMSUserErrorLocationMismatch", "The virtual machine '%s' is in region '%s': send the request to that region, not '%s'.", vm.Name, resource.NormLocation(vm.Location), r.Param("location"))
	}
	return toInfo(vm), nil
}

// protectingItem is the protected item of vmID in any vault of the
// subscription, nil when none protects it.
func (pr *Provider) protectingItem(ctx context.Context, rd store.Reader, sub, vmID string) (*itemRecord, error) {
	items, err := resource.List[itemRecord](ctx, rd, itemType, "/subscriptions/"+sub)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if arm.EqualIDs(items[i].SourceID, vmID) {
			return &items[i], nil
		}
	}
	return nil, nil
}

// backupStatus answers whether a VM is protected, and by which vault,
// container, item and policy.
func (pr *Provider) backupStatus(r *arm.Request) (*arm.Response, error) {
	var in vmRequest
	vm, err := pr.checkedVM(r, &in)
	if err != nil {
		return nil, err
	}
	it, err := pr.protectingItem(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), vm.ID)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return arm.OK(map[string]any{"protectionStatus": "NotProtected", "errorCode": "Success",
			"errorMessage": "The virtual machine '" + vm.Name + "' is not protected by any vault."}), nil
	}
	v, _ := arm.ParseID(it.VaultID)
	return arm.OK(map[string]any{"protectionStatus": "Protected", "vaultId": it.VaultID, "fabricName": "Azure",
		"containerName": it.VM.containerName(), "protectedItemName": it.VM.itemName(), "policyName": it.PolicyName,
		"registrationStatus": "Registered", "errorCode": "Success",
		"errorMessage": "The virtual machine '" + vm.Name + "' is protected by vault '" + v.Name() + "'."}), nil
}

// enableRefusal is why enabling protection of vm in the vault vault (id
// vid) would be refused, nil when it would not: a vault protects only VMs
// of its own region, and a VM is protected by one vault at a time.
func (pr *Provider) enableRefusal(ctx context.Context, rd store.Reader, vault *vaultRecord, vid arm.ResourceID, vm *vmInfo) error {
	if !sameRegion(vm.Location, vault.Location) {
		return arm.BadRequest(codeCrossRegion, "The VM '%s' is in region '%s' but the vault '%s' is in '%s': a Recovery Services vault protects only VMs of its own region. Use a vault in '%s'.",
			vm.Name, resource.NormLocation(vm.Location), vault.Name, resource.NormLocation(vault.Location), resource.NormLocation(vm.Location))
	}
	if other, err := pr.protectedElsewhere(ctx, rd, vm.ID, vid); err != nil {
		return err
	} else if other != "" {
		return arm.BadRequest("BMSUserErrorAlreadyProtected", "The VM '%s' is already protected by vault '%s': stop its protection there first.", vm.Name, other)
	}
	return nil
}

// codeAlreadyProtected: the VM is protected in the vault the pre-validation
// names (Azure's code).
const codeAlreadyProtected = "VirtualMachineAlreadyProtected"

// preValidateProtection checks what enabling protection of a VM in a vault
// would check (the VM exists and may be read, the vault exists and may be
// read, same region, not protected by another vault) and whether it is
// already protected there: 200 with status Succeeded, or Failed with the
// code, message and a recommendation.
func (pr *Provider) preValidateProtection(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in vmRequest
	vm, err := pr.checkedVM(r, &in)
	if err != nil {
		return nil, err
	}
	if in.VaultID == "" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "vaultId is required: give the id of the Recovery Services vault that would protect the VM.")
	}
	vid, err := arm.ParseID(in.VaultID)
	if err != nil || !vid.IsType(namespace+"/vaults") || !strings.EqualFold(vid.SubscriptionID, r.Param("subscriptionId")) {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "vaultId '%s' is not the id of a Recovery Services vault of subscription '%s'.", in.VaultID, r.Param("subscriptionId"))
	}
	if err := r.CheckLinked(link(namespace+"/vaults/read", in.VaultID)); err != nil {
		return nil, err
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, vid)
	if err != nil {
		return nil, err
	}
	vid = vaultID(vid.SubscriptionID, vid.ResourceGroup, vault.Name)
	ref := vmRef{vm.ResourceGroup, vm.Name}
	out := map[string]any{"containerName": ref.containerName(), "protectedItemName": ref.itemName()}
	refusal := pr.enableRefusal(ctx, pr.p.Store, vault, vid, vm)
	var ae *arm.Error
	switch {
	case refusal != nil && !arm.As(refusal, &ae):
		return nil, refusal
	case refusal != nil:
		out["status"], out["errorCode"], out["errorMessage"] = "Failed", ae.Code, ae.Message
		out["recommendation"] = "Protect the VM with a vault of its region that does not already protect it."
	default:
		it, err := pr.loadItem(ctx, pr.p.Store, itemID(vid, ref))
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if it != nil {
			out["status"], out["errorCode"] = "Failed", codeAlreadyProtected
			out["errorMessage"] = "Virtual machine '" + vm.Name + "' of resource group '" + vm.ResourceGroup + "' is already protected by vault '" + vault.Name + "'. Go to its backup item in the vault to change its protection."
			out["recommendation"] = "Do not enable protection again."
		} else {
			out["status"] = "Succeeded"
		}
	}
	return arm.OK(out), nil
}

// validateFeatures answers whether a VM of a size and storage SKU can be
// backed up (featureType AzureVMResourceBackup): Supported when the size
// can have disks of that SKU, NotSupported when it cannot (premium disks
// on a size without premium storage, such as Basic_A0 or Standard_D2_v3).
// Safehold's VM backup has no opt-in features, so it never answers
// DefaultOFF (Azure's answer for a feature a subscription must turn on).
func (pr *Provider) validateFeatures(r *arm.Request) (*arm.Response, error) {
	var in struct {
		FeatureType string `json:"featureType"`
		VMSize      string `json:"vmSize"`
		VMSku       string `json:"vmSku"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if !strings.EqualFold(in.FeatureType, "AzureVMResourceBackup") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "featureType '%s' is not supported: use 'AzureVMResourceBackup'.", in.FeatureType)
	}
	if in.VMSize == "" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "vmSize is required: give a VM size such as Standard_D2s_v3.")
	}
	size, err := compute.ParseVMSize(in.VMSize)
	if err != nil {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "vmSize '%s' is not a VM size: use a size name such as Standard_D2s_v3.", in.VMSize)
	}
	status := "Supported"
	switch sku := strings.ToLower(in.VMSku); {
	case sku == "" || sku == "standard" || sku == "managed" || strings.HasPrefix(sku, "standard"):
	case strings.HasPrefix(sku, "premium") || strings.HasPrefix(sku, "ultra"):
		if !size.PremiumStorage {
			status = "NotSupported"
		}
	default:
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "vmSku '%s' is not a storage SKU: use Standard, StandardSSD, Premium or Managed.", in.VMSku)
	}
	return arm.OK(map[string]any{"supportStatus": status}), nil
}
