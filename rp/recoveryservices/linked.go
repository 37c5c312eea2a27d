package recoveryservices

import (
	"strings"

	"github.com/safehold/safehold/arm"
)

// Linked access (ARM's linked authorization check, arm.Request.CheckLinked)
// for what Recovery Services requests name besides the vault: a protected
// item's VM and policy, a restore's target resource group and VM.

// link is the link to id when it is of the type the action is on, or a
// resource group for creating disks in it (arm.LinkTo).
func link(action, id string) arm.Link { return arm.LinkTo(action, id, "Microsoft.Compute/disks/write") }

// itemLinks are the links of a protected item PUT: the VM it protects
// (named by the item and by sourceResourceId) and its policy.
func itemLinks(vm string, in itemInput) []arm.Link {
	links := []arm.Link{link("Microsoft.Compute/virtualMachines/read", in.Properties.SourceResourceID)}
	if !strings.EqualFold(vm, in.Properties.SourceResourceID) {
		links = append(links, link("Microsoft.Compute/virtualMachines/read", vm))
	}
	if in.Properties.PolicyID != nil && strings.Contains(*in.Properties.PolicyID, "/") {
		links = append(links, link("Microsoft.RecoveryServices/vaults/backupPolicies/read", *in.Properties.PolicyID))
	}
	return links
}

// restoreLinks are the links of a restore: where it creates disks (the
// target resource group; in the unmanaged form, the staging account's; for
// a new VM without one, the VM's), the VM it restores to and the staging
// storage account it writes (storageAccountId, or the identity-based
// restore's targetStorageAccountId) and, for a new VM, the virtual network
// and subnet it joins.
func restoreLinks(req restoreRequest) []arm.Link {
	staging, _ := req.staging()
	rg := req.TargetResourceGroupID
	if strings.EqualFold(req.RecoveryType, "RestoreDisks") {
		req.RecoveryType = "RestoreDisks"
	}
	if rid, err := arm.ParseID(staging); err == nil && req.unmanaged() {
		rg = rid.ResourceGroupID()
	}
	if rid, err := arm.ParseID(req.TargetVirtualMachineID); err == nil && rg == "" && strings.EqualFold(req.RecoveryType, "AlternateLocation") {
		rg = rid.ResourceGroupID()
	}
	links := []arm.Link{
		link("Microsoft.Compute/disks/write", rg),
		link("Microsoft.Compute/virtualMachines/write", req.TargetVirtualMachineID),
		link(stagingAction, staging),
		link("Microsoft.Compute/diskEncryptionSets/read", req.DiskEncryptionSetID),
		link("Microsoft.Compute/diskAccesses/read", req.targetDiskAccess()),
	}
	if strings.EqualFold(req.RecoveryType, "AlternateLocation") {
		for _, c := range networkChecks(req) {
			links = append(links, link(c[0], c[1]))
		}
	}
	return links
}

// networkChecks are the accesses a restore to a new VM needs on the
// network it names (Azure's, for the VM's network interface): read on the
// virtual network, join on the subnet, and write on the network interface
// the restore creates in it for the VM (nicOf).
func networkChecks(req restoreRequest) [][2]string {
	var checks [][2]string
	if req.VirtualNetworkID != "" {
		checks = append(checks, [2]string{"Microsoft.Network/virtualNetworks/read", req.VirtualNetworkID})
	}
	if req.SubnetID != "" {
		checks = append(checks, [2]string{joinSubnet, req.SubnetID})
		if vm, err := arm.ParseID(req.TargetVirtualMachineID); err == nil && vm.IsType(vmType) {
			checks = append(checks, [2]string{"Microsoft.Network/networkInterfaces/write", nicOf(vm.String())})
		}
	}
	return checks
}

// stagingAction is the access a restore needs on its staging account.
// Read, as in Azure: the Backup service (not the caller) writes the VM's
// configuration and VHDs there, and Azure's Backup Contributor and Backup
// Operator roles hold storageAccounts/read only.
const stagingAction = "Microsoft.Storage/storageAccounts/read"

// originalLinks are the links of an OriginalLocation restore of the item
// it: the VM it changes and the resource group its new disks are created
// in (the VM's).
func originalLinks(it *itemRecord) []arm.Link {
	vm, err := arm.ParseID(it.SourceID)
	if err != nil {
		return nil
	}
	return []arm.Link{link("Microsoft.Compute/disks/write", vm.ResourceGroupID()), link("Microsoft.Compute/virtualMachines/write", it.SourceID)}
}
