// The api-version tables: per namespace Safehold serves, every api-version
// Azure has published for it (stable and preview), as listed by the
// namespace's specifications in azure-rest-api-specs (the readme tags of
// specification/<service>/resource-manager). A namespace served by several
// specs (Microsoft.RecoveryServices: vaults and backup; Microsoft.Compute:
// compute, disks, galleries, ...) takes the union: Azure's front door routes
// on the namespace, so a client may send any of them.
package arm

import (
	"sort"
	"strings"
)

// APIVersionsDataProtection: specification/dataprotection (Microsoft.DataProtection).
var APIVersionsDataProtection = []string{
	// stable
	"2021-01-01", "2021-07-01", "2022-01-01", "2022-03-01", "2022-04-01", "2022-05-01", "2022-12-01",
	"2023-01-01", "2023-05-01", "2023-08-01", "2023-11-01", "2023-12-01", "2024-03-01", "2024-04-01",
	"2025-01-01", "2025-02-01", "2025-07-01", "2025-09-01", "2026-03-01", "2026-06-01",
	// preview
	"2021-02-01-preview", "2021-06-01-preview", "2021-10-01-preview", "2021-12-01-preview",
	"2022-02-01-preview", "2022-03-31-preview", "2022-09-01-preview", "2022-10-01-preview",
	"2022-11-01-preview", "2023-04-01-preview", "2023-06-01-preview", "2023-08-01-preview",
	"2024-02-01-preview", "2026-04-01-preview", "2026-08-31-preview",
}

// APIVersionsRecoveryServicesBackup: specification/recoveryservicesbackup (bms.json and
// its predecessors).
var APIVersionsRecoveryServicesBackup = []string{
	// stable
	"2016-06-01", "2016-08-10", "2016-12-01", "2017-07-01", "2018-12-20", "2019-05-13", "2019-06-15",
	"2020-02-02", "2020-07-01", "2020-10-01", "2020-12-01", "2021-01-01", "2021-02-01", "2021-02-10",
	"2021-03-01", "2021-04-01", "2021-06-01", "2021-07-01", "2021-08-01", "2021-10-01", "2021-11-15",
	"2021-12-01", "2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01", "2022-10-01", "2023-01-01",
	"2023-01-15", "2023-02-01", "2023-04-01", "2023-06-01", "2023-08-01", "2024-01-01", "2024-02-01",
	"2024-04-01", "2024-10-01", "2025-01-01", "2025-02-01", "2025-08-01", "2026-01-01", "2026-02-01",
	// The Cross Region Restore (passive stamp) spec's later versions:
	// stable/2024-11-15/bms.json and RecoveryServicesBackupCrr's 2026-07-15
	// (after 2018-12-20, 2021-11-15 and 2023-01-15 above).
	"2024-11-15", "2026-07-15",
	// preview
	"2021-02-01-preview", "2022-06-01-preview", "2022-09-01-preview", "2022-09-30-preview",
	"2024-04-30-preview", "2024-07-30-preview", "2024-11-01-preview", "2025-02-28-preview",
	"2026-01-31-preview", "2026-03-31-preview",
}

// APIVersionsRecoveryServicesVaults: specification/recoveryservices (vaults, usages,
// registered identities).
var APIVersionsRecoveryServicesVaults = []string{
	// stable
	"2016-06-01", "2020-02-02", "2020-10-01", "2021-01-01", "2021-02-10", "2021-03-01", "2021-04-01",
	"2021-06-01", "2021-07-01", "2021-08-01", "2021-12-01", "2022-01-01", "2022-02-01", "2022-03-01",
	"2022-04-01", "2022-05-01", "2022-08-01", "2022-09-10", "2022-10-01", "2023-01-01", "2023-02-01",
	"2023-04-01", "2023-06-01", "2023-08-01", "2024-01-01", "2024-02-01", "2024-04-01", "2024-10-01",
	"2025-01-01", "2025-02-01", "2025-08-01", "2026-01-01", "2026-02-01", "2026-05-01", "2026-07-01",
	"2026-08-01",
	// preview
	"2021-11-01-preview", "2022-01-31-preview", "2022-09-30-preview", "2024-04-30-preview",
	"2024-09-30-preview", "2026-03-31-preview", "2026-05-31-preview",
}

// APIVersionsRecoveryServices is what the Microsoft.RecoveryServices namespace accepts:
// the backup and the vault specs together, plus 2015-03-15 (classic vault
// clients) and 2015-08-10 (site recovery's first version).
var APIVersionsRecoveryServices = UnionVersions(APIVersionsRecoveryServicesBackup, APIVersionsRecoveryServicesVaults, []string{"2015-03-15", "2015-08-10", "2015-11-10", "2016-08-10"})

// APIVersionsCompute: specification/compute (ComputeRP, DiskRP, Gallery, Skus,
// CloudService, ...).
var APIVersionsCompute = []string{
	// stable
	"2015-06-15", "2016-03-30", "2017-03-30", "2017-09-01", "2017-12-01", "2018-04-01", "2018-06-01",
	"2018-09-30", "2018-10-01", "2019-03-01", "2019-04-01", "2019-07-01", "2019-11-01", "2019-12-01",
	"2020-05-01", "2020-06-01", "2020-06-30", "2020-09-30", "2020-10-01-preview", "2020-12-01",
	"2021-03-01", "2021-04-01", "2021-07-01", "2021-08-01", "2021-10-01", "2021-11-01", "2021-12-01",
	"2022-01-03", "2022-03-01", "2022-03-02", "2022-03-03", "2022-04-04", "2022-07-02", "2022-08-01",
	"2022-08-03", "2022-09-04", "2022-11-01", "2023-01-02", "2023-03-01", "2023-04-02", "2023-07-01",
	"2023-07-03", "2023-09-01", "2023-10-02", "2024-03-01", "2024-03-02", "2024-03-03", "2024-07-01",
	"2024-11-01", "2024-11-04", "2025-01-02", "2025-02-01", "2025-03-03", "2025-04-01", "2025-11-01",
	// CloudServiceRP 2024-11-04 (armcompute v6, v7); GalleryRP 2025-12-03, DiskRP 2026-03-02
	// and ComputeRP 2026-04-01 (what @azure/arm-compute 25 sends for galleries, disks and VMs).
	"2025-12-03", "2026-03-02", "2026-04-01",
	// preview
	"2015-05-01-preview", "2016-04-30-preview", "2017-10-30-preview", "2019-07-01-preview",
	"2020-09-30-preview", "2020-10-01-preview", "2021-06-01-preview", "2022-10-01-preview",
	// DiskRP previews after 2026-03-02.
	"2026-03-04-preview", "2026-05-01-preview", "2026-06-01-preview",
}

// APIVersionsStorage: specification/storage (Microsoft.Storage).
var APIVersionsStorage = []string{
	// stable
	"2015-06-15", "2016-01-01", "2016-05-01", "2016-12-01", "2017-06-01", "2017-10-01", "2018-02-01",
	"2018-07-01", "2018-11-01", "2019-04-01", "2019-06-01", "2021-01-01", "2021-02-01", "2021-04-01",
	"2021-06-01", "2021-08-01", "2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01",
	"2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01",
	// The TypeSpec versions after 2025-06-01 (the KnownVersions of @azure/arm-storage 21,
	// which sends the last; 20 sends 2026-06-01).
	"2025-08-01", "2026-04-01", "2026-06-01", "2026-09-01",
	// preview
	"2015-05-01-preview", "2017-05-01-preview", "2018-03-01-preview", "2020-08-01-preview",
}

// APIVersionsAuthorization: specification/authorization (role definitions and
// assignments, permissions, management locks, PIM).
var APIVersionsAuthorization = []string{
	// stable
	"2015-01-01", "2015-06-01", "2015-07-01", "2016-09-01", "2017-04-01", "2020-05-01", "2020-10-01", "2021-12-01",
	"2022-04-01",
	// preview
	"2017-10-01-preview", "2018-01-01-preview", "2018-05-01-preview", "2018-07-01-preview",
	"2018-09-01-preview", "2019-08-01-preview", "2020-03-01-preview", "2020-04-01-preview",
	"2020-08-01-preview", "2020-10-01-preview", "2021-01-01-preview", "2021-03-01-preview",
	"2021-07-01-preview", "2021-11-16-preview", "2022-05-01-preview", "2022-08-01-preview",
	"2024-09-01-preview",
}

// APIVersionsResources: specification/resources (resources, subscriptions, providers,
// tenants, locations).
var APIVersionsResources = []string{
	// stable
	"2014-04-01", "2015-01-01", "2015-11-01", "2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01",
	"2017-05-10", "2018-02-01", "2018-05-01", "2018-06-01", "2019-03-01", "2019-05-01", "2019-05-10",
	"2019-06-01", "2019-07-01", "2019-08-01", "2019-10-01", "2019-11-01", "2020-01-01", "2020-06-01",
	"2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-01-01", "2022-09-01", "2022-12-01",
	"2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
	// preview
	"2015-10-01-preview", "2019-10-01-preview", "2020-09-01-preview",
}

// UnionVersions returns the distinct versions of all lists, newest first.
func UnionVersions(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, v := range l {
			k := strings.ToLower(v)
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
	}
	SortVersions(out)
	return out
}

// SortVersions orders versions newest first (a preview sorts just below the stable
// version of the same date), as ARM lists them in a provider's resource types.
func SortVersions(vs []string) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a[:min(10, len(a))] != b[:min(10, len(b))] {
			return a > b
		}
		return len(a) < len(b)
	})
}

// IsPreviewVersion reports whether v is a preview (or other suffixed) version.
func IsPreviewVersion(v string) bool { return len(v) > 10 }

// The per-type catalog: ARM checks a request's api-version against the
// versions its resource provider registered for the resource type the path
// names, not for the namespace, and answers a version of another type of
// the namespace 400 NoRegisteredProviderFound ("... for type 'disks'. The
// supported api-versions are ..."). Each list below is every version a
// published spec of azure-rest-api-specs defines for the type's paths
// (specification/compute/resource-manager/Microsoft.Compute/{ComputeRP,
// DiskRP,GalleryRP}, the dataprotection and recoveryservicesbackup/
// recoveryservices specs, authorization and resources' locks), plus the
// namespace's versions whose spec could not be placed (unplaced), so that
// no version a client may send for the type is refused. A type with no
// entry, nor any parent type with one (vaults/backupJobs takes vaults'
// entry when there is one), accepts every version of its namespace.

// computeUnplaced are Microsoft.Compute versions of APIVersionsCompute whose
// sub-service was not identified: every Compute type accepts them.
var computeUnplaced = []string{"2025-02-01", "2025-11-01", "2017-10-30-preview", "2019-07-01-preview",
	"2020-09-30-preview", "2021-06-01-preview", "2022-10-01-preview"}

// APIVersionsComputeDisks: DiskRP (disk.json in the compute folders up to
// 2019-07-01, then DiskRP/): disks and snapshots.
var APIVersionsComputeDisks = UnionVersions([]string{
	"2016-04-30-preview", "2017-03-30", "2018-04-01", "2018-06-01", "2018-09-30", "2019-03-01", "2019-07-01",
	"2019-11-01", "2020-05-01", "2020-06-30", "2020-09-30", "2020-12-01", "2021-04-01", "2021-08-01",
	"2021-12-01", "2022-03-02", "2022-07-02", "2023-01-02", "2023-04-02", "2023-10-02", "2024-03-02",
	"2025-01-02", "2026-03-02",
	"2026-03-04-preview", "2026-05-01-preview", "2026-06-01-preview",
}, computeUnplaced)

// APIVersionsComputeDiskEncryptionSets: DiskRP from 2019-07-01, when disk
// encryption sets arrived.
var APIVersionsComputeDiskEncryptionSets = since(APIVersionsComputeDisks, "2019-07-01", computeUnplaced)

// APIVersionsComputeDiskAccesses: DiskRP from 2020-05-01, when disk accesses
// arrived.
var APIVersionsComputeDiskAccesses = since(APIVersionsComputeDisks, "2020-05-01", computeUnplaced)

// APIVersionsComputeVirtualMachines: ComputeRP (compute.json, then
// ComputeRP/): virtual machines and their actions and sizes.
var APIVersionsComputeVirtualMachines = UnionVersions([]string{
	"2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-04-30-preview", "2017-03-30", "2017-12-01",
	"2018-04-01", "2018-06-01", "2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-06-01",
	"2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01",
	"2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01",
	"2025-04-01", "2026-04-01",
}, computeUnplaced)

// APIVersionsComputeGalleries: GalleryRP (gallery.json, then GalleryRP/):
// galleries, their images and image versions.
var APIVersionsComputeGalleries = UnionVersions([]string{
	"2018-06-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-09-30", "2021-07-01", "2021-10-01",
	"2022-01-03", "2022-03-03", "2022-08-03", "2023-07-03", "2024-03-03", "2025-03-03", "2025-12-03",
}, computeUnplaced)

// APIVersionsDataProtectionResourceGuards: every Data Protection version but
// the first (2021-01-01 defines no resource guard).
var APIVersionsDataProtectionResourceGuards = without(APIVersionsDataProtection, "2021-01-01")

// APIVersionsDataProtectionDeletedVaults: deleted Backup vaults arrived in
// 2025-09-01.
var APIVersionsDataProtectionDeletedVaults = since(APIVersionsDataProtection, "2025-09-01", nil)

// APIVersionsAuthorizationLocks: management locks (authorization's
// 2015-01-01, resources' 2016-09-01 and 2020-05-01 locks.json; 2015-06-01
// and 2017-04-01 as ARM registers them).
var APIVersionsAuthorizationLocks = UnionVersions([]string{"2015-01-01", "2015-06-01", "2016-09-01", "2017-04-01", "2020-05-01"})

// APIVersionsAuthorizationRBAC: role assignments and definitions,
// permissions, provider operations and deny assignments: every
// authorization version but the locks-only ones.
var APIVersionsAuthorizationRBAC = without(APIVersionsAuthorization, "2015-01-01", "2016-09-01", "2020-05-01")

// typeCatalog maps "namespace/type" (lower case) to its api-versions.
var typeCatalog = func() map[string][]string {
	m := map[string][]string{}
	add := func(ns string, vs []string, types ...string) {
		vs = UnionVersions(vs) // newest first, as TypeVersions returns them
		for _, t := range types {
			m[strings.ToLower(ns+"/"+t)] = vs
		}
	}
	add("Microsoft.Compute", APIVersionsComputeDisks, "disks", "snapshots")
	add("Microsoft.Compute", APIVersionsComputeDiskEncryptionSets, "diskEncryptionSets")
	add("Microsoft.Compute", APIVersionsComputeDiskAccesses, "diskAccesses")
	add("Microsoft.Compute", APIVersionsComputeVirtualMachines, "virtualMachines")
	add("Microsoft.Compute", APIVersionsComputeGalleries, "galleries")
	add("Microsoft.DataProtection", APIVersionsDataProtectionResourceGuards, "resourceGuards")
	add("Microsoft.DataProtection", APIVersionsDataProtectionDeletedVaults, "deletedBackupVaults", "locations/deletedBackupVaults")
	// The location-scoped backup checks and cross-region restore calls are
	// the backup spec's; name availability and capabilities the vaults'.
	add("Microsoft.RecoveryServices", APIVersionsRecoveryServicesBackup, "locations/backupStatus", "locations/backupValidateFeatures",
		"locations/backupPreValidateProtection", "locations/backupAadProperties", "locations/backupCrossRegionRestore",
		"locations/backupCrrJob", "locations/backupCrrJobs", "locations/backupCrrOperationResults", "locations/backupCrrOperationsStatus")
	add("Microsoft.RecoveryServices", APIVersionsRecoveryServicesVaults, "locations/checkNameAvailability", "locations/capabilities")
	add("Microsoft.Authorization", APIVersionsAuthorizationLocks, "locks")
	add("Microsoft.Authorization", APIVersionsAuthorizationRBAC, "roleAssignments", "roleDefinitions", "permissions", "providerOperations", "denyAssignments")
	return m
}()

// TypeVersions returns the api-versions of resource type typ of namespace ns
// ("disks", "vaults/backupPolicies": the type path without names), newest
// first: its catalog entry or its nearest parent type's, with the type of
// that entry; ok is false when neither has an entry (the type then takes
// every version of its namespace).
func TypeVersions(ns, typ string) (entry string, versions []string, ok bool) {
	for t := typ; t != ""; {
		if vs, ok := typeCatalog[strings.ToLower(ns+"/"+t)]; ok {
			return t, vs, true
		}
		i := strings.LastIndexByte(t, '/')
		if i < 0 {
			break
		}
		t = t[:i]
	}
	return "", nil, false
}

// since returns the versions of vs dated from first on, with extra.
func since(vs []string, first string, extra []string) []string {
	var out []string
	for _, v := range vs {
		if v[:min(10, len(v))] >= first {
			out = append(out, v)
		}
	}
	return UnionVersions(out, extra)
}

// without returns vs without drop.
func without(vs []string, drop ...string) []string {
	var out []string
	for _, v := range vs {
		keep := true
		for _, d := range drop {
			keep = keep && !strings.EqualFold(v, d)
		}
		if keep {
			out = append(out, v)
		}
	}
	return UnionVersions(out)
}

// APIVersionsNetwork: specification/network (Microsoft.Network), the
// stable versions from 2015-06-15 (az 2.45 sends 2022-01-01 and
// 2022-05-01; armnetwork v7 2025-01-01).
var APIVersionsNetwork = []string{
	"2015-06-15", "2016-03-30", "2016-06-01", "2016-09-01", "2016-12-01", "2017-03-01", "2017-06-01",
	"2017-08-01", "2017-09-01", "2017-10-01", "2017-11-01", "2018-01-01", "2018-02-01", "2018-04-01",
	"2018-06-01", "2018-07-01", "2018-08-01", "2018-10-01", "2018-11-01", "2018-12-01", "2019-02-01",
	"2019-04-01", "2019-06-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01",
	"2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01",
	"2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01", "2022-07-01",
	"2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01",
	"2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01", "2025-01-01",
	"2025-03-01", "2025-05-01",
	// preview
	"2015-05-01-preview",
}
