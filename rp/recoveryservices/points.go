package recoveryservices

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// pointBody renders an IaasVMRecoveryPoint resource. Tier details are
// strings (the 2024 SDK fails on the old integer form): InstantRP Valid
// while the snapshots exist (Deleted after instantRpRetentionRangeInDays),
// HardenedRP Valid once the vault copy is done.
func (pr *Provider) pointBody(it *itemRecord, p *protection.RecoveryPoint) map[string]any {
	var tiers []map[string]any
	if p.HasTier(protection.TierOperational) {
		tiers = append(tiers, map[string]any{"type": "InstantRP", "status": "Valid"})
	} else if !p.InstantExpiry().IsZero() {
		tiers = append(tiers, map[string]any{"type": "InstantRP", "status": "Deleted"})
	}
	if p.HasTier(protection.TierVault) {
		tiers = append(tiers, map[string]any{"type": "HardenedRP", "status": "Valid"})
	}
	var included []map[string]any
	for _, s := range p.Snapshots {
		name := s.DiskID
		if rid, err := arm.ParseID(s.DiskID); err == nil {
			name = rid.Name()
		}
		included = append(included, map[string]any{"lun": s.Lun, "name": name})
	}
	props := map[string]any{
		"objectType":                      "IaasVMRecoveryPoint",
		"recoveryPointType":               "CrashConsistent",
		"recoveryPointTime":               wt(p.Time),
		"recoveryPointAdditionalInfo":     "",
		"sourceVMStorageType":             "NormalStorage",
		"isSourceVMEncrypted":             false,
		"isInstantIlrSessionActive":       false,
		"isManagedVirtualMachine":         true,
		"isPrivateAccessEnabledOnAnyDisk": p.Details["privateAccess"] == "true",
		"originalStorageAccountOption":    false,
		"virtualMachineSize":              p.Details["vmSize"],
		"osType":                          p.Details["osType"],
		"recoveryPointTierDetails":        tiers,
		"recoveryPointDiskConfiguration": map[string]any{"numberOfDisksIncludedInBackup": len(p.Snapshots), "numberOfDisksAttachedToVm": len(p.Snapshots),
			"includedDiskList": included, "excludedDiskList": []any{}},
	}
	// Safehold has no archive tier: no point is ready to move there.
	props["recoveryPointMoveReadinessInfo"] = map[string]any{"ArchivedRP": map[string]any{"isReadyForMove": false,
		"additionalInfo": "Recovery point cannot be moved to archive tier: this vault has no archive tier."}}
	if z := p.Details["vmZones"]; z != "" {
		props["zones"] = strings.Split(z, ",")
	}
	rpp := map[string]any{"isSoftDeleted": false}
	if p.Expiry != nil && it.State != stateStopped {
		rpp["expiryTime"] = p.Expiry.UTC().Format(time.RFC3339)
	}
	if p.RetentionTag != "" {
		rpp["ruleName"] = p.RetentionTag + "Rule"
	}
	props["recoveryPointProperties"] = rpp
	return map[string]any{"id": it.ID + "/recoveryPoints/" + p.ID, "name": p.ID, "type": rpType, "properties": props}
}

func (pr *Provider) listPoints(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	_, it, err := pr.itemOf(r)
	if err != nil {
		return nil, err
	}
	f, err := parseFilter(r.Query("$filter"), "startDate", "endDate", "restorePointQueryType", "extendedInfo")
	if err != nil {
		return nil, err
	}
	var from, to time.Time
	if s := f["startdate"]; s != "" {
		if from, err = parseWireTime(s); err != nil {
			return nil, arm.BadRequest("InvalidFilter", "The $filter startDate is invalid: %v.", err)
		}
	}
	if s := f["enddate"]; s != "" {
		if to, err = parseWireTime(s); err != nil {
			return nil, arm.BadRequest("InvalidFilter", "The $filter endDate is invalid: %v.", err)
		}
	}
	points, err := protection.ListRecoveryPoints(ctx, pr.p.Store, it.ID)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(points))
	for _, p := range points {
		if !from.IsZero() && p.Time.Before(from) || !to.IsZero() && p.Time.After(to) {
			continue
		}
		out = append(out, pr.pointBody(it, p))
	}
	return arm.PageOK(r, out, 200)
}

func (pr *Provider) getPoint(r *arm.Request) (*arm.Response, error) {
	_, it, err := pr.itemOf(r)
	if err != nil {
		return nil, err
	}
	p, err := pr.findPoint(r, it, r.Param("recoveryPointId"))
	if err != nil {
		return nil, err
	}
	return arm.OK(pr.pointBody(it, p)), nil
}

// itemLevelRecovery answers file recovery (provisionInstantItemRecovery,
// revokeInstantItemRecovery: `az backup restore files mount-rp` and
// unmount-rp), which Safehold does not have, with a 400 saying so and what
// to do instead, once the caller may act on the point and it exists.
func (pr *Provider) itemLevelRecovery(r *arm.Request) (*arm.Response, error) {
	_, it, err := pr.itemOf(r)
	if err != nil {
		return nil, err
	}
	if _, err := pr.findPoint(r, it, r.Param("recoveryPointId")); err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("OperationNotSupported", "File recovery (item-level restore) is not supported by Safehold: restore the disks of the recovery point (restore-disks, RestoreDisks) and read the files from the restored disks.")
}

func (pr *Provider) findPoint(r *arm.Request, it *itemRecord, name string) (*protection.RecoveryPoint, error) {
	return pr.pointOf(r.HTTP.Context(), it, name)
}

// pointOf reads a recovery point of an item (404 if absent or expired).
func (pr *Provider) pointOf(ctx context.Context, it *itemRecord, name string) (*protection.RecoveryPoint, error) {
	p, err := protection.GetRecoveryPoint(ctx, pr.p.Store, it.ID, strings.ToLower(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorRecoveryPointNotFound", "%s", fmt.Sprintf("The recovery point '%s' of '%s' was not found (it may have expired): list the item's recoveryPoints.", name, it.FriendlyName))
	}
	return p, err
}
