package recoveryservices_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// archivePolicy is a daily 02:00 policy keeping the backup of the 1st of
// a month for 12 months (others 30 days), with tiering (nil: none).
func archivePolicy(tiering map[string]any) map[string]any {
	const at = "2025-01-01T02:00:00Z"
	props := map[string]any{"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 2, "timeZone": "UTC",
		"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{at}},
		"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
			"dailySchedule": map[string]any{"retentionTimes": []string{at}, "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}},
			"monthlySchedule": map[string]any{"retentionScheduleFormatType": "Daily", "retentionScheduleDaily": map[string]any{"daysOfTheMonth": []any{map[string]any{"date": 1}}},
				"retentionTimes": []string{at}, "retentionDuration": map[string]any{"count": 12, "durationType": "Months"}}}}
	if tiering != nil {
		props["tieringPolicy"] = tiering
	}
	return map[string]any{"properties": props}
}

const v = "?api-version=2024-04-01"

// scheduledPoint creates the vault vaultrg/v1 and its policy "monthly"
// (archivePolicy(tiering)), protects vmID with it, lets the schedule back
// it up an hour after start and waits for the point in the vault tier and
// the run's end; it returns the backup SDK, the vault's path, the point's name and path.
func scheduledPoint(t *testing.T, e *testserver.Env, clk *clock.Fake, start time.Time, vmID string, tiering map[string]any) (*armrecoveryservicesbackup.ClientFactory, string, string, string) {
	t.Helper()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	resp, m := e.Do("PUT", R+"/backupPolicies/monthly"+v, archivePolicy(tiering))
	must(t, "policy", resp, m, 200)
	protect(t, e, R+"/backupFabrics/Azure/protectionContainers/"+vm1Container+"/protectedItems/"+vm1Item+v, vmID, R+"/backupPolicies/monthly")
	clk.Set(start.Add(time.Hour))
	e.Server.Jobs.Notify()
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	rp := waitPoint(t, e, bf, inVaultTier)
	// The scheduled run plans its next occurrence when it returns, after
	// the point is in the vault tier: wait for that before a caller moves
	// the clock, or the run would plan from the moved clock (the missed-run
	// rule) and no catch-up backup would follow.
	if err := e.Server.Jobs.WaitIdle(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	return bf, R, rp, R + "/backupFabrics/Azure/protectionContainers/" + vm1Container + "/protectedItems/" + vm1Item + "/recoveryPoints/" + rp
}

// TestArchiveTierThroughSDK: a monthly point is not ready to move before
// 3 months (the move fails saying why); after, it is recommended, priced,
// moved by a MoveRecoveryPoint job; its restore without rehydration is a
// 400, with High rehydration the restore waits an hour on the clock and
// then writes the disk bit-exact; the point then reads Rehydrated.
func TestArchiveTierThroughSDK(t *testing.T) {
	start := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	e, clk, vm, vol := clockedVM(t, start, "vm1")
	ctx := context.Background()
	code := func(err error) string { _, c := testserver.ErrorOf(err); return c }
	if _, err := vol.WriteAt(bytes.Repeat([]byte("archive!"), 8192), 4096); err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(io.NewSectionReader(vol, 0, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	bf, R, rp, P := scheduledPoint(t, e, clk, start, vm.ID, map[string]any{"ArchivedRP": map[string]any{"tieringMode": "DoNotTier"}})
	resp, m := e.Do("PUT", R+"/backupPolicies/bad"+v, archivePolicy(map[string]any{"ArchivedRP": map[string]any{"tieringMode": "TierAfter", "duration": 0, "durationType": "Months"}}))
	must(t, "policy with a zero tiering duration", resp, m, 400)
	resp, m = e.Do("GET", P+v, nil)
	must(t, "point", resp, m, 200)
	if r := str(m, "properties.recoveryPointMoveReadinessInfo.ArchivedRP.isReadyForMove"); r != "false" || !strings.Contains(str(m, "properties.recoveryPointMoveReadinessInfo.ArchivedRP.additionalInfo"), "3 months") {
		t.Fatalf("a new point's readiness: %v", m["properties"])
	}
	move := func() error {
		p, err := bf.NewClient().BeginMoveRecoveryPoint(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.MoveRPAcrossTiersRequest{
			ObjectType: to.Ptr("MoveRPAcrossTiersRequest"), SourceTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP),
			TargetTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeArchivedRP)}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, fixture.Poll)
		return err
	}
	if err := move(); code(err) != "UserErrorRecoveryPointNotEligibleForMove" {
		t.Fatalf("an early move: %v", err)
	}
	_, err = bf.NewClient().BeginMoveRecoveryPoint(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.MoveRPAcrossTiersRequest{
		ObjectType: to.Ptr("MoveRPAcrossTiersRequest"), SourceTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeArchivedRP),
		TargetTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP)}, nil)
	if code(err) != "BMSUserErrorInvalidSourceTierType" {
		t.Fatalf("a move out of the archive: %v", err)
	}

	// Three months on it is ready, recommended (a first point: its full
	// copy is its increment) and priced from its size.
	clk.Set(start.AddDate(0, 3, 1))
	e.Server.Jobs.Notify()
	page, err := bf.NewRecoveryPointsRecommendedForMoveClient().NewListPager("v1", "vaultrg", "Azure", vm1Container, vm1Item,
		armrecoveryservicesbackup.ListRecoveryPointsRecommendedForMoveRequest{ObjectType: to.Ptr("ListRecoveryPointsRecommendedForMoveRequest")}, nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name != rp {
		t.Fatalf("recommended for move: %v %v", page.Value, err)
	}
	cp, err := bf.NewFetchTieringCostClient().BeginPost(ctx, "vaultrg", "v1", &armrecoveryservicesbackup.FetchTieringCostSavingsInfoForProtectedItemRequest{
		ObjectType: to.Ptr("FetchTieringCostSavingsInfoForProtectedItemRequest"), SourceTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP),
		TargetTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeArchivedRP), ContainerName: to.Ptr(vm1Container), ProtectedItemName: to.Ptr(vm1Item)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := cp.PollUntilDone(ctx, fixture.Poll)
	if err != nil {
		t.Fatal(err)
	}
	saving, ok := cost.TieringCostInfoClassification.(*armrecoveryservicesbackup.TieringCostSavingInfo)
	if !ok || *saving.TargetTierSizeIncreaseInBytes < int64(len("archive!")*8192) || *saving.SourceTierSizeReductionInBytes != *saving.TargetTierSizeIncreaseInBytes ||
		*saving.RetailTargetTierCostPerGBPerMonth >= *saving.RetailSourceTierCostPerGBPerMonth {
		t.Fatalf("tiering cost %#v", cost.TieringCostInfoClassification)
	}
	if err := move(); err != nil {
		t.Fatalf("move: %v", err)
	}
	resp, m = e.Do("GET", P+v, nil)
	must(t, "archived point", resp, m, 200)
	tiers := str(m, "properties.recoveryPointTierDetails")
	if !strings.Contains(tiers, "status:Deleted type:HardenedRP") || !strings.Contains(tiers, "status:Valid type:ArchivedRP") ||
		!strings.Contains(str(m, "properties.recoveryPointMoveReadinessInfo.ArchivedRP.additionalInfo"), "already been moved") {
		t.Fatalf("archived point: %v", m["properties"])
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter=operation%20eq%20'MoveRecoveryPoint'", nil)
	must(t, "move jobs", resp, m, 200)
	if s := str(m, "value"); strings.Count(s, "status:Completed taskId:Move") != 1 || strings.Count(s, "status:Failed taskId:Move") != 1 {
		t.Fatalf("move jobs: %v", s)
	}

	sa := "/subscriptions/" + e.Sub + "/resourceGroups/restorerg/providers/Microsoft.Storage/storageAccounts/staging1"
	resp, m = e.Do("PUT", sa+"?api-version=2023-01-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard_LRS"}, "kind": "StorageV2"})
	must(t, "staging account", resp, m, 200, 201)
	rr := restoreDisks(e, rp, sa)
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/restorerg")
	if err := restoreVM1(e, bf, rp, rr); code(err) != "UserErrorRecoveryPointRehydrationRequired" {
		t.Fatalf("restore without rehydration: %v", err)
	}
	rh := &armrecoveryservicesbackup.IaasVMRestoreWithRehydrationRequest{ObjectType: to.Ptr("IaasVMRestoreWithRehydrationRequest"), RecoveryPointID: rr.RecoveryPointID,
		RecoveryType: rr.RecoveryType, SourceResourceID: rr.SourceResourceID, StorageAccountID: rr.StorageAccountID, Region: rr.Region, TargetResourceGroupID: rr.TargetResourceGroupID,
		RecoveryPointRehydrationInfo: &armrecoveryservicesbackup.RecoveryPointRehydrationInfo{RehydrationPriority: to.Ptr(armrecoveryservicesbackup.RehydrationPriorityHigh), RehydrationRetentionDuration: to.Ptr("P40D")}}
	_, err = bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rh}, nil)
	if code(err) != "BMSUserErrorInvalidRehydrationRetention" {
		t.Fatalf("a rehydration of 40 days: %v", err)
	}
	rh.RecoveryPointRehydrationInfo.RehydrationRetentionDuration = to.Ptr("P10D")
	poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rh}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the restore job rehydrating", func() bool {
		resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter=operation%20eq%20'Restore'", nil)
		must(t, "restore jobs", resp, m, 200)
		return strings.Contains(str(m, "value"), "taskId:Rehydrate recovery point") && strings.Contains(str(m, "value"), "status:InProgress")
	})
	resp, m = e.Do("GET", P+v, nil)
	must(t, "rehydrating point", resp, m, 200)
	if !strings.Contains(str(m, "properties.recoveryPointTierDetails"), "RehydrationStatus:InProgress") {
		t.Fatalf("rehydrating point: %v", m["properties"])
	}
	if poller.Done() {
		t.Fatal("the restore ended before its rehydration")
	}
	clk.Set(start.AddDate(0, 3, 1).Add(61 * time.Minute))
	e.Server.Jobs.Notify()
	if _, err := poller.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatalf("restore after the rehydration: %v", err)
	}
	resp, m = e.Do("GET", P+v, nil)
	must(t, "rehydrated point", resp, m, 200)
	if !strings.Contains(str(m, "properties.recoveryPointTierDetails"), "status:Rehydrated") {
		t.Fatalf("rehydrated point: %v", m["properties"])
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/restorerg/providers/Microsoft.Compute/disks?api-version=2024-03-02", nil)
	must(t, "restored disks", resp, m, 200)
	disks := m["value"].([]any)
	if len(disks) != 1 {
		t.Fatalf("restored disks: %v", disks)
	}
	got, err := e.Server.Compute.Volume(ctx, str(disks[0].(map[string]any), "id"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(io.NewSectionReader(got, 0, 1<<20))
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("the disk restored from the archive tier differs (%v)", err)
	}
}

// TestPolicyTieringOnTheClock: a policy tiering its points to the archive
// 4 months after their time moves the monthly point when the server's
// clock gets there (the item's scheduled work runs the move), and leaves
// it in the vault-standard tier until then.
func TestPolicyTieringOnTheClock(t *testing.T) {
	start := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	e, clk, vm, _ := clockedVM(t, start, "vm1")
	_, R, _, P := scheduledPoint(t, e, clk, start, vm.ID, map[string]any{"ArchivedRP": map[string]any{"tieringMode": "TierAfter", "duration": 4, "durationType": "Months"}})
	resp, m := e.Do("GET", R+"/backupPolicies/monthly"+v, nil)
	must(t, "policy", resp, m, 200)
	if got := str(m, "properties.tieringPolicy.ArchivedRP.tieringMode"); got != "TierAfter" {
		t.Fatalf("policy tiering %q", got)
	}
	tiers := func() string {
		resp, m := e.Do("GET", P+v, nil)
		must(t, "point", resp, m, 200)
		return str(m, "properties.recoveryPointTierDetails")
	}
	clk.Set(start.AddDate(0, 3, 20))
	e.Server.Jobs.Notify()
	e.WaitFor("the catch-up backup", func() bool {
		resp, m := e.Do("GET", P[:strings.LastIndex(P, "/")]+v, nil)
		must(t, "points", resp, m, 200)
		return len(m["value"].([]any)) == 2
	})
	if s := tiers(); strings.Contains(s, "ArchivedRP") {
		t.Fatalf("moved before its 4 months: %s", s)
	}
	clk.Set(start.AddDate(0, 4, 0).Add(2 * time.Hour))
	e.Server.Jobs.Notify()
	e.WaitFor("the policy's move to the archive", func() bool { return strings.Contains(tiers(), "status:Valid type:ArchivedRP") })
}

// inVaultTier: the point's transfer to the vault tier is done.
func inVaultTier(p *armrecoveryservicesbackup.RecoveryPointResource) bool {
	tiers := p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).RecoveryPointTierDetails
	return len(tiers) == 2 && *tiers[1].Type == armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP
}

// TestArchiveBadInputAndRights: tiering policies, moves, tiering costs and
// rehydrating restores that Safehold cannot act on are 400s naming the
// field (a TierAfter duration beyond a retention's bounds, a rehydration
// retention under a day); a Backup Reader may do none of them; a restore
// waiting for its rehydration survives a server restart and ends when the
// rehydration completes.
func TestArchiveBadInputAndRights(t *testing.T) {
	start := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	e, clk, vm, _ := clockedVM(t, start, "vm1")
	_, R, _, P := scheduledPoint(t, e, clk, start, vm.ID, nil)
	I := P[:strings.Index(P, "/recoveryPoints/")]
	bad := func(what string, resp *http.Response, m map[string]any, code, target string) {
		t.Helper()
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != code || !strings.Contains(str(m, "error.target"), target) {
			t.Fatalf("%s: %d %v, want 400 %s at %s", what, resp.StatusCode, m["error"], code, target)
		}
	}
	after := func(n any, unit string) map[string]any {
		return map[string]any{"ArchivedRP": map[string]any{"tieringMode": "TierAfter", "duration": n, "durationType": unit}}
	}
	for _, c := range []struct {
		tiering map[string]any
		target  string
	}{
		{map[string]any{"ArchivedRP": "x"}, "tieringPolicy.ArchivedRP"},
		{map[string]any{"HardenedRP": map[string]any{"tieringMode": "DoNotTier"}}, "tieringPolicy.HardenedRP"},
		{map[string]any{"ArchivedRP": map[string]any{"tieringMode": "Sometimes"}}, "tieringMode"},
		{after(100, "Years"), "duration"},
		{after(1e18, "Years"), "duration"},
		{after(10000, "Days"), "duration"},
		{after(1.5, "Months"), "duration"},
		{after(3, "Fortnights"), "durationType"},
	} {
		resp, m := e.Do("PUT", R+"/backupPolicies/bad"+v, archivePolicy(c.tiering), testserver.AnyStatus())
		bad(fmt.Sprint("tiering ", c.tiering), resp, m, "BMSUserErrorInvalidPolicyInput", c.target)
	}
	resp, m := e.Do("PUT", R+"/backupPolicies/longest"+v, archivePolicy(after(99, "Years")))
	must(t, "a tiering after 99 years", resp, m, 200)

	clk.Set(start.AddDate(0, 3, 1))
	e.Server.Jobs.Notify()
	moveBody := map[string]any{"objectType": "MoveRPAcrossTiersRequest", "sourceTierType": "HardenedRP", "targetTierType": "ArchivedRP"}
	resp, m = e.Do("POST", P+"/move"+v, map[string]any{"objectType": "MoveRPAcrossTiersRequest"}, testserver.AnyStatus())
	bad("a move without tiers", resp, m, "BMSUserErrorInvalidSourceTierType", "sourceTierType")
	costBody := map[string]any{"objectType": "FetchTieringCostSavingsInfoForVaultRequest", "sourceTierType": "HardenedRP", "targetTierType": "ArchivedRP"}
	resp, m = e.Do("POST", R+"/backupTieringCost/default/fetchTieringCost"+v, map[string]any{"objectType": "FetchTieringCostSavingsInfoForVaultRequest"}, testserver.AnyStatus())
	bad("a cost without tiers", resp, m, "BMSUserErrorInvalidSourceTierType", "sourceTierType")
	resp, m = e.Do("POST", R+"/backupTieringCost/default/fetchTieringCost"+v, map[string]any{"objectType": "FetchTieringCostInfoForRehydrationRequest", "sourceTierType": "ArchivedRP",
		"targetTierType": "HardenedRP", "rehydrationPriority": "High", "containerName": vm1Container, "protectedItemName": vm1Item}, testserver.AnyStatus())
	bad("a rehydration's cost without its point", resp, m, "BMSUserErrorInvalidInput", "recoveryPointId")

	// A Backup Reader may read the vault but not move, price or restore.
	reader := newPrincipal(t, e, "reader", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg")
	sa := "/subscriptions/" + e.Sub + "/resourceGroups/restorerg/providers/Microsoft.Storage/storageAccounts/staging1"
	resp, m = e.Do("PUT", sa+"?api-version=2023-01-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard_LRS"}, "kind": "StorageV2"})
	must(t, "staging account", resp, m, 200, 201)
	restoreBody := func(info map[string]any) map[string]any {
		return map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreWithRehydrationRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID,
			"storageAccountId": sa, "region": "westus", "targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/restorerg", "recoveryPointRehydrationInfo": info}}
	}
	good := restoreBody(map[string]any{"rehydrationPriority": "High", "rehydrationRetentionDuration": "P10D"})
	for _, c := range []struct {
		what, path string
		body       any
	}{{"move", P + "/move", moveBody}, {"tiering cost", R + "/backupTieringCost/default/fetchTieringCost", costBody},
		{"recommended for move", I + "/recoveryPointsRecommendedForMove", map[string]any{}}, {"restore", P + "/restore", good}} {
		resp, m := e.Do("POST", c.path+v, c.body, testserver.As(reader.cred), testserver.AnyStatus())
		if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
			t.Fatalf("a reader's %s: %d %v", c.what, resp.StatusCode, m)
		}
	}

	resp, m = e.Do("POST", P+"/move"+v, moveBody)
	must(t, "move", resp, m, 202)
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
		t.Fatalf("move: %v", st)
	}
	for _, c := range []struct {
		info        map[string]any
		code, field string
	}{
		{map[string]any{"rehydrationPriority": "Low", "rehydrationRetentionDuration": "P10D"}, "BMSUserErrorInvalidRehydrationPriority", "rehydrationPriority"},
		{map[string]any{"rehydrationPriority": "High"}, "BMSUserErrorInvalidRehydrationRetention", "rehydrationRetentionDuration"},
		{map[string]any{"rehydrationPriority": "High", "rehydrationRetentionDuration": "PT1H"}, "BMSUserErrorInvalidRehydrationRetention", "rehydrationRetentionDuration"},
		{map[string]any{"rehydrationPriority": "High", "rehydrationRetentionDuration": "P31D"}, "BMSUserErrorInvalidRehydrationRetention", "rehydrationRetentionDuration"},
	} {
		resp, m := e.Do("POST", P+"/restore"+v, restoreBody(c.info), testserver.AnyStatus())
		bad(fmt.Sprint("rehydration ", c.info), resp, m, c.code, c.field)
	}

	// The restore waits for its rehydration; the server restarts meanwhile.
	resp, m = e.Do("POST", P+"/restore"+v, good)
	must(t, "restore", resp, m, 202)
	var jobID string
	e.WaitFor("the restore job rehydrating", func() bool {
		resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter=operation%20eq%20'Restore'", nil)
		must(t, "restore jobs", resp, m, 200)
		for _, j := range m["value"].([]any) {
			j := j.(map[string]any)
			if strings.Contains(str(j, "properties.extendedInfo.tasksList"), "taskId:Rehydrate recovery point") && str(j, "properties.status") == "InProgress" {
				jobID = str(j, "name")
			}
		}
		return jobID != ""
	})
	e.Restart()
	clk.Set(start.AddDate(0, 3, 1).Add(61 * time.Minute))
	e.Server.Jobs.Notify()
	e.WaitFor("the restore's end after the restart", func() bool {
		resp, m := e.Do("GET", R+"/backupJobs/"+jobID+v, nil)
		must(t, "restore job", resp, m, 200)
		return str(m, "properties.status") != "InProgress"
	})
	resp, m = e.Do("GET", R+"/backupJobs/"+jobID+v, nil)
	must(t, "restore job", resp, m, 200)
	if str(m, "properties.status") != "Completed" {
		t.Fatalf("the restore after its rehydration and a restart: %v", m["properties"])
	}
}

// TestArchiveIgnoresDamagedPoints: a monthly point ready to move to the
// archive tier (three months old) that a verify --read-data then finds
// damaged is no longer ready: its recoveryPointMoveReadinessInfo says it
// is damaged, recoveryPointsRecommendedForMove leaves it out and its move
// fails UserErrorRecoveryPointNotEligibleForMove. Before, the damaged point
// was recommended and moved (an archived copy no restore could use).
func TestArchiveIgnoresDamagedPoints(t *testing.T) {
	start := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	e, clk, vm, vol := clockedVM(t, start, "vm1")
	ctx := context.Background()
	if _, err := vol.WriteAt(bytes.Repeat([]byte("damaged!"), 8192), 4096); err != nil {
		t.Fatal(err)
	}
	bf, R, rp, P := scheduledPoint(t, e, clk, start, vm.ID, map[string]any{"ArchivedRP": map[string]any{"tieringMode": "DoNotTier"}})
	clk.Set(start.AddDate(0, 3, 1))
	e.Server.Jobs.Notify()
	recommended := func() int {
		page, err := bf.NewRecoveryPointsRecommendedForMoveClient().NewListPager("v1", "vaultrg", "Azure", vm1Container, vm1Item,
			armrecoveryservicesbackup.ListRecoveryPointsRecommendedForMoveRequest{ObjectType: to.Ptr("ListRecoveryPointsRecommendedForMoveRequest")}, nil).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Value)
	}
	if n := recommended(); n != 1 {
		t.Fatalf("the intact point, three months old: %d recommended for move, want 1", n)
	}
	// A byte of every pack the point's data is in flipped; the vault's
	// verify reading every chunk finds it damaged.
	var packs []string
	filepath.WalkDir(e.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"pack"+string(filepath.Separator)) && !strings.Contains(d.Name(), ".") {
			packs = append(packs, p)
		}
		return nil
	})
	for _, p := range packs {
		fixture.FlipByte(t, p)
	}
	resp, m := e.Do("POST", R+"/verify"+v, map[string]any{"readData": true})
	must(t, "verify", resp, m, 202)
	job := str(e.Poll(resp.Header.Get("Azure-AsyncOperation")), "properties.jobId")
	var st string
	e.WaitFor("the verify's job", func() bool {
		_, m := e.Do("GET", R+"/backupJobs/"+job+v, nil)
		st = str(m, "properties.status")
		return st != "InProgress" && st != ""
	})
	if st != "Failed" {
		t.Fatalf("verify of the damaged data: job %s %s (%d packs flipped)", job, st, len(packs))
	}
	resp, m = e.Do("GET", P+v, nil)
	must(t, "damaged point", resp, m, 200)
	if r := str(m, "properties.recoveryPointMoveReadinessInfo.ArchivedRP.isReadyForMove"); r != "false" || !strings.Contains(str(m, "properties.recoveryPointMoveReadinessInfo.ArchivedRP.additionalInfo"), "damaged") {
		t.Fatalf("the damaged point's readiness: %v", m["properties"])
	}
	if n := recommended(); n != 0 {
		t.Errorf("the damaged point: %d recommended for move, want none", n)
	}
	p, err := bf.NewClient().BeginMoveRecoveryPoint(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.MoveRPAcrossTiersRequest{
		ObjectType: to.Ptr("MoveRPAcrossTiersRequest"), SourceTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP),
		TargetTierType: to.Ptr(armrecoveryservicesbackup.RecoveryPointTierTypeArchivedRP)}, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, fixture.Poll)
	}
	if _, c := testserver.ErrorOf(err); c != "UserErrorRecoveryPointNotEligibleForMove" {
		t.Fatalf("the damaged point's move: %v", err)
	}
}
