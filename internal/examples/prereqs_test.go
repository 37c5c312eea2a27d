package examples_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
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
}

func newPrereqs(t *testing.T, e *testserver.Env) *prereqs {
	return &prereqs{t: t, e: e, subs: map[string]map[string]string{}, done: map[string]bool{}}
}

func (p *prereqs) sub(x *example, param, v string) {
	if p.subs[x.ID] == nil {
		p.subs[x.ID] = map[string]string{}
	}
	p.subs[x.ID][param] = v
}

var (
	reRG        = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)`)
	reVM        = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/virtualMachines/([A-Za-z0-9_.-]+)`)
	reDisk      = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/disks/([A-Za-z0-9_.-]+)`)
	reSnapshot  = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.Compute/snapshots/([A-Za-z0-9_.-]+)`)
	reContainer = regexp.MustCompile(`(?i)iaasvmcontainerv2;([^;]+);([^;]+)$`)
)

type pair struct{ rg, name string }

// create makes the resource groups, vaults, disks, snapshots and VMs the
// examples name.
func (p *prereqs) create(xs []*example) {
	rgs := map[string]string{}
	var dpVaults, rsVaults, vms, disks, snaps []pair
	seen := map[string]bool{}
	add := func(list *[]pair, kind, rg, name string) {
		k := strings.ToLower(kind + "/" + rg + "/" + name)
		if seen[k] || strings.ContainsAny(rg+name, "{}<>") {
			return
		}
		seen[k] = true
		*list = append(*list, pair{rg, name})
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
	for _, x := range xs {
		rg := x.Args["resourceGroupName"]
		if rg != "" {
			rgs[strings.ToLower(rg)] = rg
		}
		text := x.Body
		if x.seeded() {
			text += x.WantExpr
		}
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
		for _, m := range reVM.FindAllStringSubmatch(x.Body, -1) {
			add(&vms, "vm", m[1], m[2])
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
			}
		}
	}
	for _, l := range [][]pair{dpVaults, rsVaults, vms, disks, snaps} {
		for _, d := range l {
			rgs[strings.ToLower(d.rg)] = d.rg
		}
	}
	var names []string
	for _, rg := range rgs {
		names = append(names, rg)
	}
	sort.Strings(names)
	for _, rg := range names {
		fixture.RG(p.t, p.e, rg)
	}
	for _, d := range disks {
		p.disk(d.rg, d.name)
	}
	for _, s := range snaps {
		p.snapshot(s.rg, s.name)
	}
	for _, v := range vms {
		p.vm(v.rg, v.name)
	}
	for _, v := range dpVaults {
		p.dpVault(v.rg, v.name)
	}
	for _, v := range rsVaults {
		p.rsVault(v.rg, v.name)
	}
}

func (p *prereqs) logf(format string, args ...any) { p.t.Logf("prerequisite: "+format, args...) }

func (p *prereqs) disk(rg, name string) string {
	id := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
	if p.done[strings.ToLower(id)] {
		return id
	}
	p.done[strings.ToLower(id)] = true
	fixture.Disk(p.t, p.e, rg, name, 1, 0)
	return id
}

func (p *prereqs) snapshot(rg, name string) {
	src := p.disk(rg, name+"-source")
	c, err := armcompute.NewSnapshotsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(src)}}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("snapshot %s/%s: %v", rg, name, err)
	}
}

func (p *prereqs) vm(rg, name string) {
	osID := p.disk(rg, name+"-osdisk")
	c, err := armcompute.NewVirtualMachinesClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
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
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armdataprotection.BackupVaultResource{
		Location: to.Ptr("westus"), Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
		Properties: &armdataprotection.BackupVault{StorageSettings: []*armdataprotection.StorageSetting{{
			DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("Backup vault %s/%s: %v", rg, name, err)
	}
}

func (p *prereqs) rsVault(rg, name string) {
	c, err := armrecoveryservices.NewVaultsClient(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pl, err := c.BeginCreateOrUpdate(p.e.Ctx(), rg, name, armrecoveryservices.Vault{
		Location: to.Ptr("westus"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{PublicNetworkAccess: to.Ptr(armrecoveryservices.PublicNetworkAccessEnabled)}}, nil)
	if err == nil {
		_, err = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
	}
	if err != nil {
		p.logf("Recovery Services vault %s/%s: %v", rg, name, err)
	}
}

// afterCreates runs between the creates and the reads: it names real
// server-generated resources where the examples name the author's.
func (p *prereqs) afterCreates(xs []*example) {}
