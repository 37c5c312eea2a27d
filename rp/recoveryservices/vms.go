package recoveryservices

import (
	"context"
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// vmInfo is what backup needs of a VM.
type vmInfo struct {
	ID, Name, ResourceGroup, SubscriptionID, Location string
	Size, OSType                                      string
	vm                                                *compute.VM
}

type vmDisk struct {
	ID   string
	Lun  int
	OS   bool
	Name string
}

// disks lists the VM's disks, OS disk first (Lun -1).
func (v *vmInfo) disks() []vmDisk {
	var out []vmDisk
	if v.vm.OSDiskID != "" {
		out = append(out, vmDisk{ID: v.vm.OSDiskID, Lun: -1, OS: true})
	}
	for _, d := range v.vm.DataDisks {
		out = append(out, vmDisk{ID: d.DiskID, Lun: int(d.Lun), Name: d.Name})
	}
	return out
}

func toInfo(vm *compute.VM) *vmInfo {
	return &vmInfo{ID: vm.ID, Name: vm.Name, ResourceGroup: vm.ResourceGroup, SubscriptionID: vm.SubscriptionID, Location: vm.Location,
		Size: vm.VMSize, OSType: vm.OSType, vm: vm}
}

func (pr *Provider) checkCompute() error {
	if pr.Compute == nil {
		return arm.Errorf(http.StatusServiceUnavailable, "ComputeUnavailable", "Virtual machine backup needs the compute service, which this server runs without.")
	}
	return nil
}

// lookupVM reads a VM; a 404 names the VM.
func (pr *Provider) lookupVM(ctx context.Context, id string) (*vmInfo, error) {
	if err := pr.checkCompute(); err != nil {
		return nil, err
	}
	vm, err := pr.Compute.VM(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil, arm.BadRequest("BMSUserErrorVMNotFound", "The virtual machine '%s' does not exist: create it, or run refreshContainers and use a VM it lists.", id)
		}
		return nil, err
	}
	return toInfo(vm), nil
}

func (pr *Provider) listVMs(ctx context.Context, sub string) ([]*vmInfo, error) {
	if err := pr.checkCompute(); err != nil {
		return nil, err
	}
	vms, err := pr.Compute.ListVMs(ctx, sub)
	if err != nil {
		return nil, err
	}
	out := make([]*vmInfo, len(vms))
	for i, vm := range vms {
		out[i] = toInfo(vm)
	}
	return out, nil
}
