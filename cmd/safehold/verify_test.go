package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

func verifyCLI(t *testing.T, e *testserver.Env, args ...string) (string, error) {
	t.Helper()
	cmd := newVerifyCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--data-dir", e.DataDir))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// packs maps pack names (the hex part of their key) to their files.
func packs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(dir, "snapshots", "repo", "pack"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(d.Name(), ".") {
			out[d.Name()] = p
		}
		return nil
	})
	return out
}

func points(t *testing.T, e *testserver.Env) []*protection.RecoveryPoint {
	t.Helper()
	ps, err := protection.ListAllRecoveryPoints(e.Ctx(), e.Server.Store, "")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
	return ps
}

// twoPoints is a server with a protected disk and two recovery points of
// it, the second after a write, oldest first.
func twoPoints(t *testing.T) (*testserver.Env, *fixture.DiskVault, []*protection.RecoveryPoint) {
	t.Helper()
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	dv.WriteRandom(t, e, 100<<20, 1<<20)
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 2 || len(pts[1].Snapshots) == 0 {
		t.Fatalf("%d points", len(pts))
	}
	return e, dv, pts
}

// TestVerifyCLI: safehold verify --read-data exits 0 on an intact
// repository and 1 naming the recovery point (vault, item) and the pack
// after one byte of a pack is flipped; a truncated and a deleted pack are
// named with what happened to them, also after a restart; damaged points
// are marked.
func TestVerifyCLI(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	first := packs(t, e.DataDir)
	// New data for a second point, in packs of its own.
	dv.WriteRandom(t, e, 100<<20, 12<<20)
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 2 {
		t.Fatalf("%d points", len(pts))
	}
	var second []string
	for k := range packs(t, e.DataDir) {
		if _, ok := first[k]; !ok {
			second = append(second, k)
		}
	}
	firstPack, _ := fixture.MostData(t, first, nil)
	if len(second) == 0 || firstPack == "" {
		t.Fatalf("test setup: packs %v then %v", first, second)
	}

	for _, args := range [][]string{{"--read-data"}, {}, {"--sample", "0.5"}, {"--read-data", "--vault", pts[0].VaultID}} {
		out, err := verifyCLI(t, e, args...)
		if err != nil || !strings.Contains(out, "OK:") {
			t.Fatalf("verify %v on an intact repository: %v\n%s", args, err, out)
		}
	}

	// Flip one byte inside the first pack's first record.
	pf := first[firstPack]
	fixture.FlipByte(t, pf)
	out, err := verifyCLI(t, e, "--read-data")
	if err == nil {
		t.Fatalf("verify --read-data after a flipped byte succeeded:\n%s", out)
	}
	for _, want := range []string{"DAMAGED recovery point " + pts[0].ID, pts[0].ItemID, pts[0].VaultID, firstPack, "checksum mismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if p, _ := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, pts[0].ItemID, pts[0].ID); protection.DamageOf(p) == "" || !strings.Contains(protection.DamageOf(p), firstPack) {
		t.Errorf("point not marked damaged: %v", p.Details)
	}
	// A structure-only verify cannot see a flipped byte; a full read after
	// repair clears the mark.
	fixture.FlipByte(t, pf)
	if out, err := verifyCLI(t, e, "--read-data"); err != nil {
		t.Fatalf("after repair: %v\n%s", err, out)
	}
	if p, _ := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, pts[0].ItemID, pts[0].ID); protection.DamageOf(p) != "" {
		t.Errorf("mark not cleared: %v", p.Details)
	}

	// Truncate the first pack inside its first record (byte 100, flipped
	// above: a small pack's second half may hold only the zero bytes that
	// pad it to whole pages and its header, which cuts no chunk), delete
	// one of the second point's.
	if err := os.Truncate(pf, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(packs(t, e.DataDir)[second[0]]); err != nil {
		t.Fatal(err)
	}
	check := func(when string, args ...string) {
		t.Helper()
		out, err := verifyCLI(t, e, args...)
		if err == nil {
			t.Fatalf("%s: verify %v succeeded:\n%s", when, args, out)
		}
		for _, want := range []string{"DAMAGED recovery point " + pts[0].ID, "DAMAGED recovery point " + pts[1].ID, firstPack, second[0]} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: verify %v output lacks %q:\n%s", when, args, want, out)
			}
		}
		if strings.Contains(out, "chunk not found") {
			t.Errorf("%s: damage reported only as chunk not found:\n%s", when, out)
		}
	}
	check("running", "--read-data")
	check("running", "--sample", "0.01")
	check("running")
	e.Restart()
	check("after restart", "--read-data")
	check("after restart")
}

// TestVerifyCLIVaultByName: verify --vault takes a vault's name as well as
// its id (resolved in the subscription, in any case) and checks that
// vault's points; an unknown name and a name two vaults share are errors
// saying so, the latter listing the ids to choose from.
func TestVerifyCLIVaultByName(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 1 {
		t.Fatalf("%d points", len(pts))
	}
	byID, err := verifyCLI(t, e, "--json", "--vault", pts[0].VaultID)
	if err != nil {
		t.Fatalf("verify --vault %s: %v\n%s", pts[0].VaultID, err, byID)
	}
	for _, name := range []string{dv.Vault, strings.ToUpper(dv.Vault)} {
		out, err := verifyCLI(t, e, "--json", "--vault", name)
		if err != nil || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"recoveryPointsChecked": 1`) {
			t.Fatalf("verify --vault %s: %v\n%s\n(by id:\n%s)", name, err, out, byID)
		}
	}
	if out, err := verifyCLI(t, e, "--vault", "nosuch"); err == nil || !strings.Contains(err.Error(), `no vault "nosuch"`) {
		t.Fatalf("verify --vault nosuch: %v\n%s", err, out)
	}
	e.ResourceGroups("other-rg")
	other := fixture.BackupVault(t, e, "other-rg", dv.Vault)
	out, err := verifyCLI(t, e, "--vault", dv.Vault)
	if err == nil || !strings.Contains(err.Error(), "names 2 vaults") || !strings.Contains(err.Error(), *other.ID) || !strings.Contains(err.Error(), pts[0].VaultID) {
		t.Fatalf("verify --vault %s with two such vaults: %v\n%s", dv.Vault, err, out)
	}
}

// TestPrintVerifyPartialReport: a report whose repositories lack some
// counts prints them as 0 (it panicked on the missing field).
func TestPrintVerifyPartialReport(t *testing.T) {
	var b strings.Builder
	printVerify(&b, map[string]any{"ok": true, "mode": "structure", "recoveryPointsChecked": 2.0, "duration": "1s",
		"repositories": []any{map[string]any{"packsRead": 3.0}, map[string]any{}}})
	if got := b.String(); got != "OK: structure mode, 2 recovery points and 0 snapshots checked, 3 packs and 0 chunks read (0.0 MiB) in 1s\n" {
		t.Fatalf("report: %q", got)
	}
}

// TestBackupAfterVerifyFoundDamage: after verify --read-data finds a
// point's data damaged, the backup it recommends ("take a new backup") is
// intact: the operator's next verify passes (the old point healed with it,
// its mark cleared) and the new point restores bit-exact. Before, the new
// backup, incremental to the damaged point with the disk unchanged,
// referenced the same damaged chunk: verify named it damaged as well and
// its restore failed with UserErrorRecoveryPointCorrupt. Meanwhile the
// damaged point shows Damaged in the CLI's point list and recoveryPointState
// Partial in the API (before, Completed: only verify told).
func TestBackupAfterVerifyFoundDamage(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	_, big := fixture.MostData(t, packs(t, e.DataDir), nil)
	fixture.FlipByte(t, big)
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || !strings.Contains(out, "DAMAGED recovery point "+points(t, e)[0].ID) {
		t.Fatalf("verify --read-data after a flipped byte: %v\n%s", err, out)
	}
	// Where operators and clients look, the point shows its damage: the
	// CLI's point list and the API (Azure's recoveryPointState: Partial).
	damaged := points(t, e)[0].ID
	pointState := func(id string) (cli string, api armdataprotection.RecoveryPointCompletionState) {
		t.Helper()
		var rows []struct{ Name, State string }
		if err := json.Unmarshal([]byte(mustRun(t, e, "point", "list", dv.Instance, "-o", "json")), &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Name == id {
				cli = r.State
			}
		}
		p, err := testserver.Factory(e, armdataprotection.NewClientFactory).NewRecoveryPointsClient().Get(e.Ctx(), dv.RG, dv.Vault, dv.Instance, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := p.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint); ok && d.RecoveryPointState != nil {
			api = *d.RecoveryPointState
		}
		return cli, api
	}
	if cli, api := pointState(damaged); cli != "Damaged" || api != armdataprotection.RecoveryPointCompletionStatePartial {
		t.Errorf("the damaged point: point list state %q, recoveryPointState %q", cli, api)
	}
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 2 {
		t.Fatalf("%d points", len(pts))
	}
	if out, err := verifyCLI(t, e, "--read-data"); err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("verify --read-data after the new backup: %v\n%s", err, out)
	}
	for _, p := range pts {
		if p, _ := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, p.ItemID, p.ID); protection.DamageOf(p) != "" {
			t.Errorf("point %s still marked damaged: %s", p.ID, protection.DamageOf(p))
		}
		if cli, api := pointState(p.ID); cli != "Completed" || api != armdataprotection.RecoveryPointCompletionStateCompleted {
			t.Errorf("point %s healed: point list state %q, recoveryPointState %q", p.ID, cli, api)
		}
	}
	if out := mustRun(t, e, "restore", pts[1].ID, "--target-disk", "restored1", "--target-resource-group", "target-rg"); !strings.Contains(out, "Completed") {
		t.Fatalf("restore of the new point:\n%s", out)
	}
	img := filepath.Join(t.TempDir(), "restored.img")
	mustRun(t, e, "disk", "download", "restored1", img)
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range dv.Written {
		if !bytes.Equal(got[off:off+int64(len(want))], want) {
			t.Fatalf("restored disk differs at %d", off)
		}
	}
}

// TestHealedPointsStayIntactAfterTheIndexCacheIsDeleted: after verify
// --read-data found a point's pack damaged and the next backup healed it,
// the server is stopped, its chunk index cache deleted (rm
// snapshots/cache/index/*) with the damage marks, the damaged pack made
// the newer of the two (clock skew), and the server started again, three
// times over: each time verify --read-data passes and both points restore
// bit-exact through the CLI. Before, about half the restarts rebuilt an
// index pointing to the damaged copy: verify named both points DAMAGED and
// their restores failed UserErrorRecoveryPointCorrupt (hostile29).
func TestHealedPointsStayIntactAfterTheIndexCacheIsDeleted(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	_, big := fixture.MostData(t, packs(t, e.DataDir), nil)
	fixture.FlipByte(t, big)
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || !strings.Contains(out, "DAMAGED recovery point "+points(t, e)[0].ID) {
		t.Fatalf("verify --read-data after a flipped byte: %v\n%s", err, out)
	}
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 2 {
		t.Fatalf("%d points", len(pts))
	}
	cache := filepath.Join(e.DataDir, "snapshots", "cache")
	for round := 0; round < 3; round++ {
		e.Stop()
		future := time.Now().Add(time.Hour)
		if err := os.Chtimes(big, future, future); err != nil {
			t.Fatal(err)
		}
		idx, _ := filepath.Glob(filepath.Join(cache, "index", "*"))
		if round == 0 && len(idx) == 0 {
			t.Fatalf("test setup: no index files in %s", cache)
		}
		for _, f := range append(idx, filepath.Join(cache, "damaged"), filepath.Join(e.DataDir, "snapshots", "repo", "damaged")) {
			if err := os.RemoveAll(f); err != nil {
				t.Fatal(err)
			}
		}
		e.RestartWith()
		if out, err := verifyCLI(t, e, "--read-data"); err != nil || !strings.Contains(out, "OK:") {
			t.Fatalf("round %d: verify --read-data after the index was rebuilt: %v\n%s", round, err, out)
		}
		for i, p := range pts {
			disk := fmt.Sprintf("restored-%d-%d", round, i)
			if out := mustRun(t, e, "restore", p.ID, "--target-disk", disk, "--target-resource-group", "target-rg"); !strings.Contains(out, "Completed") {
				t.Fatalf("round %d: restore of point %d:\n%s", round, i, out)
			}
			img := filepath.Join(t.TempDir(), "restored.img")
			mustRun(t, e, "disk", "download", disk, img)
			got, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			for off, want := range dv.Written {
				if !bytes.Equal(got[off:off+int64(len(want))], want) {
					t.Fatalf("round %d: point %d restored differs at %d", round, i, off)
				}
			}
			os.Remove(img)
		}
	}
}

// TestVerifyCLINamesAPointWhoseIndexIsDamaged: a recovery point whose
// snapshot's index (its manifest object) is cut short is named damaged by
// safehold verify, the other point still checked, the point marked (its
// restore fails at once saying so); status still shows the storage
// figures, counting it damaged. Before, verify failed as a whole ("verify
// failed: ... list snapshots: get snapshot ...: checksum mismatch") naming
// no point, every vault's verify job failed the same way, and the storage
// usage (safehold status, the dashboard) was a 500 (hostile29).
func TestVerifyCLINamesAPointWhoseIndexIsDamaged(t *testing.T) {
	e, dv, pts := twoPoints(t)
	engineID := pts[1].Snapshots[0].EngineID
	var manifest string
	filepath.WalkDir(filepath.Join(e.DataDir, "snapshots", "repo", "snapshot"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == engineID {
			manifest = p
		}
		return nil
	})
	if manifest == "" {
		t.Fatalf("test setup: no manifest file for snapshot %s", engineID)
	}
	fi, err := os.Stat(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(manifest, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--read-data"}, {"--vault", dv.Vault}} {
		out, err := verifyCLI(t, e, args...)
		if err == nil {
			t.Fatalf("verify %v with a damaged index succeeded:\n%s", args, out)
		}
		for _, want := range []string{"DAMAGED recovery point " + pts[1].ID, pts[1].ItemID, "DAMAGED snapshot index snapshot/" + engineID, "2 recovery points"} {
			if !strings.Contains(out, want) {
				t.Errorf("verify %v output lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "DAMAGED recovery point "+pts[0].ID) {
			t.Errorf("verify %v names the intact point %s:\n%s", args, pts[0].ID, out)
		}
	}
	if p, _ := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, pts[1].ItemID, pts[1].ID); protection.DamageOf(p) == "" {
		t.Errorf("point not marked damaged: %v", p.Details)
	}
	out, err := run(t, e, nil, "restore", pts[1].ID, "--target-disk", "restored1", "--target-resource-group", "target-rg")
	if err == nil || !strings.Contains(err.Error()+out, "UserErrorRecoveryPointCorrupt") {
		t.Errorf("restore of the damaged point: %v\n%s", err, out)
	}
	resp, body := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Safehold.Storage/usage/default?api-version=2024-01-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("storage usage: %d %v", resp.StatusCode, body)
	}
	if props, _ := body["properties"].(map[string]any); props["damagedSnapshots"] != 1.0 {
		t.Errorf("storage usage: %v, want damagedSnapshots 1", body)
	}
	if out := mustRun(t, e, "restore", pts[0].ID, "--target-disk", "restored0", "--target-resource-group", "target-rg"); !strings.Contains(out, "Completed") {
		t.Fatalf("restore of the intact point:\n%s", out)
	}
}

// TestServerStartsAndResetsWithADamagedIndex: a snapshot index (manifest
// object) cut short does not keep the server from starting (its start's
// sweep keeps the snapshot, which verify then names) nor a reset from
// wiping the repository. Before, the restart failed ("list snapshots: get
// snapshot ...: checksum mismatch: corrupt") and so did `safehold reset`
// (hostile29).
func TestServerStartsAndResetsWithADamagedIndex(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	pts := points(t, e)
	if len(pts) != 1 || len(pts[0].Snapshots) == 0 {
		t.Fatalf("%d points", len(pts))
	}
	engineID := pts[0].Snapshots[0].EngineID
	var manifest string
	filepath.WalkDir(filepath.Join(e.DataDir, "snapshots", "repo", "snapshot"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == engineID {
			manifest = p
		}
		return nil
	})
	if manifest == "" {
		t.Fatalf("test setup: no manifest file for snapshot %s", engineID)
	}
	if err := os.Truncate(manifest, 10); err != nil {
		t.Fatal(err)
	}
	e.Restart()
	if out, err := verifyCLI(t, e); err == nil || !strings.Contains(out, "DAMAGED recovery point "+pts[0].ID) {
		t.Fatalf("verify after the restart: %v\n%s", err, out)
	}
	if out, err := run(t, e, nil, "reset", "--yes"); err != nil {
		t.Fatalf("reset with a damaged index: %v\n%s", err, out)
	}
	if _, err := os.Stat(manifest); !os.IsNotExist(err) {
		t.Errorf("the damaged manifest after the reset: %v", err)
	}
	if out, err := verifyCLI(t, e); err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("verify after the reset: %v\n%s", err, out)
	}
}

// TestVerifyNamesAPointWhoseSnapshotWasDeleted: a recovery point whose disk
// snapshot was deleted under it (az snapshot delete, or with the snapshot
// resource group) has lost its data: verify names it and marks it, so its
// restore fails at once saying why, and the other point stays intact.
// Before, verify said OK ("1 recovery points and 0 snapshots checked",
// exit 0) and the restore failed asking to assign the vault identity a role
// on the deleted snapshot (hostile30).
func TestVerifyNamesAPointWhoseSnapshotWasDeleted(t *testing.T) {
	e, dv, pts := twoPoints(t)
	sid, err := arm.ParseID(pts[1].Snapshots[0].SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	snaps := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	// The other point's snapshot grown: its data is still there, under
	// another engine id (a resize rewrites the snapshot's manifest).
	sid0, err := arm.ParseID(pts[0].Snapshots[0].SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	up, err := snaps.BeginUpdate(e.Ctx(), sid0.ResourceGroup, sid0.Name(), armcompute.SnapshotUpdate{Properties: &armcompute.SnapshotUpdateProperties{DiskSizeGB: to.Ptr[int32](2)}}, nil)
	if err == nil {
		_, err = up.PollUntilDone(e.Ctx(), nil)
	}
	if err != nil {
		t.Fatalf("resize the point's snapshot %s: %v", sid0, err)
	}
	poller, err := snaps.BeginDelete(e.Ctx(), sid.ResourceGroup, sid.Name(), nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.Ctx(), nil)
	}
	if err != nil {
		t.Fatalf("delete the point's snapshot %s: %v", sid, err)
	}
	for _, args := range [][]string{{}, {"--vault", dv.Vault}} {
		out, err := verifyCLI(t, e, args...)
		if err == nil {
			t.Fatalf("verify %v with a point's snapshot deleted succeeded:\n%s", args, out)
		}
		for _, want := range []string{"DAMAGED recovery point " + pts[1].ID, pts[1].Snapshots[0].SnapshotID + " was deleted", "2 recovery points"} {
			if !strings.Contains(out, want) {
				t.Errorf("verify %v output lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "DAMAGED recovery point "+pts[0].ID) || strings.Contains(out, "packs: \n") {
			t.Errorf("verify %v names the intact point %s or no packs:\n%s", args, pts[0].ID, out)
		}
	}
	out, err := run(t, e, nil, "restore", pts[1].ID, "--target-disk", "restored1", "--target-resource-group", "target-rg")
	if err == nil || !strings.Contains(err.Error()+out, "UserErrorRecoveryPointCorrupt") || !strings.Contains(err.Error()+out, "was deleted") {
		t.Errorf("restore of the point whose snapshot was deleted: %v\n%s", err, out)
	}
	if out := mustRun(t, e, "restore", pts[0].ID, "--target-disk", "restored0", "--target-resource-group", "target-rg"); !strings.Contains(out, "Completed") {
		t.Fatalf("restore of the intact point:\n%s", out)
	}
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || strings.Contains(out, "DAMAGED recovery point "+pts[0].ID) {
		t.Errorf("verify --read-data: %v\n%s", err, out)
	}
}

// TestVerifyKeepsAVMPointWhoseInstantSnapshotWasDeleted: a Recovery
// Services point whose instant snapshot was deleted (its AzureBackupRG_
// group cleaned up) still has its vault copy, which its restores read: verify
// does not name it nor mark it, so its restores still run. Before, 8149694's
// verify named it damaged and the next restore failed at once with
// UserErrorRecoveryPointCorrupt, while it had completed before the verify
// (hostile30).
func TestVerifyKeepsAVMPointWhoseInstantSnapshotWasDeleted(t *testing.T) {
	e := testserver.Start(t)
	vm := fixture.ProtectVM(t, e)
	job := vm.Backup(t, e)
	mustRun(t, e, "job", "wait", job[strings.LastIndex(job, "/")+1:])
	pts := points(t, e)
	if len(pts) != 1 || len(pts[0].Snapshots) == 0 || !pts[0].HasTier(protection.TierVault) {
		t.Fatalf("points %+v", pts)
	}
	snaps := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	for _, s := range pts[0].Snapshots {
		sid, err := arm.ParseID(s.SnapshotID)
		if err != nil {
			t.Fatal(err)
		}
		poller, err := snaps.BeginDelete(e.Ctx(), sid.ResourceGroup, sid.Name(), nil)
		if err == nil {
			_, err = poller.PollUntilDone(e.Ctx(), nil)
		}
		if err != nil {
			t.Fatalf("delete the point's snapshot %s: %v", sid, err)
		}
	}
	if out, err := verifyCLI(t, e); err != nil || strings.Contains(out, "DAMAGED") {
		t.Fatalf("verify with the instant snapshots deleted and the vault copy whole: %v\n%s", err, out)
	}
	if p, _ := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, pts[0].ItemID, pts[0].ID); p == nil || protection.DamageOf(p) != "" {
		t.Errorf("point marked damaged: %+v", p)
	}
}

// TestVerifyKeepsAPointRetentionIsDeleting: retention deletes an expired
// point's snapshots first and its record last, so a verify between the two
// finds a point whose snapshot is gone. That point (past its expiry, its
// disk snapshot deleted, its record still there) is not damage: verify
// passes and leaves it unmarked. Before, verify exited 1 naming it DAMAGED.
func TestVerifyKeepsAPointRetentionIsDeleting(t *testing.T) {
	e, _, pts := twoPoints(t)
	p := pts[1]
	past := e.Server.Engine.Now().Add(-time.Minute)
	if err := e.Server.Store.Update(e.Ctx(), func(tx store.Tx) error {
		cur, err := protection.GetRecoveryPoint(e.Ctx(), tx, p.ItemID, p.ID)
		if err != nil {
			return err
		}
		cur.Expiry = &past
		return protection.PutRecoveryPoint(e.Ctx(), tx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	sid, err := arm.ParseID(p.Snapshots[0].SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	poller, err := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient().BeginDelete(e.Ctx(), sid.ResourceGroup, sid.Name(), nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.Ctx(), nil)
	}
	if err != nil {
		t.Fatalf("delete the point's snapshot %s: %v", sid, err)
	}
	if out, err := verifyCLI(t, e); err != nil || strings.Contains(out, "DAMAGED") {
		t.Fatalf("verify with an expired point's snapshot deleted: %v\n%s", err, out)
	}
	if cur, err := protection.GetRecoveryPoint(e.Ctx(), e.Server.Store, p.ItemID, p.ID); err == nil && protection.DamageOf(cur) != "" {
		t.Errorf("the expired point was marked damaged: %s", protection.DamageOf(cur))
	}
}

// TestDamagedVMPointShowsInvalidTiers: a Recovery Services point that
// verify --read-data found damaged shows its damaged tier Invalid in
// recoveryPointTierDetails (Azure's RecoveryPointTierStatus; that tier
// restores nothing, the other does), why in recoveryPointAdditionalInfo, and Damaged in the
// CLI's point list. Before, its tiers stayed Valid and the list said
// nothing: only verify told.
func TestDamagedVMPointShowsInvalidTiers(t *testing.T) {
	e := testserver.Start(t)
	vm := fixture.ProtectVM(t, e)
	job := vm.Backup(t, e)
	mustRun(t, e, "job", "wait", job[strings.LastIndex(job, "/")+1:])
	_, big := fixture.MostData(t, packs(t, e.DataDir), nil)
	fixture.FlipByte(t, big)
	pts := points(t, e)
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || len(pts) != 1 || !strings.Contains(out, "DAMAGED recovery point "+pts[0].ID) {
		t.Fatalf("verify --read-data after a flipped byte: %v\n%s", err, out)
	}
	p, err := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewRecoveryPointsClient().Get(e.Ctx(), vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, pts[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivm, ok := p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint)
	if !ok || len(ivm.RecoveryPointTierDetails) == 0 || ivm.RecoveryPointAdditionalInfo == nil || !strings.HasPrefix(*ivm.RecoveryPointAdditionalInfo, "Damaged: ") {
		t.Fatalf("the damaged point: %+v", p.Properties)
	}
	// The damaged pack is the instant snapshot's: that tier is Invalid,
	// the vault's copy whole (it restores the point).
	for _, tier := range ivm.RecoveryPointTierDetails {
		want := armrecoveryservicesbackup.RecoveryPointTierStatusValid
		if *tier.Type == armrecoveryservicesbackup.RecoveryPointTierTypeInstantRP {
			want = armrecoveryservicesbackup.RecoveryPointTierStatusInvalid
		}
		if *tier.Status != want {
			t.Errorf("tier %s of the damaged point: %s, want %s", *tier.Type, *tier.Status, want)
		}
	}
	if out := mustRun(t, e, "point", "list", "app1", "-o", "tsv"); !strings.Contains(out, pts[0].ID) || !strings.Contains(out, "\tDamaged") {
		t.Errorf("point list of the damaged point:\n%s", out)
	}
}
