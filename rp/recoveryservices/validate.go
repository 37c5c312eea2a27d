package recoveryservices

import (
	"context"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
)

// Restore validation: backupValidateOperation (synchronous),
// backupTriggerValidateOperation (an operation, read through
// backupValidateOperationResults and backupValidateOperationsStatuses).
// A validation runs checkRestore, the checks restore itself runs, and
// answers what they refuse as validation results instead of failing.

const opKindValidate = "recoveryservices.validateOperation"

// validateRequest is ValidateOperationRequestResource ({id, properties}) or,
// as api-versions before 2023 send it, its properties alone.
type validateRequest struct {
	ID             string             `json:"id"`
	Properties     *validateOperation `json:"properties"`
	ObjectType     string             `json:"objectType"`
	RestoreRequest *restoreRequest    `json:"restoreRequest"`
}

type validateOperation struct {
	ObjectType     string          `json:"objectType"`
	RestoreRequest *restoreRequest `json:"restoreRequest"`
}

// vaultRequest is the stored input of an operation that answers a request
// about a vault (validate, tiering cost): the vault and the request.
type vaultRequest[T any] struct {
	VaultID string `json:"vaultId"`
	Request T      `json:"request"`
}

// launchVaultRequest starts the operation of kind that answers request in
// about vault vid (decodeVaultRequest reads them back).
func (pr *Provider) launchVaultRequest(r *arm.Request, kind string, vid arm.ResourceID, in any) (*ops.Operation, error) {
	op := &ops.Operation{Kind: kind, ResourceID: vid.String(), Caller: r.Caller()}
	if err := pr.p.Ops.Launch(r.HTTP.Context(), op, vaultRequest[any]{VaultID: vid.String(), Request: in}, nil); err != nil {
		return nil, err
	}
	return op, nil
}

// decodeVaultRequest is the vault and the request launchVaultRequest stored.
func decodeVaultRequest[T any](op *ops.Operation) (arm.ResourceID, T, error) {
	var in vaultRequest[T]
	if err := op.DecodeInput(&in); err != nil {
		return arm.ResourceID{}, in.Request, err
	}
	vid, err := arm.ParseID(in.VaultID)
	return vid, in.Request, err
}

func (pr *Provider) registerValidate(rt *arm.Router, R string) {
	rt.Handle("POST", R+"/backupValidateOperation", pr.validateOperation, arm.Action(namespace+"/vaults/backupValidateOperation/action"))
	rt.Handle("POST", R+"/backupTriggerValidateOperation", pr.triggerValidateOperation, arm.Action(namespace+"/vaults/backupTriggerValidateOperation/action"))
	rt.Handle("GET", R+"/backupValidateOperationResults/{operationId}", pr.validateOnly(pr.itemOperationResult), arm.Action(namespace+"/vaults/backupValidateOperationResults/read"))
	rt.Handle("GET", R+"/backupValidateOperationsStatuses/{operationId}", pr.validateOnly(pr.itemOperationStatus), arm.Action(namespace+"/vaults/backupValidateOperationsStatuses/read"))
}

// validateOnly answers the validation's status and result routes for
// validations only: another operation of the vault (a backup, a restore)
// is OperationNotFound there, where its result (204, or the item) is no
// answer the clients of these routes accept (200 or 202 at every
// api-version).
func (pr *Provider) validateOnly(h func(*arm.Request) (*arm.Response, error)) func(*arm.Request) (*arm.Response, error) {
	return func(r *arm.Request) (*arm.Response, error) {
		id := r.Param("operationId")
		op, err := armops.Lookup(pr.p.Ops, r, id)
		if err != nil {
			return nil, err
		}
		if op.Kind != opKindValidate {
			return nil, arm.Errorf(http.StatusNotFound, "OperationNotFound", "The operation '%s' was not found: it is no restore validation (backupTriggerValidateOperation).", id)
		}
		return h(r)
	}
}

// decodeValidate reads and checks the shape of a validation request.
func decodeValidate(r *arm.Request) (validateRequest, error) {
	var in validateRequest
	if err := r.Decode(&in); err != nil {
		return in, err
	}
	if in.Properties == nil {
		in.Properties = &validateOperation{ObjectType: in.ObjectType, RestoreRequest: in.RestoreRequest}
	}
	switch ot := in.Properties.ObjectType; {
	case strings.EqualFold(ot, "ValidateIaasVMRestoreOperationRequest"), strings.EqualFold(ot, "ValidateRestoreOperationRequest"):
	case ot == "":
		return in, arm.BadRequest("BMSUserErrorInvalidInput", "properties.objectType is required: use 'ValidateIaasVMRestoreOperationRequest'.")
	default:
		return in, arm.BadRequest("BMSUserErrorInvalidInput", "properties.objectType '%s' is not supported: Safehold validates VM restores ('ValidateIaasVMRestoreOperationRequest').", ot)
	}
	if in.Properties.RestoreRequest == nil {
		return in, arm.BadRequest("BMSUserErrorInvalidInput", "properties.restoreRequest is required: the IaasVMRestoreRequest to validate.")
	}
	return in, nil
}

// validateRequest reads the vault and the validation request a request
// names.
func (pr *Provider) validateRequest(r *arm.Request) (arm.ResourceID, validateRequest, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return vid, validateRequest{}, err
	}
	in, err := decodeValidate(r)
	return vid, in, err
}

func (pr *Provider) validateOperation(r *arm.Request) (*arm.Response, error) {
	vid, in, err := pr.validateRequest(r)
	if err != nil {
		return nil, err
	}
	res, err := pr.validate(r.HTTP.Context(), r.Caller(), vid, in)
	if err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"validateOperationResponse": res}), nil
}

func (pr *Provider) triggerValidateOperation(r *arm.Request) (*arm.Response, error) {
	vid, in, err := pr.validateRequest(r)
	if err != nil {
		return nil, err
	}
	op, err := pr.launchVaultRequest(r, opKindValidate, vid, in)
	if err != nil {
		return nil, err
	}
	return arm.Accepted().Async(r, vid.String()+"/backupValidateOperationsStatuses/"+op.ID, vid.String()+"/backupValidateOperationResults/"+op.ID), nil
}

// runValidate is the operation behind backupTriggerValidateOperation: its
// result is the ValidateOperationsResponse, its status carries it too.
func (pr *Provider) runValidate(ctx context.Context, op *ops.Operation) error {
	vid, in, err := decodeVaultRequest[validateRequest](op)
	if err != nil {
		return err
	}
	res, err := pr.validate(ctx, op.Caller, vid, in)
	if err != nil {
		return err
	}
	op.Result, op.ResultStatus = mustJSON(map[string]any{"validateOperationResponse": res}), http.StatusOK
	op.Properties = mustJSON(map[string]any{"objectType": "OperationStatusValidateOperationExtendedInfo", "validateOperationResponse": res})
	return nil
}

// validate runs the restore checks on the request's item and point, and
// asks compute whether the VM the point holds would fit the subscription's
// compute quota in the target region. Each check that fails becomes a
// validation result (code, message, recommendations); an empty list means
// the restore would be accepted.
func (pr *Provider) validate(ctx context.Context, caller arm.Caller, vid arm.ResourceID, in validateRequest) (map[string]any, error) {
	results := []any{}
	refuse := func(err error) error {
		var ae *arm.Error
		if !arm.As(err, &ae) || ae.Status >= 500 {
			return err
		}
		results = append(results, map[string]any{"code": ae.Code, "message": ae.Message, "recommendations": []string{}})
		return nil
	}
	req := *in.Properties.RestoreRequest
	it, point, err := pr.validationTarget(ctx, vid, in.ID, req)
	var p *protection.RecoveryPoint
	if err == nil {
		p, err = pr.pointOf(ctx, it, point)
	}
	if err == nil {
		req, err = pr.checkRestore(ctx, caller, it, p, req)
	}
	if err != nil {
		if err := refuse(err); err != nil {
			return nil, err
		}
	}
	short, err := pr.restoreQuota(ctx, vid, it, p, req)
	if err != nil {
		if err := refuse(err); err != nil {
			return nil, err
		}
	}
	if short != nil {
		results = append(results, map[string]any{"code": codeQuotaReached,
			"message":         "Core Count subscription quota has been reached. " + short.Error(),
			"recommendations": []string{quotaRecommendation}})
	}
	return map[string]any{"validationResults": results}, nil
}

// restoreQuota asks compute whether the VM a restore is for would fit the
// compute quota of the target subscription and region (nil when it fits):
// the size is the recovery point's VM size (or, when the request names no
// point the vault has, the source VM's size), the region the request's
// (else the VM's). An AlternateLocation restore creates that VM and meets
// the same check when it does; RestoreDisks restores the disks of that VM
// (and Azure's validation reports the quota for it too). An
// OriginalLocation restore replaces the disks of a VM that exists.
func (pr *Provider) restoreQuota(ctx context.Context, vid arm.ResourceID, it *itemRecord, p *protection.RecoveryPoint, req restoreRequest) (*compute.QuotaShortfall, error) {
	if strings.EqualFold(req.RecoveryType, "OriginalLocation") || pr.Compute == nil {
		return nil, nil
	}
	size, location := "", req.Region
	if p != nil {
		size, location = p.Details["vmSize"], firstOf(location, p.Details["vmLocation"])
	}
	source := req.SourceResourceID
	if source == "" && it != nil {
		source = it.SourceID
	}
	if size == "" || location == "" {
		vm, err := pr.Compute.VM(ctx, source)
		if err != nil {
			return nil, nil // nothing to size: the checks above said why
		}
		size, location = firstOf(size, vm.VMSize), firstOf(location, vm.Location)
	}
	if size == "" {
		return nil, nil
	}
	sub := vid.SubscriptionID
	if t, err := arm.ParseID(firstOf(req.TargetVirtualMachineID, req.TargetResourceGroupID)); err == nil && t.SubscriptionID != "" {
		sub = t.SubscriptionID
	}
	return pr.Compute.VMQuotaShortfall(ctx, sub, location, size)
}

// validationTarget finds the protected item and the recovery point name a
// validation is about: from the recovery point id (the request's id), or
// else the VM (restoreRequest.sourceResourceId) and restoreRequest.recoveryPointId.
func (pr *Provider) validationTarget(ctx context.Context, vid arm.ResourceID, id string, req restoreRequest) (*itemRecord, string, error) {
	if rid, err := arm.ParseID(id); err == nil && len(rid.Types) == 5 && strings.EqualFold(rid.Types[4], "recoveryPoints") {
		vm, ok := parseItemName(rid.Names[3])
		if !ok || !arm.EqualIDs(arm.NewID(rid.SubscriptionID, rid.ResourceGroup, rid.Namespace, rid.Types[0], rid.Names[0]).String(), vid.String()) {
			return nil, "", restoreErr("id", "'%s' is not a recovery point of a VM protected in the vault '%s'.", id, vid.Name())
		}
		it, err := pr.loadItem(ctx, pr.p.Store, itemID(vid, vm))
		if err != nil {
			return nil, "", err
		}
		return it, rid.Names[4], nil
	}
	if req.SourceResourceID == "" {
		return nil, "", restoreErr("properties.restoreRequest.sourceResourceId", "is required when the request's id is not a recovery point id: give the protected VM's id.")
	}
	if req.RecoveryPointID == "" {
		return nil, "", restoreErr("properties.restoreRequest.recoveryPointId", "is required when the request's id is not a recovery point id.")
	}
	items, err := resource.List[itemRecord](ctx, pr.p.Store, itemType, vid.String())
	if err != nil {
		return nil, "", err
	}
	for i := range items {
		if arm.EqualIDs(items[i].SourceID, req.SourceResourceID) {
			return &items[i], req.RecoveryPointID, nil
		}
	}
	return nil, "", arm.Errorf(http.StatusNotFound, "BMSUserErrorItemNotFound", "The VM '%s' is not protected in the vault '%s'.", req.SourceResourceID, vid.Name())
}
