package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/spf13/cobra"
)

// Vault kinds as the CLI shows them.
const (
	kindDP = "BackupVault"
	kindRS = "RecoveryServicesVault"
)

// vaultRow is a vault of either kind.
type vaultRow struct {
	Name          string `json:"name" col:"Name"`
	Kind          string `json:"kind" col:"Kind"`
	ResourceGroup string `json:"resourceGroup" col:"ResourceGroup"`
	Location      string `json:"location" col:"Location"`
	State         string `json:"provisioningState" col:"State"`
	ID            string `json:"id"`
}

func (s *session) vaults() ([]vaultRow, error) {
	dp, err := listRows(s, armdataprotection.NewBackupVaultsClient, whole((*armdataprotection.BackupVaultsClient).NewGetInSubscriptionPager), dpVaultRow)
	if err != nil {
		return nil, err
	}
	rs, err := listRows(s, armrecoveryservices.NewVaultsClient, whole((*armrecoveryservices.VaultsClient).NewListBySubscriptionIDPager), rsVaultRow)
	if err != nil {
		return nil, err
	}
	out := append(dp, rs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, nil
}

func vaultRowOf(kind string, id, name, location *string, state string) vaultRow {
	return vaultRow{Name: str(name), Kind: kind, ResourceGroup: rgOf(str(id)), Location: str(location), State: state, ID: str(id)}
}

func dpVaultRow(v *armdataprotection.BackupVaultResource) (vaultRow, bool) {
	st := ""
	if v.Properties != nil && v.Properties.ProvisioningState != nil {
		st = string(*v.Properties.ProvisioningState)
	}
	return vaultRowOf(kindDP, v.ID, v.Name, v.Location, st), true
}

func rsVaultRow(v *armrecoveryservices.Vault) (vaultRow, bool) {
	st := ""
	if v.Properties != nil {
		st = str(v.Properties.ProvisioningState)
	}
	return vaultRowOf(kindRS, v.ID, v.Name, v.Location, st), true
}

var vaultCols = columnsOf[vaultRow]()

// itemRow is a backup instance (Backup vault) or a protected item
// (Recovery Services vault).
type itemRow struct {
	Name            string     `json:"name" col:"Name"`
	Kind            string     `json:"kind"` // BackupInstance or ProtectedItem
	Vault           string     `json:"vault" col:"Vault"`
	VaultKind       string     `json:"vaultKind" col:"VaultKind"`
	ResourceGroup   string     `json:"resourceGroup"` // the vault's
	Datasource      string     `json:"datasource" col:"Datasource"`
	DatasourceType  string     `json:"datasourceType"`
	Policy          string     `json:"policy" col:"Policy"`
	ProtectionState string     `json:"protectionState" col:"ProtectionState"`
	Health          string     `json:"health,omitempty" col:"Health"`
	LastBackup      *time.Time `json:"lastBackup,omitempty" col:"LastBackup"`
	ID              string     `json:"id"`
	DatasourceID    string     `json:"datasourceId"`

	itemName  string // ARM name (RS: VM;iaasvmcontainerv2;rg;vm)
	container string // RS container name
}

func (s *session) items() ([]itemRow, error) { return everyVault(s, s.vaultItems) }

// listedItems is items with each backup instance's last backup: the time
// of its newest recovery point (a backup instance, unlike a protected
// item, has no field for it). Only the first page of each instance's
// points is read (the list is newest first), a few instances at a time.
func (s *session) listedItems() ([]itemRow, error) {
	items, err := s.items()
	if err != nil {
		return nil, err
	}
	c, err := armdataprotection.NewRecoveryPointsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range items {
		it := &items[i]
		if it.VaultKind != kindDP {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pg := c.NewListPager(it.ResourceGroup, it.Vault, it.itemName, nil)
			if !pg.More() {
				return
			}
			page, err := pg.NextPage(s.ctx())
			if err != nil {
				errs[i] = s.explain(err)
				return
			}
			for _, p := range page.Value {
				if d, ok := p.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint); ok && d.RecoveryPointTime != nil &&
					(it.LastBackup == nil || d.RecoveryPointTime.After(*it.LastBackup)) {
					it.LastBackup = d.RecoveryPointTime
				}
			}
		}()
	}
	wg.Wait()
	// An instance whose points could not be read (a role without
	// recoveryPoints/read, the instance deleted meanwhile) is listed with
	// no last backup, and the reason is said on stderr: the list of the
	// others is not lost to it.
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(s.cmd.ErrOrStderr(), "warning: the last backup of %s is not shown: %v\n", items[i].Name, err)
		}
	}
	return items, nil
}

// everyVault lists the vaults of both kinds and collects what list returns for each.
func everyVault[T any](s *session, list func(vaultRow) ([]T, error)) ([]T, error) {
	vs, err := s.vaults()
	if err != nil {
		return nil, err
	}
	var out []T
	for _, v := range vs {
		rows, err := list(v)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// vaultItems lists the items of one vault of either kind.
func (s *session) vaultItems(v vaultRow) ([]itemRow, error) {
	if v.Kind == kindDP {
		return s.dpItems(v)
	}
	return s.rsItems(v)
}

func (s *session) dpItems(v vaultRow) ([]itemRow, error) {
	list := func(c *armdataprotection.BackupInstancesClient) *runtime.Pager[armdataprotection.BackupInstancesClientListResponse] {
		return c.NewListPager(v.ResourceGroup, v.Name, nil)
	}
	return listRows(s, armdataprotection.NewBackupInstancesClient, list, func(bi *armdataprotection.BackupInstanceResource) (itemRow, bool) {
		r := itemRow{Name: str(bi.Name), Kind: "BackupInstance", Vault: v.Name, VaultKind: v.Kind, ResourceGroup: v.ResourceGroup, ID: str(bi.ID), itemName: str(bi.Name)}
		if p := bi.Properties; p != nil {
			if p.DataSourceInfo != nil {
				r.Datasource, r.DatasourceType, r.DatasourceID = str(p.DataSourceInfo.ResourceName), str(p.DataSourceInfo.DatasourceType), str(p.DataSourceInfo.ResourceID)
			}
			if p.PolicyInfo != nil {
				r.Policy = lastSeg(str(p.PolicyInfo.PolicyID))
			}
			if p.CurrentProtectionState != nil {
				r.ProtectionState = string(*p.CurrentProtectionState)
			}
			if p.ProtectionStatus != nil && p.ProtectionStatus.Status != nil {
				r.Health = string(*p.ProtectionStatus.Status)
			}
		}
		return r, true
	})
}

func (s *session) rsItems(v vaultRow) ([]itemRow, error) {
	list := func(c *armrecoveryservicesbackup.BackupProtectedItemsClient) *runtime.Pager[armrecoveryservicesbackup.BackupProtectedItemsClientListResponse] {
		return c.NewListPager(v.Name, v.ResourceGroup, nil)
	}
	return listRows(s, armrecoveryservicesbackup.NewBackupProtectedItemsClient, list, func(it *armrecoveryservicesbackup.ProtectedItemResource) (itemRow, bool) {
		r := itemRow{Kind: "ProtectedItem", Vault: v.Name, VaultKind: v.Kind, ResourceGroup: v.ResourceGroup, ID: str(it.ID), itemName: str(it.Name),
			container: nameAt(str(it.ID), "protectionContainers")}
		if it.Properties == nil {
			return itemRow{}, false
		}
		base := it.Properties.GetProtectedItem()
		r.DatasourceID, r.Policy, r.LastBackup = str(base.SourceResourceID), str(base.PolicyName), base.LastRecoveryPoint
		if base.WorkloadType != nil {
			r.DatasourceType = string(*base.WorkloadType)
		}
		r.Datasource = lastSeg(r.DatasourceID)
		if vm, ok := it.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem); ok {
			r.Name = str(vm.FriendlyName)
			if vm.ProtectionState != nil {
				r.ProtectionState = string(*vm.ProtectionState)
			}
			if vm.HealthStatus != nil {
				r.Health = string(*vm.HealthStatus)
			}
			if vm.LastBackupTime != nil {
				r.LastBackup = vm.LastBackupTime
			}
		}
		if r.Name == "" {
			r.Name = r.Datasource
		}
		if r.LastBackup != nil && r.LastBackup.Year() <= 2001 {
			r.LastBackup = nil // Azure's "never backed up"
		}
		return r, true
	})
}

var itemCols = columnsOf[itemRow]()

// findItem resolves ITEM: an id, a backup instance name, a protected item's
// friendly or ARM name, or the name of the protected disk or VM.
func (s *session) findItem(ref string) (itemRow, error) {
	named := func(it itemRow) bool {
		return strings.EqualFold(it.Name, ref) || strings.EqualFold(it.itemName, ref) || strings.EqualFold(it.Datasource, ref)
	}
	return pick(ref, "items", s.items, func(it itemRow) string { return it.ID }, named, func(items []itemRow) error {
		names := make([]string, 0, len(items))
		for _, it := range items {
			names = append(names, it.Name)
		}
		if len(names) == 0 {
			return fmt.Errorf("no item %q: nothing is protected yet (protect a disk or VM first)", ref)
		}
		return fmt.Errorf("no item %q; the items are: %s (see `safehold item list`)", ref, strings.Join(names, ", "))
	})
}

// pick resolves ref among the rows list answers: the row whose id is ref,
// else the one row named ref; none is the error when no row matches (it
// gets every row), and a name several rows have is an error listing their
// ids (what names them: "items").
func pick[T any](ref, what string, list func() ([]T, error), id func(T) string, named func(T) bool, none func([]T) error) (T, error) {
	var zero T
	rows, err := list()
	if err != nil {
		return zero, err
	}
	var hits []T
	for _, r := range rows {
		if strings.EqualFold(id(r), ref) {
			return r, nil
		}
		if named(r) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 0:
		return zero, none(rows)
	case 1:
		return hits[0], nil
	}
	return zero, ambiguous(ref, what, hits, id)
}

// ambiguous is the error for ref naming several of what: it lists their ids.
func ambiguous[T any](ref, what string, hits []T, id func(T) string) error {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = id(h)
	}
	return fmt.Errorf("%q names %d %s; name one by id:\n  %s", ref, len(hits), what, strings.Join(ids, "\n  "))
}

// findVault resolves VAULT, a vault of either kind, by id or by name in the
// subscription; a name two vaults share is an error listing their ids.
func (s *session) findVault(ref string) (vaultRow, error) {
	named := func(v vaultRow) bool { return strings.EqualFold(v.Name, ref) }
	return pick(ref, "vaults", s.vaults, func(v vaultRow) string { return v.ID }, named, func([]vaultRow) error {
		return fmt.Errorf("no vault %q (see `safehold vault list`)", ref)
	})
}

func newVaultCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "vault", Short: "Backup vaults and Recovery Services vaults"}
	addCLIFlags(cmd, o)
	cmd.AddCommand(listCmd(o, "List the vaults of both kinds", (*session).vaults, vaultCols), &cobra.Command{Use: "show VAULT", Short: "Show a vault (by name or id) with its item and job counts", Args: cobra.ExactArgs(1),
		RunE: runOn(o, (*session).findVault, func(s *session, v vaultRow) error {
			items, err := s.vaultItems(v)
			if err != nil {
				return err
			}
			jobs, err := s.vaultJobs(v)
			if err != nil {
				return err
			}
			type shown struct {
				vaultRow
				Items int            `json:"items"`
				Jobs  map[string]int `json:"jobs"`
			}
			sh := shown{vaultRow: v, Items: len(items), Jobs: map[string]int{}}
			for _, j := range jobs {
				sh.Jobs[j.Status]++
			}
			js := []string{}
			for k, n := range sh.Jobs {
				js = append(js, fmt.Sprintf("%s %d", k, n))
			}
			sort.Strings(js)
			return renderOne(s, sh, [][2]string{{"Name", v.Name}, {"Kind", v.Kind}, {"ResourceGroup", v.ResourceGroup}, {"Location", v.Location},
				{"State", v.State}, {"Items", fmt.Sprint(len(items))}, {"Jobs", strings.Join(js, ", ")}, {"ID", v.ID}})
		})})
	return cmd
}

func newItemCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "item", Short: "Backup instances and protected items of both vault kinds"}
	addCLIFlags(cmd, o)
	cmd.AddCommand(listCmd(o, "List backup instances and protected items in one table (a backup instance's last backup is its newest recovery point's time)", (*session).listedItems, itemCols))
	return cmd
}
