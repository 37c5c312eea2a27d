package examples_test

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
)

// The archive tier's prerequisites: examples that document a recovery
// point ready to move to the archive tier (a point read, a move) get a VM of
// their own with such a point, and the examples reading a tiering-cost
// operation read one the vault they name ran.

var reArchivable = regexp.MustCompile(`AzureIaasVm/RecoveryPoints_Get\.json|TriggerRecoveryPointMove_Post`)

// needsArchivable: the example needs its item's newest point ready to move
// to the archive tier.
func needsArchivable(x *example) bool {
	return x.Mod.Pkg == "armrecoveryservicesbackup" && reArchivable.MatchString(x.Name())
}

// protectArchivable protects the VM an example names with a policy that
// keeps the backup of the month's first scheduled day a year ("monthly",
// the policy name Azure's tiering-cost example uses), lets the schedule
// back it up four months ago (the server's clock set back meanwhile, as a
// user preparing an old point would), so the point is ready to move by
// Azure's rule (a monthly point, 3 months in the vault-standard tier, 6
// months of retention left), then stops protection keeping the data, so
// that no later backup makes a newer point.
func (p *prereqs) protectArchivable(rg, vault, container, item string) {
	m := reContainer.FindStringSubmatch(item)
	vmID := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + m[1] + "/providers/Microsoft.Compute/virtualMachines/" + m[2]
	R := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault
	back := time.Now().UTC().AddDate(0, -4, 0)
	// On the half hour, as Azure requires of a schedule's run time.
	at := time.Date(back.Year(), back.Month(), min(back.Day(), 28), back.Hour(), 30, 0, 0, time.UTC)
	runAt := at.Format(time.RFC3339)
	resp, body := p.e.Do("PUT", R+"/backupPolicies/monthly?api-version=2024-04-01", map[string]any{"properties": map[string]any{
		"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 2, "timeZone": "UTC",
		"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{runAt}},
		"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
			"dailySchedule": map[string]any{"retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}},
			"monthlySchedule": map[string]any{"retentionScheduleFormatType": "Daily", "retentionTimes": []string{runAt},
				"retentionScheduleDaily": map[string]any{"daysOfTheMonth": []any{map[string]any{"date": at.Day()}}},
				"retentionDuration":      map[string]any{"count": 12, "durationType": "Months"}}}}})
	if resp.StatusCode != http.StatusOK {
		p.logf("policy monthly in %s: %d %v", vault, resp.StatusCode, body)
		return
	}
	bf, err := armrecoveryservicesbackup.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx := p.e.Ctx()
	restore := p.clockAt(at.Add(-2 * time.Second))
	defer restore()
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(R + "/backupPolicies/monthly")}}, nil); err != nil {
		p.logf("protect %s in %s: %v", item, vault, err)
		return
	}
	ready := false
	for deadline := time.Now().Add(time.Minute); !ready && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		page, err := bf.NewRecoveryPointsClient().NewListPager(vault, rg, "Azure", container, item, nil).NextPage(ctx)
		if err != nil || len(page.Value) == 0 {
			continue
		}
		rp, _ := page.Value[0].Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint)
		ready = rp != nil && len(rp.RecoveryPointTierDetails) > 1
	}
	if !ready {
		p.logf("no scheduled point of %s in %s", item, vault)
		return
	}
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vault, rg, "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(""),
			ProtectionState: to.Ptr(armrecoveryservicesbackup.ProtectionStateProtectionStopped)}}, nil); err != nil {
		p.logf("stop protection of %s in %s: %v", item, vault, err)
	}
}

// tieringCostsRead runs a vault's tiering-cost fetch in each vault whose
// tiering-cost operation result or status an example reads, and records
// the operation for the harness to name.
func (p *prereqs) tieringCostsRead(xs []*example, opsFile string) {
	eachVaultRead(xs, func(x *example) bool {
		return x.Client == "GetTieringCostOperationResultClient" || x.Client == "TieringCostOperationStatusClient"
	}, func(rg, vault string) {
		u := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.RecoveryServices/vaults/" + vault + "/backupTieringCost/default/fetchTieringCost?api-version=2024-04-01"
		resp, body := p.e.Do("POST", u, map[string]any{"objectType": "FetchTieringCostSavingsInfoForVaultRequest", "sourceTierType": "HardenedRP", "targetTierType": "ArchivedRP"})
		if resp.StatusCode != http.StatusAccepted {
			p.logf("tiering cost in %s/%s: %d %v", rg, vault, resp.StatusCode, body)
			return
		}
		p.e.Poll(resp.Header.Get("Azure-AsyncOperation"))
		p.recordOps(opsFile, resp)
	})
}

var reBodyItem = regexp.MustCompile(`ContainerName:\s*to\.Ptr\("(IaasVMContainer;iaasvmcontainerv2;[^"]+)"\),\s*ProtectedItemName:\s*to\.Ptr\("(VM;iaasvmcontainerv2;[^"]+)"\)`)

// bodyItem points a tiering-cost example whose body names an item (its
// container and item names) at the item of that VM the prerequisites
// protect in the example's vault: a VM another vault protects has its
// names suffixed with the vault's there (see create).
func (p *prereqs) bodyItem(x *example, vault, item string) {
	m := reBodyItem.FindStringSubmatch(x.Body)
	if x.Client != "FetchTieringCostClient" || m == nil || !strings.EqualFold(x.Args["vaultName"], vault) {
		return
	}
	suffix := "-" + strings.ToLower(vault)
	if !strings.EqualFold(item, m[2]+suffix) {
		return
	}
	p.bodySub(x, `"`+m[1]+`"`, `"`+m[1]+suffix+`"`)
	p.bodySub(x, `"`+m[2]+`"`, `"`+m[2]+suffix+`"`)
}
