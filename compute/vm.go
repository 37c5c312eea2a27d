package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Power states of a VM (the suffix of its PowerState/ status code).
const (
	PowerRunning     = "running"
	PowerStopped     = "stopped"
	PowerDeallocated = "deallocated"
)

// ManagedDiskRef references a managed disk from a VM.
type ManagedDiskRef struct {
	ID                 string `json:"id"`
	StorageAccountType string `json:"storageAccountType,omitempty"`
}

// VMOSDisk is a VM's OS disk.
type VMOSDisk struct {
	Name         string          `json:"name,omitempty"`
	OSType       string          `json:"osType,omitempty"`
	CreateOption string          `json:"createOption"`
	Caching      string          `json:"caching,omitempty"`
	DiskSizeGB   int64           `json:"diskSizeGB,omitempty"`
	ManagedDisk  *ManagedDiskRef `json:"managedDisk,omitempty"`
	DeleteOption string          `json:"deleteOption,omitempty"`
}

// VMDataDiskBody is a VM's data disk.
type VMDataDiskBody struct {
	Lun          int32           `json:"lun"`
	Name         string          `json:"name,omitempty"`
	CreateOption string          `json:"createOption"`
	Caching      string          `json:"caching,omitempty"`
	DiskSizeGB   int64           `json:"diskSizeGB,omitempty"`
	ManagedDisk  *ManagedDiskRef `json:"managedDisk,omitempty"`
	DeleteOption string          `json:"deleteOption,omitempty"`
	// WriteAcceleratorEnabled: the disk's writes go through Write
	// Accelerator (an M-series VM's Premium_LRS disk); answered false too,
	// as Azure does.
	WriteAcceleratorEnabled bool `json:"writeAcceleratorEnabled"`
}

// VMStorageProfile is a VM's storage profile.
type VMStorageProfile struct {
	// ImageReference is the image the VM was created from, as given (a
	// platform image with the exactVersion it resolved to).
	ImageReference *VMImageReference `json:"imageReference,omitempty"`
	OSDisk         *VMOSDisk         `json:"osDisk,omitempty"`
	DataDisks      []VMDataDiskBody  `json:"dataDisks"`
}

// VMProperties are the properties of a VM body.
type VMProperties struct {
	VMID              string           `json:"vmId"`
	ProvisioningState string           `json:"provisioningState"`
	TimeCreated       time.Time        `json:"timeCreated"`
	HardwareProfile   map[string]any   `json:"hardwareProfile,omitempty"`
	StorageProfile    VMStorageProfile `json:"storageProfile"`
	OSProfile         map[string]any   `json:"osProfile,omitempty"`
	NetworkProfile    map[string]any   `json:"networkProfile,omitempty"`
	InstanceView      *VMInstanceView  `json:"instanceView,omitempty"`
	// Kept are the properties of Azure's VirtualMachine model that Safehold
	// does not act on but keeps as the caller gave them (KeptVMProperties),
	// answered beside the others.
	Kept map[string]json.RawMessage `json:"-"`
}

// KeptVMProperties are the VM properties kept as given: settings of the
// machine that name no other resource (those that do, such as
// availabilitySet or host, name types Safehold does not serve) and that
// a backup does not depend on. The value is the Go type its JSON value
// must decode into (an object, a string, an integer).
var KeptVMProperties = map[string]reflect.Type{
	"additionalCapabilities": jsonObject, "securityProfile": jsonObject, "diagnosticsProfile": jsonObject,
	"billingProfile": jsonObject, "scheduledEventsProfile": jsonObject, "scheduledEventsPolicy": jsonObject,
	"priority": jsonString, "evictionPolicy": jsonString, "licenseType": jsonString,
	"extensionsTimeBudget": jsonString, "userData": jsonString, "platformFaultDomain": reflect.TypeFor[int32](),
}

var (
	jsonObject = reflect.TypeFor[map[string]json.RawMessage]()
	jsonString = reflect.TypeFor[string]()
)

type vmPropertiesJSON VMProperties

// MarshalJSON writes the modelled properties and the kept ones.
func (p VMProperties) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(vmPropertiesJSON(p))
	if err != nil || len(p.Kept) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.Kept {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the modelled properties and keeps the kept ones.
func (p *VMProperties) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*vmPropertiesJSON)(p)); err != nil {
		return err
	}
	p.Kept = nil
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		if _, ok := KeptVMProperties[k]; ok {
			if p.Kept == nil {
				p.Kept = map[string]json.RawMessage{}
			}
			p.Kept[k] = v
		}
	}
	return nil
}

// VMResource is the stored ARM body of a VM (Azure's VirtualMachine model).
type VMResource struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags,omitempty"`
	Zones    []string          `json:"zones,omitempty"`
	// Identity is the VM's managed identity (system- and/or user-assigned).
	Identity *resource.Identity `json:"identity,omitempty"`
	// Plan is the marketplace plan the VM was created with, as given.
	Plan       json.RawMessage `json:"plan,omitempty"`
	Properties VMProperties    `json:"properties"`
}

// vmIdentityKinds spells a VM's identity type with both kinds.
var vmIdentityKinds = resource.IdentityKinds{Both: "SystemAssigned, UserAssigned"}

// InstanceViewStatus is one status of an instance view.
type InstanceViewStatus struct {
	Code          string     `json:"code"`
	Level         string     `json:"level"`
	DisplayStatus string     `json:"displayStatus"`
	Time          *time.Time `json:"time,omitempty"`
}

// DiskInstanceView is a disk's entry in a VM instance view.
type DiskInstanceView struct {
	Name     string               `json:"name"`
	Statuses []InstanceViewStatus `json:"statuses"`
}

// VMInstanceView is a VM's instance view.
type VMInstanceView struct {
	ComputerName string               `json:"computerName,omitempty"`
	OSName       string               `json:"osName,omitempty"`
	Disks        []DiskInstanceView   `json:"disks"`
	Statuses     []InstanceViewStatus `json:"statuses"`
}

// VMDataDisk is a data disk of a VM.
type VMDataDisk struct {
	Lun          int32
	DiskID       string
	Name         string
	CreateOption string // Attach (default), Empty or FromImage
	// DeleteOption is what the VM's delete does to the disk: Detach
	// (default, the disk is kept) or Delete.
	DeleteOption string
	// Caching is the disk's host caching: None (the default), ReadOnly
	// or ReadWrite ("": as the VM had it).
	Caching string
	// WriteAccelerator is whether Write Accelerator is enabled on the
	// disk (nil: as the VM had it, else false; read back, nil when not).
	WriteAccelerator *bool
}

// VM is a virtual machine: the set of its disks.
type VM struct {
	ID, Name, Location, ResourceGroup, SubscriptionID string
	OSDiskID                                          string
	OSDiskDeleteOption                                string
	OSDiskCaching                                     string
	DataDiskIDs                                       []string
	VMID                                              string
	PowerState                                        string
	DataDisks                                         []VMDataDisk
	OSType                                            string
	VMSize                                            string
	Tags                                              map[string]string
}

// VMSpec describes a VM to create or update.
type VMSpec struct {
	ID, Location string
	Tags         map[string]string
	VMSize       string
	OSDiskID     string
	OSType       string
	// OSDiskCreateOption is how the OS disk came to be (Attach, FromImage
	// or Empty; default Attach), as the VM reports it.
	OSDiskCreateOption string
	// OSDiskDeleteOption is what the VM's delete does to its OS disk
	// (Detach, the default, or Delete).
	OSDiskDeleteOption string
	// OSDiskCaching is the OS disk's host caching (ReadWrite, the
	// default, ReadOnly or None; "": as the VM had it).
	OSDiskCaching string
	// ImageReference is the image the VM is created from (nil on an
	// update: the VM keeps the one it has).
	ImageReference *VMImageReference
	DataDisks      []VMDataDisk
	// Profiles the caller gave, kept as given.
	HardwareProfile, OSProfile, NetworkProfile map[string]any
	// Zones is the availability zone of a zonal VM (set at creation; its
	// disks must be in it).
	Zones []string
	// ExtendedLocation is the edge zone asked of a new VM (refused:
	// resource.CheckExtendedLocation).
	ExtendedLocation json.RawMessage
	// NewNICs are network interfaces a new VM is created with (in its
	// transaction; ignored on an update), listed in its networkProfile
	// after those NetworkProfile names.
	NewNICs []NewNIC
	// Kept are properties kept as given (KeptVMProperties): on an update
	// each one given replaces the VM's, one given as null removes it, and
	// the others stay.
	Kept map[string]json.RawMessage
	// Identity is the identity asked for when IdentityGiven (an update
	// without it keeps the VM's); MergeIdentity adds its user-assigned
	// identities to the VM's (PATCH) instead of replacing them.
	Identity                     *resource.Identity
	IdentityGiven, MergeIdentity bool
	// Plan, when given, is the VM's marketplace plan (an update without it
	// keeps the VM's).
	Plan json.RawMessage
	// Base is, for an update computed from the VM as read before (a
	// PATCH, an attach or detach of disks), that VM: if the VM is no
	// longer as Base has it (another update ran meanwhile) or is gone,
	// PutVM changes nothing and fails with ErrVMChanged or NotFound, so
	// the update is computed again rather than undo the other one (or
	// make the VM again).
	Base *VM
}

// ErrVMChanged is PutVM's answer to an update whose Base is no longer the
// VM as it is (see VMSpec.Base): read the VM again and retry.
var ErrVMChanged = failure.Conflictf("Conflict", "The VM changed while this update ran (another update of it committed first); retry the request.")

// sameVM reports whether a and b are the same VM as stored (the power
// state aside: it is no part of an update).
func sameVM(a, b *VM) bool {
	x, y := *a, *b
	x.PowerState, y.PowerState = "", ""
	return reflect.DeepEqual(x, y)
}

type vmState struct {
	PowerState string `json:"powerState"`
}

func (v *VMResource) domain(power string) *VM {
	rid, _ := arm.ParseID(v.ID)
	vm := &VM{ID: v.ID, Name: v.Name, Location: v.Location, ResourceGroup: rid.ResourceGroup, SubscriptionID: rid.SubscriptionID,
		VMID: v.Properties.VMID, PowerState: power, Tags: v.Tags}
	if od := v.Properties.StorageProfile.OSDisk; od != nil && od.ManagedDisk != nil {
		vm.OSDiskID, vm.OSType, vm.OSDiskDeleteOption, vm.OSDiskCaching = od.ManagedDisk.ID, od.OSType, od.DeleteOption, od.Caching
	}
	for _, dd := range v.Properties.StorageProfile.DataDisks {
		if dd.ManagedDisk != nil {
			vm.DataDiskIDs = append(vm.DataDiskIDs, dd.ManagedDisk.ID)
			var wa *bool
			if dd.WriteAcceleratorEnabled {
				wa = &dd.WriteAcceleratorEnabled
			}
			vm.DataDisks = append(vm.DataDisks, VMDataDisk{Lun: dd.Lun, DiskID: dd.ManagedDisk.ID, Name: dd.Name, CreateOption: dd.CreateOption, DeleteOption: dd.DeleteOption, Caching: dd.Caching, WriteAccelerator: wa})
		}
	}
	if hp := v.Properties.HardwareProfile; hp != nil {
		vm.VMSize, _ = hp["vmSize"].(string)
	}
	return vm
}

// DiskIDs are all the VM's disks, OS disk first.
func (vm *VM) DiskIDs() []string {
	var out []string
	if vm.OSDiskID != "" {
		out = append(out, vm.OSDiskID)
	}
	return append(out, vm.DataDiskIDs...)
}

func putPower(ctx context.Context, tx store.Tx, id, power string) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: stateKind, Key: stateKey(id) + "#vm"}, vmState{PowerState: power}, "VM state")
}

// VMResource returns a VM's ARM body.
func (s *Service) VMResource(ctx context.Context, id string) (*VMResource, error) {
	v, err := getTyped[VMResource](ctx, s.p.Store, id, VMType)
	if err == nil {
		v.withNetworkProfile()
	}
	return v, err
}

// withNetworkProfile gives a VM created without a networkProfile an empty
// one: the VM has no network interfaces, and clients that walk them (az vm show -d, az vm list -d)
// find none rather than no profile at all. It also answers the OS
// profile's defaults (withOSProfileDefaults).
func (v *VMResource) withNetworkProfile() {
	if v.Properties.NetworkProfile == nil {
		v.Properties.NetworkProfile = map[string]any{"networkInterfaces": []any{}}
	}
	v.withOSProfileDefaults()
}

// withOSProfileDefaults answers an OS profile (a VM created from an image
// has one) with the settings Azure fills in where the caller sent none:
// secrets [], allowExtensionOperations and requireGuestProvisionSignal
// true, and the OS's configuration — for Linux disablePasswordAuthentication
// false (password authentication, as az vm create --authentication-type
// password sends no linuxConfiguration), provisionVMAgent true,
// patchSettings ImageDefault; for Windows provisionVMAgent and
// enableAutomaticUpdates true, patchSettings AutomaticByOS. A VM over an
// existing OS disk has no OS profile, as in Azure.
func (v *VMResource) withOSProfileDefaults() {
	op := v.Properties.OSProfile
	if op == nil {
		return
	}
	fill := func(m map[string]any, k string, val any) {
		if _, ok := m[k]; !ok {
			m[k] = val
		}
	}
	sub := func(m map[string]any, k string) map[string]any {
		c, _ := m[k].(map[string]any)
		if c == nil {
			c = map[string]any{}
			m[k] = c
		}
		return c
	}
	fill(op, "secrets", []any{})
	fill(op, "allowExtensionOperations", true)
	fill(op, "requireGuestProvisionSignal", true)
	osType := ""
	if od := v.Properties.StorageProfile.OSDisk; od != nil {
		osType = od.OSType
	}
	if strings.EqualFold(osType, "Windows") {
		wc := sub(op, "windowsConfiguration")
		fill(wc, "provisionVMAgent", true)
		fill(wc, "enableAutomaticUpdates", true)
		ps := sub(wc, "patchSettings")
		fill(ps, "patchMode", "AutomaticByOS")
		fill(ps, "assessmentMode", "ImageDefault")
		fill(wc, "enableVMAgentPlatformUpdates", false)
		return
	}
	lc := sub(op, "linuxConfiguration")
	fill(lc, "disablePasswordAuthentication", false)
	fill(lc, "provisionVMAgent", true)
	ps := sub(lc, "patchSettings")
	fill(ps, "patchMode", "ImageDefault")
	fill(ps, "assessmentMode", "ImageDefault")
	fill(lc, "enableVMAgentPlatformUpdates", false)
}

// VM returns a VM; 404 ResourceNotFound when absent.
func (s *Service) VM(ctx context.Context, id string) (*VM, error) {
	v, err := s.VMResource(ctx, id)
	if err != nil {
		return nil, err
	}
	return v.domain(powerOf(ctx, s.p.Store, v.ID)), nil
}

// ListVMs lists the VMs of a subscription.
func (s *Service) ListVMs(ctx context.Context, subscriptionID string) ([]*VM, error) {
	vs, err := s.ListVMResources(ctx, "/subscriptions/"+subscriptionID)
	if err != nil {
		return nil, err
	}
	out := make([]*VM, len(vs))
	for i, v := range vs {
		out[i] = v.domain(powerOf(ctx, s.p.Store, v.ID))
	}
	return out, nil
}

// ListVMResources lists VM bodies under scope.
func (s *Service) ListVMResources(ctx context.Context, scope string) ([]*VMResource, error) {
	vs, err := resource.List[*VMResource](ctx, s.p.Store, VMType, scope)
	for _, v := range vs {
		v.withNetworkProfile()
	}
	return vs, err
}

// CreateVM creates or updates a VM from managed disks: the disks in spec
// are attached (diskState Attached, managedBy the VM), disks no longer
// listed are detached.
func (s *Service) CreateVM(ctx context.Context, spec VMSpec) (*VM, error) {
	_, vm, err := s.PutVM(ctx, spec)
	return vm, err
}

// PutVM is CreateVM returning also whether the VM was created.
func (s *Service) PutVM(ctx context.Context, spec VMSpec) (bool, *VM, error) {
	rid, err := s.parseInGroup(ctx, spec.ID, VMType)
	if err != nil {
		return false, nil, err
	}
	if spec.Location == "" {
		return false, nil, failure.Invalidf("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(spec.Location, VMType); err != nil {
		return false, nil, err
	}
	loc := resource.NormLocation(spec.Location)
	if spec.OSDiskID == "" {
		return false, nil, failure.Invalidf("InvalidParameter", "Required parameter 'osDisk.managedDisk.id' is missing (null). Attach an existing managed disk as the OS disk (createOption Attach).")
	}
	luns := map[int32]bool{}
	ids := map[string]bool{stateKey(spec.OSDiskID): true}
	for _, dd := range spec.DataDisks {
		if dd.DiskID == "" {
			return false, nil, failure.Invalidf("InvalidParameter", "Required parameter 'dataDisks[lun %d].managedDisk.id' is missing (null). Attach an existing managed disk.", dd.Lun)
		}
		if dd.Lun < 0 || dd.Lun > 63 {
			return false, nil, failure.Invalidf("InvalidParameter", "The value %d of parameter 'lun' is out of range. Use 0 to 63.", dd.Lun)
		}
		if luns[dd.Lun] {
			return false, nil, failure.Invalidf("InvalidParameter", "Two data disks use lun %d. Give each data disk its own lun.", dd.Lun)
		}
		luns[dd.Lun] = true
		if ids[stateKey(dd.DiskID)] {
			return false, nil, failure.Invalidf("InvalidParameter", "Disk '%s' is listed twice in the VM's storage profile.", dd.DiskID)
		}
		ids[stateKey(dd.DiskID)] = true
	}
	created := false
	var body VMResource
	power := PowerRunning
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		// A lock refuses the VM's create or change (a restore's VM, made
		// by work accepted before the lock) as it refuses a client's PUT.
		if err := resource.CheckWrite(ctx, tx, rid.String()); err != nil {
			return err
		}
		var old VMResource
		err := resource.Get(ctx, tx, rid, &old)
		switch {
		case err == nil:
			if spec.Base != nil && !sameVM(old.domain(""), spec.Base) {
				return ErrVMChanged
			}
			if !strings.EqualFold(old.Location, loc) {
				return failure.Conflictf("InvalidParameter", "The VM '%s' is in location '%s'; its location cannot change to '%s'.", old.Name, old.Location, loc)
			}
			power = powerOf(ctx, tx, old.ID)
		case failure.Is(err, failure.NotFound):
			if spec.Base != nil {
				return err // deleted meanwhile: an update does not make it again
			}
			if err := resource.CheckZones(loc, VMType, rid.Name(), spec.Zones); err != nil {
				return err
			}
			if err := resource.CheckExtendedLocation(loc, VMType, spec.ExtendedLocation); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		zones := spec.Zones
		if !created {
			if spec.Zones != nil && !sameZones(spec.Zones, old.Zones) {
				return failure.Conflictf("PropertyChangeNotAllowed", "Changing property 'zones' of the VM '%s' is not allowed: a VM stays in the zone it was created in.", old.Name)
			}
			zones = old.Zones
		}
		vmID := rid.String()
		if !created {
			vmID = old.ID
		}
		attach := func(id string) (*DiskResource, error) {
			did, err := parseTyped(id, DiskType)
			if err != nil {
				return nil, err
			}
			var d DiskResource
			if err := resource.Get(ctx, tx, did, &d); err != nil {
				if failure.Is(err, failure.NotFound) {
					return nil, failure.NotFoundf("NotFound", "Disk '%s' was not found. Create the managed disk before attaching it.", id)
				}
				return nil, err
			}
			if !strings.EqualFold(d.Location, loc) {
				return nil, failure.Invalidf("InvalidParameter", "Disk '%s' is in location '%s', which differs from the VM's location '%s'. A VM can only use disks in its own region.", d.Name, d.Location, loc)
			}
			if len(zones) > 0 && !sameZones(d.Zones, zones) && !(len(d.Zones) == 0 && d.SKU != nil && zoneRedundant(d.SKU.Name)) {
				return nil, failure.Invalidf("InvalidParameter", "Disk '%s' is not in zone %s of the VM: a zonal VM uses managed disks of its own zone (create the disk with zones [\"%s\"]) or zone-redundant ones (sku Premium_ZRS or StandardSSD_ZRS, no zones).", d.Name, strings.Join(zones, ","), strings.Join(zones, "\",\""))
			}
			had := d.AttachedTo(vmID)
			if !had {
				// A shared disk attaches to up to maxShares VMs.
				if err := checkSharedAttach(&d, vmID); err != nil {
					return nil, err
				}
			}
			if err := s.settleState(ctx, tx, &d); err != nil {
				return nil, err
			}
			switch d.Properties.DiskState {
			case StateActiveSAS, StateActiveUpload, StateReadyToUpload:
				return nil, failure.Conflictf("OperationNotAllowed", "Disk '%s' is in state %s; call endGetAccess before attaching it to a VM.", d.Name, d.Properties.DiskState)
			}
			if !had {
				d.setAttached(append(d.AttachedVMs(), vmID))
			} else if arm.EqualIDs(d.ManagedBy, vmID) {
				d.ManagedBy = vmID // the VM's id as spelt now
			}
			state := attachedState(ctx, tx, &d, vmID, power)
			if !had || d.Properties.DiskState != state {
				now := s.now()
				d.Properties.LastOwnershipUpdateTime = &now
			}
			d.Properties.DiskState = state
			return &d, resource.Put(ctx, tx, did, &d)
		}
		osd, err := attach(spec.OSDiskID)
		if err != nil {
			return err
		}
		if err := checkSharedUse(osd, true, "osDisk", "", false); err != nil {
			return err
		}
		// An update that does not say keeps what the VM had for a disk
		// it keeps: its createOption, deleteOption, caching and Write
		// Accelerator.
		had := func(id string) (createOption, deleteOption, caching string, writeAccelerator bool) {
			if created {
				return "", "", "", false
			}
			if od := old.Properties.StorageProfile.OSDisk; od != nil && od.ManagedDisk != nil && arm.EqualIDs(od.ManagedDisk.ID, id) {
				return od.CreateOption, od.DeleteOption, od.Caching, false
			}
			for _, dd := range old.Properties.StorageProfile.DataDisks {
				if dd.ManagedDisk != nil && arm.EqualIDs(dd.ManagedDisk.ID, id) {
					return dd.CreateOption, dd.DeleteOption, dd.Caching, dd.WriteAcceleratorEnabled
				}
			}
			return "", "", "", false
		}
		if sku := skuName(osd.SKU); sku == "UltraSSD_LRS" || sku == "PremiumV2_LRS" {
			return invalidAt("osDisk.managedDisk.storageAccountType", "StorageAccountType %s can be used only for data disks: disk '%s' cannot be the OS disk of VM '%s'. Use a Premium_LRS, StandardSSD_LRS or Standard_LRS disk as the OS disk.", sku, osd.Name, rid.Name())
		}
		osCreate, osDelete, osCaching, _ := had(osd.ID)
		osType := firstNonEmpty(spec.OSType, osd.Properties.OSType)
		if osType == "" {
			osType = "Linux"
		}
		body = VMResource{ID: vmID, Name: rid.Name(), Type: VMType, Location: loc, Tags: spec.Tags, Zones: zones,
			Properties: VMProperties{VMID: newUUID(), ProvisioningState: "Succeeded", TimeCreated: s.now(),
				HardwareProfile: spec.HardwareProfile, OSProfile: spec.OSProfile, NetworkProfile: spec.NetworkProfile,
				StorageProfile: VMStorageProfile{DataDisks: []VMDataDiskBody{}, ImageReference: spec.ImageReference,
					OSDisk: &VMOSDisk{Name: osd.Name, OSType: osType, CreateOption: firstNonEmpty(spec.OSDiskCreateOption, osCreate, "Attach"), Caching: firstNonEmpty(spec.OSDiskCaching, osCaching, "ReadWrite"), DiskSizeGB: osd.Properties.DiskSizeGB,
						ManagedDisk: &ManagedDiskRef{ID: osd.ID, StorageAccountType: osd.SKU.Name}, DeleteOption: firstNonEmpty(spec.OSDiskDeleteOption, osDelete, "Detach")}}}}
		if !created {
			body.Name, body.Properties.VMID, body.Properties.TimeCreated = old.Name, old.Properties.VMID, old.Properties.TimeCreated
			if spec.Tags == nil {
				body.Tags = old.Tags
			}
			if spec.HardwareProfile == nil {
				body.Properties.HardwareProfile = old.Properties.HardwareProfile
			}
			if spec.OSProfile == nil {
				body.Properties.OSProfile = old.Properties.OSProfile
			}
			if spec.NetworkProfile == nil {
				body.Properties.NetworkProfile = old.Properties.NetworkProfile
			}
			if spec.ImageReference == nil {
				body.Properties.StorageProfile.ImageReference = old.Properties.StorageProfile.ImageReference
			}
			body.Identity, body.Plan, body.Properties.Kept = old.Identity, old.Plan, old.Properties.Kept
		}
		body.Properties.Kept = mergeKept(body.Properties.Kept, spec.Kept)
		if spec.Plan != nil {
			body.Plan = spec.Plan
		}
		if spec.IdentityGiven {
			id, err := s.p.SetIdentity(ctx, tx, vmIdentityKinds, vmID, body.Identity, spec.Identity, spec.MergeIdentity)
			if err != nil {
				return err
			}
			if strings.EqualFold(id.Type, "None") {
				id = nil
			}
			body.Identity = id
		}
		if body.Properties.HardwareProfile == nil {
			body.Properties.HardwareProfile = map[string]any{"vmSize": firstNonEmpty(spec.VMSize, "Standard_D2s_v3")}
		} else if spec.VMSize != "" {
			body.Properties.HardwareProfile["vmSize"] = spec.VMSize
		}
		// The compute quota: a new VM, or an allocated one resized.
		size, _ := body.Properties.HardwareProfile["vmSize"].(string)
		oldSize := ""
		if !created {
			oldSize, _ = old.Properties.HardwareProfile["vmSize"].(string)
		}
		if created || (power != PowerDeallocated && !strings.EqualFold(size, oldSize)) {
			if err := s.fitQuota(ctx, tx, rid.SubscriptionID, loc, size, vmID, created); err != nil {
				return err
			}
		} else if !strings.EqualFold(size, oldSize) {
			if _, err := ParseVMSize(size); err != nil {
				return err
			}
		}
		ultra := ultraSSDEnabled(body.Properties.Kept)
		for i, dd := range spec.DataDisks {
			d, err := attach(dd.DiskID)
			if err != nil {
				return err
			}
			create, del, caching, wa := had(d.ID)
			if dd.WriteAccelerator != nil {
				wa = *dd.WriteAccelerator
			}
			cache := firstNonEmpty(dd.Caching, caching, "None")
			if err := checkDataDisk(d, i, size, cache, wa, ultra); err != nil {
				return err
			}
			if err := checkSharedUse(d, false, fmt.Sprintf("dataDisks[%d]", i), cache, wa); err != nil {
				return err
			}
			body.Properties.StorageProfile.DataDisks = append(body.Properties.StorageProfile.DataDisks, VMDataDiskBody{Lun: dd.Lun, Name: d.Name,
				CreateOption: firstNonEmpty(dd.CreateOption, create, "Attach"), Caching: cache, DiskSizeGB: d.Properties.DiskSizeGB,
				ManagedDisk: &ManagedDiskRef{ID: d.ID, StorageAccountType: d.SKU.Name}, DeleteOption: firstNonEmpty(dd.DeleteOption, del, "Detach"),
				WriteAcceleratorEnabled: wa})
		}
		if !created {
			// Detach the disks the new profile no longer lists.
			for _, id := range old.domain("").DiskIDs() {
				if !ids[stateKey(id)] {
					if err := detachDisk(ctx, tx, id, old.ID, s.now()); err != nil {
						return err
					}
				}
			}
		}
		if created {
			if body.Properties.NetworkProfile, err = s.withNewNICs(ctx, tx, &spec, loc, body.Properties.NetworkProfile); err != nil {
				return err
			}
		}
		if s.network != nil {
			var had []nicRef
			if !created {
				had = nicRefs(old.Properties.NetworkProfile)
			}
			now := nicRefs(body.Properties.NetworkProfile)
			if err := s.network.UseNICs(ctx, tx, vmID, loc, nicIDs(now), releasedNICs(had, now)); err != nil {
				return err
			}
		}
		if created {
			if err := putPower(ctx, tx, rid.String(), PowerRunning); err != nil {
				return err
			}
		}
		return resource.Put(ctx, tx, rid, &body)
	})
	if err != nil {
		return false, nil, err
	}
	return created, body.domain(power), nil
}

// ultraSSDEnabled reports whether a VM's kept properties enable UltraSSD
// disks (additionalCapabilities.ultraSSDEnabled true).
func ultraSSDEnabled(kept map[string]json.RawMessage) bool {
	var ac struct {
		UltraSSDEnabled *bool `json:"ultraSSDEnabled"`
	}
	return json.Unmarshal(kept["additionalCapabilities"], &ac) == nil && ac.UltraSSDEnabled != nil && *ac.UltraSSDEnabled
}

// checkDataDisk checks, as Azure does, that disk d can be the i-th data
// disk of a VM of size vmSize with host caching cache, Write Accelerator
// on it when writeAccelerator, and UltraSSD disks enabled when ultra: an
// UltraSSD_LRS disk needs additionalCapabilities.ultraSSDEnabled and no
// host caching; Write Accelerator is for an M-series VM's Premium_LRS disk
// without read-write caching.
func checkDataDisk(d *DiskResource, i int, vmSize, cache string, writeAccelerator, ultra bool) error {
	sku := skuName(d.SKU)
	if sku == "UltraSSD_LRS" {
		if !ultra {
			return invalidAt("managedDisk.storageAccountType", "StorageAccountType UltraSSD_LRS can be used only when additionalCapabilities.ultraSSDEnabled is set: set it to true on the VM to attach disk '%s'.", d.Name)
		}
		if cache != "None" {
			return invalidAt(fmt.Sprintf("dataDisks[%d].caching", i), "Storage Account type UltraSSD_LRS is not supported with caching type %s. Please use caching type None (disk '%s').", cache, d.Name)
		}
	}
	if !writeAccelerator {
		return nil
	}
	target := fmt.Sprintf("dataDisks[%d].writeAcceleratorEnabled", i)
	if info, err := ParseVMSize(vmSize); err != nil || info.Series != "M" {
		return invalidAt(target, "Write Accelerator is supported only on M-series VMs, and VM size '%s' is not one: set writeAcceleratorEnabled false for disk '%s', or resize the VM to an M-series size.", vmSize, d.Name)
	}
	if sku != "Premium_LRS" {
		return invalidAt(target, "Write Accelerator is supported only on Premium_LRS disks, and disk '%s' is %s: set writeAcceleratorEnabled false, or change the disk's sku to Premium_LRS.", d.Name, firstNonEmpty(sku, "Standard_LRS"))
	}
	if cache == "ReadWrite" {
		return invalidAt(target, "Write Accelerator is not supported with caching type ReadWrite: use caching None or ReadOnly for disk '%s'.", d.Name)
	}
	return nil
}

// sameZones reports whether two zone lists name the same zones.
func sameZones(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(strings.TrimSpace(a[i]), strings.TrimSpace(b[i])) {
			return false
		}
	}
	return true
}

func detachDisk(ctx context.Context, tx store.Tx, diskID, vmID string, now time.Time) error {
	did, err := arm.ParseID(diskID)
	if err != nil {
		return nil
	}
	var d DiskResource
	if err := resource.Get(ctx, tx, did, &d); err != nil {
		return nil // already gone
	}
	if !d.AttachedTo(vmID) {
		return nil
	}
	d.setAttached(withoutVM(d.AttachedVMs(), vmID))
	// A shared disk still attached to other VMs keeps an active SAS (one
	// detached from its last VM ends unattached, as before).
	if st := d.Properties.DiskState; len(d.AttachedVMs()) == 0 || (st != StateActiveSAS && st != StateActiveUpload) {
		d.Properties.DiskState = attachedState(ctx, tx, &d, "", "")
	}
	d.Properties.LastOwnershipUpdateTime = &now
	return resource.Put(ctx, tx, did, &d)
}

// DeleteVM deletes a VM and detaches its disks: they are kept (Azure's
// default deleteOption Detach), but for those whose deleteOption is
// Delete, which are deleted with it, in the VM's transaction (a crash or
// a failure never leaves the VM gone and those disks kept, or some of
// them); their volumes are removed once it commits.
func (s *Service) DeleteVM(ctx context.Context, id string) error {
	return s.DeleteVMOf(ctx, id, "")
}

// DeleteVMOf is DeleteVM of the VM whose vmId is vmID ("": any): a VM of
// that name with another vmId (made again since) is left alone, and the
// error is a NotFound one.
func (s *Service) DeleteVMOf(ctx context.Context, id, vmID string) error {
	return s.deleteVM(ctx, id, vmID, false)
}

// DeleteVMOnBehalf is DeleteVMOf for Safehold deleting a VM it made on a
// user's behalf (a failed restore's): refused as the user's DELETE would
// be where a management lock forbids it (409 ScopeLocked, on the VM or on
// a disk it would delete with it), checked in the transaction that
// deletes it. A restore's clean-up deleted a VM in a CanNotDelete group.
func (s *Service) DeleteVMOnBehalf(ctx context.Context, id, vmID string) error {
	return s.deleteVM(ctx, id, vmID, true)
}

func (s *Service) deleteVM(ctx context.Context, id, vmID string, checkLocks bool) error {
	rid, err := parseTyped(id, VMType)
	if err != nil {
		return err
	}
	drop := func(v *VM) []string {
		var ids []string
		if strings.EqualFold(v.OSDiskDeleteOption, "Delete") {
			ids = append(ids, v.OSDiskID)
		}
		for _, dd := range v.DataDisks {
			if strings.EqualFold(dd.DeleteOption, "Delete") {
				ids = append(ids, dd.DiskID)
			}
		}
		return ids
	}
	// The volumes of the disks it deletes are locked as DeleteDisk locks
	// them (those the VM has as read before its transaction).
	var uids []string
	if v, err := s.VMResource(ctx, id); err == nil {
		for _, did := range drop(v.domain("")) {
			if d, err := s.DiskResource(ctx, did); err == nil {
				uids = append(uids, d.Properties.UniqueID)
			}
		}
	}
	unlock := s.lockVolumes(uids...)
	defer unlock()
	var dropped []*DiskResource
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		var v VMResource
		if err := resource.Get(ctx, tx, rid, &v); err != nil {
			return err
		}
		if err := sameIdentity(rid, vmID, v.Properties.VMID); err != nil {
			return err
		}
		dropped = dropped[:0]
		vm := v.domain("")
		if checkLocks {
			for _, scope := range append([]string{rid.String()}, drop(vm)...) {
				if err := resource.CheckLocks(ctx, tx, http.MethodDelete, scope); err != nil {
					return err
				}
			}
		}
		for _, did := range vm.DiskIDs() {
			if err := detachDisk(ctx, tx, did, v.ID, s.now()); err != nil {
				return err
			}
		}
		for _, did := range drop(vm) {
			drid, err := parseTyped(did, DiskType)
			if err != nil {
				continue
			}
			d, err := dropDisk(ctx, tx, drid)
			switch {
			case failure.Is(err, failure.NotFound), failure.Is(err, failure.Conflict):
				// gone already, or another VM's now: not this VM's to delete
			case err != nil:
				return fmt.Errorf("delete disk %s of VM %s (deleteOption Delete): %w", did, rid.Name(), err)
			default:
				dropped = append(dropped, d)
			}
		}
		if s.network != nil {
			var released, deleted []string
			for _, n := range nicRefs(v.Properties.NetworkProfile) {
				if strings.EqualFold(n.deleteOption, "Delete") {
					deleted = append(deleted, n.id)
				} else {
					released = append(released, n.id)
				}
			}
			if err := s.network.DropNICs(ctx, tx, v.ID, released, deleted); err != nil {
				return err
			}
		}
		if err := store.DeleteKeys(ctx, tx, stateKind, stateKey(v.ID)+"#vm"); err != nil {
			return err
		}
		return s.p.DropOwner(ctx, tx, rid, v.Identity)
	})
	if err != nil {
		return err
	}
	for _, d := range dropped {
		if err := s.removeVolume(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// SetPowerState moves a VM to running, stopped or deallocated (start,
// powerOff, deallocate, restart). Deallocated VMs' disks are Reserved.
func (s *Service) SetPowerState(ctx context.Context, id, power string) (*VM, error) {
	rid, err := parseTyped(id, VMType)
	if err != nil {
		return nil, err
	}
	var v VMResource
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.Get(ctx, tx, rid, &v); err != nil {
			return err
		}
		if power != PowerDeallocated && powerOf(ctx, tx, v.ID) == PowerDeallocated {
			// Starting a deallocated VM allocates its vCPUs again.
			size, _ := v.Properties.HardwareProfile["vmSize"].(string)
			if _, err := ParseVMSize(size); err == nil {
				if err := s.fitQuota(ctx, tx, rid.SubscriptionID, v.Location, size, v.ID, false); err != nil {
					return err
				}
			}
		}
		for _, did := range v.domain("").DiskIDs() {
			drid, err := arm.ParseID(did)
			if err != nil {
				continue
			}
			var d DiskResource
			if resource.Get(ctx, tx, drid, &d) != nil || !d.AttachedTo(v.ID) {
				continue
			}
			if err := s.settleState(ctx, tx, &d); err != nil {
				return err
			}
			if d.Properties.DiskState == StateActiveSAS && power != PowerDeallocated {
				return failure.Conflictf("OperationNotAllowed", "Disk '%s' has an active SAS; call endGetAccess before starting the VM.", d.Name)
			}
			// A shared disk stays Attached while another of its VMs is allocated.
			diskState := attachedState(ctx, tx, &d, v.ID, power)
			if d.Properties.DiskState != StateActiveSAS && d.Properties.DiskState != diskState {
				d.Properties.DiskState = diskState
				now := s.now()
				d.Properties.LastOwnershipUpdateTime = &now
			}
			if err := resource.Put(ctx, tx, drid, &d); err != nil {
				return err
			}
		}
		return putPower(ctx, tx, v.ID, power)
	})
	if err != nil {
		return nil, err
	}
	return v.domain(power), nil
}

// InstanceView is a VM's instance view.
func (s *Service) InstanceView(ctx context.Context, id string) (*VMInstanceView, error) {
	v, err := s.VMResource(ctx, id)
	if err != nil {
		return nil, err
	}
	power := powerOf(ctx, s.p.Store, v.ID)
	t := s.now()
	display := map[string]string{PowerRunning: "VM running", PowerStopped: "VM stopped", PowerDeallocated: "VM deallocated"}[power]
	iv := &VMInstanceView{ComputerName: v.Name, Disks: []DiskInstanceView{}, Statuses: []InstanceViewStatus{
		{Code: "ProvisioningState/succeeded", Level: "Info", DisplayStatus: "Provisioning succeeded", Time: &t},
		{Code: "PowerState/" + power, Level: "Info", DisplayStatus: display},
	}}
	for _, did := range v.domain(power).DiskIDs() {
		name := did[strings.LastIndex(did, "/")+1:]
		iv.Disks = append(iv.Disks, DiskInstanceView{Name: name, Statuses: []InstanceViewStatus{
			{Code: "ProvisioningState/succeeded", Level: "Info", DisplayStatus: "Provisioning succeeded", Time: &t}}})
	}
	return iv, nil
}

// SnapshotVM freezes all of a VM's disks at one instant and snapshots
// them; snapshotIDs maps each disk id (case-insensitive) to the snapshot
// resource id to create.
func (s *Service) SnapshotVM(ctx context.Context, vmID string, incremental bool, snapshotIDs map[string]string, tags map[string]string, progress func(done, total, changed int64)) ([]*Snapshot, error) {
	vm, err := s.VM(ctx, vmID)
	if err != nil {
		return nil, err
	}
	byKey := map[string]string{}
	for k, v := range snapshotIDs {
		byKey[stateKey(k)] = v
	}
	var specs []SnapshotSpec
	for _, did := range vm.DiskIDs() {
		sid, ok := byKey[stateKey(did)]
		if !ok {
			return nil, failure.Invalidf("InvalidParameter", "No snapshot id given for disk '%s' of VM '%s'.", did, vm.Name)
		}
		specs = append(specs, SnapshotSpec{DiskID: did, SnapshotID: sid, Incremental: incremental, Tags: tags})
	}
	return s.SnapshotDisks(ctx, specs, progress)
}

// mergeKept applies the kept properties given (null removes one) to those
// the VM had.
func mergeKept(had, given map[string]json.RawMessage) map[string]json.RawMessage {
	if len(given) == 0 {
		return had
	}
	out := make(map[string]json.RawMessage, len(had)+len(given))
	for k, v := range had {
		out[k] = v
	}
	for k, v := range given {
		if string(v) == "null" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
