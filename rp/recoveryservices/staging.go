package recoveryservices

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/protection"
)

// What a RestoreDisks restore leaves in its staging storage account, as
// Azure does: a container ({vm}-{32 hex digits}) holding the VM's
// configuration (config-{vm}-{job id}.json: its size, OS type and disks)
// and, in the unmanaged form (a staging account and no target resource
// group: `az backup restore restore-disks --restore-as-unmanaged-disks`),
// each disk as a fixed VHD page blob ({disk}.vhd). Safehold keeps the
// managed disks of the unmanaged form too, in the staging account's
// resource group (what it did before it wrote VHDs), so the VHDs come in
// addition to them and the job's Restored Disks still names them. The
// job's property bag names them (Config Blob Container Name,
// Config Blob Name, Config Blob Uri, Target Storage Account Name), so
// `az storage blob download` fetches the configuration and `az disk
// create --source https://{account}.blob.core.windows.net/{container}/{disk}.vhd`
// turns a VHD back into a managed disk.

// staging is the restore's staging storage account id and the field that
// names it ("" when there is none).
func (q restoreRequest) staging() (id, field string) {
	if q.StorageAccountID != "" {
		return q.StorageAccountID, "properties.storageAccountId"
	}
	if ib := q.IdentityBasedRestoreDetails; ib != nil && ib.TargetStorageAccountID != "" {
		return ib.TargetStorageAccountID, "properties.identityBasedRestoreDetails.targetStorageAccountId"
	}
	return "", ""
}

// unmanaged reports whether a restore request asks for VHDs in its staging
// account (RestoreDisks with a staging account and no target resource group).
func (q restoreRequest) unmanaged() bool {
	s, _ := q.staging()
	return q.RecoveryType == "RestoreDisks" && q.TargetResourceGroupID == "" && s != ""
}

var notContainerChar = regexp.MustCompile(`[^a-z0-9]+`)

// stagingContainer is the container of a restore job's blobs: the VM's
// name (lower case, at most 30 of its letters and digits) and 32 hex
// digits of the job id's hash.
func stagingContainer(vmName, jobID string) string {
	base := strings.Trim(notContainerChar.ReplaceAllString(strings.ToLower(vmName), "-"), "-")
	if len(base) > 30 {
		base = strings.Trim(base[:30], "-")
	}
	if base == "" {
		base = "vm"
	}
	h := sha256.Sum256([]byte(jobID))
	return base + "-" + hex.EncodeToString(h[:16])
}

// stageRestore writes a RestoreDisks restore's blobs into its staging
// account (see above) and returns the job details that name them; for the
// unmanaged form it exports each restored disk as a VHD. Without a staging
// account it does nothing.
func (pr *Provider) stageRestore(ctx context.Context, in *restoreInput, it *itemRecord, p *protection.RecoveryPoint, disks []protection.RestoredDisk) (map[string]string, error) {
	staging, _ := in.Req.staging()
	blobs := pr.Compute.Blobs()
	if staging == "" || blobs == nil {
		return map[string]string{}, nil
	}
	account := mustParse(staging).Name()
	vmName := firstOf(p.Details["vmName"], it.FriendlyName)
	container := stagingContainer(vmName, in.JobID)
	uri := func(name string) string {
		return accountblob.AzureURL(account, container, name)
	}
	if err := blobs.EnsureContainer(ctx, account, container); err != nil {
		return nil, err
	}
	osDisk := map[string]any{"osType": p.Details["osType"], "createOption": "Attach"}
	dataDisks := []map[string]any{}
	for _, d := range disks {
		name := mustParse(d.Disk.ID).Name()
		disk := map[string]any{"name": name, "createOption": "Attach", "diskSizeGB": d.Disk.SizeBytes >> 30}
		if in.Unmanaged {
			vhd := name + ".vhd"
			if err := pr.Compute.ExportVHD(ctx, d.Disk.ID, compute.BlobRef{Account: account, Container: container, Name: vhd}); err != nil {
				return nil, err
			}
			disk["vhd"] = map[string]any{"uri": uri(vhd)}
		} else {
			disk["managedDisk"] = map[string]any{"id": d.Disk.ID}
		}
		if d.Source.OSDisk {
			for k, v := range disk {
				osDisk[k] = v
			}
		} else {
			disk["lun"] = d.Source.Lun
			dataDisks = append(dataDisks, disk)
		}
	}
	config := map[string]any{"name": vmName, "location": firstOf(in.Req.Region, p.Details["vmLocation"], it.Location),
		"properties": map[string]any{
			"hardwareProfile": map[string]any{"vmSize": p.Details["vmSize"]},
			"storageProfile":  map[string]any{"osDisk": osDisk, "dataDisks": dataDisks},
		}}
	body, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, err
	}
	cfg := "config-" + vmName + "-" + in.JobID + ".json"
	if _, err := blobs.PutBlockBlob(ctx, account, container, cfg, bytes.NewReader(body), int64(len(body)),
		accountblob.Props{Content: accountblob.Content{Type: "application/json"}}); err != nil {
		return nil, err
	}
	return map[string]string{"Job Type": "Recover disks", "Target Storage Account Name": account,
		"Config Blob Container Name": container, "Config Blob Name": cfg, "Config Blob Uri": uri(cfg)}, nil
}
