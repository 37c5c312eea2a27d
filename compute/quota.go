package compute

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Compute quotas, as Azure has them: per subscription and region, a limit
// of vCPUs in total ("cores", Total Regional vCPUs), a limit of vCPUs per VM
// size family ("standardDSv3Family", ...) and a limit of VMs
// ("virtualMachines"). An allocated VM (running or stopped, not
// deallocated) uses its size's vCPUs in both the total and its family.
// Creating a VM, resizing an allocated one or starting a deallocated one
// fails with 409 OperationNotAllowed when it would exceed a limit.
// GET .../providers/Microsoft.Compute/locations/{location}/usages reports
// usage and limits; an operator sets limits through the admin API
// (SetQuota). The defaults are generous: a developer lowers them to test
// how a client handles a reached quota.

// Default limits of a subscription in a region.
const (
	DefaultRegionalCores   = 10000
	DefaultFamilyCores     = 10000
	DefaultVirtualMachines = 25000
)

// Quota names that are not families.
const (
	QuotaCores           = "cores"
	QuotaVirtualMachines = "virtualMachines"
)

const quotaKind = "compute.quota" // limits set by an operator, keyed "{subscription}/{location}"

// VMSizeInfo is what the quota needs of a VM size.
type VMSizeInfo struct {
	Name   string
	VCPUs  int64
	Family string // quota name of the size's family, e.g. standardDSv3Family
	// PremiumStorage: the size can have premium disks (an 's' in its
	// name: Standard_D2s_v3, Standard_DS1_v2, Standard_B1ms; not
	// Standard_D2_v3 or Basic_A1).
	PremiumStorage bool
	// Series is the size's series, upper case: D, B, M, ...
	Series string
}

// reVMSize parses Azure's size names: Standard_{series}{vCPUs}[-{active
// vCPUs}]{features}[_{version}], e.g. Standard_D2s_v3, Standard_DS1_v2,
// Standard_B1ms, Standard_D8-2s_v3, Standard_NC6s_v3, Basic_A1.
var reVMSize = regexp.MustCompile(`(?i)^(standard|basic)_([a-z]+)(\d+)(?:-\d+)?([a-z]*)(?:_(v\d+))?(?:_promo)?$`)

// ParseVMSize returns the vCPUs and the quota family of a size name. A
// constrained-core size (D8-2s_v3) counts its full vCPUs, as Azure's quota
// does.
func ParseVMSize(name string) (VMSizeInfo, error) {
	m := reVMSize.FindStringSubmatch(name)
	if m == nil {
		return VMSizeInfo{}, failure.Invalidf("InvalidParameter", "The value '%s' of parameter 'hardwareProfile.vmSize' is not a VM size: use a size name such as Standard_D2s_v3 or Standard_B1s.", name)
	}
	n, err := strconv.ParseInt(m[3], 10, 64)
	if err == nil && n == 0 && strings.EqualFold(m[2], "A") {
		n = 1 // A0 (Basic_A0, Standard_A0): one shared vCPU
	}
	if err != nil || n <= 0 || n > 1024 {
		return VMSizeInfo{}, failure.Invalidf("InvalidParameter", "The value '%s' of parameter 'hardwareProfile.vmSize' is not a VM size: its vCPU count is out of range.", name)
	}
	tier, series, features, version := strings.ToLower(m[1]), strings.ToUpper(m[2]), "", strings.ToLower(m[5])
	for _, c := range strings.ToUpper(m[4]) {
		// m (more memory) and t (tiny memory) do not make a family of
		// their own: Standard_M8ms is standardMSFamily.
		if c != 'M' && c != 'T' {
			features += string(c)
		}
	}
	family := tier + series + features + version + "Family"
	if series == "B" && tier == "standard" { // every burstable size is one family
		family = "standardBSFamily"
	}
	premium := strings.Contains(series+features, "S") || series == "B" || series == "M"
	return VMSizeInfo{Name: name, VCPUs: n, Family: family, PremiumStorage: premium, Series: series}, nil
}

// QuotaUsage is one line of a region's usages: a quota's name, its use and
// its limit.
type QuotaUsage struct {
	Name, LocalizedName string
	Current, Limit      int64
}

// localizedQuotaName is the name Azure shows for a quota.
func localizedQuotaName(name string) string {
	switch name {
	case QuotaCores:
		return "Total Regional vCPUs"
	case QuotaVirtualMachines:
		return "Virtual Machines"
	}
	s := strings.TrimSuffix(name, "Family")
	for _, tier := range []string{"standard", "basic"} {
		if strings.HasPrefix(s, tier) {
			return strings.ToUpper(tier[:1]) + tier[1:] + " " + strings.TrimPrefix(s, tier) + " Family vCPUs"
		}
	}
	return name
}

// commonFamilies are listed in a region's usages even when unused (Azure
// lists every family the region offers).
var commonFamilies = []string{"standardBSFamily", "standardDFamily", "standardDv2Family", "standardDSv2Family", "standardDv3Family",
	"standardDSv3Family", "standardDv5Family", "standardDSv5Family", "standardESv3Family", "standardFSv2Family"}

type quotaDoc struct {
	Limits map[string]int64 `json:"limits"`
}

func quotaKey(subscriptionID, location string) string {
	return strings.ToLower(subscriptionID) + "/" + resource.NormLocation(location)
}

// limitOf is a quota's limit: as set in lim, else its default.
func limitOf(lim map[string]int64, name string) int64 {
	if l, ok := lim[name]; ok {
		return l
	}
	switch name {
	case QuotaCores:
		return DefaultRegionalCores
	case QuotaVirtualMachines:
		return DefaultVirtualMachines
	}
	return DefaultFamilyCores
}

// limits are the limits set for a subscription in a region (defaults
// apply to the others).
func (s *Service) limits(ctx context.Context, r store.Reader, subscriptionID, location string) (map[string]int64, error) {
	q, err := store.GetJSON[quotaDoc](ctx, r, quotaKind, quotaKey(subscriptionID, location), "quota")
	if errors.Is(err, store.ErrNotFound) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	if q.Limits == nil {
		q.Limits = map[string]int64{}
	}
	return q.Limits, nil
}

// usagesType is the resource type of a region's quotas.
const usagesType = "Microsoft.Compute/locations/usages"

// SetQuota sets limits of a subscription in a region (name -> limit; a
// negative limit returns that quota to its default) and returns the
// region's usages. Lowering a limit below the current use is allowed, as in
// Azure: what runs keeps running, nothing more is allocated.
func (s *Service) SetQuota(ctx context.Context, subscriptionID, location string, set map[string]int64) ([]QuotaUsage, error) {
	if subscriptionID == "" || location == "" {
		return nil, failure.Invalidf("InvalidParameter", "A quota needs a subscription and a location.")
	}
	if err := resource.CheckLocation(location, usagesType); err != nil {
		return nil, err
	}
	for name, v := range set {
		if name != QuotaCores && name != QuotaVirtualMachines && !strings.HasSuffix(name, "Family") {
			return nil, failure.Invalidf("InvalidParameter", "'%s' is not a compute quota: use cores, virtualMachines or a VM size family such as standardDSv3Family.", name)
		}
		if v > 1<<31-1 {
			return nil, failure.Invalidf("InvalidParameter", "The limit %d of '%s' is too large.", v, name)
		}
	}
	err := s.p.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := s.limits(ctx, tx, subscriptionID, location)
		if err != nil {
			return err
		}
		for name, v := range set {
			if v < 0 {
				delete(cur, name)
			} else {
				cur[name] = v
			}
		}
		if len(cur) == 0 {
			return store.DeleteKeys(ctx, tx, quotaKind, quotaKey(subscriptionID, location))
		}
		return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: quotaKind, Key: quotaKey(subscriptionID, location)}, quotaDoc{Limits: cur}, "quota")
	})
	if err != nil {
		return nil, err
	}
	return s.Usages(ctx, subscriptionID, location)
}

// usedIn counts what the allocated VMs of a subscription in a region use:
// vCPUs per family and in total, and VMs. skip is a VM left out (the one
// being changed).
func (s *Service) usedIn(ctx context.Context, r store.Reader, subscriptionID, location, skip string) (map[string]int64, error) {
	vs, err := resource.List[*VMResource](ctx, r, VMType, "/subscriptions/"+subscriptionID)
	if err != nil {
		return nil, err
	}
	used := map[string]int64{}
	loc := resource.NormLocation(location)
	for _, v := range vs {
		if resource.NormLocation(v.Location) != loc || strings.EqualFold(v.ID, skip) {
			continue
		}
		used[QuotaVirtualMachines]++
		if powerOf(ctx, r, v.ID) == PowerDeallocated {
			continue
		}
		size, _ := v.Properties.HardwareProfile["vmSize"].(string)
		info, err := ParseVMSize(size)
		if err != nil {
			continue // a size Safehold accepted before it checked sizes
		}
		used[QuotaCores] += info.VCPUs
		used[info.Family] += info.VCPUs
	}
	return used, nil
}

// Usages is what GET .../locations/{location}/usages reports: the total
// regional vCPUs, the VMs and every family in use, limited or common.
func (s *Service) Usages(ctx context.Context, subscriptionID, location string) ([]QuotaUsage, error) {
	if err := resource.CheckLocation(location, usagesType); err != nil {
		return nil, err
	}
	used, err := s.usedIn(ctx, s.p.Store, subscriptionID, location, "")
	if err != nil {
		return nil, err
	}
	lim, err := s.limits(ctx, s.p.Store, subscriptionID, location)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, f := range commonFamilies {
		names[f] = true
	}
	for n := range used {
		names[n] = true
	}
	for n := range lim {
		names[n] = true
	}
	delete(names, QuotaCores)
	delete(names, QuotaVirtualMachines)
	fams := make([]string, 0, len(names))
	for n := range names {
		fams = append(fams, n)
	}
	sort.Strings(fams)
	out := []QuotaUsage{}
	for _, n := range append([]string{QuotaCores, QuotaVirtualMachines}, fams...) {
		out = append(out, QuotaUsage{Name: n, LocalizedName: localizedQuotaName(n), Current: used[n], Limit: limitOf(lim, n)})
	}
	return out, nil
}

// QuotaShortfall is a limit a VM would exceed.
type QuotaShortfall struct {
	Quota, LocalizedName, Location string
	Limit, Current, Required       int64
}

// Error is Azure's message for a reached quota, with how Safehold raises
// it.
func (q *QuotaShortfall) Error() string {
	what := "Total Regional Cores"
	switch {
	case q.Quota == QuotaVirtualMachines:
		what = "Virtual Machines"
	case q.Quota != QuotaCores:
		what = q.Quota + " Cores"
	}
	return fmt.Sprintf("Operation could not be completed as it results in exceeding approved %s quota. Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d. An operator raises the limit with the admin API (safehold quota set).",
		what, q.Location, q.Limit, q.Current, q.Required, q.Current+q.Required)
}

// Failure is the shortfall as Azure answers it: 409 OperationNotAllowed.
func (q *QuotaShortfall) Failure() *failure.Error {
	return failure.Conflictf("OperationNotAllowed", "%s", q.Error())
}

// quotaShortfall checks whether allocating a VM of size in a region (in
// place of the VM skip, when it is being changed) fits the limits; nil
// when it does. newVM: the VM counts towards virtualMachines too.
func (s *Service) quotaShortfall(ctx context.Context, r store.Reader, subscriptionID, location, size, skip string, newVM bool) (*QuotaShortfall, error) {
	info, err := ParseVMSize(size)
	if err != nil {
		return nil, err
	}
	used, err := s.usedIn(ctx, r, subscriptionID, location, skip)
	if err != nil {
		return nil, err
	}
	lim, err := s.limits(ctx, r, subscriptionID, location)
	if err != nil {
		return nil, err
	}
	type need struct {
		name string
		need int64
	}
	check := []need{{QuotaCores, info.VCPUs}, {info.Family, info.VCPUs}}
	if newVM {
		check = append([]need{{QuotaVirtualMachines, 1}}, check...)
	}
	for _, c := range check {
		l := limitOf(lim, c.name)
		if used[c.name]+c.need > l {
			return &QuotaShortfall{Quota: c.name, LocalizedName: localizedQuotaName(c.name), Location: resource.NormLocation(location),
				Limit: l, Current: used[c.name], Required: c.need}, nil
		}
	}
	return nil, nil
}

// fitQuota is quotaShortfall as a request answers it: nil when the VM
// fits, else 409 OperationNotAllowed.
func (s *Service) fitQuota(ctx context.Context, r store.Reader, subscriptionID, location, size, skip string, newVM bool) error {
	short, err := s.quotaShortfall(ctx, r, subscriptionID, location, size, skip, newVM)
	if err != nil {
		return err
	}
	if short != nil {
		return short.Failure()
	}
	return nil
}

// VMQuotaShortfall reports whether a new VM of size in a subscription's
// region would exceed a compute quota (nil when it fits): what a restore
// that creates the VM of a recovery point meets, asked ahead of it.
func (s *Service) VMQuotaShortfall(ctx context.Context, subscriptionID, location, size string) (*QuotaShortfall, error) {
	return s.quotaShortfall(ctx, s.p.Store, subscriptionID, location, size, "", true)
}
