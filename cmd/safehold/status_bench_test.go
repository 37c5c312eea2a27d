package main

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/spf13/cobra"
)

// BenchmarkStatusAtScale times `safehold status`, `item list` and `job
// list` against a real server holding 200 backup instances (one Backup
// vault, a disk each) and 200 protected VMs (one Recovery Services vault),
// after 20 hours of their schedules: some 1,200 jobs, as many recovery
// points and snapshots.
//
//	go test ./cmd/safehold -run '^$' -bench StatusAtScale -benchtime 5x
func BenchmarkStatusAtScale(b *testing.B) {
	e := testserver.Start(b)
	dv := fixture.ProtectDisk(b, e)
	dv.Backup(b, e)
	scaleItems(b, e, dv, 200)
	scaleVMs(b, e, 200)
	// Five scheduled backups of each (the policy's PT4H over 20 hours):
	// 1,000 jobs, recovery points and snapshots.
	start := time.Now()
	if resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", map[string]any{"duration": "20h"}); resp.StatusCode != 200 {
		b.Fatalf("clock advance: %d %v", resp.StatusCode, m)
	}
	b.Logf("20 hours of schedules in %s", time.Since(start))
	var st bytes.Buffer
	root := newRootCmd()
	root.SetOut(&st)
	root.SetArgs([]string{"status", "-o", "json", "--data-dir", e.DataDir})
	if err := root.ExecuteContext(e.Ctx()); err != nil {
		b.Fatal(err)
	}
	b.Logf("status: %s", bytes.Join(bytes.Fields(st.Bytes()), []byte(" ")))
	// status, and its counts read as status read them before (through
	// the SDKs' list pagers), alternating.
	for range 2 {
		for _, args := range [][]string{{"status"}, {"sdk-counts"}} {
			b.Run(fmt.Sprint(args), func(b *testing.B) {
				for b.Loop() {
					runBench(b, e, args)
				}
			})
		}
	}
	for _, args := range [][]string{{"item", "list"}, {"job", "list"}} {
		b.Run(fmt.Sprint(args), func(b *testing.B) {
			for b.Loop() {
				runBench(b, e, args)
			}
		})
	}
}

// runBench runs the CLI's args, or with sdk-counts what status counted
// through the SDKs' pagers (the way it did before it read the lists itself).
func runBench(b *testing.B, e *testserver.Env, args []string) {
	root := newRootCmd()
	if args[0] == "sdk-counts" {
		o := &cliOpts{}
		root = &cobra.Command{Use: "sdk-counts", RunE: o.run(func(s *session, _ []string) error { return sdkCounts(s) })}
		addCLIFlags(root, o)
		args = nil
	}
	root.SetOut(discard{})
	root.SetErr(discard{})
	root.SetArgs(append(args, "--data-dir", e.DataDir))
	if err := root.ExecuteContext(e.Ctx()); err != nil {
		b.Fatal(err)
	}
}

// sdkCounts counts as status did before countAll: every vault's items and
// jobs, the disks and the snapshots, through the SDKs, one list at a time.
func sdkCounts(s *session) error {
	r := statusReport{Vaults: map[string]int{}, Jobs: map[string]int{}}
	vs, err := s.vaults()
	if err != nil {
		return err
	}
	for _, v := range vs {
		r.Vaults[v.Kind]++
		items, err := s.vaultItems(v)
		if err != nil {
			return err
		}
		r.Items += len(items)
		js, err := s.vaultJobs(v)
		if err != nil {
			return err
		}
		for _, j := range js {
			r.Jobs[j.Status]++
		}
	}
	dc, _ := armcompute.NewDisksClient(s.sub, s.cred, s.opts)
	if err := eachPage(s, dc.NewListPager(nil), func(page armcompute.DisksClientListResponse) { r.Disks += len(page.Value) }); err != nil {
		return err
	}
	sc, _ := armcompute.NewSnapshotsClient(s.sub, s.cred, s.opts)
	return eachPage(s, sc.NewListPager(nil), func(page armcompute.SnapshotsClientListResponse) { r.Snapshots += len(page.Value) })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// scaleItems adds backup instances of dv's vault and policy until it has
// n, each of a disk of its own in disk-rg (the vault's identity reads the
// whole group).
func scaleItems(b testing.TB, e *testserver.Env, dv *fixture.DiskVault, n int) {
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	v, err := f.NewBackupVaultsClient().Get(e.Ctx(), dv.RG, dv.Vault, nil)
	if err != nil {
		b.Fatal(err)
	}
	fixture.Assign(b, e, "/subscriptions/"+e.Sub+"/resourceGroups/disk-rg", fixture.RoleDiskBackupReader, *v.Identity.PrincipalID)
	pol, err := f.NewBackupPoliciesClient().Get(e.Ctx(), dv.RG, dv.Vault, dv.Policy, nil)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 1; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("scale%03d", i)
			id, _ := fixture.Disk(b, e, "disk-rg", name, 1)
			bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr(name), DataSourceInfo: fixture.Datasource(id, name),
				PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
					DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
						ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
						ResourceGroupID: to.Ptr(dv.SnapshotRG)}}}}}
			cp, err := f.NewBackupInstancesClient().BeginCreateOrUpdate(e.Ctx(), dv.RG, dv.Vault, name+"-bi", armdataprotection.BackupInstanceResource{Properties: &bi}, nil)
			if _, err := fixture.Wait(cp, err); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// scaleVMs protects n VMs (an OS disk each) in the Recovery Services vault
// rsvault1 with its DefaultPolicy.
func scaleVMs(b testing.TB, e *testserver.Env, n int) {
	fixture.ProtectVM(b, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	policyID := "/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1/backupPolicies/DefaultPolicy"
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 1; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("vm%03d", i)
			osID, _ := fixture.Disk(b, e, "vm-rg", name+"-os", 1)
			vm := fixture.VM(b, e, "vm-rg", name, osID)
			if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(e.Ctx(), "rsvault1", "rs-rg", "Azure", "IaasVMContainer;iaasvmcontainerv2;vm-rg;"+name, "VM;iaasvmcontainerv2;vm-rg;"+name,
				armrecoveryservicesbackup.ProtectedItemResource{Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: vm.ID, PolicyID: to.Ptr(policyID)}}, nil); err != nil {
				b.Errorf("protect VM: %v", err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
