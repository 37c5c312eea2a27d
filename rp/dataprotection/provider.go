// Package dataprotection is the Microsoft.DataProtection resource provider
// (Backup vaults and Azure Disk backup): the ARM wire layer over the shared
// protection core, with disks and snapshots from compute.
//
// Wire shapes follow armdataprotection v3 exactly on output and are read
// leniently on input (the 2021-01-01 seed's casing included). Backup
// vaults, policies and backup instances are stored as ARM resources; jobs
// and recovery points live in the protection core; each backup instance's
// schedule is one keyed durable task that the engine fires
// (protection.Engine.Schedule).
//
// Vault soft delete (deleted backup instances, undelete, purge) is described
// in instances.go and its settings are read in vaultsettings.go, vault identities (system- and user-assigned, and which
// one permission checks use) in identity.go. Vault locations are answered
// normalised as Azure does ("West US" → "westus"); datasource locations are
// echoed as sent.
package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

const namespace = "Microsoft.DataProtection"

// APIVersions are the api-versions accepted: every one Azure published for
// the namespace, stable and preview (rp/apiversions).
var APIVersions = arm.UnionVersions(arm.APIVersionsDataProtection)

// Operation kinds.
const (
	opValidateForBackup = "dataprotection.validateForBackup"
	opConfigure         = "dataprotection.configureProtection"
	opDeleteInstance    = "dataprotection.deleteInstance"
	opBackup            = "dataprotection.adhocBackup"
	opRestore           = "dataprotection.restore"
	opValidateRestore   = "dataprotection.validateRestore"
	opInstanceAction    = "dataprotection.instanceAction"
	opVaultUpdate       = "dataprotection.vaultUpdate"
	opExportJobs        = "dataprotection.exportJobs"
)

// Provider serves Microsoft.DataProtection.
type Provider struct {
	Compute *compute.Service
	Engine  *protection.Engine

	p *resource.Platform
}

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	if pr.Compute == nil || pr.Engine == nil {
		return errors.New("dataprotection: Compute and Engine are required")
	}
	pr.Engine.RegisterFace(faceName, face{pr, resource.VaultDocs[vaultResource, *protection.Vault]{Type: typeVault, Load: pr.loadVault, As: engineVault}})
	pr.p = p
	rt.RegisterNamespace(arm.Namespace{Name: namespace, Versions: APIVersions})

	sub := "/subscriptions/{subscriptionId}"
	rg := sub + "/resourceGroups/{resourceGroupName}"
	V := rg + "/providers/Microsoft.DataProtection/backupVaults/{vaultName}"
	B := V + "/backupInstances/{backupInstanceName}"
	loc := sub + "/providers/Microsoft.DataProtection/locations/{location}"

	listVaultsRG, listVaultsSub := scopedLists(pr, typeVault, func(v *vaultResource) { v.Location = resource.NormLocation(v.Location) })
	rt.Handle("GET", sub+"/providers/Microsoft.DataProtection/backupVaults", listVaultsSub)
	rt.Handle("GET", rg+"/providers/Microsoft.DataProtection/backupVaults", listVaultsRG)
	rt.HandleResource(V, arm.Methods{Get: pr.getVault, Put: pr.putVault, Patch: pr.patchVault, Delete: pr.deleteVault})
	rt.Handle("POST", rg+"/providers/Microsoft.DataProtection/locations/{location}/checkNameAvailability", pr.checkName,
		arm.Action("Microsoft.DataProtection/locations/checkNameAvailability/action"))

	rt.HandleResource(V+"/backupPolicies/{backupPolicyName}", arm.Methods{List: pr.inVault(pr.listPolicies), Get: pr.inVault(pr.getPolicy), Put: pr.putPolicy, Delete: pr.inVault(pr.deletePolicy)})
	resource.PrefetchList(typePolicy, func(vault string) []store.Read { return []store.Read{resource.ListRead(typePolicy, vault)} })

	rt.Handle("POST", V+"/validateForBackup", pr.validateForBackup)
	rt.Handle("POST", V+"/verify", pr.verifyVault)
	rt.HandleResource(B, arm.Methods{List: pr.inVault(pr.listInstances), Get: pr.getInstance, Put: pr.putInstance, Delete: pr.deleteInstance})
	rt.Handle("POST", B+"/backup", pr.adhocBackup)
	rt.Handle("POST", B+"/stopProtection", pr.instanceAction("stopProtection"))
	rt.Handle("POST", B+"/suspendBackups", pr.instanceAction("suspendBackups"))
	rt.Handle("POST", B+"/resumeProtection", pr.instanceAction("resumeProtection"))
	rt.Handle("POST", B+"/resumeBackups", pr.instanceAction("resumeBackups"))
	rt.Handle("POST", B+"/sync", pr.instanceAction("sync"))
	rt.Handle("POST", B+"/validateForModifyBackup", pr.validateForModifyBackup)
	rt.Handle("POST", B+"/validateRestore", pr.validateRestore)
	rt.Handle("POST", B+"/restore", pr.restore)
	rt.HandleResource(B+"/recoveryPoints/{recoveryPointId}", arm.Methods{List: pr.listRecoveryPoints, Get: pr.getRecoveryPoint})
	rt.Handle("GET", B+"/operationResults/{operationId}", pr.opResult)
	rt.Handle("GET", "/{*scope}/providers/Microsoft.DataProtection/backupInstances", pr.listInstancesOfDatasource,
		arm.Action("Microsoft.DataProtection/backupVaults/backupInstances/read"))

	rt.HandleResource(V+"/deletedBackupInstances/{backupInstanceName}", arm.Methods{List: pr.inVault(pr.listDeletedInstances), Get: pr.inVault(pr.getDeletedInstance)})
	rt.Handle("POST", V+"/deletedBackupInstances/{backupInstanceName}/undelete", pr.undelete)
	rt.Handle("GET", "/providers/Microsoft.DataProtection/operations", rt.PublishedCatalog(namespace, namespace, arm.Published(azureOperations)), arm.NoAuthz())

	// The seed's URL typos (backupVaults/ missing) as aliases of the real paths.
	T := rg + "/providers/Microsoft.DataProtection/{vaultName}"
	rt.Handle("PUT", T, pr.aliased(pr.putVault), arm.Action("Microsoft.DataProtection/backupVaults/write"))
	rt.Handle("GET", T, pr.aliased(pr.getVault), arm.Action("Microsoft.DataProtection/backupVaults/read"))
	rt.Handle("PUT", T+"/backupInstances/{backupInstanceName}", pr.aliased(pr.putInstance), arm.Action("Microsoft.DataProtection/backupVaults/backupInstances/write"))
	rt.Handle("GET", T+"/backupInstances/{backupInstanceName}", pr.aliased(pr.getInstance), arm.Action("Microsoft.DataProtection/backupVaults/backupInstances/read"))

	rt.Handle("GET", V+"/backupJobs", pr.listJobs)
	resource.PrefetchList(typeVault+"/backupJobs", func(vault string) []store.Read { return []store.Read{protection.JobsRead(vault)} })
	pr.registerGuards(rt, sub, rg, V)
	pr.registerUnsupported(rt, rg, B)
	pr.registerDeletedVaults(rt, sub)
	pr.registerExports(rt, V)
	rt.Handle("GET", V+"/backupJobs/{jobId}", pr.getJob)

	rt.Handle("GET", loc+"/operationStatus/{operationId}", pr.opStatus)
	rt.Handle("POST", loc+"/checkFeatureSupport", pr.checkFeatureSupport, arm.Action(namespace+"/locations/checkFeatureSupport/action"))
	rt.Handle("GET", loc+"/operationResults/{operationId}", pr.opResult)
	rt.Handle("GET", V+"/operationStatus/{operationId}", pr.opStatus)
	rt.Handle("GET", V+"/operationResults/{operationId}", pr.opResult)
	rt.Handle("GET", rg+"/providers/Microsoft.DataProtection/operationStatus/{operationId}", pr.opStatus)

	p.Ops.Register(opValidateForBackup, withInput(pr.runValidate("Validate for Protection", "diskId", func(in map[string]string) []permCheck { return backupPermissions(in["diskId"], in["snapshotRG"]) })))
	p.Ops.Register(opConfigure, withInput(pr.runConfigure))
	p.Ops.Register(opDeleteInstance, withInput(pr.runDeleteInstance))
	p.Ops.Register(opBackup, withInput(pr.runAdhocBackup))
	p.Ops.Register(opRestore, withInput(pr.runRestore))
	p.Ops.Register(opValidateRestore, withInput(pr.runValidate("Validate for Restore", "instanceId", restorePermissions)))
	p.Ops.Register(opVerify, withInput(pr.runVerify))
	p.Ops.RegisterDone(opInstanceAction, opVaultUpdate)
	p.Ops.Register(opExportJobs, pr.runExportJobs)

	p.Jobs.Register(purgeTaskKind, pr.runPurge)

	p.OnDelete(typeDeleted, 5, pr.purgeDeleted)
	p.OnDelete(typeInstance, 10, pr.cascadeDeleteInstance)
	p.OnDelete(typePolicy, 20, pr.cascadeDeletePolicy)
	p.OnDelete(typeVault, 30, pr.cascadeDeleteVault)
	p.OnDeleteCheck(typeVault, pr.checkDeleteVault)
	return nil
}

// ids

func vaultIDOf(r *arm.Request) arm.ResourceID {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), namespace, "backupVaults", r.Param("vaultName"))
}

func instanceIDOf(r *arm.Request) arm.ResourceID {
	return vaultIDOf(r).Child("backupInstances", r.Param("backupInstanceName"))
}

// opAccepted is the 202 of the operation op, polled at the status and
// result of the vault's location.
// mapOp is the work of an operation whose input is a map of strings, as
// most of this face's operations are.
type mapOp func(ctx context.Context, op *ops.Operation, in map[string]string) error

// withInput is fn as an ops.Func that decodes the operation's input first.
func withInput(fn mapOp) ops.Func { return ops.WithInput(fn) }

func opAccepted(r *arm.Request, location string, op *ops.Operation) *arm.Response {
	st, res := asyncPaths(r.Param("subscriptionId"), location, op.ID)
	return arm.Accepted().Async(r, st, res)
}

// asyncPaths are the location-scoped status and result paths of an operation.
func asyncPaths(sub, location, opID string) (status, result string) {
	base := "/subscriptions/" + sub + "/providers/Microsoft.DataProtection/locations/" + resource.NormLocation(location)
	return base + "/operationStatus/" + opID, base + "/operationResults/" + opID
}

func (pr *Provider) opStatus(r *arm.Request) (*arm.Response, error) {
	return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
}

// opResult answers an operation's result. The spec allows 200 or 202
// here, so a finished operation without a result body answers 200 with
// the operation's OperationJobExtendedInfo (its job, when it has one)
// rather than 204.
func (pr *Provider) opResult(r *arm.Request) (*arm.Response, error) {
	resp, err := armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	if err != nil || resp.Status != http.StatusNoContent {
		return resp, err
	}
	out := map[string]any{"objectType": "OperationJobExtendedInfo"}
	if st, err := armops.StatusResponse(pr.p.Ops, r, r.Param("operationId")); err == nil {
		if b, err := json.Marshal(st.Body); err == nil {
			var s struct {
				Properties struct {
					JobID string `json:"jobId"`
				} `json:"properties"`
			}
			if json.Unmarshal(b, &s) == nil && s.Properties.JobID != "" {
				out["jobId"] = s.Properties.JobID
			}
		}
	}
	return arm.OK(out), nil
}

func lastSegment(s string) string { return path.Base(strings.TrimRight(s, "/")) }

var isNotFound = vaultface.IsNotFound

func fieldError(field, format string, args ...any) *arm.Error {
	return arm.BadRequestAt(field, "InvalidRequestContent", "%s: %s", field, fmt.Sprintf(format, args...))
}

// aliased serves a seed-typo path (.../Microsoft.DataProtection/{vault}
// without backupVaults/) with the real handler; a vault name that is one of
// the namespace's collection names is not a vault.
func (pr *Provider) aliased(h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		switch strings.ToLower(r.Param("vaultName")) {
		case "backupvaults", "locations", "operationstatus", "operationresults", "backupinstances", "operations":
			return nil, arm.Errorf(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.DataProtection'.", r.Param("vaultName"))
		}
		return h(r)
	}
}
