package compute

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// ShareInfo is one VM a shared disk is attached to (Azure's
// ShareInfoElement).
type ShareInfo struct {
	VMURI string `json:"vmUri"`
}

// AttachedVMs are the VMs disk d is attached to, managedBy first: a
// shared disk (maxShares > 1) attaches to up to maxShares VMs at once,
// which managedByExtended lists; another to one.
func (d *DiskResource) AttachedVMs() []string {
	if len(d.ManagedByExtended) > 0 {
		return d.ManagedByExtended
	}
	if d.ManagedBy != "" {
		return []string{d.ManagedBy}
	}
	return nil
}

// AttachedTo reports whether disk d is attached to VM vmID.
func (d *DiskResource) AttachedTo(vmID string) bool {
	for _, v := range d.AttachedVMs() {
		if arm.EqualIDs(v, vmID) {
			return true
		}
	}
	return false
}

// setAttached records the VMs disk d is attached to: managedBy is the
// first, and a shared disk lists them all in managedByExtended and
// shareInfo, as Azure does.
func (d *DiskResource) setAttached(vms []string) {
	vms = append([]string(nil), vms...)
	d.ManagedBy, d.ManagedByExtended, d.Properties.ShareInfo = "", nil, nil
	if len(vms) == 0 {
		return
	}
	d.ManagedBy = vms[0]
	if d.Properties.MaxShares > 1 || len(vms) > 1 {
		d.ManagedByExtended = vms
		for _, v := range vms {
			d.Properties.ShareInfo = append(d.Properties.ShareInfo, ShareInfo{VMURI: v})
		}
	}
}

// withoutVM is vms without vmID.
func withoutVM(vms []string, vmID string) []string {
	var out []string
	for _, v := range vms {
		if !arm.EqualIDs(v, vmID) {
			out = append(out, v)
		}
	}
	return out
}

// powerOf is the power state of VM id (running when none is recorded).
func powerOf(ctx context.Context, r store.Reader, id string) string {
	st, err := store.GetJSON[vmState](ctx, r, stateKind, stateKey(id)+"#vm", "VM state")
	if err != nil || st.PowerState == "" {
		return PowerRunning
	}
	return st.PowerState
}

// attachedState is the state of disk d from the VMs it is attached to,
// VM vmID in power state power (the others as recorded): Attached while
// one of them is allocated, Reserved when all are deallocated, Unattached
// with none.
func attachedState(ctx context.Context, r store.Reader, d *DiskResource, vmID, power string) string {
	vms := d.AttachedVMs()
	if len(vms) == 0 {
		return StateUnattached
	}
	for _, v := range vms {
		p := power
		if !arm.EqualIDs(v, vmID) {
			p = powerOf(ctx, r, v)
		}
		if p != PowerDeallocated {
			return StateAttached
		}
	}
	return StateReserved
}

// MaxSharesLimit is the largest maxShares Azure allows a disk of sku
// (canonical; "": Standard_LRS) and size: 3 for Premium SSD and Standard
// SSD disks up to 512 GiB (P20, E20), 5 up to 4 TiB (P50, E50), 10 above,
// 15 for Ultra and Premium SSD v2 disks; 0 for Standard HDD disks, which
// cannot be shared.
func MaxSharesLimit(sku string, sizeBytes int64) int32 {
	switch sku {
	case "UltraSSD_LRS", "PremiumV2_LRS":
		return 15
	case "Premium_LRS", "Premium_ZRS", "StandardSSD_LRS", "StandardSSD_ZRS":
		switch gb := sizeGB(sizeBytes); {
		case gb <= 512:
			return 3
		case gb <= 4096:
			return 5
		}
		return 10
	}
	return 0
}

// invalidAt is a 400 InvalidParameter naming target, the JSON path of
// the value it refuses.
func invalidAt(target, format string, args ...any) error {
	e := failure.Invalidf("InvalidParameter", format, args...)
	e.Target = target
	return e
}

// checkShares checks the maxShares n of a disk of sku and size as Azure
// does (a disk that cannot be shared, or more VMs than its size allows,
// is 400 InvalidParameter naming properties.maxShares).
func checkShares(n int32, sku string, sizeBytes int64) error {
	if n <= 1 {
		return nil
	}
	sku = firstNonEmpty(sku, "Standard_LRS")
	lim := MaxSharesLimit(sku, sizeBytes)
	if lim == 0 {
		return invalidAt("properties.maxShares", "A disk with sku %s cannot be shared (maxShares %d): only Premium SSD (Premium_LRS, Premium_ZRS), Standard SSD (StandardSSD_LRS, StandardSSD_ZRS), Ultra (UltraSSD_LRS) and Premium SSD v2 (PremiumV2_LRS) disks take a maxShares greater than 1.", sku, n)
	}
	if n > lim {
		return invalidAt("properties.maxShares", "The value %d of 'maxShares' is more than a %s disk of %d GiB allows: at most %d (Premium SSD and Standard SSD: 3 up to 512 GiB, 5 up to 4096 GiB, 10 above; Ultra and Premium SSD v2: 15).", n, sku, sizeGB(sizeBytes), lim)
	}
	return nil
}

// premiumTiers are the performance tiers of Premium SSD disks and the
// largest size (GiB) of each.
var premiumTiers = []struct {
	Name string
	GB   int64
}{{"P1", 4}, {"P2", 8}, {"P3", 16}, {"P4", 32}, {"P6", 64}, {"P10", 128}, {"P15", 256}, {"P20", 512}, {"P30", 1024},
	{"P40", 2048}, {"P50", 4096}, {"P60", 8192}, {"P70", 16384}, {"P80", 32767}}

// premiumSKU reports whether sku is a Premium SSD sku (the disks that have
// performance tiers).
func premiumSKU(sku string) bool { return sku == "Premium_LRS" || sku == "Premium_ZRS" }

// baseTier is the index in premiumTiers of the baseline performance tier
// of a Premium SSD disk of size bytes: the smallest that holds it.
func baseTier(sizeBytes int64) int {
	gb := sizeGB(sizeBytes)
	for i, t := range premiumTiers {
		if gb <= t.GB {
			return i
		}
	}
	return len(premiumTiers) - 1
}

// tierIndex is the index of a tier name in premiumTiers (-1: none).
func tierIndex(name string) int {
	for i, t := range premiumTiers {
		if strings.EqualFold(t.Name, name) {
			return i
		}
	}
	return -1
}

// BaseTier is the baseline performance tier of a disk of sku and size
// ("" for a sku without tiers).
func BaseTier(sku string, sizeBytes int64) string {
	if !premiumSKU(sku) {
		return ""
	}
	return premiumTiers[baseTier(sizeBytes)].Name
}

// settleTier gives disk d the performance tier Azure answers: a Premium
// SSD disk's set tier, or its size's baseline when none is set or the set
// one is below it (a disk resized past it); no tier for another sku.
// Its performance follows (settlePerformance).
func (d *DiskResource) settleTier() {
	defer d.settlePerformance()
	sku := skuName(d.SKU)
	if !premiumSKU(sku) {
		d.Properties.Tier = ""
		return
	}
	base := baseTier(d.Properties.DiskSizeBytes)
	if i := tierIndex(d.Properties.Tier); i >= base {
		d.Properties.Tier = premiumTiers[i].Name
		return
	}
	d.Properties.Tier = premiumTiers[base].Name
}

// TierDowngradeWait is how long after a disk's performance tier changed
// it can be downgraded (Azure: "a disk's performance tier can be
// downgraded only once every 12 hours").
const TierDowngradeWait = 12 * time.Hour

// checkTier checks the performance tier asked of disk d (changed from
// old's; nil: a new disk) at now, as Azure does: only a Premium SSD disk
// has one, at or above its size's baseline, P60 and up only for disks
// over 4096 GiB, a shared disk's changes only while no VM it is attached
// to runs, and a lower tier only TierDowngradeWait after the tier last
// changed.
func checkTier(ctx context.Context, r store.Reader, old, d *DiskResource, asked string, now time.Time) error {
	if asked == "" || (old != nil && strings.EqualFold(asked, old.Properties.Tier)) {
		return nil // unchanged: it follows the size and sku (settleTier)
	}
	sku := firstNonEmpty(skuName(d.SKU), "Standard_LRS")
	if !premiumSKU(sku) {
		return invalidAt("properties.tier", "Performance tiers are for Premium SSD disks (Premium_LRS, Premium_ZRS), and disk '%s' is %s: leave 'tier' out, or change its sku to Premium_LRS.", d.Name, sku)
	}
	i := tierIndex(asked)
	if i < 0 {
		names := make([]string, len(premiumTiers))
		for j, t := range premiumTiers {
			names[j] = t.Name
		}
		return invalidAt("properties.tier", "The value '%s' of 'tier' is not a Premium SSD performance tier. The allowed values are %s.", asked, strings.Join(names, ", "))
	}
	base := baseTier(d.Properties.DiskSizeBytes)
	if i < base {
		return invalidAt("properties.tier", "The performance tier %s is below the baseline tier %s of disk '%s' (%d GiB): a disk's tier can be its size's baseline or higher. Use tier %s or higher.",
			premiumTiers[i].Name, premiumTiers[base].Name, d.Name, sizeGB(d.Properties.DiskSizeBytes), premiumTiers[base].Name)
	}
	if i >= tierIndex("P60") && sizeGB(d.Properties.DiskSizeBytes) <= 4096 {
		return invalidAt("properties.tier", "The performance tiers P60, P70 and P80 are for disks larger than 4096 GiB, and disk '%s' has %d GiB: use a tier up to P50, or grow the disk past 4096 GiB first.", d.Name, sizeGB(d.Properties.DiskSizeBytes))
	}
	if old != nil && old.Properties.MaxShares > 1 && !strings.EqualFold(old.Properties.Tier, premiumTiers[i].Name) &&
		attachedState(ctx, r, old, "", "") == StateAttached {
		return failure.Conflictf("OperationNotAllowed", "The performance tier of shared disk '%s' cannot change while it is attached to a running VM (%s): deallocate the VMs it is attached to, or detach it, first.", d.Name, strings.Join(old.AttachedVMs(), ", "))
	}
	if old != nil && i < tierIndex(old.Properties.Tier) {
		st, err := getState(ctx, r, old.ID)
		if err != nil {
			return err
		}
		if st.TierChanged != nil && now.Before(st.TierChanged.Add(TierDowngradeWait)) {
			return failure.Conflictf("OperationNotAllowed", "The performance tier of disk '%s' changed to %s at %s: a disk's tier can be downgraded only once every 12 hours, so it can go down to %s from %s on. Keep tier %s until then.",
				d.Name, old.Properties.Tier, st.TierChanged.UTC().Format(time.RFC3339), premiumTiers[i].Name, st.TierChanged.Add(TierDowngradeWait).UTC().Format(time.RFC3339), old.Properties.Tier)
		}
	}
	return nil
}

// settingString is the string a setting gives (""; absent or null).
func settingString(s Settings, key string) string {
	var v string
	if raw, ok := s[key]; ok {
		_ = json.Unmarshal(raw, &v)
	}
	return v
}

// checkDiskSettings checks what settings s make of disk d, as changed
// from old (nil: a new disk) at now: maxShares (changed only while
// detached from every VM, within what the sku and size allow) and the
// performance tier.
func checkDiskSettings(ctx context.Context, r store.Reader, old, d *DiskResource, s Settings, now time.Time) error {
	if raw, ok := s["maxShares"]; ok && string(raw) != "null" {
		var n int64
		if json.Unmarshal(raw, &n) == nil && n < 1 {
			return invalidAt("properties.maxShares", "The value %d of 'maxShares' is not valid: it is the number of VMs the disk can attach to at once, 1 or more (1: not shared).", n)
		}
	}
	shares := max(int32(1), d.Properties.MaxShares)
	if old != nil && max(int32(1), old.Properties.MaxShares) != shares && len(old.AttachedVMs()) > 0 {
		return failure.Conflictf("OperationNotAllowed", "The maxShares of disk '%s' can change only while it is detached from every VM, and it is attached to %s. Detach it first.", d.Name, strings.Join(old.AttachedVMs(), ", "))
	}
	if err := checkShares(shares, skuName(d.SKU), d.Properties.DiskSizeBytes); err != nil {
		return err
	}
	return checkTier(ctx, r, old, d, settingString(s, "tier"), now)
}

// CheckDiskSettings checks, before anything is written, what settings s
// make of a disk: cur (nil: a new disk of sku and size bytes) with sku
// and size changed to those given ("" and 0: cur's). See checkDiskSettings.
func (s *Service) CheckDiskSettings(ctx context.Context, cur *DiskResource, sku string, size int64, settings Settings) error {
	var d DiskResource
	if cur != nil {
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
	} else {
		d.SKU = SKUOf("")
	}
	if sku != "" {
		canon, err := CanonicalSKU(sku)
		if err != nil {
			return nil // the sku's own check answers
		}
		d.SKU = SKUOf(canon)
	}
	if size > 0 {
		d.Properties.DiskSizeBytes = size
	}
	if err := applySettings(&d.Properties, settings); err != nil {
		return err
	}
	return checkDiskSettings(ctx, s.p.Store, cur, &d, settings, s.now())
}

// checkSharedAttach checks that disk d may be attached to VM vmID (of
// name vmName; it is not yet): a disk attached to another VM only when
// shared and not already attached to maxShares VMs.
func checkSharedAttach(d *DiskResource, vmID string) error {
	vms := d.AttachedVMs()
	if len(vms) == 0 {
		return nil
	}
	if d.Properties.MaxShares <= 1 {
		return failure.Conflictf("OperationNotAllowed", "Disk '%s' is already attached to VM '%s'. Detach it from that VM first, or create it as a shared disk (maxShares greater than 1) to attach it to several VMs.", d.Name, d.ManagedBy)
	}
	if int32(len(vms)) >= d.Properties.MaxShares {
		return failure.Conflictf("OperationNotAllowed", "Shared disk '%s' is already attached to %d VMs (%s), the most its maxShares %d allows. Detach it from one of them first, or raise maxShares while it is detached from every VM.",
			d.Name, len(vms), strings.Join(vms, ", "), d.Properties.MaxShares)
	}
	return nil
}

// checkSharedUse checks a shared disk's use by a VM as Azure does: only
// as a data disk (not os), with no host caching and no Write Accelerator.
// target is the JSON path of the disk in the VM's storage profile.
func checkSharedUse(d *DiskResource, os bool, target, cache string, writeAccelerator bool) error {
	if d.Properties.MaxShares <= 1 {
		return nil
	}
	if os {
		return invalidAt("osDisk.managedDisk.id", "Disk '%s' is a shared disk (maxShares %d): a shared disk can only be a data disk, not the OS disk.", d.Name, d.Properties.MaxShares)
	}
	if cache != "None" {
		return invalidAt(target+".caching", "Host caching is not supported for shared disks: disk '%s' (maxShares %d) takes caching None, not %s.", d.Name, d.Properties.MaxShares, cache)
	}
	if writeAccelerator {
		return invalidAt(target+".writeAcceleratorEnabled", "Write Accelerator is not supported for shared disks: set writeAcceleratorEnabled false for disk '%s' (maxShares %d).", d.Name, d.Properties.MaxShares)
	}
	return nil
}
