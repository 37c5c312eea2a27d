package dataprotection

import (
	"context"
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// jobExport is the job list an exportBackupJobs request wrote.
type jobExport = resource.JobExport[*jobResource]

// registerExports adds ExportJobs (POST exportBackupJobs, 202 + Location),
// its operation result, and the exported list itself. Azure writes the export
// to a storage blob and answers a blob URL with a SAS key; Safehold serves the
// exported list at an ARM URL under the vault instead (blobUrl, read with the
// caller's bearer token; blobSasKey is empty).
func (pr *Provider) registerExports(rt *arm.Router, V string) {
	rt.Handle("POST", V+"/exportBackupJobs", pr.exportJobs, arm.Action(namespace+"/backupVaults/exportBackupJobs/action"))
	rt.Handle("GET", V+"/backupJobs/operations/{operationId}", jobsReader(pr.inVault(pr.exportJobsResult)), arm.Action(namespace+"/backupVaults/backupJobs/read"))
	rt.Handle("GET", V+"/backupJobs/exports/{operationId}", pr.exportedJobs, arm.Action(namespace+"/backupVaults/backupJobs/read"))
}

// exportJobs starts the export as an operation (the job list is written by
// the operation, as Azure writes it to a blob) and answers 202 with its
// Location, the operation result.
func (pr *Provider) exportJobs(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opExportJobs, ResourceID: vault.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	if err := pr.p.Ops.Launch(ctx, op, map[string]string{"vaultId": vault.ID}, nil); err != nil {
		return nil, err
	}
	return arm.Accepted().Async(r, "", vault.ID+"/backupJobs/operations/"+op.ID), nil
}

// runExportJobs writes the vault's job list as it is now under the
// operation's name.
func (pr *Provider) runExportJobs(ctx context.Context, op *ops.Operation) error {
	var in struct {
		VaultID string `json:"vaultId"`
	}
	if err := op.DecodeInput(&in); err != nil {
		return err
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, mustID(in.VaultID))
	if err != nil {
		return err
	}
	now := pr.p.Now()
	jobs, err := pr.jobViewsOf(ctx, vault, now)
	if err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		return resource.PutJobExport(ctx, tx, mustID(vault.ID), "Microsoft.DataProtection/backupVaults/backupJobExports", op.ID, now, jobs)
	})
}

func (pr *Provider) loadExport(r *arm.Request) (*vaultResource, *jobExport, error) {
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, nil, err
	}
	ex, err := resource.GetJobExport[*jobResource](r.HTTP.Context(), pr.p.Store, mustID(vault.ID), r.Param("operationId"))
	if err != nil {
		return nil, nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The job export operation '%s' was not found in vault '%s'.", r.Param("operationId"), vault.Name)
	}
	return vault, ex, nil
}

// jobsReader is h for callers allowed to read the vault's jobs only. The
// export's result route is an operation route any authenticated caller
// reaches (the router's OpenOperationRoutes), but it reads no operation
// record (armops.Lookup's check): the route's own action is checked on the
// vault before anything is read, so that no one learns what exists.
func jobsReader(h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if err := r.Authorize(namespace+"/backupVaults/backupJobs/read", vaultIDOf(r).String()); err != nil {
			return nil, err
		}
		return h(r)
	}
}

// exportJobsResult answers 202 while the export runs, then 200 with where
// the list is (or the operation's error).
func (pr *Provider) exportJobsResult(r *arm.Request) (*arm.Response, error) {
	if op, err := pr.p.Ops.Get(r.HTTP.Context(), r.Param("operationId")); err == nil && op.Kind == opExportJobs && op.Status != ops.Succeeded {
		return pr.opResult(r) // any operation's result while it runs or when it failed
	}
	vault, ex, err := pr.loadExport(r)
	if err != nil {
		return nil, err
	}
	u := r.URL(vault.ID + "/backupJobs/exports/" + ex.Name)
	return arm.OK(map[string]any{"blobUrl": u, "blobSasKey": "", "excelFileBlobUrl": u, "excelFileBlobSasKey": ""}), nil
}

func (pr *Provider) exportedJobs(r *arm.Request) (*arm.Response, error) {
	_, ex, err := pr.loadExport(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(ex.Body()), nil
}

func mustID(s string) arm.ResourceID {
	id, _ := arm.ParseID(s)
	return id
}
