package recoveryservices

import (
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"

	"github.com/google/uuid"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// registerContract adds the vault-level families clients read around the
// backup flow: resource guard proxies (guardproxies.go), the backup
// encryption config, and the namespace's operations catalog. R is the vault
// path pattern.
func (pr *Provider) registerContract(rt *arm.Router, R string) {
	pr.registerProxies(rt, R)
	// Backup engines are the MABS and DPM servers registered to a vault;
	// Safehold protects Azure VMs only, so a vault lists none (as Azure
	// answers for a vault no server was registered to).
	rt.Handle("GET", R+"/backupEngines", pr.listNone)
	rt.Handle("GET", R+"/backupEngines/{backupEngineName}", pr.getNone("BMSUserErrorObjectNotFound",
		"The vault has no backup engine '%s': no backup server (MABS or DPM) is registered to it; Safehold protects Azure VMs only.", "backupEngineName"))
	rt.Handle("GET", R+"/backupEncryptionConfigs/backupResourceEncryptionConfig", pr.getConfig("encryption"))
	rt.Handle("PUT", R+"/backupEncryptionConfigs/backupResourceEncryptionConfig", pr.putEncryptionConfig)
	rt.Handle("GET", R+"/backupUsageSummaries", pr.primaryOnly(pr.usageSummaries))
	rt.Handle("POST", R+"/backupJobsExport", on(pr.foundVaultID, pr.exportJobs), arm.Action(namespace+"/vaults/backupJobsExport/action"))
	rt.Handle("GET", R+"/backupJobs/operationResults/{operationId}", pr.exportJobsResult, arm.Action(namespace+"/vaults/backupJobs/read"))
	rt.Handle("GET", R+"/backupJobs/exports/{operationId}", pr.exportedJobs, arm.Action(namespace+"/vaults/backupJobs/read"))
	rt.Handle("GET", "/providers/Microsoft.RecoveryServices/operations", rt.PublishedCatalog(namespace, "microsoft.recoveryservices", arm.Published(azureOperations)), arm.NoAuthz())
}

// listNone lists a vault's children of a kind Safehold never has: an empty
// list once the vault is found.
func (pr *Provider) listNone(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.foundVaultID(r); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}

// getNone answers the GET of such a child: 404 code with format, which
// names the path parameter param, once the vault is found.
func (pr *Provider) getNone(code, format, param string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if _, err := pr.foundVaultID(r); err != nil {
			return nil, err
		}
		return nil, arm.Errorf(http.StatusNotFound, code, format, r.Param(param))
	}
}

// putEncryptionConfig records a customer-managed key setting (Safehold's
// own encryption at rest does not change) and answers 200 with no body, as
// Azure does.
func (pr *Provider) putEncryptionConfig(r *arm.Request) (*arm.Response, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return nil, err
	}
	id, c, err := loadConfig(r.HTTP.Context(), pr.p.Store, vid, "encryption")
	if err != nil {
		return nil, err
	}
	props, err := decodeProperties(r)
	if err != nil {
		return nil, err
	}
	if props == nil {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties is required, e.g. {\"properties\":{\"encryptionAtRestType\":\"CustomerManaged\",\"keyUri\":\"...\"}}.")
	}
	// The identity the key is reached with is assigned, as the vault's
	// own are (linked access).
	if uid, ok := props["userAssignedIdentity"].(string); ok {
		if err := r.CheckLinked(arm.LinkTo(resource.AssignIdentity, uid)); err != nil {
			return nil, err
		}
	}
	// A customer-managed key, once set, stays: Azure changes the key but
	// never goes back to platform-managed keys.
	oldType, _ := c.Properties["encryptionAtRestType"].(string)
	oldKey, _ := c.Properties["keyUri"].(string)
	if t, _ := props["encryptionAtRestType"].(string); strings.EqualFold(oldType, "CustomerManaged") && oldKey != "" && strings.EqualFold(t, "MicrosoftManaged") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "The vault '%s' is encrypted with a customer-managed key, and encryption with customer-managed keys can't be reverted to platform-managed keys (MicrosoftManaged): keep encryptionAtRestType CustomerManaged, and send a new properties.keyUri to change the key.", vid.Name())
	}
	for _, k := range []string{"encryptionAtRestType", "keyUri", "subscriptionId", "infrastructureEncryptionState", "useSystemAssignedIdentity", "userAssignedIdentity"} {
		if v, ok := props[k]; ok {
			c.Properties[k] = v
		}
	}
	typ, _ := c.Properties["encryptionAtRestType"].(string)
	switch strings.ToLower(typ) {
	case "microsoftmanaged":
	case "customermanaged":
		if k, _ := c.Properties["keyUri"].(string); k == "" {
			return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.keyUri is required when encryptionAtRestType is CustomerManaged.")
		}
	default:
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.encryptionAtRestType '%s' is invalid: use MicrosoftManaged or CustomerManaged.", typ)
	}
	c.Properties["lastUpdateStatus"] = "Succeeded"
	// The vault's encryption shows the key (encryptionProps).
	err = pr.p.Store.Update(r.HTTP.Context(), func(tx store.Tx) error {
		if err := resource.Put(r.HTTP.Context(), tx, id, &c); err != nil {
			return err
		}
		return configToVault(r.HTTP.Context(), tx, vid, c.Properties, encryptionProps)
	})
	if err != nil {
		return nil, err
	}
	return &arm.Response{Status: http.StatusOK}, nil
}

// usageSummaries counts the vault's real protected items, their containers
// and recovery points, and the bytes those points cover (the disks' sizes
// at each point), as BackupUsageSummaries reports them. The $filter
// (backupManagementType eq 'AzureIaasVM') narrows to VM backup, the only
// kind Safehold serves.
func (pr *Provider) usageSummaries(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "backupManagementType", "type")
	if err != nil {
		return nil, err
	}
	u := &vaultUsage{} // Safehold's items are all AzureIaasVM
	if selects(f, "backupmanagementtype", "AzureIaasVM") {
		if u, err = pr.usageOf(ctx, vid); err != nil {
			return nil, err
		}
	}
	usage := func(name, display, unit string, v int64) map[string]any {
		return map[string]any{"unit": unit, "currentValue": v, "limit": -1, "name": map[string]any{"value": name, "localizedValue": display}}
	}
	// A type asks for one count broken down by backup management type
	// (Azure's BackupProtectedItemCountSummary and
	// BackupProtectionContainerCountSummary): Safehold's one, AzureIaasVM.
	switch t := f["type"]; {
	case strings.EqualFold(t, "BackupProtectedItemCountSummary"), strings.EqualFold(t, "BackupProtectionContainerCountSummary"):
		if !selects(f, "backupmanagementtype", "AzureIaasVM") {
			return arm.OK(arm.Values([]any{})), nil
		}
		n := u.items
		if strings.EqualFold(t, "BackupProtectionContainerCountSummary") {
			n = u.containers
		}
		return arm.OK(arm.Values([]any{usage("AzureIaasVM", "Azure Virtual Machine", "Count", n)})), nil
	case t != "":
		return nil, arm.BadRequest("InvalidFilter", "The $filter type '%s' is invalid: use BackupProtectedItemCountSummary or BackupProtectionContainerCountSummary (or no type, for the vault's totals).", t)
	}
	return arm.OK(arm.Values([]any{
		usage("ProtectedItemCount", "Protected Items", "Count", u.items),
		usage("ProtectionContainerCount", "Protection Containers", "Count", u.containers),
		usage("RecoveryPointCount", "Recovery Points", "Count", u.points),
		usage("StorageUsage", "Backup Storage", "Bytes", u.bytes),
	})), nil
}

// jobExport is the job list a backupJobsExport request wrote.
type jobExport = resource.JobExport[any]

// exportJobs writes the vault's job list, filtered as the job list is (the
// same $filter), and answers 202 with the operation result's Location. Azure
// writes the export to a storage blob and gives its URL with a SAS key;
// Safehold serves the exported list at an ARM URL under the vault (blobUrl,
// read with the caller's bearer token; blobSasKey is empty).
func (pr *Provider) exportJobs(r *arm.Request, vid arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	list, err := pr.listJobs(r)
	if err != nil {
		return nil, err
	}
	var jobs []any
	if l, ok := list.Body.(*arm.List); ok {
		jobs = l.Value
	}
	name := uuid.NewString()
	if err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		return resource.PutJobExport(ctx, tx, vid, "Microsoft.RecoveryServices/vaults/backupJobExports", name, pr.p.Now(), jobs)
	}); err != nil {
		return nil, err
	}
	return arm.Accepted().Async(r, "", vid.String()+"/backupJobs/operationResults/"+name), nil
}

func (pr *Provider) loadExport(r *arm.Request) (arm.ResourceID, *jobExport, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return vid, nil, err
	}
	ex, err := resource.GetJobExport[any](r.HTTP.Context(), pr.p.Store, vid, r.Param("operationId"))
	if err != nil {
		return vid, nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorOperationNotFound", "The job export operation '%s' was not found in vault '%s'.", r.Param("operationId"), vid.Name())
	}
	return vid, ex, nil
}

// exportJobsResult answers where a job export's list is. Its route is an
// operation route any authenticated caller reaches (the router's
// OpenOperationRoutes), but it reads no operation record (armops.Lookup's
// check): the caller must be allowed the route's own action on the vault,
// checked before anything is read, so that no one learns what exists.
func (pr *Provider) exportJobsResult(r *arm.Request) (*arm.Response, error) {
	if err := r.Authorize(namespace+"/vaults/backupJobs/read", pr.vaultIDOf(r).String()); err != nil {
		return nil, err
	}
	vid, ex, err := pr.loadExport(r)
	if err != nil {
		return nil, err
	}
	u := r.URL(vid.String() + "/backupJobs/exports/" + ex.Name)
	return arm.OK(map[string]any{"statusCode": "OK", "headers": map[string]any{}, "operation": map[string]any{
		"objectType": "ExportJobsOperationResultInfo", "blobUrl": u, "blobSasKey": "", "excelFileBlobUrl": u, "excelFileBlobSasKey": ""}}), nil
}

func (pr *Provider) exportedJobs(r *arm.Request) (*arm.Response, error) {
	_, ex, err := pr.loadExport(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(ex.Body()), nil
}
