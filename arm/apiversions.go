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
