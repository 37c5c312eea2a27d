package compute

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
)

type managedDiskInput struct {
	ID                 string `json:"id"`
	StorageAccountType string `json:"storageAccountType"`
}

// vmInput is a VM PUT/PATCH body.
type vmInput struct {
	resourceInput[vmProperties]
	Zones []string `json:"zones"`
}

type vmProperties struct {
	HardwareProfile map[string]any `json:"hardwareProfile"`
	OSProfile       map[string]any `json:"osProfile"`
	NetworkProfile  map[string]any `json:"networkProfile"`
	StorageProfile  *struct {
		OSDisk *struct {
			Name         string            `json:"name"`
			CreateOption string            `json:"createOption"`
			OSType       string            `json:"osType"`
			DiskSizeGB   *int64            `json:"diskSizeGB"`
			ManagedDisk  *managedDiskInput `json:"managedDisk"`
		} `json:"osDisk"`
		DataDisks []struct {
			Lun          *int32            `json:"lun"`
			Name         string            `json:"name"`
			CreateOption string            `json:"createOption"`
			DiskSizeGB   *int64            `json:"diskSizeGB"`
			ManagedDisk  *managedDiskInput `json:"managedDisk"`
		} `json:"dataDisks"`
		ImageReference map[string]any `json:"imageReference"`
	} `json:"storageProfile"`
}

func (pr *Provider) registerVMs(rt *arm.Router) {
	one := rgPrefix + "/virtualMachines/{vmName}"
	rt.HandleResource(one, arm.Methods{List: pr.listVMs, Get: pr.getVM, Put: decoded(pr.putVM), Patch: decoded(pr.patchVM), Delete: pr.deleteVM})
	rt.Handle("GET", one+"/instanceView", getByID(vmID, pr.svc.InstanceView))
	rt.Handle("GET", subPrefix+"/virtualMachines", pr.listVMs)
	rt.Handle("GET", subPrefix+"/locations/{location}/virtualMachines", pr.listVMs, arm.Action("Microsoft.Compute/virtualMachines/read"))
	rt.Handle("GET", subPrefix+"/locations/{location}/usages", pr.listUsages, arm.Action("Microsoft.Compute/locations/usages/read"))
	for action, power := range map[string]string{"start": compute.PowerRunning, "restart": compute.PowerRunning,
		"powerOff": compute.PowerStopped, "deallocate": compute.PowerDeallocated} {
		action, power := action, power
		rt.Handle("POST", one+"/"+action, func(r *arm.Request) (*arm.Response, error) { return pr.vmPower(r, action, power) })
	}
	registerUnknownActions(rt, one, compute.VMType, "start", "restart", "powerOff", "deallocate")
	pr.p.Ops.Register("compute.vm.delete", runDelete(pr.svc.DeleteVM))
	pr.p.Ops.Register("compute.vm.power", pr.runVMPower)
}

func vmID(r *arm.Request) string {
	return computeID(r, "virtualMachines", r.Param("vmName"))
}

func (pr *Provider) putVM(r *arm.Request, in vmInput) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	spec := compute.VMSpec{ID: vmID(r), Tags: in.Tags, Zones: in.Zones}
	if in.Location != nil {
		spec.Location = *in.Location
	}
	if in.Properties == nil || in.Properties.StorageProfile == nil || in.Properties.StorageProfile.OSDisk == nil {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'storageProfile.osDisk' is missing (null). Attach a managed disk as the OS disk (createOption Attach, managedDisk.id).")
	}
	sp := in.Properties.StorageProfile
	// Disks given by createOption FromImage (OS) or Empty (data) are created
	// as empty managed disks in the VM's resource group, as Azure does
	// (Safehold runs no guest, so an image is just a size).
	type implicit struct {
		name   string
		sizeGB int64
		sku    string
		osType string
	}
	var create []implicit
	vmName := r.Param("vmName")
	osID := ""
	existing, _ := pr.svc.VM(ctx, spec.ID) // an update keeps the disks it made
	existingLun := map[int32]string{}
	if existing != nil {
		for _, dd := range existing.DataDisks {
			existingLun[dd.Lun] = dd.DiskID
		}
	}
	switch co := strings.ToLower(sp.OSDisk.CreateOption); co {
	case "attach":
		if sp.OSDisk.ManagedDisk == nil || sp.OSDisk.ManagedDisk.ID == "" {
			return nil, arm.BadRequest("InvalidParameter", "Required parameter 'osDisk.managedDisk.id' is missing (null).")
		}
		osID = sp.OSDisk.ManagedDisk.ID
	case "fromimage", "empty":
		spec.OSDiskCreateOption = map[string]string{"fromimage": "FromImage", "empty": "Empty"}[co]
		if existing != nil && sp.OSDisk.Name == "" {
			osID = existing.OSDiskID
			break
		}
		name := sp.OSDisk.Name
		if name == "" {
			name = vmName + "_OsDisk_1_" + strings.ReplaceAll(ops.NewID(), "-", "")
		}
		size := int64(30)
		if sp.OSDisk.DiskSizeGB != nil {
			size = *sp.OSDisk.DiskSizeGB
		}
		sku := ""
		if sp.OSDisk.ManagedDisk != nil {
			sku = sp.OSDisk.ManagedDisk.StorageAccountType
		}
		if sp.OSDisk.Name != "" {
			if err := checkName(name, "OS disk"); err != nil {
				return nil, err
			}
		}
		create = append(create, implicit{name, size, sku, sp.OSDisk.OSType})
		osID = computeID(r, "disks", name)
	default:
		return nil, arm.BadRequest("InvalidParameter", "The value '%s' of parameter 'osDisk.createOption' is not supported. Use Attach (managedDisk.id), FromImage or Empty.", sp.OSDisk.CreateOption)
	}
	spec.OSDiskID, spec.OSType = osID, sp.OSDisk.OSType
	if spec.OSDiskCreateOption == "" {
		spec.OSDiskCreateOption = "Attach"
	}
	for i, dd := range sp.DataDisks {
		if dd.Lun == nil {
			return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].lun' is missing (null).", i)
		}
		var id string
		ddOption := "Attach"
		switch strings.ToLower(dd.CreateOption) {
		case "attach":
			if dd.ManagedDisk == nil || dd.ManagedDisk.ID == "" {
				return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].managedDisk.id' is missing (null).", i)
			}
			id = dd.ManagedDisk.ID
		case "empty":
			ddOption = "Empty"
			if dd.DiskSizeGB == nil || *dd.DiskSizeGB <= 0 {
				return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].diskSizeGB' is missing (null): an Empty data disk needs a size.", i)
			}
			if old, ok := existingLun[*dd.Lun]; ok && dd.Name == "" {
				id = old
				break
			}
			name := dd.Name
			if name == "" {
				name = fmt.Sprintf("%s_disk%d_%s", vmName, *dd.Lun+2, strings.ReplaceAll(ops.NewID(), "-", ""))
			}
			sku := ""
			if dd.ManagedDisk != nil {
				sku = dd.ManagedDisk.StorageAccountType
			}
			if dd.Name != "" {
				if err := checkName(name, "data disk"); err != nil {
					return nil, err
				}
			}
			create = append(create, implicit{name, *dd.DiskSizeGB, sku, ""})
			id = computeID(r, "disks", name)
		default:
			return nil, arm.BadRequest("InvalidParameter", "The value '%s' of parameter 'dataDisks[%d].createOption' is not supported. Use Attach (managedDisk.id) or Empty (diskSizeGB).", dd.CreateOption, i)
		}
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: *dd.Lun, DiskID: id, CreateOption: ddOption})
	}
	if err := r.CheckLinked(newAttachLinks(existing, spec)...); err != nil {
		return nil, err
	}
	var made []string
	for _, c := range create {
		id := computeID(r, "disks", c.name)
		if _, err := pr.svc.DiskResource(ctx, id); err == nil {
			continue // created by an earlier PUT of this VM
		}
		if spec.Location == "" {
			return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
		}
		if _, err := pr.svc.CreateDisk(ctx, compute.DiskSpec{ID: id, Location: spec.Location, CreateOption: "Empty", SizeBytes: c.sizeGB << 30, SKU: c.sku, OSType: c.osType, Zones: spec.Zones}); err != nil {
			for _, m := range made {
				pr.svc.DeleteDisk(ctx, m)
			}
			return nil, err
		}
		made = append(made, id)
	}
	spec.HardwareProfile, spec.OSProfile, spec.NetworkProfile = in.Properties.HardwareProfile, in.Properties.OSProfile, in.Properties.NetworkProfile
	if spec.OSProfile != nil {
		delete(spec.OSProfile, "adminPassword")
	}
	created, vm, err := pr.svc.PutVM(ctx, spec)
	if err != nil {
		for _, m := range made {
			pr.svc.DeleteDisk(ctx, m)
		}
		return nil, err
	}
	body, err := pr.svc.VMResource(ctx, vm.ID)
	if err != nil {
		return nil, err
	}
	return arm.CreatedOrOK(created, body), nil
}

func (pr *Provider) patchVM(r *arm.Request, in vmInput) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vm, err := pr.svc.VM(ctx, vmID(r))
	if err != nil {
		return nil, err
	}
	spec := compute.VMSpec{ID: vm.ID, Location: vm.Location, Tags: in.Tags, OSDiskID: vm.OSDiskID, DataDisks: vm.DataDisks}
	if in.Tags == nil {
		spec.Tags = vm.Tags
	}
	if in.Properties != nil {
		spec.HardwareProfile = in.Properties.HardwareProfile
		if sp := in.Properties.StorageProfile; sp != nil && sp.DataDisks != nil {
			spec.DataDisks = nil
			for i, dd := range sp.DataDisks {
				if dd.Lun == nil || dd.ManagedDisk == nil || dd.ManagedDisk.ID == "" {
					return nil, arm.BadRequest("InvalidParameter", "dataDisks[%d] needs lun and managedDisk.id.", i)
				}
				spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: *dd.Lun, DiskID: dd.ManagedDisk.ID})
			}
		}
	}
	if err := r.CheckLinked(newAttachLinks(vm, spec)...); err != nil {
		return nil, err
	}
	if _, _, err := pr.svc.PutVM(ctx, spec); err != nil {
		return nil, err
	}
	body, err := pr.svc.VMResource(ctx, vm.ID)
	if err != nil {
		return nil, err
	}
	return arm.OK(body), nil
}

func (pr *Provider) getVM(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	body, err := pr.svc.VMResource(ctx, vmID(r))
	if err != nil {
		return nil, err
	}
	if strings.Contains(strings.ToLower(r.Query("$expand")), "instanceview") {
		iv, err := pr.svc.InstanceView(ctx, body.ID)
		if err != nil {
			return nil, err
		}
		body.Properties.InstanceView = iv
	}
	return arm.OK(body), nil
}

func (pr *Provider) listVMs(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	scope, err := pr.listScope(r)
	if err != nil {
		return nil, err
	}
	vs, err := pr.svc.ListVMResources(ctx, scope)
	if err != nil {
		return nil, err
	}
	if loc := r.Param("location"); loc != "" {
		var keep []*compute.VMResource
		for _, v := range vs {
			if strings.EqualFold(v.Location, loc) {
				keep = append(keep, v)
			}
		}
		vs = keep
	}
	return arm.PageOK(r, vs, 1000)
}

func (pr *Provider) deleteVM(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vm, err := pr.svc.VMResource(ctx, vmID(r))
	if arm.IsNotFound(err) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	return pr.start(r, "compute.vm.delete", vm.ID, vm.Location, nil, 0, nil)
}

func (pr *Provider) vmPower(r *arm.Request, action, power string) (*arm.Response, error) {
	vm, err := pr.svc.VMResource(r.HTTP.Context(), vmID(r))
	if err != nil {
		return nil, err
	}
	if action == "restart" {
		// Only a running VM restarts (Azure: 409 OperationNotAllowed).
		v, err := pr.svc.VM(r.HTTP.Context(), vm.ID)
		if err != nil {
			return nil, err
		}
		if v.PowerState != compute.PowerRunning {
			return nil, arm.Conflict("OperationNotAllowed", "Cannot restart the VM '%s' because it is %s; start it first.", vm.Name, v.PowerState)
		}
	}
	return pr.start(r, "compute.vm.power", vm.ID, vm.Location, power, 0, nil)
}

func (pr *Provider) runVMPower(ctx context.Context, op *ops.Operation) error {
	in, power, err := opSpec[string](op)
	if err != nil {
		return err
	}
	if _, err := pr.svc.SetPowerState(ctx, in.ResourceID, power); err != nil {
		return err
	}
	op.ResultStatus = http.StatusOK
	return nil
}

// newAttachLinks are the linked checks of a VM PUT or PATCH: every disk it
// attaches that the VM (when it exists) does not have already.
func newAttachLinks(existing *compute.VM, spec compute.VMSpec) []arm.Link {
	has := map[string]bool{}
	if existing != nil {
		has[strings.ToLower(existing.OSDiskID)] = true
		for _, dd := range existing.DataDisks {
			has[strings.ToLower(dd.DiskID)] = true
		}
	}
	var links []arm.Link
	for _, id := range append([]string{spec.OSDiskID}, dataDiskIDs(spec.DataDisks)...) {
		if !has[strings.ToLower(id)] {
			links = append(links, attachLink(id))
		}
	}
	return links
}

func dataDiskIDs(dds []compute.VMDataDisk) []string {
	out := make([]string, len(dds))
	for i, dd := range dds {
		out[i] = dd.DiskID
	}
	return out
}

// usage is Azure's Usage: a compute quota of a region, its use and limit.
type usage struct {
	Unit         string    `json:"unit"`
	CurrentValue int64     `json:"currentValue"`
	Limit        int64     `json:"limit"`
	Name         usageName `json:"name"`
}

type usageName struct {
	Value          string `json:"value"`
	LocalizedValue string `json:"localizedValue"`
}

// listUsages is GET .../providers/Microsoft.Compute/locations/{location}/usages:
// the subscription's compute quotas in the region (vCPUs in total and per
// VM size family, VMs), with what its allocated VMs use.
func (pr *Provider) listUsages(r *arm.Request) (*arm.Response, error) {
	us, err := pr.svc.Usages(r.HTTP.Context(), r.Param("subscriptionId"), r.Param("location"))
	if err != nil {
		return nil, err
	}
	out := make([]usage, len(us))
	for i, u := range us {
		out[i] = usage{Unit: "Count", CurrentValue: u.Current, Limit: u.Limit, Name: usageName{Value: u.Name, LocalizedValue: u.LocalizedName}}
	}
	return arm.PageOK(r, out, 1000)
}
