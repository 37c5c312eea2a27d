package store

import "testing"

// BenchmarkPgListSQL: the statement and arguments of a list of a vault's
// policies (the mix's costliest list), as every List and ReadBatch makes them.
func BenchmarkPgListSQL(b *testing.B) {
	q := ListQuery{ScopePrefix: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/mix/providers/Microsoft.DataProtection/backupVaults/dp/", Type: "Microsoft.DataProtection/backupVaults/backupPolicies"}
	b.ReportAllocs()
	for b.Loop() {
		pgListSQL("resource", q)
	}
}
