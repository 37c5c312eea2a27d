package main

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/spf13/cobra"
)

// newJobOf waits (briefly) for the job an action on it started: a job of
// op on the item that was not in before.
func (s *session) newJobOf(it itemRow, op string, before map[string]bool) (jobRow, error) {
	v := vaultRow{Name: it.Vault, Kind: it.VaultKind, ResourceGroup: it.ResourceGroup}
	deadline := time.Now().Add(30 * time.Second)
	for {
		js, err := s.vaultJobs(v)
		if err != nil {
			if s.ctx().Err() != nil {
				return jobRow{}, err
			}
			// The work was accepted: its job goes on once the server runs again.
			return jobRow{}, fmt.Errorf("%w\nthe %s was accepted and goes on in the server once it runs again: see `safehold job list --vault %s` (starting it again would run it twice)", err, strings.ToLower(op), it.Vault)
		}
		for _, j := range js {
			if !before[j.Name] && strings.EqualFold(j.Operation, op) && (strings.EqualFold(j.itemID, it.ID) || strings.EqualFold(j.Item, it.Name)) {
				return j, nil
			}
		}
		if time.Now().After(deadline) {
			return jobRow{}, fmt.Errorf("the %s was accepted but its job did not appear; see `safehold job list --vault %s`", strings.ToLower(op), it.Vault)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *session) jobNames(it itemRow) (map[string]bool, error) {
	js, err := s.vaultJobs(vaultRow{Name: it.Vault, Kind: it.VaultKind, ResourceGroup: it.ResourceGroup})
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, j := range js {
		m[j.Name] = true
	}
	return m, nil
}

// backupNow starts an on-demand backup of the item and returns its job.
func (s *session) backupNow(it itemRow, tag string) (jobRow, error) {
	if it.VaultKind == kindDP {
		before, err := s.jobNames(it)
		if err != nil {
			return jobRow{}, err
		}
		f, err := armdataprotection.NewClientFactory(s.sub, s.cred, s.opts)
		if err != nil {
			return jobRow{}, err
		}
		bi, err := f.NewBackupInstancesClient().Get(s.ctx(), it.ResourceGroup, it.Vault, it.itemName, nil)
		if err != nil {
			return jobRow{}, s.explain(err)
		}
		rule := ""
		if p := bi.Properties; p != nil && p.PolicyInfo != nil {
			pol, err := f.NewBackupPoliciesClient().Get(s.ctx(), it.ResourceGroup, it.Vault, lastSeg(str(p.PolicyInfo.PolicyID)), nil)
			if err != nil {
				return jobRow{}, s.explain(err)
			}
			if bp, ok := pol.Properties.(*armdataprotection.BackupPolicy); ok {
				for _, r := range bp.PolicyRules {
					if br, ok := r.(*armdataprotection.AzureBackupRule); ok {
						rule = str(br.Name)
					}
				}
			}
		}
		if rule == "" {
			return jobRow{}, fmt.Errorf("the policy of %s has no backup rule to run on demand", it.Name)
		}
		if _, err := f.NewBackupInstancesClient().BeginAdhocBackup(s.ctx(), it.ResourceGroup, it.Vault, it.itemName, armdataprotection.TriggerBackupRequest{
			BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{RuleName: to.Ptr(rule), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr(tag)}}}, nil); err != nil {
			return jobRow{}, s.explain(err)
		}
		return s.newJobOf(it, "Backup", before)
	}
	bf, err := armrecoveryservicesbackup.NewClientFactory(s.sub, s.cred, s.opts)
	if err != nil {
		return jobRow{}, err
	}
	var raw *http.Response
	if _, err := bf.NewBackupsClient().Trigger(runtime.WithCaptureResponse(s.ctx(), &raw), it.Vault, it.ResourceGroup, "Azure", it.container, it.itemName,
		armrecoveryservicesbackup.BackupRequestResource{Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{ObjectType: to.Ptr("IaasVMBackupRequest")}}, nil); err != nil {
		return jobRow{}, s.explain(err)
	}
	opURL := raw.Header.Get("Azure-AsyncOperation")
	if opURL == "" {
		opURL = raw.Header.Get("Location")
	}
	opID := path.Base(strings.SplitN(opURL, "?", 2)[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := bf.NewProtectedItemOperationStatusesClient().Get(s.ctx(), it.Vault, it.ResourceGroup, "Azure", it.container, it.itemName, opID, nil)
		if err != nil {
			return jobRow{}, s.explain(err)
		}
		if x, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusJobExtendedInfo); ok && x.JobID != nil {
			return s.getJob(jobRow{Name: *x.JobID, vault: vaultRow{Name: it.Vault, Kind: it.VaultKind, ResourceGroup: it.ResourceGroup}})
		}
		if time.Now().After(deadline) {
			return jobRow{}, fmt.Errorf("the backup was accepted but its job did not appear; see `safehold job list --vault %s`", it.Vault)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newBackupCmd() *cobra.Command {
	o := &cliOpts{}
	var tag string
	cmd := &cobra.Command{Use: "backup", Short: "On-demand backups"}
	addCLIFlags(cmd, o)
	now := &cobra.Command{Use: "now ITEM", Short: "Back up an item now (name or id, see `safehold item list`); waits with a progress bar unless --no-wait", Args: cobra.ExactArgs(1),
		RunE: runOn(o, (*session).findItem, func(s *session, it itemRow) error {
			j, err := s.backupNow(it, tag)
			if err != nil && s.ctx().Err() != nil {
				return fmt.Errorf("stopped before the backup's job was found; it may have started (see `safehold job list --vault %s`): %w", it.Vault, err)
			}
			if err != nil {
				return err
			}
			if !o.noWait {
				if j, err = s.wait(j, "Backup "+it.Name); err != nil {
					return err
				}
			}
			return renderOne(s, j, jobPairs(j))
		})}
	now.Flags().BoolVar(&o.noWait, "no-wait", false, "return once the job started (print it) instead of waiting")
	now.Flags().StringVar(&tag, "retention-tag", "Default", "Backup vaults: the retention tag the recovery point gets")
	cmd.AddCommand(now)
	return cmd
}

// pointRow is a recovery point of either vault kind.
type pointRow struct {
	Name      string     `json:"name" col:"Name"`
	Item      string     `json:"item" col:"Item"`
	Vault     string     `json:"vault" col:"Vault"`
	Time      *time.Time `json:"time,omitempty" col:"Time"`
	Type      string     `json:"type" col:"Type"`
	Retention string     `json:"retentionTag,omitempty" col:"RetentionTag"`
	Expiry    *time.Time `json:"expiryTime,omitempty" col:"Expiry"`
	// State is Damaged for a point a verify found damaged (its API answer:
	// recoveryPointState Partial, or its tiers Invalid), Completed else.
	State string `json:"state" col:"State"`
	ID    string `json:"id"`

	item itemRow
}

var pointCols = columnsOf[pointRow]()

func (s *session) points(it itemRow) ([]pointRow, error) {
	var out []pointRow
	var err error
	row := pointRow{Item: it.Name, Vault: it.Vault, item: it}
	if it.VaultKind == kindDP {
		list := func(c *armdataprotection.RecoveryPointsClient) *runtime.Pager[armdataprotection.RecoveryPointsClientListResponse] {
			return c.NewListPager(it.ResourceGroup, it.Vault, it.itemName, nil)
		}
		out, err = listRows(s, armdataprotection.NewRecoveryPointsClient, list, func(p *armdataprotection.AzureBackupRecoveryPointResource) (pointRow, bool) {
			r := row
			r.Name, r.ID = str(p.Name), str(p.ID)
			if d, ok := p.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint); ok {
				r.Time, r.Type, r.Retention, r.Expiry = d.RecoveryPointTime, str(d.RecoveryPointType), str(d.RetentionTagName), d.ExpiryTime
				r.State = "Completed"
				if d.RecoveryPointState != nil && *d.RecoveryPointState == armdataprotection.RecoveryPointCompletionStatePartial {
					r.State = "Damaged"
				}
			}
			return r, true
		})
	} else {
		list := func(c *armrecoveryservicesbackup.RecoveryPointsClient) *runtime.Pager[armrecoveryservicesbackup.RecoveryPointsClientListResponse] {
			return c.NewListPager(it.Vault, it.ResourceGroup, "Azure", it.container, it.itemName, nil)
		}
		out, err = listRows(s, armrecoveryservicesbackup.NewRecoveryPointsClient, list, func(p *armrecoveryservicesbackup.RecoveryPointResource) (pointRow, bool) {
			r := row
			r.Name, r.ID = str(p.Name), str(p.ID)
			if d, ok := p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint); ok {
				r.Time, r.Type, r.State = d.RecoveryPointTime, str(d.RecoveryPointType), "Completed"
				for _, t := range d.RecoveryPointTierDetails {
					if t.Status != nil && *t.Status == armrecoveryservicesbackup.RecoveryPointTierStatusInvalid {
						r.State = "Damaged"
					}
				}
				// When the point expires: its recoveryPointProperties
				// (an on-demand point's --retain-until, a scheduled
				// one's policy retention), RFC 3339 in UTC.
				if pp := d.RecoveryPointProperties; pp != nil && pp.ExpiryTime != nil {
					if t, err := time.Parse(time.RFC3339Nano, *pp.ExpiryTime); err == nil {
						r.Expiry = &t
					}
				}
			}
			return r, true
		})
	}
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Time, out[j].Time
		return a != nil && b != nil && a.After(*b)
	})
	return out, nil
}

// findPoint resolves POINT (a recovery point's name or id) among the
// points of item ref, or of every item when ref is empty.
func (s *session) findPoint(ref, itemRef string) (pointRow, error) {
	var items []itemRow
	if itemRef != "" {
		it, err := s.findItem(itemRef)
		if err != nil {
			return pointRow{}, err
		}
		items = []itemRow{it}
	} else {
		var err error
		if items, err = s.items(); err != nil {
			return pointRow{}, err
		}
	}
	var hits []pointRow
	for _, it := range items {
		ps, err := s.points(it)
		if err != nil {
			return pointRow{}, err
		}
		for _, p := range ps {
			if strings.EqualFold(p.ID, ref) || strings.EqualFold(p.Name, ref) {
				hits = append(hits, p)
			}
		}
	}
	switch len(hits) {
	case 0:
		return pointRow{}, fmt.Errorf("no recovery point %q (see `safehold point list ITEM`)", ref)
	case 1:
		return hits[0], nil
	}
	return pointRow{}, fmt.Errorf("%q names %d recovery points; pass its id or --item", ref, len(hits))
}

func newPointCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "point", Short: "Recovery points"}
	addCLIFlags(cmd, o)
	cmd.AddCommand(&cobra.Command{Use: "list ITEM", Short: "List an item's recovery points, newest first", Args: cobra.ExactArgs(1),
		RunE: runOn(o, (*session).findItem, func(s *session, it itemRow) error {
			ps, err := s.points(it)
			if err != nil {
				return err
			}
			return render(s, ps, pointCols)
		})})
	return cmd
}

func newRestoreCmd() *cobra.Command {
	o := &cliOpts{}
	var disk, rg, item string
	cmd := &cobra.Command{Use: "restore POINT --target-disk NAME --target-resource-group RG",
		Short: "Restore a disk recovery point (name or id) to a new disk; waits with a progress bar unless --no-wait", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if disk == "" || rg == "" {
				return fmt.Errorf("--target-disk and --target-resource-group are required: the restore makes a new disk of that name in that group")
			}
			s, err := o.session(cmd)
			if err != nil {
				return err
			}
			p, err := s.findPoint(args[0], item)
			if err != nil {
				return err
			}
			if p.item.VaultKind != kindDP {
				return fmt.Errorf("%s is a VM recovery point of Recovery Services vault %s: restoring it to one disk is not supported by this command; use the RecoveryServices restore API (restore disks) instead", p.Name, p.Vault)
			}
			before, err := s.jobNames(p.item)
			if err != nil {
				return err
			}
			bis, err := armdataprotection.NewBackupInstancesClient(s.sub, s.cred, s.opts)
			if err != nil {
				return err
			}
			bi, err := bis.Get(s.ctx(), p.item.ResourceGroup, p.Vault, p.item.itemName, nil)
			if err != nil {
				return s.explain(err)
			}
			loc := "westus"
			if d := bi.Properties.DataSourceInfo; d != nil && d.ResourceLocation != nil {
				loc = *d.ResourceLocation
			}
			target := "/subscriptions/" + s.sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + disk
			req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
				RecoveryPointID: to.Ptr(p.Name), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(p.item.DatasourceID),
				RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
					RestoreLocation: to.Ptr(loc), DatasourceInfo: &armdataprotection.Datasource{ObjectType: to.Ptr("Datasource"), DatasourceType: to.Ptr("Microsoft.Compute/disks"),
						ResourceID: to.Ptr(target), ResourceLocation: to.Ptr(loc), ResourceName: to.Ptr(disk), ResourceType: to.Ptr("Microsoft.Compute/disks"), ResourceURI: to.Ptr(target)}}}
			if _, err := bis.BeginTriggerRestore(s.ctx(), p.item.ResourceGroup, p.Vault, p.item.itemName, req, nil); err != nil {
				return s.explain(err)
			}
			j, err := s.newJobOf(p.item, "Restore", before)
			if err != nil {
				return err
			}
			if !o.noWait {
				if j, err = s.wait(j, "Restore "+disk); err != nil {
					return err
				}
			}
			return renderOne(s, j, jobPairs(j))
		}}
	addCLIFlags(cmd, o)
	cmd.Flags().StringVar(&disk, "target-disk", "", "name of the new disk")
	cmd.Flags().StringVar(&rg, "target-resource-group", "", "resource group of the new disk (the vault's identity needs Disk Restore Operator on it)")
	cmd.Flags().StringVar(&item, "item", "", "look for POINT only among this item's points")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "return once the job started (print it) instead of waiting")
	return cmd
}
