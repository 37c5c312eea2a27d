package compute

import (
	"context"
	"strconv"
	"strings"

	"github.com/safehold/safehold/resource"
)

// VMSize is one entry of the VM size catalog (Azure's VirtualMachineSize:
// what GET .../locations/{location}/vmSizes and a VM's vmSizes list).
type VMSize struct {
	Name                 string `json:"name"`
	NumberOfCores        int64  `json:"numberOfCores"`
	OSDiskSizeInMB       int64  `json:"osDiskSizeInMB"`
	ResourceDiskSizeInMB int64  `json:"resourceDiskSizeInMB"`
	MemoryInMB           int64  `json:"memoryInMB"`
	MaxDataDiskCount     int64  `json:"maxDataDiskCount"`
}

// vmSizeCatalog is the sizes Safehold lists: common general-purpose,
// burstable, memory- and compute-optimized sizes with Azure's figures. A VM
// may use any size name ParseVMSize accepts; these are the ones listed.
var vmSizeCatalog = []VMSize{
	{"Standard_A1_v2", 1, 1047552, 10240, 2048, 2},
	{"Standard_A2_v2", 2, 1047552, 20480, 4096, 4},
	{"Standard_A4_v2", 4, 1047552, 40960, 8192, 8},
	{"Standard_B1s", 1, 1047552, 4096, 1024, 2},
	{"Standard_B1ms", 1, 1047552, 4096, 2048, 2},
	{"Standard_B2s", 2, 1047552, 8192, 4096, 4},
	{"Standard_B2ms", 2, 1047552, 16384, 8192, 4},
	{"Standard_B4ms", 4, 1047552, 32768, 16384, 8},
	{"Standard_DS1_v2", 1, 1047552, 7168, 3584, 4},
	{"Standard_DS2_v2", 2, 1047552, 14336, 7168, 8},
	{"Standard_DS3_v2", 4, 1047552, 28672, 14336, 16},
	{"Standard_D2s_v3", 2, 1047552, 16384, 8192, 4},
	{"Standard_D4s_v3", 4, 1047552, 32768, 16384, 8},
	{"Standard_D8s_v3", 8, 1047552, 65536, 32768, 16},
	{"Standard_D2s_v5", 2, 1047552, 0, 8192, 4},
	{"Standard_D4s_v5", 4, 1047552, 0, 16384, 8},
	{"Standard_D2as_v5", 2, 1047552, 0, 8192, 4},
	{"Standard_D4as_v5", 4, 1047552, 0, 16384, 8},
	{"Standard_E2s_v3", 2, 1047552, 32768, 16384, 4},
	{"Standard_E4s_v3", 4, 1047552, 65536, 32768, 8},
	{"Standard_F2s_v2", 2, 1047552, 16384, 4096, 4},
	{"Standard_F4s_v2", 4, 1047552, 32768, 8192, 8},
}

// VMSizes lists the sizes available in location (every location has the
// catalog's); an unknown location is 400 as for a resource put there.
func (s *Service) VMSizes(ctx context.Context, location string) ([]VMSize, error) {
	if err := resource.CheckLocation(location, VMType); err != nil {
		return nil, err
	}
	return append([]VMSize(nil), vmSizeCatalog...), nil
}

// VMSizesFor lists the sizes of the catalog a VM can be resized to: those
// that take as many data disks as it has.
func (s *Service) VMSizesFor(ctx context.Context, vmID string) ([]VMSize, error) {
	v, err := s.VMResource(ctx, vmID)
	if err != nil {
		return nil, err
	}
	disks := int64(len(v.Properties.StorageProfile.DataDisks))
	out := []VMSize{}
	for _, z := range vmSizeCatalog {
		if z.MaxDataDiskCount >= disks {
			out = append(out, z)
		}
	}
	return out, nil
}

// ResourceSKU is an entry of GET .../providers/Microsoft.Compute/skus
// (Azure's ResourceSku): a VM size, disk SKU or snapshot SKU in a location.
type ResourceSKU struct {
	ResourceType string            `json:"resourceType"`
	Name         string            `json:"name"`
	Tier         string            `json:"tier,omitempty"`
	Size         string            `json:"size,omitempty"`
	Family       string            `json:"family,omitempty"`
	Locations    []string          `json:"locations"`
	LocationInfo []SKULocationInfo `json:"locationInfo"`
	Capabilities []SKUCapability   `json:"capabilities"`
	Restrictions []map[string]any  `json:"restrictions"`
}

// SKULocationInfo is where a SKU is offered: a location and its zones.
type SKULocationInfo struct {
	Location    string   `json:"location"`
	Zones       []string `json:"zones"`
	ZoneDetails []any    `json:"zoneDetails"`
}

// SKUCapability is one capability of a SKU (Azure writes every value as a
// string).
type SKUCapability struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ResourceSKUs lists the SKUs of the VM size catalog and of disks and
// snapshots, in location ("": every location Safehold has), each with the
// zones of its location (1 to 3 in a region with zones, none in
// another, resource.Zones). The size limits are Safehold's: 1 to 32767 GiB.
func ResourceSKUs(location string) ([]ResourceSKU, error) {
	locs := resource.Locations
	if location != "" {
		if err := resource.CheckLocation(location, "Microsoft.Compute/skus"); err != nil {
			return nil, err
		}
		locs = []string{resource.NormLocation(location)}
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	var out []ResourceSKU
	for _, loc := range locs {
		zones := resource.Zones(loc)
		if zones == nil {
			zones = []string{} // Azure answers an empty list
		}
		at := func(typ, name, tier, size, family string, caps ...SKUCapability) ResourceSKU {
			return ResourceSKU{ResourceType: typ, Name: name, Tier: tier, Size: size, Family: family, Locations: []string{loc},
				LocationInfo: []SKULocationInfo{{Location: loc, Zones: zones, ZoneDetails: []any{}}},
				Capabilities: caps, Restrictions: []map[string]any{}}
		}
		for _, z := range vmSizeCatalog {
			info, _ := ParseVMSize(z.Name)
			out = append(out, at("virtualMachines", z.Name, "Standard", strings.TrimPrefix(z.Name, "Standard_"), info.Family,
				SKUCapability{"vCPUs", itoa(z.NumberOfCores)}, SKUCapability{"MemoryGB", strconv.FormatFloat(float64(z.MemoryInMB)/1024, 'f', -1, 64)},
				SKUCapability{"MaxDataDiskCount", itoa(z.MaxDataDiskCount)}, SKUCapability{"OSVhdSizeMB", itoa(z.OSDiskSizeInMB)},
				SKUCapability{"MaxResourceVolumeMB", itoa(z.ResourceDiskSizeInMB)}, SKUCapability{"PremiumIO", strconv.FormatBool(info.PremiumStorage)}))
		}
		// Zone-redundant storage needs zones: a region without them
		// offers no _ZRS sku.
		zrs := func(name string) bool { return len(zones) == 0 && zoneRedundant(name) }
		for _, name := range strings.Split(diskSKUs, ", ") {
			if !zrs(name) {
				out = append(out, at("disks", name, SKUTier(name), "", "", SKUCapability{"MinSizeGiB", "1"}, SKUCapability{"MaxSizeGiB", "32767"}))
			}
		}
		for _, name := range strings.Split(snapshotSKUs, ", ") {
			if !zrs(name) {
				out = append(out, at("snapshots", name, SKUTier(name), "", ""))
			}
		}
	}
	return out, nil
}
