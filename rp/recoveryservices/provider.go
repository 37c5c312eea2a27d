// Package recoveryservices serves Microsoft.RecoveryServices: Recovery
// Services vaults and Azure VM backup (discovery of the subscription's VMs,
// protected items, IaaS VM policies, on-demand and scheduled backups,
// jobs, recovery points and restores), over the api-versions the SDK
// (2023-04-01 vaults, 2024-04-01 backup) and the seeds (2016-12-01 and
// friends) use.
//
// Backups are crash-consistent: all of a VM's disks are snapshotted at one
// instant by compute. The snapshots are the instant tier: real
// Microsoft.Compute/snapshots resources in the resource group
// AzureBackupRG_{location}_1 (created on demand, as Azure does), kept for
// the policy's instantRpRetentionRangeInDays. Each point is then copied to
// the vault tier: a snapshot repository per vault on a local blob backend
// under DataDir/vaults/{vault uniqueId}, kept per the policy's
// daily/weekly/monthly/yearly retention (or the on-demand expiry).
//
// Jobs, recovery-point records, the per-item scheduler and the schedule and
// retention math are the shared protection core's: policies map to
// protection.WeeklySchedule (daily, weekly, and hourly-within-a-window
// runs) and protection.LongTermRetention (each daily/weekly/monthly/yearly
// rule that matches a point keeps it; the latest end wins; added in
// protection/iaas_retention.go together with the instant-tier bookkeeping).
package recoveryservices

import (
	"context"
	"errors"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const namespace = "Microsoft.RecoveryServices"

// APIVersions are the api-versions Microsoft.RecoveryServices accepts: every
// one published by the vault and the backup specs (they share the namespace).
var APIVersions = arm.APIVersionsRecoveryServices

const (
	opKindRefresh = "recoveryservices.refresh"
	opKindItem    = "recoveryservices.item"
	opKindDelete  = "recoveryservices.deleteItem"
	opKindBackup  = "recoveryservices.backup"
	opKindRestore = "recoveryservices.restore"
	opKindCancel  = "recoveryservices.cancel"
	opKindVault   = "recoveryservices.vault"
	opKindPolicy  = "recoveryservices.policy"
)

// Provider serves Microsoft.RecoveryServices.
type Provider struct {
	Compute *compute.Service
	Engine  *protection.Engine

	p *resource.Platform
}

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	if pr.Compute == nil || pr.Engine == nil {
		return errors.New("recoveryservices: Compute and Engine are required")
	}
	pr.p = p
	pr.Engine.RegisterFace(faceName, face{pr, resource.VaultDocs[vaultRecord, *protection.Vault]{Type: vaultType, Load: pr.loadVault, As: engineVault}})
	rt.RegisterNamespace(arm.Namespace{Name: namespace, Versions: APIVersions})

	sub := "/subscriptions/{subscriptionId}"
	rg := sub + "/resourceGroups/{resourceGroupName}"
	R := rg + "/providers/Microsoft.RecoveryServices/vaults/{vaultName}"
	F := R + "/backupFabrics/{fabricName}"
	C := F + "/protectionContainers/{containerName}"
	I := C + "/protectedItems/{protectedItemName}"

	rt.Handle("GET", sub+"/providers/Microsoft.RecoveryServices/vaults", pr.listVaultsSub)
	rt.Handle("GET", rg+"/providers/Microsoft.RecoveryServices/vaults", pr.listVaultsRG)
	rt.Handle("POST", rg+"/providers/Microsoft.RecoveryServices/locations/{location}/checkNameAvailability", pr.checkName, arm.Action(namespace+"/locations/checkNameAvailability/action"))
	rt.HandleResource(R, arm.Methods{Get: pr.getVault, Put: pr.putVault, Patch: pr.patchVault, Delete: pr.deleteVault})
	rt.Handle("GET", R+"/operationStatus/{operationId}", pr.itemOperationStatus, arm.Action(namespace+"/vaults/operationStatus/read"))
	rt.Handle("GET", R+"/operationResults/{operationId}", pr.vaultOperationResult, arm.Action(namespace+"/vaults/operationResults/read"))
	rt.Handle("GET", R+"/privateLinkResources", pr.listPrivateLinkResources)
	rt.Handle("GET", R+"/privateLinkResources/{privateLinkResourceName}", pr.getPrivateLinkResource)
	rt.HandleResource(R+"/backupstorageconfig/vaultstorageconfig", arm.Methods{Get: pr.getConfig("storage"), Put: pr.putStorageConfig, Patch: pr.patchStorageConfig})
	rt.Handle("GET", R+"/backupstorageconfig/vaultstorageconfig/operationResults/{operationId}", pr.ownOperations(pr.backupStorageConfigOf, pr.itemOperationResult))
	rt.Handle("GET", R+"/backupstorageconfig/vaultstorageconfig/operationStatus/{operationId}", pr.ownOperations(pr.backupStorageConfigOf, pr.itemOperationStatus))
	PEC := R + "/privateEndpointConnections/{privateEndpointConnectionName}"
	rt.HandleResource(PEC, arm.Methods{Get: pr.getPrivateEndpointConnection, Put: pr.getPrivateEndpointConnection, Delete: pr.deletePrivateEndpointConnection})
	rt.Handle("GET", PEC+"/operationsStatus/{operationId}", pr.ownOperations(pr.privateEndpointConnectionOf, pr.itemOperationStatus))
	rt.HandleResource(R+"/backupconfig/vaultconfig", arm.Methods{Get: pr.getConfig("vault"), Put: pr.putVaultConfig, Patch: pr.putVaultConfig})

	rt.HandleResource(R+"/backupPolicies/{policyName}", arm.Methods{List: pr.listPolicies, Get: on(pr.policyIDOf, pr.getPolicy), Put: on(pr.policyIDOf, pr.putPolicy), Delete: on(pr.policyIDOf, pr.deletePolicy)})
	rt.Handle("GET", R+"/backupPolicies/{policyName}/operationResults/{operationId}", pr.ownOperations(pr.policyPathOf, pr.policyOperationResult), arm.Action(namespace+"/vaults/backupPolicies/operationResults/read"))
	rt.Handle("GET", R+"/backupPolicies/{policyName}/operations/{operationId}", pr.ownOperations(pr.policyPathOf, pr.policyOperationStatus), arm.Action(namespace+"/vaults/backupPolicies/operations/read"))

	rt.Handle("POST", F+"/refreshContainers", pr.refresh)
	rt.Handle("GET", F+"/operationResults/{operationId}", pr.refreshResult, arm.Action(namespace+"/vaults/backupFabrics/operationResults/read"))
	rt.Handle("GET", R+"/backupProtectableItems", pr.listProtectable)
	rt.Handle("GET", R+"/backupProtectionContainers", pr.listContainers)
	rt.Handle("GET", C, on(pr.itemPathOf, pr.getContainer))
	pr.registerContainerOps(rt, F, C)
	rt.Handle("GET", C+"/operationResults/{operationId}", pr.ownOperations(pr.protectedItemOf, pr.itemOperationResult), arm.Action(namespace+"/vaults/backupFabrics/protectionContainers/operationResults/read"))

	rt.Handle("GET", R+"/backupProtectedItems", pr.primaryOnly(pr.listItems))
	rt.HandleResource(I, arm.Methods{Get: on(pr.itemOf, pr.getItem), Put: pr.putItem, Delete: on(pr.itemPathOf, pr.deleteItem)})
	rt.Handle("GET", I+"/operationsStatus/{operationId}", pr.ownOperations(pr.protectedItemOf, pr.itemOperationStatus), arm.Action(namespace+"/vaults/backupFabrics/protectionContainers/protectedItems/operationsStatus/read"))
	rt.Handle("GET", I+"/operationResults/{operationId}", pr.ownOperations(pr.protectedItemOf, pr.protectedItemOperationResult), arm.Action(namespace+"/vaults/backupFabrics/protectionContainers/protectedItems/operationResults/read"))
	rt.Handle("POST", I+"/backup", on(pr.itemPathOf, pr.triggerBackup))
	rt.HandleResource(I+"/recoveryPoints/{recoveryPointId}", arm.Methods{List: pr.primaryOnly(on(pr.itemOf, pr.listPoints)), Get: pr.primaryOnly(on(pr.pointOfRequest, pr.getPoint))})
	rt.Handle("POST", I+"/recoveryPoints/{recoveryPointId}/restore", on(pr.itemPathOf, pr.restore))
	rt.Handle("POST", I+"/recoveryPoints/{recoveryPointId}/provisionInstantItemRecovery", on(pr.pointOfRequest, pr.provisionILR))
	rt.Handle("POST", I+"/recoveryPoints/{recoveryPointId}/revokeInstantItemRecovery", on(pr.pointOfRequest, pr.revokeILR))
	rt.Handle("GET", R+"/backupOperations/{operationId}", pr.itemOperationStatus, arm.Action(namespace+"/vaults/backupOperations/read"))
	rt.Handle("GET", R+"/backupOperationResults/{operationId}", pr.itemOperationResult, arm.Action(namespace+"/vaults/backupOperationResults/read"))

	rt.Handle("POST", R+"/backupSecurityPIN", pr.securityPIN, arm.Action(namespace+"/vaults/backupSecurityPIN/action"))
	rt.Handle("GET", R+"/backupJobs", pr.listJobs)
	resource.PrefetchList("Microsoft.RecoveryServices/vaults/backupJobs", func(vault string) []store.Read { return []store.Read{protection.JobsRead(vault)} })
	rt.Handle("POST", R+"/verify", pr.verifyVault)
	rt.Handle("GET", R+"/backupJobs/{jobName}", on(pr.foundVaultID, pr.getJob))
	rt.Handle("POST", R+"/backupJobs/{jobName}/cancel", on(pr.foundVaultID, pr.cancelJob))
	rt.Handle("GET", R+"/backupJobs/{jobName}/operationResults/{operationId}", pr.itemOperationResult, arm.Action(namespace+"/vaults/backupJobs/operationResults/read"))

	pr.registerContract(rt, R)
	pr.registerVaultInfo(rt, sub, R)
	pr.registerVaultRegistration(rt, R)
	pr.registerProtectionIntents(rt, R, F)
	pr.registerValidate(rt, R)
	pr.registerVMChecks(rt, sub)
	pr.registerCrossRegion(rt, sub)
	pr.registerArchive(rt, R, I)

	p.Ops.Register(opKindRefresh, pr.runRefresh)
	p.Ops.Register(opKindDelete, ops.WithInput(pr.runDeleteItem))
	p.Ops.Register(opKindRestore, pr.runRestoreOp)
	p.Ops.Register(opKindValidate, pr.runValidate)
	p.Ops.Register(opKindCancel, ops.WithInput(pr.runCancel))
	p.Jobs.Register(purgeItemTask, pr.runPurgeItem)
	p.Ops.RegisterDone(opKindItem, opKindBackup, opKindVault, opKindPolicy, opKindVerify)
	p.OnDelete(vaultType, 5, pr.cascadeDeleteVault)
	p.OnDeleteCheck(vaultType, pr.checkDeleteVault)
	return nil
}

// on is the handler of a route whose path names a resource: of resolves
// what the path names (answering the request with its 404 or 400 when that
// does not resolve) and h serves the request with it, so that no handler
// starts by resolving its vault, item or point itself.
func on[T any](of func(*arm.Request) (T, error), h func(*arm.Request, T) (*arm.Response, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		at, err := of(r)
		if err != nil {
			return nil, err
		}
		return h(r, at)
	}
}

func (pr *Provider) cascadeDeleteVault(ctx context.Context, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	v, err := pr.loadVault(ctx, pr.p.Store, rid)
	if err != nil {
		return nil // already gone
	}
	if err := pr.removeVault(ctx, v, false); !errors.Is(err, errVaultGone) {
		return err
	}
	return nil // gone meanwhile
}
