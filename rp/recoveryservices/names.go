package recoveryservices

import (
	"strings"

	"github.com/safehold/safehold/arm"
)

// Names of IaaS VM containers and items, as the seed builds them from a
// protectable item's name "iaasvmcontainerv2;{rg};{vm}":
//
//	container      IaasVMContainer;iaasvmcontainerv2;{rg};{vm}
//	protected item VM;iaasvmcontainerv2;{rg};{vm}
//
// Every part matches case-insensitively. The seed's short item form
// "vm;{rg};{vm}" is accepted as an alias; responses always use the
// canonical form.

// vmRef is a VM as the naming scheme sees it.
type vmRef struct {
	RG, Name string
}

func (v vmRef) protectableName() string { return "iaasvmcontainerv2;" + v.RG + ";" + v.Name }
func (v vmRef) containerName() string   { return "IaasVMContainer;" + v.protectableName() }
func (v vmRef) itemName() string        { return "VM;" + v.protectableName() }

// key is the case-insensitive identity of a VM within a subscription.
func (v vmRef) key() string { return strings.ToLower(v.RG + ";" + v.Name) }

// parseContainerName accepts "IaasVMContainer;iaasvmcontainerv2;{rg};{vm}"
// (and the bare "iaasvmcontainerv2;{rg};{vm}").
func parseContainerName(s string) (vmRef, bool) {
	return parseVMName(s, "iaasvmcontainer", "iaasvmcontainerv2")
}

// parseItemName accepts "VM;iaasvmcontainerv2;{rg};{vm}" and the seed's
// short "vm;{rg};{vm}".
func parseItemName(s string) (vmRef, bool) {
	return parseVMName(s, "vm", "vm")
}

// parseVMName accepts "{kind};iaasvmcontainerv2;{rg};{vm}" and the short
// "{short};{rg};{vm}", kind and short matching case-insensitively.
func parseVMName(s, kind, short string) (vmRef, bool) {
	p := strings.Split(s, ";")
	if len(p) == 4 && strings.EqualFold(p[0], kind) && strings.EqualFold(p[1], "iaasvmcontainerv2") {
		return vmRef{p[2], p[3]}, p[2] != "" && p[3] != ""
	}
	if len(p) == 3 && strings.EqualFold(p[0], short) {
		return vmRef{p[1], p[2]}, p[1] != "" && p[2] != ""
	}
	return vmRef{}, false
}

// vaultID is the id of a vault.
func vaultID(sub, rg, vault string) arm.ResourceID {
	return arm.NewID(sub, rg, namespace, "vaults", vault)
}

func fabricID(v arm.ResourceID) arm.ResourceID { return v.Child("backupFabrics", "Azure") }

func containerID(v arm.ResourceID, vm vmRef) arm.ResourceID {
	return fabricID(v).Child("protectionContainers", vm.containerName())
}

func itemID(v arm.ResourceID, vm vmRef) arm.ResourceID {
	return containerID(v, vm).Child("protectedItems", vm.itemName())
}

func protectableID(v arm.ResourceID, vm vmRef) arm.ResourceID {
	return containerID(v, vm).Child("protectableItems", "vm;"+vm.protectableName())
}

// vmRefFromID reads the resource group and name of a VM id.
func vmRefFromID(id string) (vmRef, bool) {
	r, err := arm.ParseID(id)
	if err != nil || !r.IsType("Microsoft.Compute/virtualMachines") {
		return vmRef{}, false
	}
	return vmRef{r.ResourceGroup, r.Name()}, true
}
