package dataprotection

import (
	"context"
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Verify: a Safehold action on a Backup vault,
//
//	POST .../backupVaults/{vault}/verify?api-version=...  {"readData":false,"sample":0.05}
//
// (authorized as Microsoft.DataProtection/backupVaults/verify/action, which
// Contributor and Backup Contributor grant and Reader does not), starts a
// Verify job in the vault's backupJobs and answers 202 with
// Azure-AsyncOperation and Location. The operation ends Succeeded with the
// job id when the vault's recovery points are intact, Failed with
// UserErrorRecoveryPointCorrupt (naming the damaged points) when not.

const opVerify = "dataprotection.verify"

type verifyRequest struct {
	ReadData bool    `json:"readData"`
	Sample   float64 `json:"sample"`
}

func (pr *Provider) verifyVault(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	var in verifyRequest
	if err := r.DecodeOptional(&in); err != nil {
		return nil, err
	}
	q := protection.VerifyRequest{VaultIDs: []string{vault.ID}, ReadData: in.ReadData, Sample: in.Sample}
	if err := q.Check(); err != nil {
		return nil, err
	}
	id := newGUID()
	op := &ops.Operation{Kind: opVerify, ResourceID: vault.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	err = pr.p.Ops.Launch(ctx, op, map[string]string{"verifyId": id}, func(tx store.Tx) error {
		_, err := pr.Engine.StartVerify(ctx, tx, id, q, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return opAccepted(r, vault.Location, op), nil
}

func (pr *Provider) runVerify(ctx context.Context, op *ops.Operation, in map[string]string) error {
	run, err := pr.Engine.RunVerify(ctx, in["verifyId"])
	if err != nil {
		return err
	}
	if len(run.Vaults) == 0 {
		return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The vault of verify '%s' no longer exists.", run.ID)
	}
	j, err := protection.GetJob(ctx, pr.p.Store, "", run.Vaults[0].JobID)
	if isNotFound(err) {
		return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The vault '%s' was deleted while it was verified.", run.Vaults[0].Name)
	}
	return jobEnded(op, j, err)
}

// engineVault is a Backup vault as the engine's verify sees it: Backup
// vaults keep their recovery points in the operational tier only (no vault
// key).
func engineVault(v *vaultResource) *protection.Vault {
	return &protection.Vault{ID: v.ID, Name: v.Name, Type: typeVault, Location: resource.NormLocation(v.Location), Tags: v.Tags}
}
