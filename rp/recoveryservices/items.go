package recoveryservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const (
	itemType      = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
	containerType = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers"
	rpType        = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints"
	jobType       = "Microsoft.RecoveryServices/vaults/backupJobs"
	vmType        = "Microsoft.Compute/virtualMachines"
)

// itemState is a protected item's protectionState.
type itemState string

const (
	stateIRPending        itemState = "IRPending"
	stateProtected        itemState = "Protected"
	stateStopped          itemState = "ProtectionStopped"
	stateBackupsSuspended itemState = "BackupsSuspended"
)

// active reports whether scheduled backups run.
func (s itemState) active() bool { return s == stateIRPending || s == stateProtected }

// itemRecord is a protected item as the store keeps it.
type itemRecord struct {
	arm.ProxyResource
	VaultID        string     `json:"vaultId"`
	ContainerID    string     `json:"containerId"`
	VM             vmRef      `json:"vm"`
	SourceID       string     `json:"sourceResourceId"`
	FriendlyName   string     `json:"friendlyName"`
	Location       string     `json:"vmLocation,omitempty"`
	PolicyID       string     `json:"policyId,omitempty"`
	PolicyName     string     `json:"policyName,omitempty"`
	State          itemState  `json:"state"`
	LastStatus     string     `json:"lastBackupStatus"`
	LastBackupTime *time.Time `json:"lastBackupTime,omitempty"`
	LastPointTime  *time.Time `json:"lastRecoveryPoint,omitempty"`
	DataID         string     `json:"protectedItemDataId"`
	Created        time.Time  `json:"created"`
	// DeletedAt and PurgeAt are set while the item is soft-deleted
	// (softdelete.go).
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
	PurgeAt   *time.Time `json:"purgeAt,omitempty"`
	// Purging: the purge has begun (its points are being deleted), so
	// the item can no longer be undeleted.
	Purging bool `json:"purging,omitempty"`
	// Enhanced: the item was protected with an Enhanced (V2) policy,
	// so it takes no Standard one since.
	Enhanced bool `json:"enhanced,omitempty"`
	// Disks is the item's selective disk backup (Azure's
	// extendedProperties.diskExclusionProperties); nil: every disk.
	Disks *diskSelection `json:"diskExclusion,omitempty"`
}

// diskSelection is which data disks of the VM a backup takes, by LUN: those
// listed (an inclusion list) or all but those; the OS disk always.
type diskSelection struct {
	Luns      []int32 `json:"diskLunList"`
	Inclusion bool    `json:"isInclusionList"`
}

// maxLun is the highest LUN a data disk of an Azure VM can have.
const maxLun = 63

// takes reports whether a backup takes the data disk at lun.
func (s *diskSelection) takes(lun int) bool {
	if s == nil {
		return true
	}
	return slices.Contains(s.Luns, int32(lun)) == s.Inclusion
}

// body is the selection as Azure answers it.
func (s *diskSelection) body() map[string]any {
	luns := s.Luns
	if luns == nil {
		luns = []int32{}
	}
	return map[string]any{"diskLunList": luns, "isInclusionList": s.Inclusion}
}

// dataIDKind is the document kind of the last protectedItemDataId given
// (one document, key dataIDKey).
const (
	dataIDKind = "recoveryservices.dataid"
	dataIDKey  = "last"
)

// nextDataID gives a new protected item its protectedItemDataId, in tx:
// the last one given plus one, the first the clock's nanoseconds modulo
// 10^14, an integer as Azure's. It was the clock's nanoseconds alone, which
// two items protected at one instant (a frozen or coarse clock) shared, and
// the id is what a delete operation was accepted for: the delete of an
// item could then take the same VM's item protected again at that instant
// for its own. Update transactions are serialized, so no two items get one.
func nextDataID(ctx context.Context, tx store.Tx, now time.Time) (string, error) {
	last, err := store.GetJSON[dataIDCounter](ctx, tx, dataIDKind, dataIDKey, "protectedItemDataId counter")
	if errors.Is(err, store.ErrNotFound) {
		last, err = &dataIDCounter{N: now.UnixNano()%100000000000000 - 1}, nil
	}
	if err != nil {
		return "", err
	}
	last.N++
	if err := store.WriteJSON(ctx, tx.Put, store.Doc{Kind: dataIDKind, Key: dataIDKey}, last, "protectedItemDataId counter"); err != nil {
		return "", err
	}
	return strconv.FormatInt(last.N, 10), nil
}

// dataIDCounter is the document of kind dataIDKind.
type dataIDCounter struct {
	N int64 `json:"n"`
}

// containerRecord is an IaaS VM protection container.
type containerRecord struct {
	arm.ProxyResource
	Properties map[string]any `json:"properties"`
}

// checkFabric answers a path whose fabric is not Azure's (the one fabric
// of Azure VMs) with 404 BMSUserErrorFabricNotFound.
func checkFabric(r *arm.Request) error {
	if f := r.Param("fabricName"); !strings.EqualFold(f, "Azure") {
		return arm.Errorf(http.StatusNotFound, "BMSUserErrorFabricNotFound", "The backup fabric '%s' does not exist: Azure VMs live in fabric 'Azure'.", f)
	}
	return nil
}

func (pr *Provider) itemIDOf(r *arm.Request, vid arm.ResourceID) (arm.ResourceID, vmRef, error) {
	if err := checkFabric(r); err != nil {
		return arm.ResourceID{}, vmRef{}, err
	}
	cvm, ok := parseContainerName(r.Param("containerName"))
	if !ok {
		return arm.ResourceID{}, vmRef{}, arm.BadRequest("BMSUserErrorInvalidContainerName", "The container name '%s' is invalid: use 'IaasVMContainer;iaasvmcontainerv2;{vmResourceGroup};{vmName}'.", r.Param("containerName"))
	}
	name := r.Param("protectedItemName")
	if name == "" {
		return containerID(vid, cvm), cvm, nil
	}
	ivm, ok := parseItemName(name)
	if !ok {
		return arm.ResourceID{}, vmRef{}, arm.BadRequest("BMSUserErrorInvalidProtectedItemName", "The protected item name '%s' is invalid: use 'VM;iaasvmcontainerv2;{vmResourceGroup};{vmName}'.", name)
	}
	if ivm.key() != cvm.key() {
		return arm.ResourceID{}, vmRef{}, arm.BadRequest("BMSUserErrorContainerItemMismatch", "The protected item '%s' does not belong to container '%s': both must name the same resource group and VM.", name, r.Param("containerName"))
	}
	return itemID(vid, cvm), cvm, nil
}

// ownOperations wraps h, the handler of a status or result route of the
// resource whose id of returns (a policy, a protected item): the route
// answers only the operations on that resource or below it (a recovery
// point's), not another's of the vault nor the vault's own (404
// OperationNotFound, as for an id that names no operation), whether or not
// the resource still exists (its delete's operation is read once it is
// gone).
func (pr *Provider) ownOperations(of func(r *arm.Request) (string, error), h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		id := r.Param("operationId")
		op, err := armops.Lookup(pr.p.Ops, r, id)
		if err != nil {
			return nil, err
		}
		own, err := of(r)
		if err != nil {
			return nil, err
		}
		if !arm.EqualIDs(op.ResourceID, own) && !strings.HasPrefix(strings.ToLower(op.ResourceID), strings.ToLower(own)+"/") {
			return nil, arm.Errorf(http.StatusNotFound, "OperationNotFound", "The operation '%s' was not found.", id)
		}
		return h(r)
	}
}

// policyPathOf is the id of the backup policy a request's path names.
func (pr *Provider) policyPathOf(r *arm.Request) (string, error) {
	return pr.vaultIDOf(r).Child("backupPolicies", r.Param("policyName")).String(), nil
}

// protectedItemOf is the id of the protected item a request's path names
// (of its container where the path ends at the container).
func (pr *Provider) protectedItemOf(r *arm.Request) (string, error) {
	iid, _, err := pr.itemIDOf(r, pr.vaultIDOf(r))
	return iid.String(), err
}

// itemAccepted is the 202 of an operation on the protected item itemID,
// polled at the item's operationsStatus and operationResults.
func itemAccepted(r *arm.Request, itemID string, op *ops.Operation) *arm.Response {
	return arm.Accepted().Async(r, itemID+"/operationsStatus/"+op.ID, itemID+"/operationResults/"+op.ID)
}

// itemPath is what the path of a request under a protected item (or its
// container) names: the vault, the item's id (the container's where the
// path ends at the container) and its VM. The item need not exist.
type itemPath struct {
	vault *vaultRecord
	vid   arm.ResourceID
	id    arm.ResourceID
	vm    vmRef
}

// vaultAccepted is the 202 of an operation in the vault vid, polled at the
// vault's backupOperations and backupOperationResults.
func vaultAccepted(r *arm.Request, vid arm.ResourceID, op *ops.Operation) *arm.Response {
	return arm.Accepted().Async(r, vid.String()+"/backupOperations/"+op.ID, vid.String()+"/backupOperationResults/"+op.ID)
}

// itemPathOf resolves the vault and the protected item the request's path
// names.
func (pr *Provider) itemPathOf(r *arm.Request) (itemPath, error) {
	v, vid, err := pr.vaultOf(r)
	if err != nil {
		return itemPath{}, err
	}
	iid, vm, err := pr.itemIDOf(r, vid)
	return itemPath{v, vid, iid, vm}, err
}

// itemAt is the protected item a request's path names, read, and its vault.
type itemAt struct {
	vid  arm.ResourceID
	item *itemRecord
}

// itemOf loads the protected item the request's path names.
func (pr *Provider) itemOf(r *arm.Request) (itemAt, error) {
	at, err := pr.itemPathOf(r)
	if err != nil {
		return itemAt{}, err
	}
	it, err := pr.loadItem(r.HTTP.Context(), pr.p.Store, at.id)
	return itemAt{at.vid, it}, err
}

// loadItem finds the item a request addresses (404 if not protected).
func (pr *Provider) loadItem(ctx context.Context, rd store.Reader, id arm.ResourceID) (*itemRecord, error) {
	var it itemRecord
	if err := resource.Get(ctx, rd, id, &it); err != nil {
		if arm.IsNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorItemNotFound", "The protected item '%s' was not found: enable protection with a PUT of the item first.", id.Name())
		}
		return nil, err
	}
	return &it, nil
}

// itemBody renders the AzureIaaSComputeVMProtectedItem resource.
func (pr *Provider) itemBody(ctx context.Context, rd store.Reader, it *itemRecord) map[string]any {
	points, _ := protection.SummarizeRecoveryPoints(ctx, rd, it.ID)
	return pr.itemBodyOf(ctx, rd, it, points[strings.ToLower(it.ID)], nil)
}

// itemBodyOf is itemBody with the item's points summarized; policyTypes
// remembers the policies' types read (nil: none), for a list of items.
func (pr *Provider) itemBodyOf(ctx context.Context, rd store.Reader, it *itemRecord, points protection.PointsSummary, policyTypes map[string]string) map[string]any {
	ext := map[string]any{"recoveryPointCount": points.Count, "policyInconsistent": false}
	if points.Count > 0 {
		ext["oldestRecoveryPoint"] = wt(points.Oldest)
		if !points.OldestVault.IsZero() {
			ext["oldestRecoveryPointInVault"] = wt(points.OldestVault)
		}
	}
	// IRPending lasts only until the first recovery point exists.
	state := it.State
	if state == stateIRPending && points.Count > 0 {
		state = stateProtected
	}
	health, status := "Passed", "Healthy"
	if it.LastStatus == "Failed" {
		health, status = "ActionRequired", "Unhealthy"
	}
	props := map[string]any{
		"protectedItemType":               vmType,
		"backupManagementType":            "AzureIaasVM",
		"workloadType":                    "VM",
		"containerName":                   it.VM.protectableName(),
		"friendlyName":                    it.FriendlyName,
		"sourceResourceId":                it.SourceID,
		"virtualMachineId":                it.SourceID,
		"protectionState":                 string(state),
		"protectionStatus":                status,
		"healthStatus":                    health,
		"lastBackupStatus":                it.LastStatus,
		"lastBackupTime":                  wt(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)),
		"protectedItemDataId":             it.DataID,
		"extendedInfo":                    ext,
		"vaultId":                         it.VaultID,
		"policyId":                        it.PolicyID,
		"policyName":                      it.PolicyName,
		"isScheduledForDeferredDelete":    false,
		"isRehydrate":                     false,
		"isArchiveEnabled":                false,
		"healthDetails":                   []any{},
		"kpisHealths":                     map[string]any{},
		"softDeleteRetentionPeriodInDays": 14,
	}
	// policyType (api-version 2025-02-01 on; older clients ignore it): V1
	// or V2, the type of the policy protecting the item, read from the
	// policy as it is now.
	if it.PolicyID != "" {
		kind, known := policyTypes[strings.ToLower(it.PolicyID)]
		if !known {
			var pol policyRecord
			if pid, err := arm.ParseID(it.PolicyID); err == nil && resource.Get(ctx, rd, pid, &pol) == nil {
				if ip := pol.iaas(); ip != nil {
					kind = ip.kind()
				}
			}
			if policyTypes != nil {
				policyTypes[strings.ToLower(it.PolicyID)] = kind
			}
		}
		if kind != "" {
			props["policyType"] = kind
		}
	}
	if it.DeletedAt != nil {
		props["isScheduledForDeferredDelete"] = true
		props["deferredDeleteTimeInUTC"] = wt(*it.DeletedAt)
		props["softDeleteRetentionPeriodInDays"] = int(it.PurgeAt.Sub(*it.DeletedAt).Hours() / 24)
	}
	if it.LastBackupTime != nil {
		props["lastBackupTime"] = wt(*it.LastBackupTime)
	}
	if it.LastPointTime != nil {
		props["lastRecoveryPoint"] = wt(*it.LastPointTime)
	}
	if it.Disks != nil {
		props["extendedProperties"] = map[string]any{"diskExclusionProperties": it.Disks.body()}
	}
	return map[string]any{"id": it.ID, "name": it.Name, "type": itemType, "properties": props}
}

func containerBody(vid arm.ResourceID, vm vmRef, sourceID string, registered bool) containerRecord {
	id := containerID(vid, vm)
	st := "Registered"
	if !registered {
		st = "NotRegistered"
	}
	return containerRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: vm.containerName(), Type: containerType}, Properties: map[string]any{
		"containerType": vmType, "backupManagementType": "AzureIaasVM", "friendlyName": vm.Name, "registrationStatus": st,
		"healthStatus": "Healthy", "virtualMachineId": sourceID, "virtualMachineVersion": "Compute", "resourceGroup": vm.RG,
		"protectableObjectType": vmType,
	}}
}

// itemInput is the PUT body of a protected item.
type itemInput struct {
	Properties struct {
		ProtectedItemType string  `json:"protectedItemType"`
		SourceResourceID  string  `json:"sourceResourceId"`
		PolicyID          *string `json:"policyId"`
		ProtectionState   string  `json:"protectionState"`
		IsRehydrate       bool    `json:"isRehydrate"`
		// ExtendedProperties: nil keeps the item's disk selection, {}
		// (az's resetexclusionsettings) backs up every disk again.
		ExtendedProperties *struct {
			DiskExclusionProperties *struct {
				DiskLunList     []int32 `json:"diskLunList"`
				IsInclusionList *bool   `json:"isInclusionList"`
			} `json:"diskExclusionProperties"`
		} `json:"extendedProperties"`
	} `json:"properties"`
}

// diskSelection is the disk selection a PUT asks for (keep: none asked).
func (in *itemInput) diskSelection() (sel *diskSelection, keep bool, err error) {
	ext := in.Properties.ExtendedProperties
	if ext == nil {
		return nil, true, nil
	}
	d := ext.DiskExclusionProperties
	if d == nil {
		return nil, false, nil
	}
	if d.IsInclusionList == nil {
		return nil, false, arm.BadRequestAt("properties.extendedProperties.diskExclusionProperties.isInclusionList", "BMSUserErrorInvalidInput",
			"properties.extendedProperties.diskExclusionProperties.isInclusionList is required: true to back up only the data disks of diskLunList, false to back up all but those.")
	}
	for i, lun := range d.DiskLunList {
		if lun < 0 || lun > maxLun {
			return nil, false, arm.BadRequestAt(fmt.Sprintf("properties.extendedProperties.diskExclusionProperties.diskLunList[%d]", i), "BMSUserErrorInvalidInput",
				"properties.extendedProperties.diskExclusionProperties.diskLunList[%d] is %d: a data disk's LUN is 0 to %d.", i, lun, maxLun)
		}
	}
	luns := slices.Clone(d.DiskLunList)
	slices.Sort(luns)
	return &diskSelection{Luns: slices.Compact(luns), Inclusion: *d.IsInclusionList}, false, nil
}

// putItem enables protection, changes the policy, stops protection keeping
// data (policyId "" or protectionState ProtectionStopped / BackupsSuspended)
// or resumes it. It answers 202 with both polling headers; the operation has
// already finished (the change is synchronous), its status carries the job.
func (pr *Provider) putItem(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, vid, err := pr.vaultOf(r)
	if err != nil {
		return nil, err
	}
	iid, vm, err := pr.itemIDOf(r, vid)
	if err != nil {
		return nil, err
	}
	var in itemInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	var shape struct{ Properties *json.RawMessage }
	if json.Unmarshal(r.Body, &shape) == nil && shape.Properties == nil {
		// Nothing asked: a {} re-ran the item's configuration (a
		// ConfigureBackup job) as if a policy had been given.
		return nil, arm.BadRequestAt("properties", "BMSUserErrorInvalidInput", "The request body has no properties: give properties.protectedItemType 'Microsoft.Compute/virtualMachines' with properties.sourceResourceId and properties.policyId to protect the VM or change its policy, or properties.protectionState 'ProtectionStopped' to stop its backups.")
	}
	disks, keepDisks, err := in.diskSelection()
	if err != nil {
		return nil, err
	}
	if err := r.CheckLinked(itemLinks(arm.NewID(vid.SubscriptionID, vm.RG, "Microsoft.Compute", "virtualMachines", vm.Name).String(), in)...); err != nil {
		return nil, err
	}
	if err := pr.guardUpdate(r, vid, iid, opGuardUpdateItem); err != nil {
		return nil, err
	}
	p := in.Properties
	if p.ProtectedItemType != "" && !strings.EqualFold(p.ProtectedItemType, vmType) && !strings.EqualFold(p.ProtectedItemType, "AzureIaaSVMProtectedItem") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.protectedItemType '%s' is not supported: use 'Microsoft.Compute/virtualMachines'.", p.ProtectedItemType)
	}
	state := strings.ToLower(p.ProtectionState)
	stop := state == "protectionstopped" || (p.PolicyID != nil && *p.PolicyID == "" && state != "backupssuspended")
	suspend := state == "backupssuspended"
	if state != "" && !stop && !suspend && state != "protected" && state != "irpending" && state != "invalid" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.protectionState '%s' cannot be set: use 'ProtectionStopped' or 'BackupsSuspended' to stop backups, or leave it out.", p.ProtectionState)
	}
	// A sourceResourceId names the item's VM, whether the item is new or
	// not (an update naming another VM, or one that does not exist, was
	// accepted and ignored).
	if src := p.SourceResourceID; src != "" {
		svm, ok := vmRefFromID(src)
		if !ok {
			return nil, arm.BadRequest("BMSUserErrorInvalidSourceResourceId", "properties.sourceResourceId '%s' is not a virtual machine id.", src)
		}
		if sid, _ := arm.ParseID(src); svm.key() != vm.key() || !strings.EqualFold(sid.SubscriptionID, vid.SubscriptionID) {
			return nil, arm.BadRequest("BMSUserErrorInvalidSourceResourceId", "properties.sourceResourceId '%s' names another VM than the item '%s'.", src, iid.Name())
		}
	}
	now := pr.p.Now()
	op := &ops.Operation{Kind: opKindItem, ResourceID: iid.String(), Caller: r.Caller()}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		// The vault again, where the item is written: its DELETE checks
		// in the transaction that removes it that it holds no item, so
		// either this PUT finds it gone (404) or the DELETE finds the
		// item and is refused; neither removes or strands an accepted
		// item.
		if cur, err := pr.loadVault(ctx, tx, vid); err != nil {
			return err
		} else if cur.UniqueID != vault.UniqueID {
			return arm.Conflict("BMSUserErrorVaultReplaced", "The vault '%s' was deleted and created again while the item's protection was being changed: send the PUT again.", vault.Name)
		}
		old, err := pr.loadItem(ctx, tx, iid)
		exists := err == nil
		if err != nil {
			if !arm.IsNotFound(err) {
				return err
			}
		}
		if !exists && (stop || suspend || p.IsRehydrate) {
			return arm.Errorf(http.StatusNotFound, "BMSUserErrorItemNotFound", "The VM '%s' is not protected in this vault, so its protection cannot be stopped.", vm.Name)
		}
		var it itemRecord
		if exists {
			it = *old
		} else {
			src := p.SourceResourceID
			if src == "" {
				src = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s", vid.SubscriptionID, vm.RG, vm.Name)
			}
			vmInfo, err := pr.lookupVM(ctx, src)
			if err != nil {
				return err
			}
			if err := pr.enableRefusal(ctx, tx, vault, vid, vmInfo); err != nil {
				return err
			}
			it = itemRecord{ProxyResource: arm.ProxyResource{ID: iid.String(), Name: vm.itemName(), Type: itemType}, VaultID: vid.String(), ContainerID: containerID(vid, vm).String(),
				VM: vmRef{vmInfo.ResourceGroup, vmInfo.Name}, SourceID: vmInfo.ID, FriendlyName: vmInfo.Name, Location: vmInfo.Location, State: stateIRPending,
				Created: now}
			if it.DataID, err = nextDataID(ctx, tx, now); err != nil {
				return err
			}
			it.VM = vmRef{vmInfo.ResourceGroup, vmInfo.Name}
			it.ID, it.Name = itemID(vid, it.VM).String(), it.VM.itemName()
			it.ContainerID = containerID(vid, it.VM).String()
		}
		jobOp := protection.OpConfigureBackup
		switch {
		case p.IsRehydrate:
			if err := undeleteItem(ctx, tx, &it); err != nil {
				return err
			}
			jobOp, stop = opUndelete, true
		case it.DeletedAt != nil:
			return softDeleted(&it, "changing its protection")
		case stop:
			it.State = stateStopped
			it.PolicyID, it.PolicyName = "", ""
			jobOp = "DisableBackup"
		case suspend:
			it.State = stateBackupsSuspended
			jobOp = "DisableBackup"
		default:
			if p.PolicyID == nil || *p.PolicyID == "" {
				if !exists || it.PolicyID == "" {
					return badField("properties.policyId", "is required to enable protection: give the id of a backup policy of this vault, e.g. %s/backupPolicies/DefaultPolicy.", vid.String())
				}
			} else {
				pol, err := pr.resolvePolicy(ctx, tx, vid, *p.PolicyID)
				if err != nil {
					return err
				}
				// An item once on an Enhanced policy stays on one, as in
				// Azure ("Backup doesn't allow changing the policy type to
				// Standard after you enable a VM backup with the Enhanced
				// policy"), stopped and resumed too.
				enhanced := pol.iaas().kind() == "V2"
				if !enhanced && (it.Enhanced || pr.onEnhancedPolicy(ctx, tx, &it)) {
					return badField("properties.policyId", "'%s' is a Standard (V1) policy, and the VM is backed up with an Enhanced (V2) policy, which it cannot leave: give an Enhanced policy of this vault.", pol.Name)
				}
				it.Enhanced = enhanced
				it.PolicyID, it.PolicyName = pol.ID, pol.Name
				if strings.Contains(*p.PolicyID, "/") {
					it.PolicyID = *p.PolicyID // echo the caller's spelling, as the seed shows
				}
			}
			if !keepDisks {
				it.Disks = disks
			}
			if it.State == stateStopped || it.State == stateBackupsSuspended || it.State == "" {
				// Resuming: IRPending only until the first backup; an item
				// with recovery points is Protected again.
				it.State = stateIRPending
				points, err := protection.ListRecoveryPoints(ctx, tx, it.ID)
				if err != nil {
					return err
				}
				if it.LastPointTime != nil || len(points) > 0 {
					it.State = stateProtected
				}
			}
		}
		if err := resource.Put(ctx, tx, mustParse(it.ID), &it); err != nil {
			return err
		}
		c := containerBody(vid, it.VM, it.SourceID, true)
		if err := resource.Put(ctx, tx, mustParse(c.ID), &c); err != nil {
			return err
		}
		if err := pr.reschedule(ctx, tx, &it); err != nil {
			return err
		}
		j := pr.newJob(vid, &it, jobOp, now, true)
		j.Finish(now, nil)
		if err := protection.CreateJob(ctx, tx, j); err != nil {
			return err
		}
		op.Properties = jobStatus(j.ID)
		op.Result = mustJSON(pr.itemBody(ctx, tx, &it))
		if !stop && !suspend {
			op.Input = mustJSON(itemOpInput{StatusForm: statusFormItem})
		}
		op.ResultStatus = http.StatusOK
		op.ResourceID = it.ID
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	pr.p.Jobs.Notify()
	return itemAccepted(r, iid.String(), op), nil
}

func mustParse(id string) arm.ResourceID {
	r, err := arm.ParseID(id)
	if err != nil {
		panic(err)
	}
	return r
}

// onEnhancedPolicy says whether the item's policy (none when stopped) is
// an Enhanced one (an item stored before Enhanced was kept on it).
func (pr *Provider) onEnhancedPolicy(ctx context.Context, rd store.Reader, it *itemRecord) bool {
	var pol policyRecord
	pid, err := arm.ParseID(it.PolicyID)
	if err != nil || resource.Get(ctx, rd, pid, &pol) != nil {
		return false
	}
	ip := pol.iaas()
	return ip != nil && ip.kind() == "V2"
}

// resolvePolicy finds a vault's IaaS policy by id (or bare name).
func (pr *Provider) resolvePolicy(ctx context.Context, rd store.Reader, vid arm.ResourceID, policyID string) (*policyRecord, error) {
	name := policyID
	if strings.Contains(policyID, "/") {
		pid, err := arm.ParseID(policyID)
		if err != nil || !pid.IsType(policyType) {
			return nil, badField("properties.policyId", "'%s' is not a backup policy id: use %s/backupPolicies/{policyName}.", policyID, vid.String())
		}
		if !arm.EqualIDs(pid.Parent().String(), vid.String()) {
			return nil, badField("properties.policyId", "'%s' belongs to another vault: use a policy of %s.", policyID, vid.String())
		}
		name = pid.Name()
	}
	var pol policyRecord
	if err := resource.Get(ctx, rd, vid.Child("backupPolicies", name), &pol); err != nil {
		return nil, policyNotFound(name, err)
	}
	if pol.iaas() == nil {
		return nil, badField("properties.policyId", "'%s' is a %s policy; a VM needs an AzureIaasVM policy.", pol.Name, pol.managementType())
	}
	return &pol, nil
}

// protectedElsewhere returns the name of another vault protecting vmID.
func (pr *Provider) protectedElsewhere(ctx context.Context, rd store.Reader, vmID string, vid arm.ResourceID) (string, error) {
	items, err := resource.List[itemRecord](ctx, rd, itemType, "/subscriptions/"+vid.SubscriptionID)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if arm.EqualIDs(it.SourceID, vmID) && !arm.EqualIDs(it.VaultID, vid.String()) {
			v, _ := arm.ParseID(it.VaultID)
			return v.Name(), nil
		}
	}
	return "", nil
}

func (pr *Provider) getItem(r *arm.Request, at itemAt) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	return arm.OK(pr.itemBody(ctx, pr.p.Store, at.item)), nil
}

func (pr *Provider) listItems(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "backupManagementType", "itemType", "policyName", "containerName", "backupEngineName", "friendlyName", "protectionStatus", "protectionState", "workloadType")
	if err != nil {
		return nil, err
	}
	if !selects(f, "backupmanagementtype", "AzureIaasVM", "itemtype", "VM") {
		return arm.OK(arm.Values([]any{})), nil
	}
	items, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, vid.String())
	if err != nil {
		return nil, err
	}
	// The vault's points in one read, and each policy read once.
	points, err := protection.SummarizeRecoveryPoints(ctx, pr.p.Store, vid.String())
	if err != nil {
		return nil, err
	}
	policyTypes := map[string]string{}
	type listed struct {
		key  string
		body map[string]any
	}
	out := make([]listed, 0, len(items))
	for i := range items {
		it := &items[i]
		if n := f["policyname"]; n != "" && !strings.EqualFold(n, it.PolicyName) {
			continue
		}
		if n := f["friendlyname"]; n != "" && !strings.EqualFold(n, it.FriendlyName) {
			continue
		}
		if n := f["containername"]; n != "" {
			if c, ok := parseContainerName(n); !ok || c.key() != it.VM.key() {
				continue
			}
		}
		body := pr.itemBodyOf(ctx, pr.p.Store, it, points[strings.ToLower(it.ID)], policyTypes)
		if n := f["protectionstate"]; n != "" && !strings.EqualFold(n, fmt.Sprint(body["properties"].(map[string]any)["protectionState"])) {
			continue
		}
		out = append(out, listed{strings.ToLower(it.ID), body})
	}
	return arm.PageKeyedOK(r, out, 200, func(l listed) string { return l.key }, func(l listed) any { return l.body })
}

// deleteItem stops protection and deletes the backup data: 202, then the
// operation deletes every recovery point (both tiers) and the item, or
// soft-deletes the item while the vault's soft delete is on
// (softdelete.go); its result is 204.
func (pr *Provider) deleteItem(r *arm.Request, at itemPath) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if err := pr.guarded(r, at.vid, opGuardDeleteItem, nil); err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opKindDelete, ResourceID: at.id.String(), Caller: r.Caller()}
	again := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		it, err := pr.loadItem(ctx, tx, at.id)
		if err != nil {
			return err
		}
		days, err := softDeleteDays(ctx, tx, at.vid)
		if err != nil {
			return err
		}
		if it.DeletedAt != nil && days > 0 {
			return deleteRefusal(it)
		}
		// A DELETE of an item whose delete is running answers that
		// operation, as ARM does, rather than queueing another.
		j := pr.newJob(at.vid, it, protection.OpDeleteBackupData, pr.p.Now(), true)
		in := deleteInput{ItemID: it.ID, JobID: j.ID, DataID: it.DataID}
		if it.DeletedAt == nil {
			in.SoftDeleteDays = days
		}
		p, err := pr.p.Ops.StartUnlessRunning(ctx, tx, it.ID, ops.Pending{Identity: it.DataID}, false, op, in, func() error {
			if err := pr.spendPIN(r, tx, at.vid); err != nil {
				return err
			}
			if err := pr.Engine.Unschedule(ctx, tx, it.ID); err != nil {
				return err
			}
			op.Properties = jobStatus(j.ID)
			return protection.CreateJob(ctx, tx, j)
		})
		again = p != nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if !again {
		pr.p.Ops.Notify()
	}
	return vaultAccepted(r, at.vid, op), nil
}

type deleteInput struct {
	ItemID string `json:"itemId"`
	JobID  string `json:"jobId"`
	// SoftDeleteDays (soft delete on at the request): the item is
	// soft-deleted for that many days instead of deleted.
	SoftDeleteDays int `json:"softDeleteDays,omitempty"`
	// DataID is the protectedItemDataId of the item the delete was
	// accepted for: an item of that name with another (protected again
	// after another delete removed it) is left alone. Deletes accepted
	// by releases before it have none.
	DataID string `json:"dataId,omitempty"`
}

// runDeleteItem is the operation behind DELETE of a protected item.
func (pr *Provider) runDeleteItem(ctx context.Context, op *ops.Operation, in deleteInput) error {
	id := mustParse(in.ItemID)
	op.EndPending(ctx, in.ItemID)
	it, err := pr.loadItem(ctx, pr.p.Store, id)
	if err != nil {
		if !arm.IsNotFound(err) {
			return err
		}
		it = nil
	}
	if it != nil && in.DataID != "" && it.DataID != in.DataID {
		it = nil // made again since: what was to be deleted is gone
	}
	// A delete fault rule (admin API) holds the deletion (InProgress while
	// its latency runs) or fails it: the job ends Failed with its code and
	// the item, its data and its schedule stay.
	if err := pr.p.Inject(ctx, fault.OpDelete, id.String()); err != nil {
		var ae *arm.Error
		if !arm.As(err, &ae) {
			return err
		}
		ferr := pr.p.Store.Update(ctx, func(tx store.Tx) error {
			if it, err := pr.loadItem(ctx, tx, id); err == nil {
				if err := pr.reschedule(ctx, tx, it); err != nil {
					return err
				}
			} else if !isNotFound(err) {
				return err
			}
			j, err := getJob(ctx, tx, "", in.JobID)
			if err != nil {
				return err
			}
			j.Finish(pr.p.Now(), jobErr(ae))
			return protection.PutJob(ctx, tx, j)
		})
		if ferr != nil {
			return ferr
		}
		return err
	}
	namesJob(op, in.JobID)
	finish := func(ctx context.Context, tx store.Tx) error {
		j, err := getJob(ctx, tx, "", in.JobID)
		if err != nil {
			return err
		}
		j.Finish(pr.p.Now(), nil)
		return protection.PutJob(ctx, tx, j)
	}
	if it == nil {
		return pr.p.Store.Update(ctx, func(tx store.Tx) error { return finish(ctx, tx) })
	}
	if in.SoftDeleteDays > 0 {
		return pr.softDeleteItem(ctx, id, in.SoftDeleteDays, finish)
	}
	return pr.removeItem(ctx, it, finish)
}

// removeItem deletes every recovery point of an item in both tiers, then
// its schedule, the item and its container, and runs also (nil: nothing
// more) in that transaction. It holds the item's lease throughout
// (protection.Engine.DeleteItemData), so a backup of the item waiting for
// the lease finds the item gone instead of recording a point after its
// data was deleted. It removes only the item it (its protectedItemDataId),
// checked under the lease and in the transaction that removes it, as
// compute's deletes check a disk's uniqueId: an item of that id made again
// since (it was removed meanwhile, by a purge say, and the VM protected
// again) is left alone with its data, and also runs on its own.
func (pr *Provider) removeItem(ctx context.Context, it *itemRecord, also func(ctx context.Context, tx store.Tx) error) error {
	v, err := pr.loadVault(ctx, pr.p.Store, mustParse(it.VaultID))
	key := ""
	if err == nil {
		key = v.UniqueID
	}
	same := func(ctx context.Context, r store.Reader) error {
		cur, err := pr.loadItem(ctx, r, mustParse(it.ID))
		if err != nil {
			if isNotFound(err) {
				return nil // gone: what is left of its data goes
			}
			return err
		}
		if it.DataID != "" && cur.DataID != it.DataID {
			return errItemMadeAgain
		}
		return nil
	}
	err = pr.Engine.DeleteItemData(ctx, it.ID, key, same, func(ctx context.Context, tx store.Tx) error {
		if err := pr.Engine.Unschedule(ctx, tx, it.ID); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, mustParse(it.ID)); err != nil {
			var ae *arm.Error
			if !arm.As(err, &ae) {
				return err
			}
		}
		// The container, with the management locks on it (resource.Delete).
		if cid, err := arm.ParseID(it.ContainerID); err == nil {
			if err := resource.Delete(ctx, tx, cid); err != nil && !arm.IsNotFound(err) {
				return err
			}
		}
		if err := cancelPurgeItem(ctx, tx, it.ID); err != nil {
			return err
		}
		// Its points' file recovery sessions (their exports ended with
		// the points' snapshots).
		if _, err := tx.DeleteScope(ctx, ilrKind, ilrScope(it.ID)); err != nil {
			return err
		}
		if also != nil {
			return also(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, errItemMadeAgain) {
		if also == nil {
			return nil
		}
		return pr.p.Store.Update(ctx, func(tx store.Tx) error { return also(ctx, tx) })
	}
	return err
}

// errItemMadeAgain: the item removeItem was given is gone, and one of its
// id made again since is left alone.
var errItemMadeAgain = errors.New("the protected item was made again since")

// codeCrossRegion answers a request to protect a VM of another region than
// the vault's (Azure lists and protects only VMs of the vault's region).
const codeCrossRegion = "BMSUserErrorCrossRegionVMNotSupported"

// sameRegion compares locations as Azure does (case and spaces ignored);
// an unknown location (empty) matches any.
func sameRegion(a, b string) bool {
	return a == "" || b == "" || resource.NormLocation(a) == resource.NormLocation(b)
}

// itemOpInput marks how an item operation's status is shown.
type itemOpInput struct {
	StatusForm string `json:"statusForm,omitempty"`
}

// statusFormItem: the status of an enable or a policy change carries the
// protected item, as the seed shows ("returns 200 (OK) with the protected
// item content in the response body").
const statusFormItem = "item"

func (pr *Provider) itemOperationStatus(r *arm.Request) (*arm.Response, error) {
	op, err := armops.Lookup(pr.p.Ops, r, r.Param("operationId"))
	if err != nil {
		return nil, err
	}
	if op.Kind == opKindItem && op.Status == ops.Succeeded && len(op.Result) > 0 && len(op.Input) > 0 {
		var in itemOpInput
		if json.Unmarshal(op.Input, &in) == nil && in.StatusForm == statusFormItem {
			if body, ok := mergedItemStatus(op); ok {
				return arm.OK(body), nil
			}
		}
	}
	resp, err := armops.StatusResponse(pr.p.Ops, r, op.ID)
	if err != nil { // a store error, or the operation pruned since the lookup
		return nil, err
	}
	if b, ok := resp.Body.(map[string]any); ok && b["endTime"] == nil {
		// Azure's Recovery Services statuses carry the minimum time as the
		// endTime of an operation still running (its examples document it).
		b["endTime"] = notEnded
	}
	return resp, nil
}

// notEnded is the endTime of a Recovery Services operation still running.
const notEnded = "0001-01-01T00:00:00Z"

// mergedItemStatus is the ARM status fields (status, startTime, endTime)
// plus the protected item: its id, name, type and properties, to which the
// status properties (objectType OperationStatusJobExtendedInfo, jobId) are
// added, so that the SDK's OperationStatus still decodes.
func mergedItemStatus(op *ops.Operation) (map[string]any, bool) {
	var item map[string]any
	if json.Unmarshal(op.Result, &item) != nil {
		return nil, false
	}
	props, _ := item["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	var extra map[string]any
	json.Unmarshal(op.Properties, &extra)
	for k, v := range extra {
		props[k] = v
	}
	st := armops.StatusBody(op, "")
	st["id"], st["name"], st["type"], st["properties"] = item["id"], item["name"], item["type"], props
	return st, true
}

func (pr *Provider) itemOperationResult(r *arm.Request) (*arm.Response, error) {
	return armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
}

// protectedItemOperationResult answers GET item/operationResults/{id}: 202
// while the operation runs, then 200 with the protected item as Azure does
// (an operation without a body of its own, a backup or a restore, answers
// the item as it is now; 204 only when the item is gone).
func (pr *Provider) protectedItemOperationResult(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	resp, err := armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	if err != nil || resp.Status != http.StatusNoContent {
		return resp, err
	}
	at, err := pr.itemPathOf(r)
	if err != nil {
		return nil, err
	}
	it, err := pr.loadItem(ctx, pr.p.Store, at.id)
	if isNotFound(err) {
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(pr.itemBody(ctx, pr.p.Store, it)), nil
}

func (pr *Provider) getContainer(r *arm.Request, at itemPath) (*arm.Response, error) {
	c, err := pr.containerAt(r, at)
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}

func (pr *Provider) listContainers(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "backupManagementType", "friendlyName", "status", "fabricName")
	if err != nil {
		return nil, err
	}
	if !selects(f, "backupmanagementtype", "AzureIaasVM") {
		return arm.OK(arm.Values([]any{})), nil
	}
	cs, err := resource.List[containerRecord](ctx, pr.p.Store, containerType, vid.String())
	if err != nil {
		return nil, err
	}
	out := make([]containerRecord, 0, len(cs))
	for _, c := range cs {
		if n := f["friendlyname"]; n != "" && !strings.EqualFold(n, fmt.Sprint(c.Properties["friendlyName"])) {
			continue
		}
		out = append(out, c)
	}
	return arm.PageKeyedOK(r, out, 200, func(c containerRecord) string { return strings.ToLower(c.ID) }, func(c containerRecord) any { return c })
}
