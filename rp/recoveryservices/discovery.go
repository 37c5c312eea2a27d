package recoveryservices

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const discoveryType = "Microsoft.RecoveryServices/vaults/backupFabrics/discoveredVirtualMachines"

// discovered is the vault's cache of the subscription's VMs, written by
// refreshContainers and read by backupProtectableItems.
type discovered struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	At   time.Time      `json:"at"`
	VMs  []discoveredVM `json:"vms"`
}

type discoveredVM struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RG       string `json:"resourceGroup"`
	Location string `json:"location"`
}

func discoveryID(vid arm.ResourceID) arm.ResourceID {
	return fabricID(vid).Child("discoveredVirtualMachines", "cache")
}

// refresh starts discovery ($filter: backupManagementType eq '<a
// BackupManagementType>', anything else is 400 InvalidFilter): 202 with Location F/operationResults/{op}; the
// Location answers 202 while discovering, then 204.
func (pr *Provider) refresh(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, filter, err := pr.vaultFilter(r, "backupManagementType")
	if err != nil {
		return nil, err
	}
	if err := checkFilterEnum("backupManagementType", filter["backupmanagementtype"], jobManagementTypes); err != nil {
		return nil, err
	}
	if f := r.Param("fabricName"); !strings.EqualFold(f, "Azure") {
		return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorFabricNotFound", "The backup fabric '%s' does not exist: Azure VMs live in fabric 'Azure'.", f)
	}
	op := &ops.Operation{Kind: opKindRefresh, ResourceID: fabricID(vid).String(), Caller: r.Caller()}
	if err := pr.p.Ops.Launch(ctx, op, map[string]string{"vaultId": vid.String()}, nil); err != nil {
		return nil, err
	}
	return arm.Accepted().Async(r, "", fabricID(vid).String()+"/operationResults/"+op.ID), nil
}

func (pr *Provider) refreshResult(r *arm.Request) (*arm.Response, error) {
	resp, err := armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusOK { // never 200 here: the SDK accepts 202 and 204 only
		return arm.NoContent(), nil
	}
	return resp, nil
}

func (pr *Provider) runRefresh(ctx context.Context, op *ops.Operation) error {
	var in struct {
		VaultID string `json:"vaultId"`
	}
	if err := op.DecodeInput(&in); err != nil {
		return err
	}
	vid := mustParse(in.VaultID)
	vault, err := pr.loadVault(ctx, pr.p.Store, vid)
	if err != nil {
		op.ResultStatus = http.StatusNoContent
		return nil // the vault went away meanwhile
	}
	vms, err := pr.listVMs(ctx, vid.SubscriptionID)
	if err != nil {
		return err
	}
	d := discovered{ID: discoveryID(vid).String(), Type: discoveryType, At: pr.p.Now()}
	for _, vm := range vms {
		if !sameRegion(vm.Location, vault.Location) {
			continue // Azure discovers only the VMs of the vault's region
		}
		d.VMs = append(d.VMs, discoveredVM{ID: vm.ID, Name: vm.Name, RG: vm.ResourceGroup, Location: vm.Location})
	}
	sort.Slice(d.VMs, func(i, j int) bool {
		a, b := strings.ToLower(d.VMs[i].RG+"/"+d.VMs[i].Name), strings.ToLower(d.VMs[j].RG+"/"+d.VMs[j].Name)
		return a < b
	})
	op.ResultStatus = http.StatusNoContent
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if ok, err := resource.Exists(ctx, tx, vid.String()); err != nil || !ok {
			return err // the vault went away meanwhile
		}
		return resource.Put(ctx, tx, discoveryID(vid), &d)
	})
}

// listProtectable lists the discovered VMs the caller may read
// (backupProtectableItems), 200 a page with nextLink.
func (pr *Provider) listProtectable(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, vid, err := pr.vaultOf(r)
	if err != nil {
		return nil, err
	}
	f, err := parseFilter(r.Query("$filter"), "backupManagementType", "workloadType", "friendlyName", "status", "protectionState", "serverName", "resourceGroup")
	if err != nil {
		return nil, err
	}
	if !selects(f, "backupmanagementtype", "AzureIaasVM", "workloadtype", "VM") {
		return arm.OK(arm.Values([]any{})), nil
	}
	var d discovered
	if err := resource.Get(ctx, pr.p.Store, discoveryID(vid), &d); err != nil {
		d = discovered{}
	}
	items, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, "/subscriptions/"+vid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	// As the seed says, the list holds the VMs this vault does not protect
	// yet; a VM another vault protects shows protectionState Protected.
	protected, here := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		protected[strings.ToLower(it.SourceID)] = true
		if arm.EqualIDs(it.VaultID, vid.String()) {
			here[strings.ToLower(it.SourceID)] = true
		}
	}
	out := make([]any, 0, len(d.VMs))
	for _, vm := range d.VMs {
		if here[strings.ToLower(vm.ID)] || !sameRegion(vm.Location, vault.Location) {
			continue
		}
		ref := vmRef{vm.RG, vm.Name}
		state := "NotProtected"
		if protected[strings.ToLower(vm.ID)] {
			state = "Protected"
		}
		if n := f["friendlyname"]; n != "" && !strings.EqualFold(n, vm.Name) {
			continue
		}
		if n := f["resourcegroup"]; n != "" && !strings.EqualFold(n, vm.RG) {
			continue
		}
		if s := firstOf(f["status"], f["protectionstate"]); s != "" && !strings.EqualFold(s, state) {
			continue
		}
		// A caller sees the VMs it may read, as Azure Backup discovers
		// with the caller's access: one with access to the vault alone
		// was shown every VM of the subscription (names, groups, ids).
		if !r.Allowed("Microsoft.Compute/virtualMachines/read", vm.ID) {
			continue
		}
		out = append(out, map[string]any{
			"id":   protectableID(vid, ref).String(),
			"name": ref.protectableName(),
			"type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems",
			"properties": map[string]any{
				"protectableItemType": vmType, "backupManagementType": "AzureIaasVM", "workloadType": "VM",
				"friendlyName": vm.Name, "resourceGroup": vm.RG, "virtualMachineId": vm.ID, "virtualMachineVersion": "Compute",
				"protectionState": state,
			},
		})
	}
	return arm.PageOK(r, out, 200)
}

func firstOf(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}
