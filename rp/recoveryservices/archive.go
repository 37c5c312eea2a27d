package recoveryservices

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
)

// The archive tier on the wire (the engine's archive.go has the rules):
// tier details and move readiness of a recovery point, the manual move
// (POST .../recoveryPoints/{id}/move, a MoveRecoveryPoint job), the points
// recommended for a move, tiering costs (backupTieringCost), policies'
// tieringPolicy and restores with recoveryPointRehydrationInfo.

const (
	opKindMove        = "recoveryservices.moveRecoveryPoint"
	opKindTieringCost = "recoveryservices.tieringCost"
)

func (pr *Provider) registerArchive(rt *arm.Router, R, I string) {
	rt.Handle("POST", I+"/recoveryPoints/{recoveryPointId}/move", on(pr.pointOfRequest, pr.movePoint), arm.Action(namespace+"/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/move/action"))
	rt.Handle("POST", I+"/recoveryPointsRecommendedForMove", on(pr.itemOf, pr.recommendedForMove), arm.Action(namespace+"/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPointsRecommendedForMove/action"))
	T := R + "/backupTieringCost/default"
	rt.Handle("POST", T+"/fetchTieringCost", on(pr.foundVaultID, pr.fetchTieringCost), arm.Action(namespace+"/vaults/backupTieringCost/fetchTieringCost/action"))
	rt.Handle("GET", T+"/operationResults/{operationId}", pr.itemOperationResult, arm.Action(namespace+"/vaults/backupTieringCost/operationResults/read"))
	rt.Handle("GET", T+"/operationsStatus/{operationId}", pr.itemOperationStatus, arm.Action(namespace+"/vaults/backupTieringCost/operationsStatus/read"))
	pr.p.Ops.Register(opKindMove, pr.runMoveOp)
	pr.p.Ops.Register(opKindTieringCost, pr.runTieringCost)
}

// pointTiers is a point's recoveryPointTierDetails at now: InstantRP Valid
// while the snapshots exist (Deleted after instantRpRetentionRangeInDays,
// or once one of them was deleted under the point: instantGone),
// HardenedRP Valid while the point is in the vault-standard tier (Deleted
// once it moved to the archive), ArchivedRP Valid in the archive, and
// Rehydrated (with RehydratedRPExpiryTime) while a rehydration keeps it
// online.
func pointTiers(p *protection.RecoveryPoint, now time.Time, instantGone bool) []map[string]any {
	var tiers []map[string]any
	if p.HasTier(protection.TierOperational) && !instantGone {
		tiers = append(tiers, map[string]any{"type": "InstantRP", "status": "Valid"})
	} else if instantGone || !p.InstantExpiry().IsZero() {
		tiers = append(tiers, map[string]any{"type": "InstantRP", "status": "Deleted"})
	}
	switch st := p.ArchiveStatus(now); st {
	case "":
		if p.HasTier(protection.TierVault) {
			tiers = append(tiers, map[string]any{"type": "HardenedRP", "status": "Valid"})
		}
	default:
		tiers = append(tiers, map[string]any{"type": "HardenedRP", "status": "Deleted"})
		archived := map[string]any{"type": "ArchivedRP", "status": "Valid"}
		switch a := p.Archive; st {
		case protection.ArchiveRehydrated:
			archived["status"] = "Rehydrated"
			archived["extendedInfo"] = map[string]any{"RehydratedRPExpiryTime": a.Until.UTC().Format(time.RFC3339Nano)}
		case protection.ArchiveRehydrating:
			archived["extendedInfo"] = map[string]any{"RehydrationStatus": "InProgress", "RehydrationPriority": a.Priority,
				"RehydrationCompletionTime": a.Ready.UTC().Format(time.RFC3339Nano)}
		}
		tiers = append(tiers, archived)
	}
	return tiers
}

// moveReadiness is a point's recoveryPointMoveReadinessInfo at now.
func moveReadiness(p *protection.RecoveryPoint, now time.Time) map[string]any {
	r := p.ArchiveReadiness(now)
	info := map[string]any{"isReadyForMove": r.Ready}
	if !r.Ready {
		info["additionalInfo"] = r.Info
	}
	return map[string]any{"ArchivedRP": info}
}

// tierMove is the move between tiers a request names: a move of a point
// (MoveRPAcrossTiersRequest) or the cost of moves (fetchTieringCost).
type tierMove struct {
	SourceTierType string `json:"sourceTierType"`
	TargetTierType string `json:"targetTierType"`
}

// check answers 400 unless the move is one Safehold can make: HardenedRP
// (vault-standard) to ArchivedRP.
func (m tierMove) check() error {
	if !strings.EqualFold(m.SourceTierType, "HardenedRP") {
		return arm.BadRequestAt("sourceTierType", "BMSUserErrorInvalidSourceTierType", "The source tier '%s' is not supported: recovery points move from 'HardenedRP' (vault-standard).", m.SourceTierType)
	}
	if !strings.EqualFold(m.TargetTierType, "ArchivedRP") {
		return arm.BadRequestAt("targetTierType", "BMSUserErrorInvalidTargetTierType", "The target tier '%s' is not supported: recovery points move to 'ArchivedRP' (vault-archive); an archived point comes back by a restore with rehydration.", m.TargetTierType)
	}
	return nil
}

type moveInput struct {
	JobID   string `json:"jobId"`
	ItemID  string `json:"itemId"`
	PointID string `json:"pointId"`
}

// movePoint is POST I/recoveryPoints/{rp}/move (MoveRPAcrossTiersRequest):
// 202 with both polling headers; the operation runs the MoveRecoveryPoint
// job and fails with the job's code when the point may not move.
func (pr *Provider) movePoint(r *arm.Request, at pointAt) (*arm.Response, error) {
	var in struct {
		ObjectType string `json:"objectType"`
		tierMove
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if ot := in.ObjectType; ot != "" && !strings.EqualFold(ot, "MoveRPAcrossTiersRequest") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "objectType '%s' is not supported: use 'MoveRPAcrossTiersRequest'.", ot)
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	j := pr.newJob(at.vid, at.item, protection.OpMoveRecoveryPoint, pr.p.Now(), true)
	j.RecoveryPointID, j.RecoveryPointTime = at.point.ID, &at.point.Time
	j.Details["Source Tier"], j.Details["Target Tier"] = "HardenedRP", "ArchivedRP"
	j.Tasks = []protection.JobTask{{Name: protection.TaskMoveToArchive, Status: protection.TaskNotStarted, StartTime: j.StartTime}}
	op := &ops.Operation{Kind: opKindMove, ResourceID: at.item.ID, Caller: r.Caller()}
	return pr.startJobOp(r, at.item, j, op, moveInput{JobID: j.ID, ItemID: at.item.ID, PointID: at.point.ID})
}

func (pr *Provider) runMoveOp(ctx context.Context, op *ops.Operation) error {
	var in moveInput
	if err := decodeJobInput(op, &in, &in.JobID); err != nil {
		return err
	}
	return jobOutcome(pr.Engine.MoveToArchive(ctx, in.JobID, in.ItemID, in.PointID))
}

// recommendedForMove is POST I/recoveryPointsRecommendedForMove
// (ListRecoveryPointsRecommendedForMoveRequest): the item's points ready to
// move to the archive tier whose move saves money, but those in
// excludedRPList.
func (pr *Provider) recommendedForMove(r *arm.Request, at itemAt) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		ObjectType     string   `json:"objectType"`
		ExcludedRPList []string `json:"excludedRPList"`
	}
	if err := r.DecodeOptional(&in); err != nil {
		return nil, err
	}
	if ot := in.ObjectType; ot != "" && !strings.EqualFold(ot, "ListRecoveryPointsRecommendedForMoveRequest") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "objectType '%s' is not supported: use 'ListRecoveryPointsRecommendedForMoveRequest'.", ot)
	}
	v, err := pr.loadVault(ctx, pr.p.Store, mustParse(at.item.VaultID))
	if err != nil {
		return nil, err
	}
	points, err := pr.Engine.RecommendedForMove(ctx, v.UniqueID, at.item.ID, in.ExcludedRPList)
	if err != nil {
		return nil, err
	}
	return pr.pointsPage(r, at.item, points, nil)
}

// rehydrationOf is a restore request's rehydration (nil: none): its
// recoveryPointRehydrationInfo, required by an
// IaasVMRestoreWithRehydrationRequest and by a restore of a point the
// archive holds offline.
func rehydrationOf(req restoreRequest, p *protection.RecoveryPoint, now time.Time) (*protection.Rehydration, error) {
	const field = "properties.recoveryPointRehydrationInfo"
	info := req.RecoveryPointRehydrationInfo
	withType := strings.EqualFold(req.ObjectType, "IaasVMRestoreWithRehydrationRequest")
	if info == nil {
		if withType {
			return nil, restoreErr(field, "is required by an IaasVMRestoreWithRehydrationRequest: give its rehydrationPriority and rehydrationRetentionDuration.")
		}
		if p.ArchiveStatus(now) == protection.ArchiveValid {
			return nil, arm.BadRequestAt(field, protection.CodeRehydrationRequired, "The recovery point '%s' is in the archive tier: restore it with an IaasVMRestoreWithRehydrationRequest whose recoveryPointRehydrationInfo gives a rehydrationPriority (Standard or High) and a rehydrationRetentionDuration (such as P10D).", p.ID)
		}
		return nil, nil
	}
	rh, err := protection.ParseRehydration(info.RehydrationPriority, info.RehydrationRetentionDuration, field)
	if err != nil {
		return nil, err
	}
	return &rh, nil
}

// fetchTieringCost is POST R/backupTieringCost/default/fetchTieringCost: 202
// with both polling headers; the operation's result is the cost
// (TieringCostSavingInfo for a move of a vault's, a policy's or an item's
// points, TieringCostRehydrationInfo for a point's rehydration), from the
// points' real sizes in the vault.
func (pr *Provider) fetchTieringCost(r *arm.Request, vid arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in map[string]any
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	// Check the request now (a bad one is a 400, not a failed operation);
	// the operation measures the points.
	if _, err := pr.tieringCost(ctx, vid, in, false); err != nil {
		return nil, err
	}
	op, err := pr.launchVaultRequest(r, opKindTieringCost, vid, in)
	if err != nil {
		return nil, err
	}
	T := vid.String() + "/backupTieringCost/default"
	return arm.Accepted().Async(r, T+"/operationsStatus/"+op.ID, T+"/operationResults/"+op.ID), nil
}

func (pr *Provider) runTieringCost(ctx context.Context, op *ops.Operation) error {
	vid, in, err := decodeVaultRequest[map[string]any](op)
	if err != nil {
		return err
	}
	res, err := pr.tieringCost(ctx, vid, in, true)
	if err != nil {
		return err
	}
	op.Result, op.ResultStatus = mustJSON(res), http.StatusOK
	return nil
}

// tieringCost computes a fetchTieringCost request's answer (measure
// false: only checks the request, reading no point's size).
func (pr *Provider) tieringCost(ctx context.Context, vid arm.ResourceID, in map[string]any, measure bool) (map[string]any, error) {
	str := func(k string) string { s, _ := in[k].(string); return s }
	v, err := pr.loadVault(ctx, pr.p.Store, vid)
	if err != nil {
		return nil, err
	}
	ot := str("objectType")
	rehydrate := strings.EqualFold(ot, "FetchTieringCostInfoForRehydrationRequest")
	if rehydrate {
		if !strings.EqualFold(str("sourceTierType"), "ArchivedRP") || !strings.EqualFold(str("targetTierType"), "HardenedRP") {
			return nil, arm.BadRequest("BMSUserErrorInvalidInput", "A rehydration's cost is from sourceTierType 'ArchivedRP' to targetTierType 'HardenedRP'.")
		}
		if _, err := protection.ParseRehydration(str("rehydrationPriority"), "P10D", ""); err != nil {
			return nil, err
		}
		if str("recoveryPointId") == "" {
			return nil, arm.BadRequestAt("recoveryPointId", "BMSUserErrorInvalidInput", "recoveryPointId is required: name the archived recovery point whose rehydration to price.")
		}
	} else if err := (tierMove{str("sourceTierType"), str("targetTierType")}).check(); err != nil {
		return nil, err
	}
	// The points the request is about: an item's (or one of them), a
	// policy's items', or the vault's.
	var items []*itemRecord
	switch {
	case strings.EqualFold(ot, "FetchTieringCostSavingsInfoForVaultRequest"):
		items, err = pr.vaultItems(ctx, vid, func(*itemRecord) bool { return true })
	case strings.EqualFold(ot, "FetchTieringCostSavingsInfoForPolicyRequest"):
		name := str("policyName")
		var pol policyRecord
		if err := resource.Get(ctx, pr.p.Store, vid.Child("backupPolicies", name), &pol); err != nil {
			return nil, policyNotFound(name, err)
		}
		items, err = pr.vaultItems(ctx, vid, func(it *itemRecord) bool { return strings.EqualFold(it.PolicyName, name) })
	case strings.EqualFold(ot, "FetchTieringCostSavingsInfoForProtectedItemRequest"), rehydrate:
		c, ok := parseContainerName(str("containerName"))
		vm, ok2 := parseItemName(str("protectedItemName"))
		if !ok || !ok2 || c.key() != vm.key() {
			return nil, arm.BadRequest("BMSUserErrorInvalidInput", "containerName '%s' and protectedItemName '%s' must name one VM's container and item (IaasVMContainer;iaasvmcontainerv2;{rg};{vm}, VM;iaasvmcontainerv2;{rg};{vm}).", str("containerName"), str("protectedItemName"))
		}
		if items, err = pr.vaultItems(ctx, vid, func(it *itemRecord) bool { return it.VM.key() == vm.key() }); err == nil && len(items) == 0 {
			return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorItemNotFound", "The protected item '%s' was not found in the vault.", str("protectedItemName"))
		}
	default:
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "objectType '%s' is not supported: use FetchTieringCostSavingsInfoForVaultRequest, FetchTieringCostSavingsInfoForPolicyRequest, FetchTieringCostSavingsInfoForProtectedItemRequest or FetchTieringCostInfoForRehydrationRequest.", ot)
	}
	if err != nil {
		return nil, err
	}
	if !measure && !rehydrate {
		return nil, nil
	}
	now := pr.p.Now()
	var points []*protection.RecoveryPoint
	for _, it := range items {
		if rehydrate {
			p, err := pr.pointOf(ctx, it, str("recoveryPointId"))
			if err != nil {
				return nil, err
			}
			if p.Archive == nil {
				return nil, arm.BadRequest("BMSUserErrorRecoveryPointNotInArchive", "The recovery point '%s' is not in the archive tier: it needs no rehydration.", p.ID)
			}
			points = append(points, p)
			continue
		}
		ps, err := protection.ListRecoveryPoints(ctx, pr.p.Store, it.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.ArchiveReadiness(now).Ready {
				points = append(points, p)
			}
		}
	}
	if !measure {
		return nil, nil
	}
	sizes, err := pr.Engine.PointSizes(ctx, v.UniqueID, points)
	if err != nil {
		return nil, err
	}
	var full, incr int64
	for _, s := range sizes {
		full, incr = full+s.Full, incr+s.Incremental
	}
	if rehydrate {
		return map[string]any{"objectType": "TieringCostRehydrationInfo", "rehydrationSizeInBytes": full, "retailRehydrationCostPerGBPerMonth": protection.PriceRehydration}, nil
	}
	return map[string]any{"objectType": "TieringCostSavingInfo", "sourceTierSizeReductionInBytes": incr, "targetTierSizeIncreaseInBytes": full,
		"retailSourceTierCostPerGBPerMonth": protection.PriceVaultStandard, "retailTargetTierCostPerGBPerMonth": protection.PriceVaultArchive}, nil
}

// vaultItems lists a vault's protected items that keep accepts.
func (pr *Provider) vaultItems(ctx context.Context, vid arm.ResourceID, keep func(*itemRecord) bool) ([]*itemRecord, error) {
	all, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, vid.String())
	if err != nil {
		return nil, err
	}
	var out []*itemRecord
	for i := range all {
		if keep(&all[i]) {
			out = append(out, &all[i])
		}
	}
	return out, nil
}

// tiering is an IaaS policy's tieringPolicy in the engine's terms (nil:
// none): the ArchivedRP entry's tieringMode TierAfter (with duration and
// durationType), TierRecommended or DoNotTier.
func (p *iaasPolicy) tiering() (*protection.Tiering, error) {
	var out *protection.Tiering
	for k, v := range p.TieringPolicy {
		field := "properties.tieringPolicy." + k
		if !strings.EqualFold(k, "ArchivedRP") {
			return nil, badField(field, "'%s' is not a tier a policy moves points to: use 'ArchivedRP'.", k)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, badField(field, "must be an object with tieringMode, duration and durationType.")
		}
		mode, _ := m["tieringMode"].(string)
		t := &protection.Tiering{}
		for _, x := range []string{protection.TierAfter, protection.TierRecommended, protection.DoNotTier} {
			if strings.EqualFold(x, mode) {
				t.Mode = x
			}
		}
		if t.Mode == "" {
			return nil, badField(field+".tieringMode", "'%s' is not supported: use TierAfter, TierRecommended or DoNotTier.", mode)
		}
		if t.Mode == protection.TierAfter {
			n, _ := m["duration"].(float64)
			unit, _ := m["durationType"].(string)
			// The bounds of a retention's count in the unit (policymodel.go).
			var set *int
			max := 0
			switch strings.ToLower(unit) {
			case "days":
				set, max = &t.After.Days, 9999
			case "weeks":
				set, max = &t.After.Weeks, 5163
			case "months":
				set, max = &t.After.Months, 1188
			case "years":
				set, max = &t.After.Years, 99
			default:
				return nil, badField(field+".durationType", "'%s' is not supported: use Days, Weeks, Months or Years.", unit)
			}
			if n < 1 || n > float64(max) || n != float64(int(n)) {
				return nil, badField(field+".duration", "must be a whole number from 1 to %d %s with tieringMode TierAfter.", max, strings.ToLower(unit))
			}
			*set = int(n)
		}
		out = t
	}
	return out, nil
}
