package arm

import (
	"strings"
	"testing"
)

// TestTypeCatalogWithinNamespaces: every version the per-type catalog
// gives a type is one of its namespace's own (so the router accepts it and
// the provider listing's namespace shows it), each list is newest first
// with no duplicate, and a child type takes its nearest parent's entry.
func TestTypeCatalogWithinNamespaces(t *testing.T) {
	namespaces := map[string][]string{
		"microsoft.compute":          APIVersionsCompute,
		"microsoft.dataprotection":   APIVersionsDataProtection,
		"microsoft.recoveryservices": APIVersionsRecoveryServices,
		"microsoft.authorization":    APIVersionsAuthorization,
	}
	for key, vs := range typeCatalog {
		ns := key[:strings.IndexByte(key, '/')]
		all, ok := namespaces[ns]
		if !ok {
			t.Errorf("%s: no namespace table for %s", key, ns)
			continue
		}
		for _, v := range vs {
			if !ContainsFold(all, v) {
				t.Errorf("%s: %s is not a version of %s", key, v, ns)
			}
		}
		if sorted := UnionVersions(vs); strings.Join(sorted, ",") != strings.Join(vs, ",") {
			t.Errorf("%s: versions %v not newest first without duplicates", key, vs)
		}
	}
	for _, c := range []struct{ ns, typ, entry string }{
		{"Microsoft.Compute", "disks/beginGetAccess", "disks"},
		{"microsoft.compute", "VirtualMachines/start", "VirtualMachines"},
		{"Microsoft.Compute", "galleries/images/versions", "galleries"},
		{"Microsoft.RecoveryServices", "locations/backupStatus", "locations/backupStatus"},
		{"Microsoft.RecoveryServices", "vaults/backupJobs", ""},
		{"Microsoft.Compute", "locations/operations", ""},
	} {
		entry, _, ok := TypeVersions(c.ns, c.typ)
		if entry != c.entry || ok != (c.entry != "") {
			t.Errorf("TypeVersions(%s, %s): entry %q (%v), want %q", c.ns, c.typ, entry, ok, c.entry)
		}
	}
}
