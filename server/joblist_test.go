package server_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestJobListPagesReadOnlyTheirJobs pages through a Backup vault's jobs
// (100 a page) and a Recovery Services vault's with a $filter (200 a
// page) while they change: the pages after the first read their jobs by
// id in the order the first page read (protection.Engine.JobPage), where
// each page read and decoded every job of the vault (a Backup vault's
// 40,000 jobs listed in 10 minutes, in 15 s now). Every job is listed
// once, newest first; one changed after the first page is answered as it
// is now (left out when the filter no longer selects it), one deleted is
// left out.
func TestJobListPagesReadOnlyTheirJobs(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	vm := fixture.ProtectVM(t, e)
	ctx := e.Ctx()
	vault := func(provider, rg, name string) string {
		return "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/" + provider + "/" + name
	}
	for _, c := range []struct {
		vault, query string
		filtered     bool // the query selects completed backups only
	}{
		{vault("Microsoft.DataProtection", dv.RG, "backupVaults/"+dv.Vault), "?api-version=2025-07-01", false},
		{vault("Microsoft.RecoveryServices", vm.RG, "vaults/"+vm.Vault), "?api-version=2024-04-01&$filter=" + url.QueryEscape("operation eq 'Backup' and status eq 'Completed'"), true},
	} {
		js, err := protection.ListJobs(ctx, e.Server.Store, c.vault, protection.JobFilter{})
		if err != nil || len(js) == 0 {
			t.Fatalf("jobs of %s: %d, %v", c.vault, len(js), err)
		}
		var seeded []*protection.Job
		now := time.Now()
		err = e.Server.Store.Update(ctx, func(tx store.Tx) error {
			for i := range 450 {
				start := now.Add(-time.Duration(i+1) * time.Hour)
				j := protection.NewJob(c.vault, js[0].ItemID, protection.OpBackup, false, start)
				j.ItemName, j.Datasource, j.DatasourceType, j.DatasourceLocation = js[0].ItemName, js[0].Datasource, js[0].DatasourceType, js[0].DatasourceLocation
				j.Finish(start.Add(time.Minute), nil)
				seeded = append(seeded, j)
				if err := protection.CreateJob(ctx, tx, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		next := c.vault + "/backupJobs" + c.query
		seen := map[string]string{}
		var order []time.Time
		for page := 0; next != ""; page++ {
			resp, m := e.Do("GET", next, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("page %d of %s: %d %v", page, c.vault, resp.StatusCode, m)
			}
			for _, v := range m["value"].([]any) {
				j := v.(map[string]any)
				name := j["name"].(string)
				if _, dup := seen[name]; dup {
					t.Fatalf("job %s listed twice", name)
				}
				seen[name] = testserver.Field(j, "properties.status").(string)
				st, _ := time.Parse(time.RFC3339Nano, testserver.Field(j, "properties.startTime").(string))
				order = append(order, st)
			}
			next, _ = m["nextLink"].(string)
			if page == 0 { // one job of a later page fails, another is deleted
				failed, gone := seeded[300], seeded[420]
				failed.Finish(failed.EndTime.Add(time.Minute), errors.New("failed since"))
				if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
					if err := protection.PutJob(ctx, tx, failed); err != nil {
						return err
					}
					return tx.Delete(ctx, "protection.job", gone.ID)
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The jobs the fixture made (the filter selects none: the VM's
		// protection job) and those seeded, less the one deleted and,
		// with the filter, the one failed.
		want := len(js) + len(seeded) - 1
		if c.filtered {
			want = len(seeded) - 2
		}
		if len(seen) != want {
			t.Errorf("%s: %d jobs listed, want %d", c.vault, len(seen), want)
		}
		if _, ok := seen[seeded[420].ID]; ok {
			t.Errorf("%s: the job deleted after the first page is listed", c.vault)
		}
		if st, ok := seen[seeded[300].ID]; ok == c.filtered || ok && st != "Failed" {
			t.Errorf("%s: the job that failed after the first page is listed %v %s", c.vault, ok, st)
		}
		for i := 1; i < len(order); i++ {
			if order[i].After(order[i-1]) {
				t.Fatalf("%s: job %d started at %v, after the one before it (%v): not newest first", c.vault, i, order[i], order[i-1])
			}
		}
	}
}
