package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
)

type managedDiskInput struct {
	ID                 string `json:"id"`
	StorageAccountType string `json:"storageAccountType"`
	DiskEncryptionSet  *struct {
		ID string `json:"id"`
	} `json:"diskEncryptionSet"`
}

// encryptionSet is the id of the disk encryption set md names ("" for none).
func (md *managedDiskInput) encryptionSet() string {
	if md == nil || md.DiskEncryptionSet == nil {
		return ""
	}
	return md.DiskEncryptionSet.ID
}

// vmSetRefs are the disk encryption sets a VM body's storage profile
// names (each disk's managedDisk.diskEncryptionSet.id), which the caller
// must be able to read and which must exist, as a disk's own
// encryption.diskEncryptionSetId (checkRefs).
func vmSetRefs(p *vmProperties) []settingRef {
	if p == nil || p.StorageProfile == nil {
		return nil
	}
	var refs []settingRef
	add := func(path string, md *managedDiskInput) {
		if id := md.encryptionSet(); id != "" {
			refs = append(refs, settingRef{path, id, encryptionSetType, "DiskEncryptionSet"})
		}
	}
	if od := p.StorageProfile.OSDisk; od != nil {
		add("storageProfile.osDisk.managedDisk.diskEncryptionSet.id", od.ManagedDisk)
	}
	for i, dd := range p.StorageProfile.DataDisks {
		add(fmt.Sprintf("storageProfile.dataDisks[%d].managedDisk.diskEncryptionSet.id", i), dd.ManagedDisk)
	}
	return refs
}

// encryptedWith are the settings of a disk a VM creates with the disk
// encryption set md names (none without one); its type is the set's
// (normEncryption, once the set is checked).
func encryptedWith(md *managedDiskInput) compute.Settings {
	id := md.encryptionSet()
	if id == "" {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"diskEncryptionSetId": id})
	return compute.Settings{"encryption": b}
}

// vmInput is a VM PUT/PATCH body.
type vmInput struct {
	resourceInput[vmProperties]
	Zones    []string           `json:"zones"`
	Identity *resource.Identity `json:"identity"`
	// ExtendedLocation is an edge zone, which a new VM cannot be in.
	ExtendedLocation json.RawMessage `json:"extendedLocation"`
	Plan             json.RawMessage `json:"plan"`
}

// vmExtras puts into spec what a VM PUT or PATCH gives beyond its disks
// and profiles: its identity (the caller needs the assign action on each
// user-assigned one, as ARM's linked check), its plan, and the properties
// kept as given (compute.KeptVMProperties), each of its JSON type.
func vmExtras(r *arm.Request, in vmInput, spec *compute.VMSpec) error {
	if in.Identity != nil {
		if err := r.CheckLinked(arm.AssignLinks(resource.AssignIdentity, in.Identity.UserAssignedIDs())...); err != nil {
			return err
		}
		spec.Identity, spec.IdentityGiven = in.Identity, true
		spec.MergeIdentity = r.HTTP.Method == http.MethodPatch
	}
	if len(in.Plan) > 0 && string(in.Plan) != "null" {
		if in.Plan[0] != '{' {
			return arm.BadRequestAt("plan", "InvalidParameter", "The value of parameter 'plan' must be an object: {\"name\": ..., \"publisher\": ..., \"product\": ...}.")
		}
		spec.Plan = in.Plan
	}
	var body struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return nil // the body decoded as a vmInput: no properties object
	}
	sent := map[string]string{} // Azure's spelling -> as sent
	for k, v := range body.Properties {
		// Property names match in any case, as ARM's do; the property is
		// kept in Azure's spelling, the only one the SDKs read.
		name := k
		if _, ok := compute.KeptVMProperties[k]; !ok {
			for n := range compute.KeptVMProperties {
				if strings.EqualFold(n, k) {
					name = n
				}
			}
		}
		want, ok := compute.KeptVMProperties[name]
		if !ok {
			continue
		}
		if other, twice := sent[name]; twice {
			return arm.BadRequestAt("properties."+name, "InvalidParameter", "The parameter '%s' is given twice, as '%s' and '%s': give it once.", name, other, k)
		}
		sent[name], k = k, name
		if string(v) != "null" {
			var te *json.UnmarshalTypeError
			if err := json.Unmarshal(v, reflect.New(want).Interface()); errors.As(err, &te) {
				_, must, got := failure.TypeMismatch(want, te)
				return arm.BadRequestAt("properties."+k, "InvalidParameter", "The value of parameter '%s' must be %s, not %s.", k, must, got)
			}
		}
		var enum []string
		switch k {
		case "priority":
			enum = []string{"Regular", "Low", "Spot"}
		case "evictionPolicy":
			enum = []string{"Deallocate", "Delete"}
		}
		if enum != nil && string(v) != "null" {
			var got string
			_ = json.Unmarshal(v, &got)
			if !slices.ContainsFunc(enum, func(e string) bool { return strings.EqualFold(e, got) }) {
				return arm.BadRequestAt("properties."+k, "InvalidParameter", "The value '%s' of parameter '%s' is not valid. Use one of: %s.", got, k, strings.Join(enum, ", "))
			}
		}
		if spec.Kept == nil {
			spec.Kept = map[string]json.RawMessage{}
		}
		spec.Kept[k] = v
	}
	return nil
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
			DeleteOption string            `json:"deleteOption"`
			Caching      string            `json:"caching"`
		} `json:"osDisk"`
		DataDisks []struct {
			Lun          *int32            `json:"lun"`
			Name         string            `json:"name"`
			CreateOption string            `json:"createOption"`
			DiskSizeGB   *int64            `json:"diskSizeGB"`
			ManagedDisk  *managedDiskInput `json:"managedDisk"`
			DeleteOption string            `json:"deleteOption"`
			Caching      string            `json:"caching"`
			// WriteAcceleratorEnabled: nil keeps what the VM had.
			WriteAcceleratorEnabled *bool `json:"writeAcceleratorEnabled"`
			// ToBeDetached detaches the disk (az vm disk detach
			// --force-detach; detachOption ForceDetach, the only one).
			ToBeDetached *bool  `json:"toBeDetached"`
			DetachOption string `json:"detachOption"`
		} `json:"dataDisks"`
		ImageReference *compute.VMImageReference `json:"imageReference"`
	} `json:"storageProfile"`
}

// toBeDetached reports whether a VM PUT or PATCH detaches its i-th data
// disk (toBeDetached true: the update leaves it out, as Azure's ends); a
// detachOption other than ForceDetach is 400.
func toBeDetached(flag *bool, option string, i int) (bool, error) {
	if option != "" && !strings.EqualFold(option, "ForceDetach") {
		return false, arm.BadRequestAt(fmt.Sprintf("dataDisks[%d].detachOption", i), "InvalidParameter", "The value '%s' of parameter 'dataDisks[%d].detachOption' is not supported. Use ForceDetach (with toBeDetached true), or leave it out.", option, i)
	}
	return flag != nil && *flag, nil
}

func (pr *Provider) registerVMs(rt *arm.Router) {
	one := rgPrefix + "/virtualMachines/{vmName}"
	rt.HandleResource(one, arm.Methods{List: pr.listVMs, Get: pr.getVM, Put: decoded(pr.putVM), Patch: decoded(pr.patchVM), Delete: pr.deleteVM})
	rt.Handle("GET", one+"/instanceView", getByID(vmID, pr.svc.InstanceView))
	rt.Handle("GET", subPrefix+"/virtualMachines", pr.listVMs)
	rt.Handle("GET", subPrefix+"/locations/{location}/virtualMachines", pr.listVMs, arm.Action("Microsoft.Compute/virtualMachines/read"))
	rt.Handle("GET", subPrefix+"/locations/{location}/usages", pr.listUsages, arm.Action("Microsoft.Compute/locations/usages/read"))
	rt.Handle("GET", subPrefix+"/locations/{location}/vmSizes", func(r *arm.Request) (*arm.Response, error) {
		return listSizes(pr.svc.VMSizes(r.HTTP.Context(), r.Param("location")))
	}, arm.Action("Microsoft.Compute/locations/vmSizes/read"))
	rt.Handle("GET", one+"/vmSizes", func(r *arm.Request) (*arm.Response, error) {
		return listSizes(pr.svc.VMSizesFor(r.HTTP.Context(), vmID(r)))
	}, arm.Action(compute.VMType+"/vmSizes/read"))
	rt.Handle("GET", subPrefix+"/skus", pr.listSKUs, arm.Action("Microsoft.Compute/skus/read"))
	rt.Handle("GET", "/providers/Microsoft.Compute/operations", rt.OperationsCatalog("Microsoft.Compute", "Microsoft Compute"), arm.NoAuthz())
	for action, power := range map[string]string{"start": compute.PowerRunning, "restart": compute.PowerRunning,
		"powerOff": compute.PowerStopped, "deallocate": compute.PowerDeallocated} {
		action, power := action, power
		rt.Handle("POST", one+"/"+action, func(r *arm.Request) (*arm.Response, error) { return pr.vmPower(r, action, power) })
	}
	rt.Handle("POST", one+"/attachDetachDataDisks", pr.attachDetachDataDisks)
	registerUnknownActions(rt, one, compute.VMType, "start", "restart", "powerOff", "deallocate", "attachDetachDataDisks")
	pr.p.Ops.Register("compute.vm.delete", runDelete(pr.svc.DeleteVMOf))
	pr.p.Ops.Register("compute.vm.power", pr.runVMPower)
}

// deleteOption checks a disk's deleteOption (Azure's DiskDeleteOptionTypes,
// any case): "Delete", "Detach", or "" when not given.
func deleteOption(v, field string) (string, error) {
	return oneOf(v, field, "Use Delete (the VM's delete deletes the disk) or Detach (the disk is kept).", "Delete", "Detach")
}

// caching checks a disk's host caching (Azure's CachingTypes, any case):
// "None", "ReadOnly", "ReadWrite", or "" when not given.
func caching(v, field string) (string, error) {
	return oneOf(v, field, "Use None, ReadOnly or ReadWrite.", "None", "ReadOnly", "ReadWrite")
}

// oneOf is the value of values that v names in any case ("" for ""); any
// other v is 400 InvalidParameter at field, saying what to use (use).
func oneOf(v, field, use string, values ...string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, x := range values {
		if strings.EqualFold(v, x) {
			return x, nil
		}
	}
	e := arm.BadRequest("InvalidParameter", "The value '%s' of parameter '%s' is not valid. %s", v, field, use)
	e.Target = field
	return "", e
}

func vmID(r *arm.Request) string {
	return computeID(r, "virtualMachines", r.Param("vmName"))
}

// implicitDisk is a disk a VM PUT creates for the VM: its OS disk
// (createOption FromImage or Empty) or a data disk (Empty, FromImage).
type implicitDisk struct {
	id          string
	sizeGB      *int64 // as asked; nil: the image's (or 30 GiB for an empty OS disk)
	sku, osType string
	fromImage   bool
	lun         *int32           // a data disk's lun; nil: the OS disk
	field       string           // the size's field in the request, for errors
	pending     bool             // not created yet (an earlier PUT of the VM may have)
	settings    compute.Settings // its encryption set's (encryptedWith)
}

func (pr *Provider) putVM(r *arm.Request, in vmInput) (*arm.Response, error) {
	return pr.putVMOver(r, in, nil)
}

// putVMOver is putVM; with base (an update computed from the VM as read:
// patchAsPut) it writes only over that VM (compute.VMSpec.Base).
func (pr *Provider) putVMOver(r *arm.Request, in vmInput, base *compute.VM) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	spec := compute.VMSpec{ID: vmID(r), Tags: in.Tags, Zones: in.Zones, Base: base, ExtendedLocation: in.ExtendedLocation}
	if in.Location != nil {
		spec.Location = *in.Location
	}
	if in.Properties == nil || in.Properties.StorageProfile == nil || in.Properties.StorageProfile.OSDisk == nil {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'storageProfile.osDisk' is missing (null). Attach a managed disk as the OS disk (createOption Attach, managedDisk.id).")
	}
	sp := in.Properties.StorageProfile
	// The OS type as Azure answers it, given in any case (az vm create
	// --attach-os-disk --os-type linux sends it as typed).
	osType, osErr := oneOf(sp.OSDisk.OSType, "osDisk.osType", "Use Linux or Windows.", "Linux", "Windows")
	if osErr != nil {
		return nil, osErr
	}
	sp.OSDisk.OSType = osType
	// Disks given by createOption FromImage or Empty are created as managed
	// disks in the VM's resource group, as Azure does: with the bytes of
	// the image when Safehold has it, empty otherwise.
	var create []implicitDisk
	vmName := r.Param("vmName")
	osID := ""
	existing := base
	if existing == nil {
		existing, _ = pr.svc.VM(ctx, spec.ID) // an update keeps the disks it made
	}
	existingLun := map[int32]string{}
	if existing != nil {
		for _, dd := range existing.DataDisks {
			existingLun[dd.Lun] = dd.DiskID
		}
	}
	// implicit names a disk to create: the name given (checked) or one
	// made as Azure makes them.
	implicit := func(given, made, what string) (string, error) {
		if given == "" {
			return made + "_" + strings.ReplaceAll(ops.NewID(), "-", ""), nil
		}
		return given, checkName(given, what)
	}
	skuOf := func(md *managedDiskInput) string {
		if md == nil {
			return ""
		}
		return md.StorageAccountType
	}
	osFromImage := false
	switch co := strings.ToLower(sp.OSDisk.CreateOption); co {
	case "attach":
		if sp.OSDisk.ManagedDisk == nil || sp.OSDisk.ManagedDisk.ID == "" {
			return nil, arm.BadRequest("InvalidParameter", "Required parameter 'osDisk.managedDisk.id' is missing (null).")
		}
		osID = sp.OSDisk.ManagedDisk.ID
	case "fromimage", "empty":
		spec.OSDiskCreateOption = map[string]string{"fromimage": "FromImage", "empty": "Empty"}[co]
		osFromImage = co == "fromimage"
		if existing != nil && sp.OSDisk.Name == "" {
			osID = existing.OSDiskID
			break
		}
		name, err := implicit(sp.OSDisk.Name, vmName+"_OsDisk_1", "OS disk")
		if err != nil {
			return nil, err
		}
		osID = computeID(r, "disks", name)
		create = append(create, implicitDisk{id: osID, sizeGB: sp.OSDisk.DiskSizeGB, sku: skuOf(sp.OSDisk.ManagedDisk), osType: sp.OSDisk.OSType,
			fromImage: osFromImage, field: "osDisk.diskSizeGB", settings: encryptedWith(sp.OSDisk.ManagedDisk)})
	default:
		return nil, arm.BadRequest("InvalidParameter", "The value '%s' of parameter 'osDisk.createOption' is not supported. Use Attach (managedDisk.id), FromImage or Empty.", sp.OSDisk.CreateOption)
	}
	spec.OSDiskID, spec.OSType = osID, sp.OSDisk.OSType
	var err error
	if spec.OSDiskDeleteOption, err = deleteOption(sp.OSDisk.DeleteOption, "osDisk.deleteOption"); err != nil {
		return nil, err
	}
	if spec.OSDiskCaching, err = caching(sp.OSDisk.Caching, "osDisk.caching"); err != nil {
		return nil, err
	}
	if spec.OSDiskCreateOption == "" {
		spec.OSDiskCreateOption = "Attach"
	}
	detached := map[int32]bool{}
	for i, dd := range sp.DataDisks {
		if dd.Lun == nil {
			return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].lun' is missing (null).", i)
		}
		if detach, err := toBeDetached(dd.ToBeDetached, dd.DetachOption, i); err != nil {
			return nil, err
		} else if detach {
			detached[*dd.Lun] = true
			continue
		}
		var id string
		ddOption := "Attach"
		switch co := strings.ToLower(dd.CreateOption); co {
		case "attach":
			if dd.ManagedDisk == nil || dd.ManagedDisk.ID == "" {
				return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].managedDisk.id' is missing (null).", i)
			}
			id = dd.ManagedDisk.ID
		case "empty", "fromimage":
			ddOption = map[string]string{"fromimage": "FromImage", "empty": "Empty"}[co]
			if co == "empty" && (dd.DiskSizeGB == nil || *dd.DiskSizeGB <= 0) {
				return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisks[%d].diskSizeGB' is missing (null): an Empty data disk needs a size.", i)
			}
			if old, ok := existingLun[*dd.Lun]; ok && dd.Name == "" {
				id = old
				break
			}
			made := fmt.Sprintf("%s_disk%d", vmName, *dd.Lun+2)
			if co == "fromimage" {
				made = fmt.Sprintf("%s_lun_%d_2", vmName, *dd.Lun)
			}
			name, err := implicit(dd.Name, made, "data disk")
			if err != nil {
				return nil, err
			}
			id = computeID(r, "disks", name)
			create = append(create, implicitDisk{id: id, sizeGB: dd.DiskSizeGB, sku: skuOf(dd.ManagedDisk), fromImage: co == "fromimage",
				lun: dd.Lun, field: fmt.Sprintf("dataDisks[%d].diskSizeGB", i), settings: encryptedWith(dd.ManagedDisk)})
		default:
			return nil, arm.BadRequest("InvalidParameter", "The value '%s' of parameter 'dataDisks[%d].createOption' is not supported. Use Attach (managedDisk.id), Empty (diskSizeGB) or FromImage (a data disk of the image).", dd.CreateOption, i)
		}
		del, err := deleteOption(dd.DeleteOption, fmt.Sprintf("dataDisks[%d].deleteOption", i))
		if err != nil {
			return nil, err
		}
		cache, err := caching(dd.Caching, fmt.Sprintf("dataDisks[%d].caching", i))
		if err != nil {
			return nil, err
		}
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: *dd.Lun, DiskID: id, CreateOption: ddOption, DeleteOption: del, Caching: cache, WriteAccelerator: dd.WriteAcceleratorEnabled})
	}
	if existing != nil && osFromImage {
		// The image's data disks are the VM's as its OS disk is: an update
		// that does not list them keeps them.
		listed := detached
		for _, dd := range spec.DataDisks {
			listed[dd.Lun] = true
		}
		for _, dd := range existing.DataDisks {
			if dd.CreateOption == "FromImage" && !listed[dd.Lun] {
				spec.DataDisks = append(spec.DataDisks, dd)
			}
		}
	}
	for i := range create {
		_, err := pr.svc.DiskResource(ctx, create[i].id)
		create[i].pending = err != nil // else created by an earlier PUT of this VM
		if create[i].pending && spec.Location == "" {
			return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
		}
	}
	if existing != nil && sp.ImageReference != nil {
		// A VM keeps the image it was made from (Azure: 409
		// PropertyChangeNotAllowed); a PUT of the VM's own GET body,
		// which names it again, is an update like any other.
		if body, err := pr.svc.VMResource(ctx, spec.ID); err == nil && !sameImage(body.Properties.StorageProfile.ImageReference, sp.ImageReference) {
			e := arm.Conflict("PropertyChangeNotAllowed", "Changing property 'imageReference' is not allowed: the VM '%s' keeps the image it was created from. Create a new VM to use another image.", vmName)
			e.Target = "imageReference"
			return nil, e
		}
	}
	var src *compute.VMImageSource
	if osFromImage && existing == nil {
		ref := sp.ImageReference
		if ref != nil {
			spec.ImageReference = new(compute.VMImageReference)
			*spec.ImageReference = *ref
		}
		var err error
		if src, err = pr.vmImage(r, ref, spec.Location); err != nil {
			return nil, err
		}
		if src != nil {
			spec.ImageReference.ExactVersion = src.ExactVersion
			if create, err = addImageDataDisks(r, &spec, create, src); err != nil {
				return nil, err
			}
		}
	} else if osFromImage && pendingFromImage(create) {
		// An update adds a disk from the image: the image the VM was made from.
		ref := sp.ImageReference
		if body, err := pr.svc.VMResource(ctx, spec.ID); err == nil && body.Properties.StorageProfile.ImageReference != nil {
			ref = body.Properties.StorageProfile.ImageReference
		}
		var err error
		if src, err = pr.vmImage(r, ref, spec.Location); err != nil {
			return nil, err
		}
	}
	for i, c := range create {
		if !c.pending || !c.fromImage {
			continue
		}
		if src == nil {
			if c.lun == nil {
				create[i].fromImage = false // an image Safehold does not have: an empty disk
				continue
			}
			return nil, arm.BadRequest("InvalidParameter", "The data disk at lun %d has createOption FromImage, but the VM's image is not one Safehold has: give it createOption Empty or Attach.", *c.lun)
		}
		d := src.Content.Disk(c.lun)
		if d == nil {
			if c.lun == nil {
				return nil, arm.BadRequest("InvalidParameter", "The VM's image has no OS disk.")
			}
			return nil, arm.BadRequest("InvalidParameter", "The VM's image has no data disk at lun %d: give the data disk createOption Empty or Attach.", *c.lun)
		}
		if c.sizeGB != nil && *c.sizeGB<<30 < d.SizeBytes {
			e := arm.Conflict("OperationNotAllowed", "The specified disk size %d GB is smaller than the size of the corresponding disk in the VM image: %d GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size.",
				*c.sizeGB, compute.SizeGB(d.SizeBytes))
			e.Target = c.field
			return nil, e
		}
	}
	if err := pr.checkRefs(r, vmSetRefs(in.Properties), append(newAttachLinks(existing, spec), vmLinks(in.Properties)...)...); err != nil {
		return nil, err
	}
	var made []string
	for _, c := range create {
		if !c.pending {
			continue
		}
		ds := compute.DiskSpec{ID: c.id, Location: spec.Location, CreateOption: "Empty", SKU: c.sku, OSType: c.osType, Zones: spec.Zones}
		if strings.HasSuffix(strings.ToUpper(c.sku), "_ZRS") {
			ds.Zones = nil // zone-redundant: in every zone, the VM's too
		}
		if c.sizeGB != nil {
			ds.SizeBytes = *c.sizeGB << 30
		} else if !c.fromImage {
			ds.SizeBytes = 30 << 30
		}
		if c.fromImage {
			ds.CreateOption = "FromImage"
			ds.ImageReference, ds.GalleryImageReference = src.DiskRefs(c.lun)
			ds.CallerSubscription, ds.CallerTenant = r.Param("subscriptionId"), r.Caller().TenantID
		}
		err := pr.normEncryption(ctx, c.settings)
		if err == nil {
			if _, err = pr.svc.CreateDisk(ctx, ds); err == nil {
				made = append(made, c.id)
				err = pr.applySettings(ctx, c.id, c.settings, nil)
			}
		}
		if err != nil {
			for _, m := range made {
				pr.svc.DeleteDisk(ctx, m)
			}
			return nil, err
		}
	}
	spec.HardwareProfile, spec.OSProfile, spec.NetworkProfile = in.Properties.HardwareProfile, in.Properties.OSProfile, in.Properties.NetworkProfile
	if spec.OSProfile != nil {
		delete(spec.OSProfile, "adminPassword")
	}
	if err := vmExtras(r, in, &spec); err != nil {
		for _, m := range made {
			pr.svc.DeleteDisk(ctx, m)
		}
		return nil, err
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

// vmImage resolves the image a VM's FromImage disks are created from: nil
// when the VM names none, or a platform image the catalog lacks (its OS
// disk is created empty). A gallery image is read through RBAC on it, as
// a disk created from it is; a shared or community one through its
// gallery's sharing.
func (pr *Provider) vmImage(r *arm.Request, ref *compute.VMImageReference, location string) (*compute.VMImageSource, error) {
	if ref == nil {
		return nil, nil
	}
	if ref.SharedGalleryImageID == "" && ref.CommunityGalleryImageID == "" && ref.IsGallery() {
		if err := r.CheckLinked(readLink(ref.ID)); err != nil {
			return nil, err
		}
	}
	return pr.svc.ResolveVMImageReference(r.HTTP.Context(), *ref, location, r.Param("subscriptionId"), r.Caller().TenantID)
}

// addImageDataDisks adds to a new VM the data disks of its image that the
// request does not list (as Azure does, at the image's luns, created from
// the image); a lun of the image given another createOption is 400.
func addImageDataDisks(r *arm.Request, spec *compute.VMSpec, create []implicitDisk, src *compute.VMImageSource) ([]implicitDisk, error) {
	byLun := map[int32]string{}
	for _, dd := range spec.DataDisks {
		byLun[dd.Lun] = dd.CreateOption
	}
	for _, d := range src.Content.DataDisks {
		lun := *d.Lun
		switch co, ok := byLun[lun]; {
		case ok && co != "FromImage":
			return nil, arm.BadRequest("InvalidParameter", "The VM's image has a data disk at lun %d, and the request gives lun %d createOption %s. Give that lun createOption FromImage (or leave it out: the image's data disk is created), and other disks other luns.", lun, lun, co)
		case ok:
			continue
		}
		name := fmt.Sprintf("%s_lun_%d_2_%s", r.Param("vmName"), lun, strings.ReplaceAll(ops.NewID(), "-", ""))
		id := computeID(r, "disks", name)
		create = append(create, implicitDisk{id: id, fromImage: true, lun: &lun, pending: true})
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: lun, DiskID: id, CreateOption: "FromImage"})
	}
	return create, nil
}

func pendingFromImage(create []implicitDisk) bool {
	for _, c := range create {
		if c.pending && c.fromImage {
			return true
		}
	}
	return false
}

func (pr *Provider) patchVM(r *arm.Request, in vmInput) (*arm.Response, error) {
	return againIfChanged(func() (*arm.Response, error) { return pr.patchVMOnce(r, in) })
}

// maxUpdateTries bounds how often againIfChanged runs an update.
const maxUpdateTries = 20

// againIfChanged runs update, a VM update computed from the VM as it reads
// it (updateVM), again while another update of the VM committed between
// its read and its write (compute.ErrVMChanged): neither undoes the other.
func againIfChanged(update func() (*arm.Response, error)) (*arm.Response, error) {
	for try := 1; ; try++ {
		resp, err := update()
		if !errors.Is(err, compute.ErrVMChanged) || try == maxUpdateTries {
			return resp, err
		}
	}
}

func (pr *Provider) patchVMOnce(r *arm.Request, in vmInput) (*arm.Response, error) {
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
			for _, dd := range sp.DataDisks {
				if (dd.ManagedDisk == nil || dd.ManagedDisk.ID == "") && !strings.EqualFold(dd.CreateOption, "Attach") {
					return pr.patchAsPut(r, in, vm)
				}
			}
			spec.DataDisks = nil
			for i, dd := range sp.DataDisks {
				if detach, err := toBeDetached(dd.ToBeDetached, dd.DetachOption, i); err != nil {
					return nil, err
				} else if detach && dd.Lun != nil {
					continue
				}
				if dd.Lun == nil || dd.ManagedDisk == nil || dd.ManagedDisk.ID == "" {
					return nil, arm.BadRequest("InvalidParameter", "dataDisks[%d] needs lun and managedDisk.id.", i)
				}
				del, err := deleteOption(dd.DeleteOption, fmt.Sprintf("dataDisks[%d].deleteOption", i))
				if err != nil {
					return nil, err
				}
				cache, err := caching(dd.Caching, fmt.Sprintf("dataDisks[%d].caching", i))
				if err != nil {
					return nil, err
				}
				spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: *dd.Lun, DiskID: dd.ManagedDisk.ID, DeleteOption: del, Caching: cache, WriteAccelerator: dd.WriteAcceleratorEnabled})
			}
		}
	}
	if err := vmExtras(r, in, &spec); err != nil {
		return nil, err
	}
	body, err := pr.updateVM(r, vm, spec, vmSetRefs(in.Properties))
	if err != nil {
		return nil, err
	}
	return arm.OK(body), nil
}

// patchAsPut serves a VM PATCH whose data disks create a disk (createOption
// Empty or FromImage without managedDisk.id, as Azure takes in an update):
// the VM's body with the PATCH's tags, hardware profile and data disks
// over it, PUT over base (the VM as read before its body: another update
// committing meanwhile fails the write with compute.ErrVMChanged, and
// againIfChanged computes it again, rather than undo that update).
func (pr *Provider) patchAsPut(r *arm.Request, in vmInput, base *compute.VM) (*arm.Response, error) {
	body, err := pr.svc.VMResource(r.HTTP.Context(), vmID(r))
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var merged vmInput
	if err := json.Unmarshal(b, &merged); err != nil {
		return nil, err
	}
	if in.Tags != nil {
		merged.Tags = in.Tags
	}
	if in.Properties.HardwareProfile != nil {
		merged.Properties.HardwareProfile = in.Properties.HardwareProfile
	}
	merged.Properties.StorageProfile.DataDisks = in.Properties.StorageProfile.DataDisks
	// The PATCH's own identity and plan, not the VM's as answered.
	merged.Identity, merged.Plan = in.Identity, in.Plan
	return pr.putVMOver(r, merged, base)
}

// updateVM updates the existing VM vm to spec (a PATCH, an attach or
// detach), checking the caller's access to the disks it newly attaches, and
// returns its body. spec is computed from vm as read: if the VM changed
// since, nothing is written and the error is compute.ErrVMChanged
// (againIfChanged computes the update again).
func (pr *Provider) updateVM(r *arm.Request, vm *compute.VM, spec compute.VMSpec, sets []settingRef) (*compute.VMResource, error) {
	spec.Base = vm
	if err := pr.checkRefs(r, sets, newAttachLinks(vm, spec)...); err != nil {
		return nil, err
	}
	if _, _, err := pr.svc.PutVM(r.HTTP.Context(), spec); err != nil {
		return nil, err
	}
	return pr.svc.VMResource(r.HTTP.Context(), vm.ID)
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
	if !strings.Contains(strings.ToLower(r.Query("$expand")), "userdata") {
		hideUserData(body)
	}
	return arm.OK(body), nil
}

// hideUserData leaves a VM's userData out of an answer: as Azure, only a
// GET with $expand=userData returns it.
func hideUserData(v *compute.VMResource) {
	if _, ok := v.Properties.Kept["userData"]; ok {
		kept := maps.Clone(v.Properties.Kept)
		delete(kept, "userData")
		v.Properties.Kept = kept
	}
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
	for _, v := range vs {
		hideUserData(v)
	}
	if strings.EqualFold(r.Query("statusOnly"), "true") {
		// The list with each VM's instance view (the portal's status column).
		for _, v := range vs {
			if v.Properties.InstanceView, err = pr.svc.InstanceView(ctx, v.ID); err != nil {
				return nil, err
			}
		}
	}
	return arm.PageOK(r, vs, 1000)
}

// reSKUFilter is the one $filter the SKU list takes, as Azure's: a location.
var reSKUFilter = regexp.MustCompile(`(?i)^\s*location\s+eq\s+'([^']*)'\s*$`)

// listSKUs answers GET .../providers/Microsoft.Compute/skus: the VM sizes,
// disk and snapshot SKUs of every location, or of the one $filter names
// (location eq 'westus').
func (pr *Provider) listSKUs(r *arm.Request) (*arm.Response, error) {
	loc := ""
	if f := r.Query("$filter"); f != "" {
		m := reSKUFilter.FindStringSubmatch(f)
		if m == nil {
			return nil, arm.BadRequest("InvalidFilter", "The $filter '%s' is not supported: the SKU list filters by location only (location eq 'westus').", f)
		}
		loc = m[1]
	}
	skus, err := compute.ResourceSKUs(loc)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, skus, 1000)
}

// listSizes answers a list of VM sizes: {"value": [...]}, one page as Azure's.
func listSizes(sizes []compute.VMSize, err error) (*arm.Response, error) {
	if err != nil {
		return nil, err
	}
	return arm.OK(arm.Values(sizes)), nil
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
	// The disks whose deleteOption is Delete go with the VM: the caller
	// must be allowed to delete each (linked access, 403), as a DELETE of
	// the disk would require.
	v, err := pr.svc.VM(ctx, vm.ID)
	if err != nil {
		return nil, err
	}
	var links []arm.Link
	if v.OSDiskID != "" && strings.EqualFold(v.OSDiskDeleteOption, "Delete") {
		links = append(links, arm.LinkTo("Microsoft.Compute/disks/delete", v.OSDiskID))
	}
	for _, d := range v.DataDisks {
		if strings.EqualFold(d.DeleteOption, "Delete") {
			links = append(links, arm.LinkTo("Microsoft.Compute/disks/delete", d.DiskID))
		}
	}
	if err := r.CheckLinked(links...); err != nil {
		return nil, err
	}
	// Nor may a management lock forbid their delete (409 ScopeLocked), as
	// it would a DELETE of the disk: the router checked the VM's scope only.
	for _, l := range links {
		if err := resource.CheckLocks(ctx, pr.p.Store, http.MethodDelete, l.Scope); err != nil {
			return nil, err
		}
	}
	return pr.startDelete(r, "compute.vm.delete", vm.ID, vm.Location, vm.Properties.VMID)
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

// sameImage reports whether given names the image a VM was made from
// (had): the same platform image (publisher, offer and sku, any case; a
// version of "latest", or the one it was made from, or the exact version
// it resolved to) or the same gallery image id. A VM made with no image
// (attached or empty OS disk) has none to change.
func sameImage(had, given *compute.VMImageReference) bool {
	if had == nil {
		return given.Publisher == "" && given.Offer == "" && given.SKU == "" && given.ID == "" && given.SharedGalleryImageID == "" && given.CommunityGalleryImageID == ""
	}
	eq := strings.EqualFold
	if !eq(had.Publisher, given.Publisher) || !eq(had.Offer, given.Offer) || !eq(had.SKU, given.SKU) ||
		!eq(had.ID, given.ID) || !eq(had.SharedGalleryImageID, given.SharedGalleryImageID) || !eq(had.CommunityGalleryImageID, given.CommunityGalleryImageID) {
		return false
	}
	v := given.Version
	return v == "" || eq(v, "latest") || eq(v, had.Version) || eq(v, had.ExactVersion)
}

// attachDetachInput is the body of a VM's attachDetachDataDisks.
type attachDetachInput struct {
	DataDisksToAttach []struct {
		DiskID                  string               `json:"diskId"`
		Lun                     *int32               `json:"lun"`
		DeleteOption            string               `json:"deleteOption"`
		Caching                 string               `json:"caching"`
		DiskEncryptionSet       *struct{ ID string } `json:"diskEncryptionSet"`
		WriteAcceleratorEnabled *bool                `json:"writeAcceleratorEnabled"`
	} `json:"dataDisksToAttach"`
	DataDisksToDetach []struct {
		DiskID string `json:"diskId"`
	} `json:"dataDisksToDetach"`
}

// attachDetachDataDisks attaches and detaches a VM's data disks in one
// update (a lun not given is the lowest free one) and answers, as Azure
// does, an operation whose result is the VM's storage profile.
func (pr *Provider) attachDetachDataDisks(r *arm.Request) (*arm.Response, error) {
	return againIfChanged(func() (*arm.Response, error) { return pr.attachDetachDataDisksOnce(r) })
}

func (pr *Provider) attachDetachDataDisksOnce(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vm, err := pr.svc.VM(ctx, vmID(r))
	if err != nil {
		return nil, err
	}
	var in attachDetachInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.DataDisksToAttach) == 0 && len(in.DataDisksToDetach) == 0 {
		return nil, arm.BadRequest("InvalidParameter", "Give dataDisksToAttach (diskId, optional lun) or dataDisksToDetach (diskId), or both.")
	}
	disks := append([]compute.VMDataDisk(nil), vm.DataDisks...)
	var sets []settingRef // the disk encryption sets the attached disks name
	for i, a := range in.DataDisksToAttach {
		if a.DiskEncryptionSet != nil && a.DiskEncryptionSet.ID != "" {
			sets = append(sets, settingRef{fmt.Sprintf("dataDisksToAttach[%d].diskEncryptionSet.id", i), a.DiskEncryptionSet.ID, encryptionSetType, "DiskEncryptionSet"})
		}
	}
	for i, d := range in.DataDisksToDetach {
		at := -1
		for j, dd := range disks {
			if arm.EqualIDs(dd.DiskID, d.DiskID) {
				at = j
			}
		}
		if at < 0 {
			return nil, arm.BadRequest("InvalidParameter", "dataDisksToDetach[%d].diskId '%s' is not a data disk of the VM '%s'.", i, d.DiskID, vm.Name)
		}
		disks = append(disks[:at], disks[at+1:]...)
	}
	for i, a := range in.DataDisksToAttach {
		if a.DiskID == "" {
			return nil, arm.BadRequest("InvalidParameter", "Required parameter 'dataDisksToAttach[%d].diskId' is missing (null).", i)
		}
		del, err := deleteOption(a.DeleteOption, fmt.Sprintf("dataDisksToAttach[%d].deleteOption", i))
		if err != nil {
			return nil, err
		}
		cache, err := caching(a.Caching, fmt.Sprintf("dataDisksToAttach[%d].caching", i))
		if err != nil {
			return nil, err
		}
		used := map[int32]bool{}
		for _, dd := range disks {
			used[dd.Lun] = true
		}
		lun := int32(0)
		if a.Lun != nil {
			lun = *a.Lun
		} else {
			for used[lun] {
				lun++
			}
		}
		disks = append(disks, compute.VMDataDisk{Lun: lun, DiskID: a.DiskID, CreateOption: "Attach", DeleteOption: del, Caching: cache, WriteAccelerator: a.WriteAcceleratorEnabled})
	}
	body, err := pr.updateVM(r, vm, compute.VMSpec{ID: vm.ID, Location: vm.Location, Tags: vm.Tags, OSDiskID: vm.OSDiskID, DataDisks: disks}, sets)
	if err != nil {
		return nil, err
	}
	return pr.completed(r, "compute.vm.attachDetachDataDisks", vm.ID, vm.Location, body.Properties.StorageProfile)
}
