package examples_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// prereqs creates what the examples assume exists and holds the argument
// substitutions the harness applies (example id -> parameter -> value).
type prereqs struct {
	t    *testing.T
	e    *testserver.Env
	subs map[string]map[string]string
	done map[string]bool // what exists: "rg/NAME", "disk/RG/NAME", ...
	// The size (GiB) and location the examples imply for a disk ("RG/NAME"),
	// or for the disk a snapshot is taken of (the snapshot's "RG/NAME").
	sizes     map[string]int32
	locations map[string]string
	lowered   map[string]bool // regions whose vCPU quota is lowered
	// The VM an example's recovery point documents ("rg/vm"): its size,
	// zone and whether a disk allows private access only.
	shapes map[string]vmShape
	// The snapshots ("rg/name") an example copies with CopyStart: they
	// are incremental.
	incremental map[string]bool
	// The items protected only for a policy update an example reads
	// ({rg, vault, container, item}): their protection stops before the
	// deletes (the policy may then be deleted, as the delete example does).
	policyItems [][4]string
	// The fault rules holding the deletes whose status an example reads
	// in progress (released after the last phase).
	holds []string
}

func newPrereqs(t *testing.T, e *testserver.Env) *prereqs {
	return &prereqs{t: t, e: e, subs: map[string]map[string]string{}, done: map[string]bool{}, sizes: map[string]int32{}, locations: map[string]string{}, lowered: map[string]bool{}, shapes: map[string]vmShape{}, incremental: map[string]bool{}}
}

var (
	// A copy's source and the copy's size: the source is at most that big
	// (Azure's copies have their source's size unless a larger one is asked).
	reSourceSize = regexp.MustCompile(`SourceResourceID: to\.Ptr\("[^"]*/resourceGroups/([^/"]+)/providers/Microsoft\.Compute/(?:disks|snapshots)/([^/"]+)"\),[^{}]*\},[^{}]*?DiskSizeGB: to\.Ptr\[int32\]\((\d+)\)`)
	// A datasource and the location an example documents for it.
	reDatasourceLocation = regexp.MustCompile(`ResourceID: to\.Ptr\("[^"]*/resourceGroups/([^/"]+)/providers/Microsoft\.Compute/disks/([^/"]+)"\),\s*ResourceLocation: to\.Ptr\("([^"]+)"\)`)
)

// implied records the sizes and locations an example's text implies.
func (p *prereqs) implied(text string) {
	for _, m := range reSourceSize.FindAllStringSubmatch(text, -1) {
		var gb int32
		fmt.Sscan(m[3], &gb)
		k := strings.ToLower(m[1] + "/" + m[2])
		if old, ok := p.sizes[k]; !ok || gb < old {
			p.sizes[k] = gb
		}
	}
	for _, m := range reDatasourceLocation.FindAllStringSubmatch(text, -1) {
		p.locations[strings.ToLower(m[1]+"/"+m[2])] = m[3]
	}
}

func (p *prereqs) sub(x *example, param, v string) {
	if p.subs[x.ID] == nil {
		p.subs[x.ID] = map[string]string{}
	}
	p.subs[x.ID][param] = v
}

// bodySub has the harness replace old by new in the example's request body
// (a name the prerequisites changed in the path, or gave the example).
func (p *prereqs) bodySub(x *example, old, new string) {
	var l [][2]string
	_ = json.Unmarshal([]byte(p.subs[x.ID]["$body"]), &l)
	b, _ := json.Marshal(append(l, [2]string{old, new}))
	p.sub(x, "$body", string(b))
}

var (
	reRG             = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)`)
	reVM             = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/virtualMachines/([A-Za-z0-9_.-]+)`)
	reDisk           = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/disks/([A-Za-z0-9_.-]+)`)
	reSnapshot       = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/snapshots/([A-Za-z0-9_.-]+)`)
	reStorage        = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Storage/storageAccounts/([A-Za-z0-9]+)`)
	reRegion         = regexp.MustCompile(`\bRegion:\s*to\.Ptr\("([^"]+)"\)`)
	reTargetVM       = regexp.MustCompile(`TargetVirtualMachineID:\s*to\.Ptr\([^)]*/([^/"]+)"\)`)
	reBodyName       = regexp.MustCompile(`\bName:\s*to\.Ptr\("([^"]+)"\)`)
	reContainer      = regexp.MustCompile(`(?i)iaasvmcontainerv2;([^;]+);([^;]+)$`)
	reSystemIdentity = regexp.MustCompile(`IsSystemAssignedIdentity:\s*to\.Ptr\(true\)`)
	reSubnet         = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Network/virtualNetworks/([A-Za-z0-9_.-]+)/subnets/([A-Za-z0-9_.-]+)`)
)

type pair struct{ rg, name string }

// reZoneCode: the geo code in a documented Azure Backup private DNS zone.
var reZoneCode = regexp.MustCompile(`privatelink\.([a-z0-9]+)\.backup\.windowsazure\.com`)

// zoneRegions are the regions of the geo codes the examples' zones name
// (Azure Backup's geo-code list: ecy is East US 2 EUAP).
var zoneRegions = map[string]string{"ecy": "eastus2euap"}

// zonalRegion is where a vault of zonal VMs lives when no example names
// its region (one with availability zones).
const zonalRegion = "eastus2"

// create makes the resource groups, vaults, disks, snapshots and VMs the
// examples name.
func (p *prereqs) create(xs []*example) {
	rgs := map[string]string{}
	var dpVaults, rsVaults, vms, disks, snaps, accounts, diskRefs []pair
	// The virtual networks a restore to a new VM joins (rg/vnet -> its
	// region, the restore's, and its subnets): they exist, as in Azure.
	type vnet struct {
		rg, name, location string
		subnets            []string
	}
	var vnets []*vnet
	vnetOf := map[string]*vnet{}
	// The vaults whose restores act as one of the vault's managed
	// identities (identityInfo: the system-assigned one, or the
	// user-assigned one named), and what that identity may do: join the
	// subnets of a restore to a new VM (Network Contributor on their
	// group) and write the staging account's containers (Storage Account
	// Contributor on it). The vault has the identity, and it may, as in
	// Azure.
	type grant struct{ rg, vault, identity, role, scope string }
	var grants []grant
	type item struct {
		rg, vault, container, item string
		archivable                 bool // an old point ready to move to the archive tier (archive_test.go)
	}
	var rsItems []item
	var intentPolicies [][3]string // rg, vault, policy
	type bi struct {
		rg, vault, name, disk, rule, tag string
		deleted                          bool // deleted again: a deleted backup instance
	}
	var dpItems []bi
	putBI := map[string]bool{}
	vmVault := map[string]string{} // VM -> the vault protecting it
	for _, x := range xs {
		if x.Mod.Pkg == "armdataprotection" && x.Client == "BackupInstancesClient" && x.Phase == 1 {
			putBI[strings.ToLower(x.Args["vaultName"]+"/"+x.Args["backupInstanceName"])] = true
		}
	}
	// A Recovery Services vault whose restores name a region lives there,
	// with the VMs it protects (a vault protects and restores VMs of its
	// own region only).
	region := map[string]string{} // "rg/vault" and "rg/vm" -> region
	for _, x := range xs {
		if m := reRegion.FindStringSubmatch(x.Body); m != nil && x.Mod.Pkg == "armrecoveryservicesbackup" && x.Args["vaultName"] != "" {
			region[strings.ToLower(x.Args["resourceGroupName"]+"/"+x.Args["vaultName"])] = m[1]
		}
	}
	for _, x := range xs {
		if vm, vault, ok := documentedProtection(x); ok && x.Args["azureRegion"] != "" {
			region[strings.ToLower(vm.rg+"/"+vm.name)] = x.Args["azureRegion"]
			region[strings.ToLower(vault.rg+"/"+vault.name)] = x.Args["azureRegion"]
		} else if m := reVM.FindStringSubmatch(x.Body); m != nil && x.WantExpr == "" && x.Args["azureRegion"] != "" && isProtectionCheck(x) {
			// An example documenting no response (SDK generator 1) asks
			// about a VM of the region it sends the request to.
			region[strings.ToLower(m[1]+"/"+m[2])] = x.Args["azureRegion"]
		}
	}
	// A vault whose private link resources an example documents lives in
	// the region its documented DNS zone names by geo code.
	for _, x := range xs {
		if m := reZoneCode.FindStringSubmatch(x.WantExpr); m != nil && x.Client == "PrivateLinkResourcesClient" && zoneRegions[m[1]] != "" {
			region[strings.ToLower(x.Args["resourceGroupName"]+"/"+x.Args["vaultName"])] = zoneRegions[m[1]]
		}
	}
	// A vault whose recovery points an example documents in an
	// availability zone lives, with the VMs it protects, in a region with
	// zones: West US, the default, has none, and a zonal VM is refused
	// there (as ARM refuses it).
	for _, x := range xs {
		if sh, ok := documentedShape(x); ok && sh.zone != "" && x.Args["vaultName"] != "" {
			if k := strings.ToLower(x.Args["resourceGroupName"] + "/" + x.Args["vaultName"]); region[k] == "" {
				region[k] = zonalRegion
			}
		}
	}
	seen := map[string]bool{}
	add := func(list *[]pair, kind, rg, name string) {
		k := strings.ToLower(kind + "/" + rg + "/" + name)
		if seen[k] || strings.ContainsAny(rg+name, "{}<>") {
			return
		}
		seen[k] = true
		*list = append(*list, pair{rg, name})
	}
	// addItem protects a VM in a vault (once).
	addItem := func(it item) {
		if k := strings.ToLower("rsitem/" + it.rg + "/" + it.vault + "/" + it.item); !seen[k] {
			seen[k] = true
			rsItems = append(rsItems, it)
		}
	}
	// Tenant-level clients (armsubscriptions) take the subscription as
	// an argument: the server's.
	for _, x := range xs {
		if _, ok := x.Args["subscriptionID"]; ok {
			p.sub(x, "subscriptionID", p.e.Sub)
		}
	}
	// Compute creates get their own names (a disk's createOption cannot
	// change, and the disks other examples read or update are made here).
	n := 0
	for _, x := range xs {
		if x.Mod.Pkg != "armcompute" || x.Phase != 1 {
			continue
		}
		param := map[string]string{"DisksClient": "diskName", "SnapshotsClient": "snapshotName"}[x.Client]
		n++
		p.sub(x, param, fmt.Sprintf("%s-c%d", x.Args[param], n))
	}
	// A vault PUT documenting tags its request does not send updated a
	// vault that had them (Azure keeps the tags a PUT of an existing
	// Recovery Services vault omits): the vault exists with those tags.
	vaultTags := map[string]map[string]*string{}
	for _, x := range xs {
		if x.Mod.Pkg == "armrecoveryservices" && x.Client == "VaultsClient" && x.Method == "BeginCreateOrUpdate" && !strings.Contains(x.Body, "Tags:") {
			if m := reDocumentedTags.FindStringSubmatch(x.WantExpr); m != nil {
				tags := map[string]*string{}
				for _, kv := range reTag.FindAllStringSubmatch(m[1], -1) {
					tags[kv[1]] = to.Ptr(kv[2])
				}
				vaultTags[strings.ToLower(x.Args["resourceGroupName"]+"/"+x.Args["vaultName"])] = tags
			}
		}
	}
	createdPolicies := map[string]bool{} // "rg/vault/policy" of the policies the creates make
	for _, x := range xs {
		if x.Mod.Pkg == "armrecoveryservicesbackup" && x.Phase == 1 && x.Args["policyName"] != "" {
			createdPolicies[strings.ToLower(x.Args["resourceGroupName"]+"/"+x.Args["vaultName"]+"/"+x.Args["policyName"])] = true
		}
	}
	nd := 0
	for _, x := range xs {
		rg := x.Args["resourceGroupName"]
		if x.Mod.Pkg == "armresources" && x.Client == "ResourceGroupsClient" {
			switch x.Method {
			case "CreateOrUpdate":
				rg = "" // the example creates it, where it says
			case "BeginDelete":
				// Each delete example deletes a group of its own.
				nd++
				rg = fmt.Sprintf("%s-d%d", rg, nd)
				p.sub(x, "resourceGroupName", rg)
			}
		}
		if rg != "" {
			rgs[strings.ToLower(rg)] = rg
		}
		text := x.Body
		if x.seeded() || x.seededUpdate() {
			text += x.WantExpr
		}
		p.implied(text)
		for _, m := range reRG.FindAllStringSubmatch(text, -1) {
			rgs[strings.ToLower(m[1])] = m[1]
		}
		if v := x.Args["vaultName"]; v != "" && rg != "" {
			if x.Mod.Pkg == "armdataprotection" {
				add(&dpVaults, "dpvault", rg, v)
			} else {
				add(&rsVaults, "rsvault", rg, v)
			}
		}
		// A VM's protection intent names the VM (in the vault's region) and
		// a policy of the vault: both exist (the policy as a copy of the
		// vault's DefaultPolicy).
		if x.Client == "ProtectionIntentClient" && x.Phase == 1 && rg != "" {
			if m := reIntentVM.FindStringSubmatch(x.Source); m != nil {
				add(&vms, "vm", m[1], m[2])
				if r := region[strings.ToLower(rg+"/"+x.Args["vaultName"])]; r != "" { // a vault protects VMs of its region
					region[strings.ToLower(m[1]+"/"+m[2])] = r
				}
			}
			if m := reIntentPolicy.FindStringSubmatch(x.Source); m != nil && !strings.EqualFold(m[1], "DefaultPolicy") {
				intentPolicies = append(intentPolicies, [3]string{rg, x.Args["vaultName"], m[1]})
			}
		}
		// A policy an example reads, updates or deletes without
		// documenting it (SDK generator 1: the older majors document no
		// response, and their one create example per method may make
		// another policy) exists as a copy of the vault's DefaultPolicy,
		// as in the author's vault.
		if pol := x.Args["policyName"]; x.Mod.Pkg == "armrecoveryservicesbackup" && x.WantExpr == "" && x.Phase != 1 && pol != "" && rg != "" &&
			!strings.EqualFold(pol, "DefaultPolicy") && !createdPolicies[strings.ToLower(rg+"/"+x.Args["vaultName"]+"/"+pol)] {
			createdPolicies[strings.ToLower(rg+"/"+x.Args["vaultName"]+"/"+pol)] = true
			intentPolicies = append(intentPolicies, [3]string{rg, x.Args["vaultName"], pol})
		}
		// A name-availability example documenting that the name is taken
		// needs the vault of that name.
		if x.Method == "CheckNameAvailability" && x.Mod.Pkg == "armrecoveryservices" && rg != "" &&
			strings.Contains(x.WantExpr, "NameAvailable: to.Ptr(false)") && strings.Contains(x.WantExpr, `"AlreadyExists"`) {
			if m := reBodyName.FindStringSubmatch(x.Body); m != nil {
				add(&rsVaults, "rsvault", rg, m[1])
			}
		}
		if ci, pi := x.Args["containerName"], x.Args["protectedItemName"]; x.Mod.Pkg == "armrecoveryservicesbackup" && reContainer.MatchString(ci) && reContainer.MatchString(pi) {
			// A VM is protected in one vault only: an example naming it in
			// another vault gets a VM of its own (the names suffixed).
			vm := strings.ToLower(reContainer.FindStringSubmatch(pi)[1] + "/" + reContainer.FindStringSubmatch(pi)[2])
			vk := strings.ToLower(rg + "/" + x.Args["vaultName"])
			suffix := ""
			if owner, ok := vmVault[vm]; !ok {
				vmVault[vm] = vk
			} else if owner != vk {
				suffix = "-" + strings.ToLower(x.Args["vaultName"])
			}
			// An example that stops protection gets a VM of its own: the
			// other examples on the item document it protected (in Azure,
			// each ran on an item of its author's).
			if stopsProtectionPut(x) {
				suffix += "-stopped"
			}
			// An example about the archive tier gets a VM of its own with a
			// point ready to move there (archive_test.go).
			if needsArchivable(x) {
				suffix += "-archive"
			}
			if suffix != "" {
				ci, pi = ci+suffix, pi+suffix
				p.sub(x, "containerName", ci)
				p.sub(x, "protectedItemName", pi)
				// The body names the VM too (a restore's sourceResourceId).
				vmName := reContainer.FindStringSubmatch(pi)[2]
				p.bodySub(x, "/virtualMachines/"+vmName[:len(vmName)-len(suffix)]+`"`, "/virtualMachines/"+vmName+`"`)
			}
			k := strings.ToLower("rsitem/" + rg + "/" + x.Args["vaultName"] + "/" + pi)
			if !seen[k] {
				seen[k] = true
				rsItems = append(rsItems, item{rg, x.Args["vaultName"], ci, pi, needsArchivable(x)})
				m := reContainer.FindStringSubmatch(pi)
				if sh, ok := documentedShape(x); ok {
					p.shapes[strings.ToLower(m[1]+"/"+m[2])] = sh
				}
				if r := region[strings.ToLower(rg+"/"+x.Args["vaultName"])]; r != "" {
					region[strings.ToLower(m[1]+"/"+m[2])] = r
				}
				add(&vms, "vm", m[1], m[2])
			}
		}
		// A storage configuration documented Locked is of a vault that
		// protects an item (Azure locks the redundancy when the first item
		// is protected), while the examples changing the redundancy of the
		// same vault, which other examples protect VMs in, need it
		// Unlocked (in Azure, each ran on a vault of its author's): the
		// read gets a vault of its own protecting a VM, the changes one
		// protecting nothing.
		if x.Client == "BackupResourceStorageConfigsNonCRRClient" && x.Phase == 3 && rg != "" {
			vault := x.Args["vaultName"] + "-unlocked"
			p.sub(x, "vaultName", vault)
			add(&rsVaults, "rsvault", rg, vault)
		}
		if x.Client == "BackupResourceStorageConfigsNonCRRClient" && strings.Contains(x.WantExpr, "StorageTypeStateLocked") && rg != "" {
			vault := x.Args["vaultName"] + "-locked"
			p.sub(x, "vaultName", vault)
			add(&rsVaults, "rsvault", rg, vault)
			vmName := strings.ToLower(vault) + "-vm"
			add(&vms, "vm", rg, vmName)
			it := item{rg, vault, "IaasVMContainer;iaasvmcontainerv2;" + rg + ";" + vmName, "VM;iaasvmcontainerv2;" + rg + ";" + vmName, false}
			addItem(it)
		}
		// A VM the example documents as protected (its backup status, a
		// pre-validation finding it protected) is protected in the vault
		// the example names.
		if vm, vault, ok := documentedProtection(x); ok {
			add(&rsVaults, "rsvault", vault.rg, vault.name)
			add(&vms, "vm", vm.rg, vm.name)
			it := item{vault.rg, vault.name, "IaasVMContainer;iaasvmcontainerv2;" + vm.rg + ";" + vm.name, "VM;iaasvmcontainerv2;" + vm.rg + ";" + vm.name, false}
			addItem(it)
		}
		if b := x.Args["backupInstanceName"]; x.Mod.Pkg == "armdataprotection" && x.Client == "DeletedBackupInstancesClient" && b != "" {
			// A deleted instance of its own name: other examples use the
			// live instance of the same name, and Azure refuses to undelete
			// an instance whose name is taken.
			name := b + "-deleted"
			p.sub(x, "backupInstanceName", name)
			k := strings.ToLower("dpbi/" + rg + "/" + x.Args["vaultName"] + "/" + name)
			if !seen[k] {
				seen[k] = true
				dpItems = append(dpItems, bi{rg: rg, vault: x.Args["vaultName"], name: name, disk: name + "-disk", rule: "BackupHourly", tag: "Default", deleted: true})
				add(&disks, "disk", rg, name+"-disk")
			}
		} else if b := x.Args["backupInstanceName"]; x.Mod.Pkg == "armdataprotection" && b != "" && !putBI[strings.ToLower(x.Args["vaultName"]+"/"+b)] {
			k := strings.ToLower("dpbi/" + rg + "/" + x.Args["vaultName"] + "/" + b)
			if !seen[k] {
				seen[k] = true
				it := bi{rg: rg, vault: x.Args["vaultName"], name: b, disk: b + "-disk", rule: "BackupHourly", tag: "Default"}
				// The rule and tag any example on this instance names.
				for _, y := range xs {
					if !strings.EqualFold(y.Args["backupInstanceName"], b) || !strings.EqualFold(y.Args["vaultName"], it.vault) {
						continue
					}
					if m := reRuleName.FindStringSubmatch(y.Body); m != nil {
						it.rule = m[1]
					}
					if m := reTagOverride.FindStringSubmatch(y.Body); m != nil {
						it.tag = m[1]
					}
				}
				dpItems = append(dpItems, it)
				add(&disks, "disk", rg, it.disk)
			}
		}
		if r := x.Args["resourceID"]; x.Client == "BackupInstancesExtensionRoutingClient" {
			if m := reDisk.FindStringSubmatch("/" + r); m != nil {
				// A vault in the disk's location (Azure protects a disk from
				// a vault of its region).
				p.implied(x.WantExpr)
				vault := "examples-vault"
				if l := p.locations[strings.ToLower(m[1]+"/"+m[2])]; l != "" {
					vault += "-" + strings.ToLower(strings.ReplaceAll(l, " ", ""))
					p.locations[strings.ToLower(m[1]+"/"+vault)] = l
				}
				add(&disks, "disk", m[1], m[2])
				add(&dpVaults, "dpvault", m[1], vault)
				dpItems = append(dpItems, bi{rg: m[1], vault: vault, name: m[2] + "-bi", disk: m[2], rule: "BackupHourly", tag: "Default"})
			}
		}
		for _, m := range reVM.FindAllStringSubmatch(reTargetVM.ReplaceAllString(x.Body, ""), -1) {
			add(&vms, "vm", m[1], m[2])
		}
		// A restore to a new VM: each example gets a name of its own.
		if m := reTargetVM.FindStringSubmatch(x.Body); m != nil {
			n++
			p.bodySub(x, "/"+m[1]+`"`, fmt.Sprintf("/%s-r%d\"", m[1], n))
		}
		for _, a := range x.Args {
			if m := reContainer.FindStringSubmatch(a); m != nil {
				add(&vms, "vm", m[1], m[2])
			}
		}
		for _, m := range reDisk.FindAllStringSubmatch(x.Body, -1) {
			add(&disks, "disk", m[1], m[2])
		}
		for _, m := range reSnapshot.FindAllStringSubmatch(x.Body, -1) {
			add(&snaps, "snapshot", m[1], m[2])
			// CopyStart copies an incremental snapshot only.
			if strings.Contains(x.Body, "DiskCreateOptionCopyStart") {
				p.incremental[strings.ToLower(m[1]+"/"+m[2])] = true
			}
		}
		// The disk encryption sets and disk accesses a body names exist: a
		// disk's or snapshot's, and a restore's target disk access (a
		// placeholder name, such as {existing-diskAccess-name}, becomes a
		// real one).
		for _, m := range reDiskRef.FindAllStringSubmatch(x.Body, -1) {
			name := strings.Trim(m[3], "{}")
			if name != m[3] {
				p.bodySub(x, "Microsoft.Compute/"+m[2]+"/"+m[3], "Microsoft.Compute/"+m[2]+"/"+name)
			}
			add(&diskRefs, m[2], m[1], m[2]+"/"+name)
		}
		for _, m := range reSubnet.FindAllStringSubmatch(x.Body, -1) {
			k := strings.ToLower(m[1] + "/" + m[2])
			v := vnetOf[k]
			if v == nil {
				v = &vnet{rg: m[1], name: m[2], location: "westus"}
				if r := reRegion.FindStringSubmatch(x.Body); r != nil {
					v.location = r[1]
				}
				vnetOf[k] = v
				vnets = append(vnets, v)
			}
			if !slices.Contains(v.subnets, m[3]) {
				v.subnets = append(v.subnets, m[3])
			}
			if ident, ok := p.restoreIdentity(x.Body); ok && x.Args["vaultName"] != "" {
				g := grant{x.Args["resourceGroupName"], x.Args["vaultName"], ident, networkContributor, "/subscriptions/" + p.e.Sub + "/resourceGroups/" + m[1]}
				if !slices.Contains(grants, g) {
					grants = append(grants, g)
				}
			}
		}
		// Staging storage accounts of restores and their validation.
		for _, m := range reStorage.FindAllStringSubmatch(x.Body, -1) {
			add(&accounts, "storage account", m[1], strings.ToLower(m[2]))
			if ident, ok := p.restoreIdentity(x.Body); ok && x.Args["vaultName"] != "" {
				g := grant{x.Args["resourceGroupName"], x.Args["vaultName"], ident, storageAccountContributor,
					"/subscriptions/" + p.e.Sub + "/resourceGroups/" + m[1] + "/providers/Microsoft.Storage/storageAccounts/" + strings.ToLower(m[2])}
				if !slices.Contains(grants, g) {
					grants = append(grants, g)
				}
			}
		}
		if x.Mod.Pkg == "armcompute" && x.Phase != 1 {
			switch x.Client {
			case "DisksClient":
				if x.Args["diskName"] != "" {
					add(&disks, "disk", rg, x.Args["diskName"])
				}
			case "SnapshotsClient":
				if x.Args["snapshotName"] != "" {
					add(&snaps, "snapshot", rg, x.Args["snapshotName"])
				}
			case "DiskEncryptionSetsClient":
				if x.Args["diskEncryptionSetName"] != "" {
					add(&diskRefs, "diskEncryptionSets", rg, "diskEncryptionSets/"+x.Args["diskEncryptionSetName"])
				}
			case "DiskAccessesClient":
				if x.Args["diskAccessName"] != "" {
					add(&diskRefs, "diskAccesses", rg, "diskAccesses/"+x.Args["diskAccessName"])
				}
			}
		}
	}
	for _, x := range xs {
		for _, it := range rsItems {
			p.bodyItem(x, it.vault, it.item)
		}
	}
	for _, l := range [][]pair{dpVaults, rsVaults, vms, disks, snaps, accounts, diskRefs} {
		for _, d := range l {
			rgs[strings.ToLower(d.rg)] = d.rg
		}
	}
	for _, v := range vnets {
		rgs[strings.ToLower(v.rg)] = v.rg
	}
	var names []string
	for _, rg := range rgs {
		names = append(names, rg)
	}
	sort.Strings(names)
	for _, rg := range names {
		p.e.ResourceGroups(rg)
	}
	for _, r := range diskRefs {
		typ, name, _ := strings.Cut(r.name, "/")
		p.diskRef(r.rg, typ, name)
	}
	for _, d := range disks {
		p.disk(d.rg, d.name)
	}
	for _, s := range snaps {
		p.snapshot(s.rg, s.name)
	}
	p.images(xs)
	for _, a := range accounts {
		p.storageAccount(a.rg, a.name)
	}
	p.vhdBlobs(xs)
	for _, v := range vnets {
		p.virtualNetwork(v.rg, v.name, v.location, v.subnets)
	}
	loc := func(rg, name string) string {
		if r := region[strings.ToLower(rg+"/"+name)]; r != "" {
			return r
		}
		return "westus"
	}
	for _, v := range vms {
		p.vm(v.rg, v.name, loc(v.rg, v.name))
	}
	for _, v := range dpVaults {
		p.dpVault(v.rg, v.name)
	}
	for _, v := range rsVaults {
		p.rsVault(v.rg, v.name, loc(v.rg, v.name), vaultTags[strings.ToLower(v.rg+"/"+v.name)])
	}
	// Each vault gets the identities its restores act as, then their
	// grants.
	idents := map[pair][]string{}
	var identVaults []pair
	for _, g := range grants {
		v := pair{g.rg, g.vault}
		if _, ok := idents[v]; !ok {
			identVaults = append(identVaults, v)
		}
		if !slices.Contains(idents[v], g.identity) {
			idents[v] = append(idents[v], g.identity)
		}
	}
	principals := map[string]string{}
	for _, v := range identVaults {
		for ident, principal := range p.vaultIdentities(v.rg, v.name, idents[v]) {
			principals[strings.ToLower(v.rg+"/"+v.name+"/"+ident)] = principal
		}
	}
	assigned := map[string]bool{} // a user-assigned identity may serve two vaults
	for _, g := range grants {
		principal := principals[strings.ToLower(g.rg+"/"+g.vault+"/"+g.identity)]
		if k := strings.ToLower(principal + " " + g.role + " " + g.scope); principal != "" && !assigned[k] {
			assigned[k] = true
			fixture.Assign(p.t, p.e, g.scope, g.role, principal)
		}
	}
	for _, ip := range intentPolicies {
		p.copyDefaultPolicy(ip[0], ip[1], ip[2])
	}
	for _, it := range rsItems {
		if it.archivable {
			p.protectArchivable(it.rg, it.vault, it.container, it.item)
			continue
		}
		p.protectVM(it.rg, it.vault, it.container, it.item)
	}
	for _, b := range dpItems {
		p.protectDisk(b.rg, b.vault, b.name, b.disk, b.rule, b.tag)
		if b.deleted {
			p.deleteInstance(b.rg, b.vault, b.name)
		}
	}
	p.guards(xs)
}

var (
	reRSVault = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.RecoveryServices/vaults/([A-Za-z0-9_.-]+)`)
	// reDocProtected: a VM documented as protected (its backup status, a
	// pre-validation refusing to protect it again).
	reDocProtected = regexp.MustCompile(`ProtectionStatusProtected\)|"VirtualMachineAlreadyProtected"`)
)

// isProtectionCheck: a Recovery Services question about a VM's protection
// sent to a region (backupStatus, backupPreValidateProtection).
func isProtectionCheck(x *example) bool {
	return x.Mod.Pkg == "armrecoveryservicesbackup" && (x.Client == "BackupStatusClient" || x.Client == "ProtectionIntentClient" && x.Method == "Validate")
}

// documentedProtection is the VM a backup-status or protection
// pre-validation example asks about and the vault it documents protecting
// it, when it documents the VM as protected.
func documentedProtection(x *example) (vm, vault pair, ok bool) {
	if !isProtectionCheck(x) || !reDocProtected.MatchString(x.WantExpr) {
		return vm, vault, false
	}
	m := reVM.FindStringSubmatch(x.Body)
	v := reRSVault.FindStringSubmatch(x.Body + x.WantExpr)
	if m == nil || v == nil {
		return vm, vault, false
	}
	return pair{m[1], m[2]}, pair{v[1], v[2]}, true
}

// deleteInstance deletes a backup instance; in a vault with soft delete
// (Azure's default) it becomes a deleted backup instance.
func (p *prereqs) deleteInstance(rg, vault, name string) {
	c, err := armdataprotection.NewBackupInstancesClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginDelete(p.e.Ctx(), rg, vault, name, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("delete backup instance %s/%s/%s: %v", rg, vault, name, err)
	}
}

// stopsProtectionPut: a protected-item PUT that stops protection.
func stopsProtectionPut(x *example) bool {
	return x.Client == "ProtectedItemsClient" && strings.Contains(x.Body, "ProtectionStateProtectionStopped")
}

var (
	reRuleName    = regexp.MustCompile(`RuleName:\s*to\.Ptr\("([^"]+)"\)`)
	reTagOverride = regexp.MustCompile(`RetentionTagOverride:\s*to\.Ptr\("([^"]+)"\)`)
)

// protectVM protects the VM a Recovery Services example names (container
// "IaasVMContainer;iaasvmcontainerv2;RG;VM") with the vault's DefaultPolicy
// and takes a backup, so the item has a job and a recovery point.
func (p *prereqs) protectVM(rg, vault, container, item string) {
	m := reContainer.FindStringSubmatch(item)
	vmID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + m[1] + "/providers/Microsoft.Compute/virtualMachines/" + m[2]
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx := p.e.Ctx()
	policyID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault + "/backupPolicies/DefaultPolicy"
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(policyID)}}, nil); err != nil {
		p.logf("protect %s in %s: %v", item, vault, err)
		return
	}
	// Waits are bounded by time, not by polls: under CI load a poll can
	// take seconds.
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if it, err := bf.NewProtectedItemsClient().Get(ctx, vault, rg, "Azure", container, item, nil); err == nil && it.Properties != nil {
			break
		}
	}
	if _, err := bf.NewBackupsClient().Trigger(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		p.logf("back up %s in %s: %v", item, vault, err)
		return
	}
	// Wait for the recovery point.
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		pg := bf.NewRecoveryPointsClient().NewListPager(vault, rg, "Azure", container, item, nil)
		if page, err := pg.NextPage(ctx); err == nil && len(page.Value) > 0 {
			return
		}
	}
	p.logf("no recovery point of %s in %s", item, vault)
}

// protectDisk protects a disk in a Backup vault under the backup instance
// name an example uses, with a disk policy whose backup rule and retention
// tag are the ones the example names, and takes a backup.
func (p *prereqs) protectDisk(rg, vault, name, disk, rule, tag string) {
	ctx := p.e.Ctx()
	f, err := armdataprotection.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	v, err := f.NewBackupVaultsClient().Get(ctx, rg, vault, nil)
	if err != nil || v.Identity == nil || v.Identity.PrincipalID == nil {
		p.logf("vault %s/%s for %s: %v", rg, vault, name, err)
		return
	}
	diskID := p.disk(rg, disk)
	snapRG := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg
	for _, a := range [][2]string{{diskID, fixture.RoleDiskBackupReader}, {snapRG, fixture.RoleDiskSnapshotContributor}} {
		if k := strings.ToLower("assign/" + a[0] + "/" + a[1] + "/" + *v.Identity.PrincipalID); !p.done[k] {
			p.done[k] = true
			fixture.Assign(p.t, p.e, a[0], a[1], *v.Identity.PrincipalID)
		}
	}
	opStore := &armdataprotection.DataStoreInfoBase{DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore), ObjectType: to.Ptr("DataStoreInfoBase")}
	retention := func(name string, def bool) *armdataprotection.AzureRetentionRule {
		return &armdataprotection.AzureRetentionRule{Name: to.Ptr(name), ObjectType: to.Ptr("AzureRetentionRule"), IsDefault: to.Ptr(def),
			Lifecycles: []*armdataprotection.SourceLifeCycle{{SourceDataStore: opStore, TargetDataStoreCopySettings: []*armdataprotection.TargetCopySetting{},
				DeleteAfter: &armdataprotection.AbsoluteDeleteOption{ObjectType: to.Ptr("AbsoluteDeleteOption"), Duration: to.Ptr("P7D")}}}}
	}
	tagging := []*armdataprotection.TaggingCriteria{{IsDefault: to.Ptr(true), TaggingPriority: to.Ptr[int64](99), TagInfo: &armdataprotection.RetentionTag{TagName: to.Ptr("Default")}}}
	rules := []armdataprotection.BasePolicyRuleClassification{nil, retention("Default", true)}
	if tag != "Default" {
		tagging = append(tagging, &armdataprotection.TaggingCriteria{IsDefault: to.Ptr(false), TaggingPriority: to.Ptr[int64](20), TagInfo: &armdataprotection.RetentionTag{TagName: to.Ptr(tag)},
			Criteria: []armdataprotection.BackupCriteriaClassification{&armdataprotection.ScheduleBasedBackupCriteria{ObjectType: to.Ptr("ScheduleBasedBackupCriteria"),
				AbsoluteCriteria: []*armdataprotection.AbsoluteMarker{to.Ptr(armdataprotection.AbsoluteMarkerFirstOfDay)}}}})
		rules = append(rules, retention(tag, false))
	}
	rules[0] = &armdataprotection.AzureBackupRule{Name: to.Ptr(rule), ObjectType: to.Ptr("AzureBackupRule"), DataStore: opStore,
		BackupParameters: &armdataprotection.AzureBackupParams{ObjectType: to.Ptr("AzureBackupParams"), BackupType: to.Ptr("Incremental")},
		Trigger: &armdataprotection.ScheduleBasedTriggerContext{ObjectType: to.Ptr("ScheduleBasedTriggerContext"),
			Schedule:        &armdataprotection.BackupSchedule{RepeatingTimeIntervals: []*string{to.Ptr("R/" + fixture.ScheduleStart(p.e) + "/PT4H")}, TimeZone: to.Ptr("UTC")},
			TaggingCriteria: tagging}}
	pol, err := f.NewBackupPoliciesClient().CreateOrUpdate(ctx, rg, vault, name+"-policy", armdataprotection.BaseBackupPolicyResource{Properties: &armdataprotection.BackupPolicy{
		ObjectType: to.Ptr("BackupPolicy"), DatasourceTypes: []*string{to.Ptr("Microsoft.Compute/disks")}, PolicyRules: rules}}, nil)
	if err != nil && tag != "Default" {
		// A tag disks do not have (the example's datasource had it): the
		// policy without it, and the example meets the refusal.
		p.logf("disk policy for %s with tag %s: %v", name, tag, err)
		rules = rules[:2]
		rules[0].(*armdataprotection.AzureBackupRule).Trigger.(*armdataprotection.ScheduleBasedTriggerContext).TaggingCriteria = tagging[:1]
		pol, err = f.NewBackupPoliciesClient().CreateOrUpdate(ctx, rg, vault, name+"-policy", armdataprotection.BaseBackupPolicyResource{Properties: &armdataprotection.BackupPolicy{
			ObjectType: to.Ptr("BackupPolicy"), DatasourceTypes: []*string{to.Ptr("Microsoft.Compute/disks")}, PolicyRules: rules}}, nil)
	}
	if err != nil {
		p.logf("disk policy for %s: %v", name, err)
		return
	}
	// The datasource and its set as the Azure CLI sends them for a disk.
	ds, set := fixture.Datasource(diskID, disk), fixture.Datasource(diskID, disk)
	if l := p.locations[strings.ToLower(rg+"/"+disk)]; l != "" {
		ds.ResourceLocation, set.ResourceLocation = to.Ptr(l), to.Ptr(l)
	}
	set.ObjectType = to.Ptr("DatasourceSet")
	bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr(disk), DataSourceInfo: ds,
		DataSourceSetInfo: &armdataprotection.DatasourceSet{ObjectType: set.ObjectType, DatasourceType: set.DatasourceType, ResourceID: set.ResourceID,
			ResourceLocation: set.ResourceLocation, ResourceName: set.ResourceName, ResourceType: set.ResourceType, ResourceURI: set.ResourceURI},
		PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
			DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
				ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
				ResourceGroupID: to.Ptr(snapRG)}}}}}
	cp, err := f.NewBackupInstancesClient().BeginCreateOrUpdate(ctx, rg, vault, name, armdataprotection.BackupInstanceResource{Properties: &bi}, nil)
	if err == nil {
		_, err = cp.PollUntilDone(ctx, fixture.Poll)
	}
	if err != nil {
		p.logf("backup instance %s: %v", name, err)
		return
	}
	bp, err := f.NewBackupInstancesClient().BeginAdhocBackup(ctx, rg, vault, name, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr(rule), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	if err == nil {
		_, err = bp.PollUntilDone(ctx, fixture.Poll)
	}
	if err != nil {
		p.logf("backup of %s: %v", name, err)
	}
}

func (p *prereqs) logf(format string, args ...any) { p.t.Logf("prerequisite: "+format, args...) }

func (p *prereqs) disk(rg, name string) string {
	id := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
	if p.done[strings.ToLower(id)] {
		return id
	}
	p.done[strings.ToLower(id)] = true
	size := int32(1)
	if gb, ok := p.sizes[strings.ToLower(rg+"/"+name)]; ok {
		size = gb
	}
	loc := p.locations[strings.ToLower(rg+"/"+name)]
	if loc == "" {
		fixture.Disk(p.t, p.e, rg, name, size, 0)
		return id
	}
	c, err := armcompute.NewDisksClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Disk{Location: to.Ptr(loc), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(size)}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("disk %s/%s in %s: %v", rg, name, loc, err)
	}
	return id
}

func (p *prereqs) snapshot(rg, name string) {
	if gb, ok := p.sizes[strings.ToLower(rg+"/"+name)]; ok {
		p.sizes[strings.ToLower(rg+"/"+name+"-source")] = gb
	}
	src := p.disk(rg, name+"-source")
	c, err := armcompute.NewSnapshotsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(src)},
		Incremental:  to.Ptr(p.incremental[strings.ToLower(rg+"/"+name)])}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("snapshot %s/%s: %v", rg, name, err)
	}
}

// reDiskRef matches a disk encryption set's or disk access's id in a
// request body: its group, type and name.
var reDiskRef = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/(diskEncryptionSets|diskAccesses)/([^/"]+)`)

// diskRef creates a disk encryption set (with a system-assigned identity
// and a Key Vault key) or a disk access (typ diskEncryptionSets or
// diskAccesses) in westus; it returns its id.
func (p *prereqs) diskRef(rg, typ, name string) string {
	id := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/" + typ + "/" + name
	if p.done[strings.ToLower(id)] {
		return id
	}
	p.done[strings.ToLower(id)] = true
	body := map[string]any{"location": "westus"}
	if typ == "diskEncryptionSets" {
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		body["properties"] = map[string]any{"activeKey": map[string]any{"keyUrl": "https://" + strings.ToLower(rg) + "-kv.vault.azure.net/keys/" + name + "/0123456789abcdef0123456789abcdef"}}
	}
	resp, m := p.e.Do("PUT", id+"?api-version=2024-03-02", body)
	if resp.StatusCode >= 300 {
		p.logf("%s %s/%s: %d %v", typ, rg, name, resp.StatusCode, m)
	}
	return id
}

func (p *prereqs) storageAccount(rg, name string) {
	resp, m := p.e.Do("PUT", "/subscriptions/"+p.e.Sub+"/resourceGroups/"+rg+"/providers/Microsoft.Storage/storageAccounts/"+name+"?api-version=2023-01-01",
		map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}})
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		p.logf("storage account %s/%s: %d %v", rg, name, resp.StatusCode, m)
	}
}

// virtualNetwork makes a network with the subnets named (10.0.i.0/24).
func (p *prereqs) virtualNetwork(rg, name, location string, subnets []string) {
	var sn []any
	for i, s := range subnets {
		sn = append(sn, map[string]any{"name": s, "properties": map[string]any{"addressPrefix": fmt.Sprintf("10.0.%d.0/24", i)}})
	}
	resp, m := p.e.Do("PUT", "/subscriptions/"+p.e.Sub+"/resourceGroups/"+rg+"/providers/Microsoft.Network/virtualNetworks/"+name+"?api-version=2023-09-01",
		map[string]any{"location": location, "properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/16"}}, "subnets": sn}})
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		p.logf("virtual network %s/%s: %d %v", rg, name, resp.StatusCode, m)
	}
}

// Azure's built-in roles a restore's managed identity is granted.
const (
	networkContributor        = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	storageAccountContributor = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
)

// reUserIdentity matches the user-assigned identity a restore names (from
// its resource group on: the subscription is the server's).
var reUserIdentity = regexp.MustCompile(`(?i)ManagedIdentityResourceID:\s*to\.Ptr\("[^)]*?(/resourceGroups/[^"]+)"\)`)

// restoreIdentity is the vault identity a restore body acts as: "" for
// the system-assigned one, or the user-assigned one's id; false when the
// body names none.
func (p *prereqs) restoreIdentity(body string) (string, bool) {
	if reSystemIdentity.MatchString(body) {
		return "", true
	}
	if m := reUserIdentity.FindStringSubmatch(body); m != nil {
		return "/subscriptions/" + p.e.Sub + m[1], true
	}
	return "", false
}

// vaultIdentities gives a Recovery Services vault the managed identities
// named ("" the system-assigned one, else user-assigned ids) and returns
// each one's principal id.
func (p *prereqs) vaultIdentities(rg, vault string, idents []string) map[string]string {
	typ, users := "", map[string]any{}
	for _, id := range idents {
		if id == "" {
			typ = "SystemAssigned"
		} else {
			users[id] = map[string]any{}
		}
	}
	identity := map[string]any{"type": typ}
	if len(users) > 0 {
		identity = map[string]any{"type": strings.TrimPrefix(typ+", UserAssigned", ", "), "userAssignedIdentities": users}
	}
	url := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault + "?api-version=2024-04-01"
	resp, m := p.e.Do("PATCH", url, map[string]any{"identity": identity})
	// A PATCH may answer 202 (its operation made the identities): the
	// vault's GET names them.
	out := map[string]string{}
	for i := 0; i < 100 && resp.StatusCode/100 == 2 && len(out) < len(idents); i++ {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		var g map[string]any
		resp, g = p.e.Do("GET", url, nil)
		id, _ := g["identity"].(map[string]any)
		if pid, _ := id["principalId"].(string); pid != "" && typ != "" {
			out[""] = pid
		}
		ua, _ := id["userAssignedIdentities"].(map[string]any)
		for k, v := range ua {
			if u, _ := v.(map[string]any); u != nil {
				if pid, _ := u["principalId"].(string); pid != "" {
					for _, want := range idents {
						if want != "" && strings.EqualFold(want, k) {
							out[want] = pid
						}
					}
				}
			}
		}
	}
	if len(out) < len(idents) {
		p.logf("identities %v of vault %s/%s: %d %v", idents, rg, vault, resp.StatusCode, m)
	}
	return out
}

// vmShape is what an example documents of the VM of a recovery point.
type vmShape struct {
	size, zone string
	private    bool
}

var (
	reDocSize    = regexp.MustCompile(`VirtualMachineSize:\s*to\.Ptr\("([^"]+)"\)`)
	reDocZone    = regexp.MustCompile(`Zones:\s*\[\]\*string\{\s*to\.Ptr\("([^"]+)"\)`)
	reDocPrivate = regexp.MustCompile(`IsPrivateAccessEnabledOnAnyDisk:\s*to\.Ptr\(true\)`)
)

// documentedShape is the VM a recovery-point example documents: the
// recovery point was taken of a VM of that size, in that zone, with a disk
// allowing private access only when it says so.
func documentedShape(x *example) (vmShape, bool) {
	if x.Client != "RecoveryPointsClient" {
		return vmShape{}, false
	}
	var sh vmShape
	if m := reDocSize.FindStringSubmatch(x.WantExpr); m != nil {
		sh.size = m[1]
	}
	if m := reDocZone.FindStringSubmatch(x.WantExpr); m != nil {
		sh.zone = m[1]
	}
	sh.private = reDocPrivate.MatchString(x.WantExpr)
	return sh, sh != vmShape{}
}

func (p *prereqs) vm(rg, name, location string) {
	sh := p.shapes[strings.ToLower(rg+"/"+name)]
	var osID string
	switch {
	case sh.zone != "" || sh.private:
		osID = p.shapedDisk(rg, name+"-osdisk", location, sh)
	case location != "westus":
		osID = p.diskIn(rg, name+"-osdisk-"+location, location)
	default:
		osID = p.disk(rg, name+"-osdisk")
	}
	size := armcompute.VirtualMachineSizeTypesStandardD2SV3
	if sh.size != "" {
		size = armcompute.VirtualMachineSizeTypes(sh.size)
	}
	var zones []*string
	if sh.zone != "" {
		zones = []*string{to.Ptr(sh.zone)}
	}
	c, err := armcompute.NewVirtualMachinesClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.VirtualMachine{Location: to.Ptr(location), Zones: zones, Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(size)},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}}}}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("VM %s/%s: %v", rg, name, err)
	}
}

func (p *prereqs) dpVault(rg, name string) {
	c, err := armdataprotection.NewBackupVaultsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	loc := "westus"
	if l := p.locations[strings.ToLower(rg+"/"+name)]; l != "" {
		loc = l
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armdataprotection.BackupVaultResource{
		Location: to.Ptr(loc), Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
		Properties: &armdataprotection.BackupVault{StorageSettings: []*armdataprotection.StorageSetting{{
			DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("Backup vault %s/%s: %v", rg, name, err)
	}
}

// shapedDisk creates an empty 1 GiB disk in a region, in the shape's zone,
// reachable through a disk access only when the shape has private access.
func (p *prereqs) shapedDisk(rg, name, location string, sh vmShape) string {
	c, err := armcompute.NewDisksClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	d := armcompute.Disk{Location: to.Ptr(location), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}
	if sh.zone != "" {
		d.Zones = []*string{to.Ptr(sh.zone)}
	}
	if sh.private {
		d.Properties.NetworkAccessPolicy = to.Ptr(armcompute.NetworkAccessPolicyAllowPrivate)
		d.Properties.DiskAccessID = to.Ptr(p.diskRef(rg, "diskAccesses", name+"-access"))
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, d, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("disk %s/%s: %v", rg, name, err)
	}
	return "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
}

// diskIn creates an empty 1 GiB disk in a region.
func (p *prereqs) diskIn(rg, name, location string) string {
	c, err := armcompute.NewDisksClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Disk{Location: to.Ptr(location), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("disk %s/%s: %v", rg, name, err)
	}
	return "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
}

// The VM and the policy a protection intent names.
var (
	reIntentVM     = regexp.MustCompile(`SourceResourceID:\s*to\.Ptr\("[^"]*/resourceGroups/([^/"]+)/providers/Microsoft\.Compute/virtualMachines/([^/"]+)"\)`)
	reIntentPolicy = regexp.MustCompile(`PolicyID:\s*to\.Ptr\("[^"]*/backupPolicies/([^/"]+)"\)`)
)

// copyDefaultPolicy makes the policy name in a vault as a copy of its
// DefaultPolicy.
func (p *prereqs) copyDefaultPolicy(rg, vault, name string) {
	base := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault + "/backupPolicies/"
	resp, m := p.e.Do("GET", base+"DefaultPolicy?api-version=2024-04-01", nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK {
		p.logf("policy %s/%s/%s: DefaultPolicy: %d %v", rg, vault, name, resp.StatusCode, m)
		return
	}
	resp, m = p.e.Do("PUT", base+name+"?api-version=2024-04-01", map[string]any{"properties": m["properties"]}, testserver.AnyStatus())
	if resp.StatusCode >= 300 {
		p.logf("policy %s/%s/%s: %d %v", rg, vault, name, resp.StatusCode, m)
	}
}

// The tags a vault example documents (the first map), and each tag of it.
var (
	reDocumentedTags = regexp.MustCompile(`Tags: map\[string\]\*string\{([^}]*)\}`)
	reTag            = regexp.MustCompile(`"([^"]+)": to\.Ptr\("([^"]*)"\)`)
)

func (p *prereqs) rsVault(rg, name, location string, tags map[string]*string) {
	c, err := armrecoveryservices.NewVaultsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armrecoveryservices.Vault{
		Location: to.Ptr(location), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)}, Tags: tags,
		Properties: &armrecoveryservices.VaultProperties{PublicNetworkAccess: to.Ptr(armrecoveryservices.PublicNetworkAccessEnabled)}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("Recovery Services vault %s/%s: %v", rg, name, err)
		return
	}
	// Its DefaultPolicy runs daily at 02:00 UTC, which the items protectVM
	// protects with would run among the examples of a replay across that
	// hour (a job and a point no example expects).
	fixture.QuietPolicies(p.t, p.e, "/subscriptions/"+p.e.Sub+"/resourceGroups/"+rg+"/providers/Microsoft.RecoveryServices/vaults/"+name)
}

// afterCreates runs between the creates and the reads: it names real
// server-generated resources where the examples name the author's.
func (p *prereqs) afterCreates(xs []*example) {
	p.heldBackups(xs)
}

// documentedJob is a Recovery Services job as an example documents it.
type documentedJob struct {
	entity, operation, status string
	start                     time.Time
}

var (
	reJobBlock  = regexp.MustCompile(`(?s)Properties: &armrecoveryservicesbackup\.AzureIaaSVMJob\{(.*?)VirtualMachineVersion`)
	reJobEntity = regexp.MustCompile(`EntityFriendlyName: to\.Ptr\("([^"]+)"\)`)
	reJobOp     = regexp.MustCompile(`\bOperation: to\.Ptr\("([^"]+)"\)`)
	reJobStatus = regexp.MustCompile(`\bStatus: to\.Ptr\("([^"]+)"\)`)
	reJobStart  = regexp.MustCompile(`StartTime: to\.Ptr\(func\(\) time\.Time \{ t, _ := time\.Parse\(time\.RFC3339Nano, "([^"]+)"\)`)
)

func documentedJobs(want string) []documentedJob {
	var out []documentedJob
	for _, b := range reJobBlock.FindAllStringSubmatch(want, -1) {
		var j documentedJob
		if m := reJobEntity.FindStringSubmatch(b[1]); m != nil {
			j.entity = m[1]
		}
		if m := reJobOp.FindStringSubmatch(b[1]); m != nil {
			j.operation = m[1]
		}
		if m := reJobStatus.FindStringSubmatch(b[1]); m != nil {
			j.status = m[1]
		}
		if m := reJobStart.FindStringSubmatch(b[1]); m != nil {
			j.start, _ = time.Parse(time.RFC3339Nano, m[1])
		}
		out = append(out, j)
	}
	return out
}

// heldBackups: where a Recovery Services example documents a backup job in
// progress (Azure's job examples show one, and cancel it), the vault gets
// it as a user would make one: the VM the job names is protected there, a
// fault rule (admin API) holds its backups, and a backup is triggered and
// seen held. The examples naming the documented job's id (its details, its
// cancellation and the cancellation's result) get that job.
func (p *prereqs) heldBackups(xs []*example) {
	type vault struct{ rg, name string }
	held := map[vault]string{}    // vault -> the VM whose backup is held
	literal := map[vault]string{} // vault -> the job id the documenting example names
	at := map[vault]time.Time{}   // vault -> when its jobs started, when examples list them by a window
	for _, x := range xs {
		if x.Mod.Pkg != "armrecoveryservicesbackup" || x.Args["vaultName"] == "" {
			continue
		}
		v := vault{x.Args["resourceGroupName"], x.Args["vaultName"]}
		if m := reStartWindow.FindStringSubmatch(x.Body); m != nil {
			from, err1 := time.Parse("2006-01-02 15:04:05", strings.TrimSuffix(strings.TrimSuffix(m[1], " AM"), " PM"))
			to, err2 := time.Parse("2006-01-02 15:04:05", strings.TrimSuffix(strings.TrimSuffix(m[2], " AM"), " PM"))
			for _, j := range documentedJobs(x.doc()) {
				if err1 == nil && err2 == nil && !j.start.IsZero() && !j.start.Before(from) && !j.start.After(to) && (at[v].IsZero() || j.start.Before(at[v])) {
					at[v] = j.start
				}
			}
		}
		for _, j := range documentedJobs(x.doc()) {
			if j.operation == "Backup" && j.status == "InProgress" && j.entity != "" {
				held[v] = j.entity
				if id := x.Args["jobName"]; id != "" {
					literal[v] = id
				}
			}
		}
	}
	vaults := make([]vault, 0, len(held))
	for v := range held {
		vaults = append(vaults, v)
	}
	sort.Slice(vaults, func(i, j int) bool { return vaults[i].rg+vaults[i].name < vaults[j].rg+vaults[j].name })
	for _, v := range vaults {
		jobID := p.heldBackup(v.rg, v.name, held[v], at[v])
		if jobID == "" || literal[v] == "" {
			continue
		}
		for _, x := range xs {
			if x.Mod.Pkg == "armrecoveryservicesbackup" && strings.EqualFold(x.Args["vaultName"], v.name) && strings.EqualFold(x.Args["resourceGroupName"], v.rg) &&
				strings.EqualFold(x.Args["jobName"], literal[v]) {
				p.sub(x, "jobName", jobID)
			}
		}
	}
}

// reStartWindow is a jobs filter's start-time window.
var reStartWindow = regexp.MustCompile(`startTime eq '([^']+)' and endTime eq '([^']+)'`)

// heldBackup protects VM vmName (made in the vault's resource group and
// region) in the vault, adds a fault rule through the admin API that holds
// its backups for ten minutes, triggers one and returns its job's id once
// the rule holds it. With a time at, the protection and the backup happen
// then: the server's clock is set back to at through the admin API (safehold
// clock set) while they start, as a user preparing jobs of a past window
// does, and set back to where it was afterwards.
func (p *prereqs) heldBackup(rg, vault, vmName string, at time.Time) string {
	if !at.IsZero() {
		defer p.clockAt(at)()
	}
	ctx := p.e.Ctx()
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	v, err := armrecoveryservices.NewVaultsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	loc := "westus"
	if vr, err := v.Get(ctx, rg, vault, nil); err == nil && vr.Location != nil {
		loc = *vr.Location
	}
	p.vm(rg, vmName, loc)
	lrg := strings.ToLower(rg)
	container, item := "IaasVMContainer;iaasvmcontainerv2;"+lrg+";"+vmName, "VM;iaasvmcontainerv2;"+lrg+";"+vmName
	vmID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + vmName
	policyID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault + "/backupPolicies/DefaultPolicy"
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(policyID)}}, nil); err != nil {
		p.logf("protect %s in %s: %v", vmName, vault, err)
		return ""
	}
	rule := "examples-hold-" + strings.ToLower(vault)
	const rules = faultRulesPath
	if resp, m := p.e.Do("POST", rules, map[string]any{"name": rule, "operation": "backup", "path": "*/protectedItems/" + item, "latency": "10m"}); resp.StatusCode != 201 {
		p.logf("fault rule holding %s: %d %v", item, resp.StatusCode, m)
		return ""
	}
	var raw *http.Response
	if _, err := bf.NewBackupsClient().Trigger(runtime.WithCaptureResponse(ctx, &raw), vault, rg, "Azure", container, item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		p.logf("back up %s in %s: %v", vmName, vault, err)
		return ""
	}
	st := p.e.Poll(raw.Header.Get("Azure-AsyncOperation"))
	jobID, _ := testserver.Field(st, "properties.jobId").(string)
	// Held: the rule has matched the backup.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, m := p.e.Do("GET", rules, nil)
		vals, _ := m["value"].([]any)
		for _, r := range vals {
			if r, _ := r.(map[string]any); r["name"] == rule && r["hits"] != float64(0) {
				return jobID
			}
		}
	}
	p.logf("the backup of %s in %s was not held", vmName, vault)
	return jobID
}

// reDocInProgress: an operation status documented in progress.
var reDocInProgress = regexp.MustCompile(`Status: to\.Ptr\(armrecoveryservicesbackup\.OperationStatusValuesInProgress\)`)

// holdDeletes: where an example reads the status of a delete documenting
// it in progress (Azure's ProtectedItem_Delete_OperationStatus), the
// deletes of protected items in its vault are held by a delete fault rule
// (admin API) while the deletes and the reads of their status run, as a
// user showing a delete in progress would hold it; releaseDeletes deletes
// the rules, which lets the deletes complete.
func (p *prereqs) holdDeletes(xs []*example) {
	for _, x := range xs {
		if x.Phase != 7 || x.Client != "BackupOperationStatusesClient" || x.Args["vaultName"] == "" || !reDocInProgress.MatchString(x.WantExpr) {
			continue
		}
		rule := "examples-hold-delete-" + strings.ToLower(x.Args["vaultName"])
		resp, m := p.e.Do("POST", faultRulesPath, map[string]any{"name": rule, "operation": "delete", "latency": "10m",
			"path": "/subscriptions/" + p.e.Sub + "/resourceGroups/" + x.Args["resourceGroupName"] + "/providers/Microsoft.RecoveryServices/vaults/" + x.Args["vaultName"] + "/*"})
		if resp.StatusCode != 201 {
			p.logf("fault rule holding the deletes in %s: %d %v", x.Args["vaultName"], resp.StatusCode, m)
			continue
		}
		p.holds = append(p.holds, rule)
	}
}

// releaseDeletes deletes the rules holdDeletes added: the held deletes go on.
func (p *prereqs) releaseDeletes() {
	for _, rule := range p.holds {
		if resp, m := p.e.Do("DELETE", "/providers/Safehold.Admin/faultRules/"+rule+"?api-version=2024-01-01", nil); resp.StatusCode != 200 {
			p.logf("release the deletes held by %s: %d %v", rule, resp.StatusCode, m)
		}
	}
	p.holds = nil
}

const faultRulesPath = "/providers/Safehold.Admin/faultRules?api-version=2024-01-01"

// lowerQuota lowers the subscription's vCPU quota in a region to nothing
// through the admin API, as a developer testing how a client handles a
// reached quota does (safehold quota set REGION cores=0).
func (p *prereqs) lowerQuota(region string) {
	region = strings.ToLower(strings.ReplaceAll(region, " ", ""))
	if p.lowered[region] {
		return
	}
	p.lowered[region] = true
	p.setCores(region, 0)
}

func (p *prereqs) setCores(region string, n int64) {
	resp, m := p.e.Do("POST", "/providers/Safehold.Admin/computeQuotas/"+p.e.Sub+"/"+region+"?api-version=2024-01-01",
		map[string]any{"limits": map[string]int64{"cores": n}})
	if resp.StatusCode != 200 {
		p.t.Fatalf("set the vCPU quota of %s: %d %v", region, resp.StatusCode, m)
	}
}

// lowerQuotas reaches the quota in the regions of the examples that
// document a reached quota (the region their request names).
func (p *prereqs) lowerQuotas(xs []*example) {
	for _, x := range xs {
		if x.Phase != 4 {
			continue
		}
		if m := reRegion.FindStringSubmatch(x.Body); m != nil {
			p.lowerQuota(m[1])
		}
	}
}

// restoreQuotas returns the lowered quotas to their defaults.
func (p *prereqs) restoreQuotas() {
	for r := range p.lowered {
		p.setCores(r, -1)
	}
	p.lowered = map[string]bool{}
}

// validationsRead runs, in each vault whose restore-validation results or
// statuses an example reads documenting a reached quota, the validation the
// example's operation was: a restore of the vault's protected VM from its
// recovery point, triggered while the quota of the VM's region is reached,
// and waited for; its operation URLs are recorded for the harness to name.
func (p *prereqs) validationsRead(xs []*example, opsFile string) {
	eachVaultRead(xs, func(x *example) bool {
		return documentsQuotaReached(x) && (x.Client == "ValidateOperationResultsClient" || x.Client == "ValidateOperationStatusesClient")
	}, func(rg, vault string) {
		if err := p.triggerValidation(rg, vault, opsFile); err != nil {
			p.logf("validation in %s/%s: %v", rg, vault, err)
		}
	})
}

// eachVaultRead calls fn once for each vault (resource group and name)
// of the phase-5 examples (operation results and statuses) that read
// accepts.
func eachVaultRead(xs []*example, read func(*example) bool, fn func(rg, vault string)) {
	done := map[string]bool{}
	for _, x := range xs {
		if x.Phase != 5 || !read(x) {
			continue
		}
		rg, vault := x.Args["resourceGroupName"], x.Args["vaultName"]
		if k := strings.ToLower(rg + "/" + vault); !done[k] {
			done[k] = true
			fn(rg, vault)
		}
	}
}

// policyUpdatesRead makes, for each policy whose operation results or
// statuses an example reads, the operation the example documents: the
// update of the policy while it protects a VM (one of its own, protected
// with the policy), which applies it to the item as a job. Its operation
// URLs are recorded for the harness to name.
func (p *prereqs) policyUpdatesRead(xs []*example, opsFile string) {
	done := map[string]bool{}
	for _, x := range xs {
		if x.Phase != 5 || (x.Client != "ProtectionPolicyOperationResultsClient" && x.Client != "ProtectionPolicyOperationStatusesClient") {
			continue
		}
		rg, vault, policy := x.Args["resourceGroupName"], x.Args["vaultName"], x.Args["policyName"]
		if k := strings.ToLower(rg + "/" + vault + "/" + policy); done[k] || policy == "" {
			continue
		} else {
			done[k] = true
		}
		if err := p.updatePolicyWithItem(rg, vault, policy, opsFile); err != nil {
			p.logf("update of policy %s/%s/%s: %v", rg, vault, policy, err)
		}
	}
}

// vaultPatchesRead makes, for each Backup vault whose PATCH operation
// result an example reads, the PATCH the example documents: the vault's
// operation result is the vault as that PATCH left it, so the example's
// author PATCHed a vault carrying the documented tags and identity (Azure's
// GetOperationResultPatch documents tags key1=val1 and identity None, which
// none of the published vault PATCH examples, all setting tags
// newKey=newVal, leaves). The PATCH sends those tags and that identity; its
// operation URLs are recorded for the harness to name.
func (p *prereqs) vaultPatchesRead(xs []*example, opsFile string) {
	done := map[string]bool{}
	for _, x := range xs {
		if x.Phase != 5 || x.Mod.Pkg != "armdataprotection" || x.Client != "BackupVaultOperationResultsClient" || x.WantExpr == "" {
			continue
		}
		rg, vault := x.Args["resourceGroupName"], x.Args["vaultName"]
		if k := strings.ToLower(rg + "/" + vault); done[k] || rg == "" || vault == "" {
			continue
		} else {
			done[k] = true
		}
		body := map[string]any{}
		if m := reDocTags.FindStringSubmatch(x.WantExpr); m != nil {
			tags := map[string]string{}
			for _, kv := range reDocTag.FindAllStringSubmatch(m[1], -1) {
				tags[kv[1]] = kv[2]
			}
			body["tags"] = tags
		}
		if m := reDocIdentityType.FindStringSubmatch(x.WantExpr); m != nil {
			body["identity"] = map[string]any{"type": m[1]}
		}
		path := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.DataProtection/backupVaults/" + vault + "?api-version=2024-04-01"
		resp, m := p.e.Do("PATCH", path, body)
		if resp.StatusCode != 202 && resp.StatusCode != 200 {
			p.logf("PATCH of Backup vault %s/%s: %d %v", rg, vault, resp.StatusCode, m)
			continue
		}
		p.recordOps(opsFile, resp)
	}
}

var (
	reDocTags         = regexp.MustCompile(`(?s)\bTags: map\[string\]\*string\{(.*?)\}`)
	reDocTag          = regexp.MustCompile(`"([^"]+)":\s*to\.Ptr\("([^"]*)"\)`)
	reDocIdentityType = regexp.MustCompile(`Identity: &armdataprotection\.DppIdentityDetails\{\s*Type: to\.Ptr\("([^"]+)"\)`)
)

// recordOps appends the operation URLs of an answer to the harness's list.
func (p *prereqs) recordOps(opsFile string, resp *http.Response) {
	f, err := os.OpenFile(opsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	for _, h := range []string{"Azure-AsyncOperation", "Location"} {
		if u, err := url.Parse(resp.Header.Get(h)); err == nil && u.Path != "" {
			fmt.Fprintln(f, u.Path)
		}
	}
}

func (p *prereqs) updatePolicyWithItem(rg, vault, policy, opsFile string) error {
	ctx := p.e.Ctx()
	vc, err := armrecoveryservices.NewVaultsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		return err
	}
	v, err := vc.Get(ctx, rg, vault, nil)
	if err != nil {
		return err
	}
	vmName := strings.ToLower(policy) + "-vm"
	p.vm(rg, vmName, *v.Location)
	vmID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + vmName
	vaultID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		return err
	}
	container, item := "IaasVMContainer;iaasvmcontainerv2;"+rg+";"+vmName, "VM;iaasvmcontainerv2;"+rg+";"+vmName
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(vaultID + "/backupPolicies/" + policy)}}, nil); err != nil {
		return err
	}
	p.policyItems = append(p.policyItems, [4]string{rg, vault, container, item})
	// The policy as it is, written again.
	path := vaultID + "/backupPolicies/" + policy + "?api-version=2024-04-01"
	resp, cur := p.e.Do("GET", path, nil)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET: %d %v", resp.StatusCode, cur)
	}
	props, _ := cur["properties"].(map[string]any)
	delete(props, "protectedItemsCount")
	resp, m := p.e.Do("PUT", path, map[string]any{"properties": props})
	if resp.StatusCode != 202 {
		return fmt.Errorf("PUT: %d %v", resp.StatusCode, m)
	}
	p.recordOps(opsFile, resp)
	return nil
}

// releasePolicyItems stops the protection of the items policyUpdatesRead
// protected (their data is kept).
func (p *prereqs) releasePolicyItems() {
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, it := range p.policyItems {
		if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(p.e.Ctx(), it[1], it[0], "Azure", it[2], it[3], armrecoveryservicesbackup.ProtectedItemResource{
			Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{ProtectionState: to.Ptr(armrecoveryservicesbackup.ProtectionStateProtectionStopped)}}, nil); err != nil {
			p.logf("stop protection of %s: %v", it[3], err)
		}
	}
	p.policyItems = nil
}

func (p *prereqs) triggerValidation(rg, vault, opsFile string) error {
	ctx := p.e.Ctx()
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		return err
	}
	items, err := bf.NewBackupProtectedItemsClient().NewListPager(vault, rg, nil).NextPage(ctx)
	if err != nil {
		return err
	}
	for _, it := range items.Value {
		vmItem, ok := it.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem)
		if !ok || vmItem.SourceResourceID == nil || it.ID == nil {
			continue
		}
		parts := strings.Split(*it.ID, "/")
		container, item := parts[len(parts)-3], parts[len(parts)-1]
		rps, err := bf.NewRecoveryPointsClient().NewListPager(vault, rg, "Azure", container, item, nil).NextPage(ctx)
		if err != nil || len(rps.Value) == 0 {
			continue
		}
		vms, err := armcompute.NewVirtualMachinesClient(p.e.Sub, p.e.Cred, p.e.Opts)
		if err != nil {
			return err
		}
		vmName := (*vmItem.SourceResourceID)[strings.LastIndex(*vmItem.SourceResourceID, "/")+1:]
		vmRG := reRG.FindStringSubmatch(*vmItem.SourceResourceID)[1]
		vm, err := vms.Get(ctx, vmRG, vmName, nil)
		if err != nil {
			return err
		}
		p.lowerQuota(*vm.Location)
		var raw *http.Response
		pl, err := bf.NewValidateOperationClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &raw), vault, rg, armrecoveryservicesbackup.ValidateOperationRequestResource{
			ID: rps.Value[0].ID, Properties: &armrecoveryservicesbackup.ValidateIaasVMRestoreOperationRequest{ObjectType: to.Ptr("ValidateIaasVMRestoreOperationRequest"),
				RestoreRequest: &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: rps.Value[0].Name,
					RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: vmItem.SourceResourceID, Region: vm.Location,
					TargetResourceGroupID: to.Ptr("/subscriptions/" + p.e.Sub + "/resourceGroups/" + vmRG)}}}, nil)
		if err != nil {
			return err
		}
		if _, err := pl.PollUntilDone(ctx, fixture.Poll); err != nil {
			return err
		}
		p.recordOps(opsFile, raw)
		return nil
	}
	return fmt.Errorf("no protected VM with a recovery point")
}

// clockAt sets the server's clock to at, running, through the admin API
// and returns the func that puts it back where it was (running with its
// offset to real time, or frozen at its time).
func (p *prereqs) clockAt(at time.Time) func() {
	const c = "/providers/Safehold.Admin/clock"
	const v = "?api-version=2024-01-01"
	resp, st := p.e.Do("GET", c+v, nil)
	if resp.StatusCode != 200 {
		p.t.Fatalf("clock: %d %v", resp.StatusCode, st)
	}
	offset, err := time.ParseDuration(fmt.Sprint(st["offset"]))
	if err != nil {
		p.t.Fatalf("clock offset %v: %v", st["offset"], err)
	}
	set := func(t time.Time, run bool) {
		if resp, m := p.e.Do("POST", c+"/set"+v, map[string]any{"time": t.UTC().Format(time.RFC3339Nano)}); resp.StatusCode != 200 {
			p.t.Fatalf("clock set %s: %d %v", t, resp.StatusCode, m)
		}
		if run {
			if resp, m := p.e.Do("POST", c+"/resume"+v, nil); resp.StatusCode != 200 {
				p.t.Fatalf("clock resume: %d %v", resp.StatusCode, m)
			}
		}
	}
	set(at, true)
	return func() {
		if st["frozen"] == true {
			now, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(st["now"]))
			set(now, false)
			return
		}
		set(time.Now().Add(offset), true)
	}
}

// reRoleDefinition is a role definition an example's body names by id.
var reRoleDefinition = regexp.MustCompile(`(?i)/providers/Microsoft\.Authorization/roleDefinitions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)
