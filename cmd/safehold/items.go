package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

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
	var out []vaultRow
	dp, err := armdataprotection.NewBackupVaultsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	row := func(kind string, id, name, location *string, state string) vaultRow {
		return vaultRow{Name: str(name), Kind: kind, ResourceGroup: rgOf(str(id)), Location: str(location), State: state, ID: str(id)}
	}
	if err := eachPage(s, dp.NewGetInSubscriptionPager(nil), func(page armdataprotection.BackupVaultsClientGetInSubscriptionResponse) {
		for _, v := range page.Value {
			st := ""
			if v.Properties != nil && v.Properties.ProvisioningState != nil {
				st = string(*v.Properties.ProvisioningState)
			}
			out = append(out, row(kindDP, v.ID, v.Name, v.Location, st))
		}
	}); err != nil {
		return nil, err
	}
	rs, err := armrecoveryservices.NewVaultsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	if err := eachPage(s, rs.NewListBySubscriptionIDPager(nil), func(page armrecoveryservices.VaultsClientListBySubscriptionIDResponse) {
		for _, v := range page.Value {
			st := ""
			if v.Properties != nil {
				st = str(v.Properties.ProvisioningState)
			}
			out = append(out, row(kindRS, v.ID, v.Name, v.Location, st))
		}
	}); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, nil
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
	c, err := armdataprotection.NewBackupInstancesClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	var out []itemRow
	err = eachPage(s, c.NewListPager(v.ResourceGroup, v.Name, nil), func(page armdataprotection.BackupInstancesClientListResponse) {
		for _, bi := range page.Value {
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
			out = append(out, r)
		}
	})
	return out, err
}

func (s *session) rsItems(v vaultRow) ([]itemRow, error) {
	c, err := armrecoveryservicesbackup.NewBackupProtectedItemsClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	var out []itemRow
	err = eachPage(s, c.NewListPager(v.Name, v.ResourceGroup, nil), func(page armrecoveryservicesbackup.BackupProtectedItemsClientListResponse) {
		for _, it := range page.Value {
			r := itemRow{Kind: "ProtectedItem", Vault: v.Name, VaultKind: v.Kind, ResourceGroup: v.ResourceGroup, ID: str(it.ID), itemName: str(it.Name),
				container: nameAt(str(it.ID), "protectionContainers")}
			if it.Properties == nil {
				continue
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
			out = append(out, r)
		}
	})
	return out, err
}

var itemCols = columnsOf[itemRow]()

// findItem resolves ITEM: an id, a backup instance name, a protected item's
// friendly or ARM name, or the name of the protected disk or VM.
func (s *session) findItem(ref string) (itemRow, error) {
	items, err := s.items()
	if err != nil {
		return itemRow{}, err
	}
	var hits []itemRow
	for _, it := range items {
		if strings.EqualFold(it.ID, ref) {
			return it, nil
		}
	}
	for _, it := range items {
		if strings.EqualFold(it.Name, ref) || strings.EqualFold(it.itemName, ref) || strings.EqualFold(it.Datasource, ref) {
			hits = append(hits, it)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		names := make([]string, 0, len(items))
		for _, it := range items {
			names = append(names, it.Name)
		}
		if len(names) == 0 {
			return itemRow{}, fmt.Errorf("no item %q: nothing is protected yet (protect a disk or VM first)", ref)
		}
		return itemRow{}, fmt.Errorf("no item %q; the items are: %s (see `safehold item list`)", ref, strings.Join(names, ", "))
	}
	return itemRow{}, ambiguous(ref, "items", hits, func(h itemRow) string { return h.ID })
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
	vs, err := s.vaults()
	if err != nil {
		return vaultRow{}, err
	}
	var hit []vaultRow
	for _, v := range vs {
		if strings.EqualFold(v.ID, ref) || strings.EqualFold(v.Name, ref) {
			hit = append(hit, v)
		}
	}
	switch len(hit) {
	case 1:
		return hit[0], nil
	case 0:
		return vaultRow{}, fmt.Errorf("no vault %q (see `safehold vault list`)", ref)
	}
	return vaultRow{}, ambiguous(ref, "vaults", hit, func(v vaultRow) string { return v.ID })
}

func newVaultCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "vault", Short: "Backup vaults and Recovery Services vaults"}
	addCLIFlags(cmd, o)
	cmd.AddCommand(listCmd(o, "List the vaults of both kinds", (*session).vaults, vaultCols), &cobra.Command{Use: "show VAULT", Short: "Show a vault (by name or id) with its item and job counts", Args: cobra.ExactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			v, err := s.findVault(args[0])
			if err != nil {
				return err
			}
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
	cmd.AddCommand(listCmd(o, "List backup instances and protected items in one table", (*session).items, itemCols))
	return cmd
}
