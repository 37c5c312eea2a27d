package dataprotection

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

var policyName = newNameRule(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,149}$`, "backup policy", "use letters, digits, '-', '_' and '.', starting with a letter or digit")

func (pr *Provider) loadPolicy(ctx context.Context, r store.Reader, policyID string) (*policyResource, *diskPolicy, error) {
	pid, err := arm.ParseID(policyID)
	if err != nil || !pid.IsType(typePolicy) {
		return nil, nil, fieldError("properties.policyInfo.policyId", "'%s' is not a backup policy id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DataProtection/backupVaults/{vault}/backupPolicies/{policy})", policyID)
	}
	var pol policyResource
	if err := resource.Get(ctx, r, pid, &pol); err != nil {
		return nil, nil, err
	}
	dp, err := policyFromStored(&pol)
	if err != nil {
		return nil, nil, err
	}
	return &pol, dp, nil
}

func (pr *Provider) putPolicy(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	in, name, err := decodeNamed[policyResource](r, "backupPolicyName", policyName)
	if err != nil {
		return nil, err
	}
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	dp, err := parsePolicy(in.Properties)
	if err != nil {
		return nil, err
	}
	id := vaultIDOf(r).Child("backupPolicies", name)
	out := policyResource{ProxyResource: arm.ProxyResource{ID: id.String(), Name: name, Type: typePolicy}, Properties: in.Properties}
	var users []*instanceResource
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		bis, err := resource.List[instanceResource](ctx, tx, typeInstance, vaultIDOf(r).String())
		if err != nil {
			return err
		}
		var old policyResource
		if err := resource.Get(ctx, tx, id, &old); err == nil {
			out.ID, out.Name, out.SystemData = old.ID, old.Name, old.SystemData // its id as created, whatever the path's casing
			if err := pr.guardPolicyChange(r, &old, dp, bis); err != nil {
				return err
			}
		} else if !isNotFound(err) {
			return err
		}
		out.SystemData = arm.Touch(out.SystemData, r.Caller(), pr.p.Now())
		if err := resource.Put(ctx, tx, id, &out); err != nil {
			return err
		}
		// Instances using the policy follow its new schedule from now on.
		for i := range bis {
			bi := &bis[i]
			if !arm.EqualIDs(bi.Properties.PolicyInfo.PolicyID, id.String()) || bi.Properties.CurrentProtectionState == stateStopped {
				continue
			}
			if ok, err := pr.Engine.Scheduled(ctx, tx, bi.ID); err != nil {
				return err
			} else if ok {
				if err := pr.Engine.Schedule(ctx, tx, faceName, bi.ID, dp.Interval.Next(pr.p.Now())); err != nil {
					return err
				}
			}
			users = append(users, bi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(&out), nil
}

func (pr *Provider) getPolicy(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var pol policyResource
	if err := resource.Get(ctx, pr.p.Store, vaultIDOf(r).Child("backupPolicies", r.Param("backupPolicyName")), &pol); err != nil {
		return nil, err
	}
	return arm.OK(&pol), nil
}

func (pr *Provider) listPolicies(r *arm.Request) (*arm.Response, error) {
	return arm.PageKeyedFunc(r, 100, func(after string, skip, size int) ([]json.RawMessage, string, bool, error) {
		return resource.ListWirePageAfter[policyResource](r.HTTP.Context(), store.Prefetched(r.HTTP.Context(), pr.p.Store), typePolicy, vaultIDOf(r).String(), nil, after, skip, size)
	})
}

func (pr *Provider) deletePolicy(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := vaultIDOf(r).Child("backupPolicies", r.Param("backupPolicyName"))
	gone := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		bis, err := resource.List[instanceResource](ctx, tx, typeInstance, vaultIDOf(r).String())
		if err != nil {
			return err
		}
		var using []string
		for _, bi := range bis {
			if arm.EqualIDs(bi.Properties.PolicyInfo.PolicyID, id.String()) {
				using = append(using, bi.Name)
			}
		}
		if len(using) > 0 {
			return arm.Errorf(http.StatusBadRequest, "UserErrorPolicyInUse", "The backup policy '%s' is used by backup instance(s) %s; delete those instances or protect them with another policy first.", id.Name(), strings.Join(using, ", "))
		}
		err = resource.Delete(ctx, tx, id)
		if isNotFound(err) {
			gone = true
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if gone {
		return arm.NoContent(), nil
	}
	return arm.OK(nil), nil
}

// guardPolicyChange authorizes a change of the policy old to dp while
// backup instances (of bis) use it: it changes their protection (their
// schedule and retention), the critical operation a resource guard
// protects as a change of the instances themselves (dppModifyPolicy). A
// PUT that changes neither, or of a policy no instance uses, is not one.
func (pr *Provider) guardPolicyChange(r *arm.Request, old *policyResource, dp *diskPolicy, bis []instanceResource) error {
	if was, err := policyFromStored(old); err == nil && reflect.DeepEqual(was, dp) {
		return nil
	}
	for i := range bis {
		if arm.EqualIDs(bis[i].Properties.PolicyInfo.PolicyID, old.ID) {
			return pr.guarded(r, opGuardModifyInstance, nil)
		}
	}
	return nil
}
