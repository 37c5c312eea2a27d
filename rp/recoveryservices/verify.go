package recoveryservices

import (
	"strconv"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Verify: a Safehold action on a Recovery Services vault,
//
//	POST .../vaults/{vault}/verify?api-version=...  {"readData":false,"sample":0.05}
//
// (authorized as Microsoft.RecoveryServices/vaults/verify/action, which
// Contributor and Backup Contributor grant and Reader does not), creates a
// Verify job in the vault's backupJobs (a VaultJob) and answers 202 with
// Azure-AsyncOperation and Location, as an on-demand backup does: the
// operation succeeds once the job exists (its properties carry the jobId)
// and the job, run by the protection engine, ends Completed when the
// vault's data is intact or Failed with UserErrorRecoveryPointCorrupt
// naming the damaged points and packs.

const opKindVerify = "recoveryservices.verify"

func (pr *Provider) verifyVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		ReadData bool    `json:"readData"`
		Sample   float64 `json:"sample"`
	}
	vid, err := pr.vaultAndBody(r, &in)
	if err != nil {
		return nil, err
	}
	q := protection.VerifyRequest{VaultIDs: []string{vid.String()}, ReadData: in.ReadData, Sample: in.Sample}
	if err := q.Check(); err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opKindVerify, ResourceID: vid.String(), Caller: r.Caller()}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		run, err := pr.Engine.StartVerify(ctx, tx, "", q, true)
		if err != nil {
			return err
		}
		namesJob(op, run.Vaults[0].JobID)
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	pr.Engine.Notify()
	return vaultAccepted(r, vid, op), nil
}

// vaultJobBody renders a vault-level job (Verify) as Azure's VaultJob. Its
// backupManagementType is the vault's items' (a Recovery Services vault
// here holds VMs only), as every job of the list carries one.
func (pr *Provider) vaultJobBody(j *protection.Job) map[string]any {
	now := pr.p.Now()
	bag := map[string]string{"Vault Name": j.ItemName}
	for k, v := range j.Details {
		if !hiddenDetails[k] {
			bag[k] = v
		}
	}
	for _, t := range j.Tasks {
		bag["Task "+t.Name] = t.Status
	}
	bag["Progress Percentage"] = strconv.FormatFloat(j.Progress, 'f', -1, 64)
	props := map[string]any{
		"jobType": "VaultJob", "entityFriendlyName": j.ItemName, "backupManagementType": "AzureIaasVM", "operation": j.Operation, "status": j.Status,
		"startTime": wt(j.StartTime), "duration": protection.FormatElapsed(j.Duration(now)), "activityId": j.ID,
		"actionsInfo": []string{}, "extendedInfo": map[string]any{"propertyBag": bag},
	}
	if j.Error != nil {
		bag["Error Code"] = j.Error.Code
		props["errorDetails"] = []map[string]any{{"errorCode": jobErrorCode(j.Error.Code), "errorString": j.Error.Message,
			"recommendations": append([]string{}, j.Error.RecommendedAction...)}}
	}
	if j.EndTime != nil {
		props["endTime"] = wt(*j.EndTime)
	}
	return map[string]any{"id": j.VaultID + "/backupJobs/" + j.ID, "name": j.ID, "type": jobType, "properties": props}
}

// engineVault is a Recovery Services vault as the engine's verify sees it:
// each vault has its own vault tier (by its unique id).
func engineVault(v *vaultRecord) *protection.Vault {
	return &protection.Vault{ID: v.ID, Name: v.Name, Type: vaultType, Location: resource.NormLocation(v.Location), Key: v.UniqueID, Tags: v.Tags}
}
