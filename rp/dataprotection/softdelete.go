package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Soft delete
//
// A vault's properties.securitySettings.softDeleteSettings has a state
// (Off, On or AlwaysOn; "Enabled"/"Disabled" are read as On/Off) and a
// retentionDurationInDays (14 to 180; 14 when not given and soft delete is
// on). As in Azure, a new vault whose request leaves softDeleteSettings out
// gets soft delete On for 14 days, and a PUT or PATCH that leaves them out
// keeps the vault's current ones. With state Off (or a vault stored
// without settings) deleting a backup instance deletes its recovery points
// and snapshots with it.
//
// With On or AlwaysOn, DELETE of a backup instance still answers 202 and
// the instance is gone (GET answers 404, the disk can be protected again
// at once, in any vault), but its recovery points and snapshots are kept
// and a deleted backup instance of the same name appears under
// .../deletedBackupInstances: the instance's properties with objectType
// DeletedBackupInstance, currentProtectionState and protectionStatus.status
// SoftDeleted, and deletionInfo {deletionTime, billingEndDate (= the
// deletion time), scheduledPurgeTime (deletion + retention days),
// deleteActivityID}. Its points are kept as they are (no retention runs).
//
// POST .../deletedBackupInstances/{name}/undelete brings the instance back
// with its points in the ProtectionStopped state (resumeProtection then
// restarts its schedule). It is refused (409) while the disk is protected
// by another backup instance, or an instance of the same name exists, and
// (400) when the instance's policy was deleted meanwhile.
//
// At scheduledPurgeTime a durable task purges the deleted instance: its
// snapshots, points and record. Soft-deleting an instance whose name
// already has a deleted instance in the vault purges the older one first.
//
// A vault whose soft delete is On or AlwaysOn cannot be deleted while it
// has soft-deleted instances (400); with Off they are purged with the vault
// (and always with their resource group). AlwaysOn cannot be changed back
// (400 naming properties.securitySettings.softDeleteSettings.state).

const (
	typeDeleted       = "Microsoft.DataProtection/backupVaults/deletedBackupInstances"
	stateSoftDeleted  = "SoftDeleted"
	purgeTaskKind     = "dataprotection.purgeDeletedInstance"
	softDeleteDefault = 14
)

const sdField = "properties.securitySettings.softDeleteSettings"

type deletedInstanceResource struct {
	arm.ProxyResource
	Tags       map[string]string `json:"tags,omitempty"` // the instance's, kept for undelete; not answered
	Properties *deletedInstance  `json:"properties"`
	SystemData *arm.SystemData   `json:"systemData,omitempty"`
}

type deletedInstance struct {
	backupInstance
	DeletionInfo *deletionInfo `json:"deletionInfo,omitempty"`
}

type deletionInfo struct {
	DeletionTime       string `json:"deletionTime"`
	BillingEndDate     string `json:"billingEndDate"`
	ScheduledPurgeTime string `json:"scheduledPurgeTime"`
	DeleteActivityID   string `json:"deleteActivityID"`
}

func (d *deletedInstanceResource) view() *deletedInstanceResource {
	cp := *d
	cp.Tags = nil
	return &cp
}

// softDelete is a vault's effective soft-delete setting.
type softDelete struct {
	State string // Off, On, AlwaysOn
	Days  int
}

func (s softDelete) enabled() bool { return s.State == "On" || s.State == "AlwaysOn" }

// getCI returns the value of the key of m equal to k ignoring case.
func getCI(m map[string]json.RawMessage, k string) (string, json.RawMessage) {
	for x, v := range m {
		if strings.EqualFold(x, k) {
			return x, v
		}
	}
	return "", nil
}

func vaultSoftDelete(v *vaultResource) softDelete {
	if v.Properties == nil {
		return softDelete{State: "Off"}
	}
	return parseSoftDelete(v.Properties.SecuritySettings)
}

// securityLevels is the vault's secure score and BCDR security level as
// Azure computes them (Business Continuity center's security levels):
// Maximum/Excellent when deletion protection is irreversible (soft delete
// always-on or immutability locked) and multi-user authorization guards
// the vault; Adequate/Good with soft delete on or immutability locked;
// Minimum/Fair with multi-user authorization alone; None/Poor otherwise.
func securityLevels(v *vaultResource) (secureScore, bcdr string) {
	sd := vaultSoftDelete(v)
	immutability := ""
	mua := false
	if v.Properties != nil {
		var ss struct {
			ImmutabilitySettings struct {
				State string `json:"state"`
			} `json:"immutabilitySettings"`
		}
		if json.Unmarshal(v.Properties.SecuritySettings, &ss) == nil {
			immutability = strings.ToLower(ss.ImmutabilitySettings.State)
		}
		mua = v.Properties.IsVaultProtectedByResourceGuard != nil && *v.Properties.IsVaultProtectedByResourceGuard
	}
	irreversible := sd.State == "AlwaysOn" || immutability == "locked"
	switch {
	case irreversible && mua:
		return "Maximum", "Excellent"
	case sd.State != "Off" || immutability == "locked":
		return "Adequate", "Good"
	case mua:
		return "Minimum", "Fair"
	}
	return "None", "Poor"
}

// parseSoftDelete reads stored (already checked) security settings.
func parseSoftDelete(raw json.RawMessage) softDelete {
	out := softDelete{State: "Off", Days: softDeleteDefault}
	var ss map[string]json.RawMessage
	if json.Unmarshal(raw, &ss) != nil {
		return out
	}
	_, sdRaw := getCI(ss, "softDeleteSettings")
	var sd map[string]json.RawMessage
	if json.Unmarshal(sdRaw, &sd) != nil {
		return out
	}
	if _, st := getCI(sd, "state"); st != nil {
		var s string
		json.Unmarshal(st, &s)
		if c, ok := canonicalSoftDeleteState(s); ok {
			out.State = c
		}
	}
	if _, d := getCI(sd, "retentionDurationInDays"); d != nil {
		var f float64
		if json.Unmarshal(d, &f) == nil && f >= 1 {
			out.Days = int(math.Ceil(f))
		}
	}
	return out
}

func canonicalSoftDeleteState(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "disabled":
		return "Off", true
	case "on", "enabled":
		return "On", true
	case "alwayson":
		return "AlwaysOn", true
	}
	return "", false
}

// defaultSoftDelete is what Azure gives a new Backup vault whose request
// leaves softDeleteSettings out: soft delete On, 14 days.
var defaultSoftDelete = json.RawMessage(`{"state":"On","retentionDurationInDays":14}`)

// checkSecuritySettings validates and normalises a request's
// securitySettings given the vault's current ones (created: a new vault);
// a request that leaves softDeleteSettings out keeps the current ones (a
// new vault gets Azure's default, On for 14 days).
func checkSecuritySettings(raw, old json.RawMessage, created bool) (json.RawMessage, error) {
	if created {
		old = json.RawMessage(`{"softDeleteSettings":` + string(defaultSoftDelete) + `}`)
	}
	oldSD := parseSoftDelete(old)
	var oldSDRaw json.RawMessage
	if len(old) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(old, &m) == nil {
			_, oldSDRaw = getCI(m, "softDeleteSettings")
		}
	}
	keepOld := oldSDRaw != nil
	if len(raw) == 0 || string(raw) == "null" {
		if keepOld {
			return json.Marshal(map[string]json.RawMessage{"softDeleteSettings": oldSDRaw})
		}
		return raw, nil
	}
	var ss map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fieldError("properties.securitySettings", "must be a JSON object")
	}
	k, sdRaw := getCI(ss, "softDeleteSettings")
	if sdRaw == nil || string(sdRaw) == "null" {
		if keepOld {
			delete(ss, k)
			ss["softDeleteSettings"] = oldSDRaw
			return json.Marshal(ss)
		}
		return raw, nil
	}
	var sd map[string]json.RawMessage
	if err := json.Unmarshal(sdRaw, &sd); err != nil {
		return nil, fieldError(sdField, "must be an object: {\"state\":\"On\",\"retentionDurationInDays\":14}")
	}
	state, spelled := "", "" // canonical, and as the caller spelled it (Azure echoes "Enabled")
	if sk, st := getCI(sd, "state"); st != nil && string(st) != "null" {
		var s string
		if err := json.Unmarshal(st, &s); err != nil {
			return nil, fieldError(sdField+".state", "must be a string; allowed values: 'Off', 'On', 'AlwaysOn'")
		}
		c, ok := canonicalSoftDeleteState(s)
		if !ok {
			return nil, fieldError(sdField+".state", "'%s' is not supported; allowed values: 'Off', 'On', 'AlwaysOn'", s)
		}
		delete(sd, sk)
		state, spelled = c, s
	} else if oldSDRaw != nil {
		state = oldSD.State
	}
	if oldSD.State == "AlwaysOn" && state != "AlwaysOn" {
		return nil, fieldError(sdField+".state", "cannot change from 'AlwaysOn' to '%s': always-on soft delete is irreversible", state)
	}
	var days *float64
	if dk, d := getCI(sd, "retentionDurationInDays"); d != nil && string(d) != "null" {
		var f float64
		if err := json.Unmarshal(d, &f); err != nil {
			return nil, fieldError(sdField+".retentionDurationInDays", "must be a number of days from 14 to 180")
		}
		delete(sd, dk)
		days = &f
	}
	if state == "On" || state == "AlwaysOn" {
		if days == nil {
			f := float64(softDeleteDefault)
			if oldSDRaw != nil {
				f = float64(oldSD.Days)
			}
			days = &f
		}
		if *days < 14 || *days > 180 {
			return nil, fieldError(sdField+".retentionDurationInDays", "%v is out of range: give 14 to 180 days", *days)
		}
	}
	if spelled != "" {
		sd["state"], _ = json.Marshal(spelled)
	} else if state != "" {
		if _, st := getCI(parseRaw(oldSDRaw), "state"); st != nil {
			sd["state"] = st
		} else {
			sd["state"], _ = json.Marshal(state)
		}
	}
	if days != nil {
		sd["retentionDurationInDays"], _ = json.Marshal(*days)
	}
	delete(ss, k)
	ss["softDeleteSettings"], _ = json.Marshal(sd)
	return json.Marshal(ss)
}

func parseRaw(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	return m
}

func deletedIDOf(vaultID arm.ResourceID, name string) arm.ResourceID {
	return vaultID.Child("deletedBackupInstances", name)
}

// cancelPurge completes the purge task of the deleted instance did, if it
// has one.
func cancelPurge(ctx context.Context, tx store.Tx, did arm.ResourceID) error {
	t, err := tx.GetTaskByKey(ctx, purgeTaskKey(did.String()))
	if err == nil {
		err = tx.CompleteTask(ctx, t.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func purgeTaskKey(deletedID string) string { return "purge:" + strings.ToLower(deletedID) }

type purgePayload struct {
	ID       string `json:"id"`
	Activity string `json:"activity"`
}

func (pr *Provider) loadDeleted(ctx context.Context, r store.Reader, id arm.ResourceID) (*deletedInstanceResource, error) {
	var d deletedInstanceResource
	if err := resource.Get(ctx, r, id, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// moveRecoveryPoints re-keys an item's recovery points to another item id
// (their snapshots stay).
func moveRecoveryPoints(ctx context.Context, tx store.Tx, from, to string) error {
	pts, err := protection.ListRecoveryPoints(ctx, tx, from)
	if err != nil {
		return err
	}
	for _, pt := range pts {
		if err := protection.DeleteRecoveryPoint(ctx, tx, from, pt.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pt.ItemID = to
		if err := protection.PutRecoveryPoint(ctx, tx, pt); err != nil {
			return err
		}
	}
	return nil
}

// softDeleteInstance turns a backup instance into a deleted backup
// instance (see the package's soft-delete rules). Safe to repeat.
func (pr *Provider) softDeleteInstance(ctx context.Context, vault *vaultResource, sd softDelete, biID, activity string) error {
	bid, err := arm.ParseID(biID)
	if err != nil {
		return err
	}
	did := deletedIDOf(bid.Parent(), bid.Name())
	if old, err := pr.loadDeleted(ctx, pr.p.Store, did); err == nil {
		if old.Properties.DeletionInfo != nil && old.Properties.DeletionInfo.DeleteActivityID == activity {
			return nil // done before a crash
		}
		if err := pr.purgeDeleted(ctx, old.ID); err != nil {
			return err
		}
	} else if !isNotFound(err) {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		bi, err := pr.loadInstance(ctx, tx, bid)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := pr.Engine.Unschedule(ctx, tx, bi.ID); err != nil {
			return err
		}
		if err := moveRecoveryPoints(ctx, tx, bi.ID, did.String()); err != nil {
			return err
		}
		if err := releaseDatasource(ctx, tx, bi); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, bid); err != nil && !isNotFound(err) {
			return err
		}
		now := pr.p.Now().UTC()
		purge := now.Add(time.Duration(sd.Days) * 24 * time.Hour)
		p := *bi.Properties
		p.ObjectType = "DeletedBackupInstance"
		p.ProvisioningState = "Succeeded"
		p.CurrentProtectionState = stateSoftDeleted
		p.ProtectionStatus = &protectionStatus{Status: stateSoftDeleted}
		p.ProtectionErrorDetails = nil
		d := &deletedInstanceResource{ProxyResource: arm.ProxyResource{ID: did.String(), Name: bi.Name, Type: typeDeleted}, Tags: bi.Tags, SystemData: bi.SystemData,
			Properties: &deletedInstance{backupInstance: p, DeletionInfo: &deletionInfo{
				DeletionTime: now.Format(time.RFC3339Nano), BillingEndDate: now.Format(time.RFC3339Nano),
				ScheduledPurgeTime: purge.Format(time.RFC3339Nano), DeleteActivityID: activity}}}
		if err := resource.Put(ctx, tx, did, d); err != nil {
			return err
		}
		payload, _ := json.Marshal(purgePayload{ID: did.String(), Activity: activity})
		_, err = tx.Enqueue(ctx, store.Task{Kind: purgeTaskKind, Key: purgeTaskKey(did.String()), Payload: payload, RunAt: purge})
		return err
	})
}

// runPurge is the purge task: it purges the deleted instance it was
// planned for (not a later one of the same name).
func (pr *Provider) runPurge(ctx context.Context, t store.Task) error {
	var p purgePayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return nil // unreadable: nothing to do
	}
	did, err := arm.ParseID(p.ID)
	if err != nil {
		return nil
	}
	d, err := pr.loadDeleted(ctx, pr.p.Store, did)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Properties.DeletionInfo == nil || d.Properties.DeletionInfo.DeleteActivityID != p.Activity {
		return nil
	}
	return pr.purgeDeleted(ctx, d.ID)
}

// purgeDeleted removes a deleted backup instance for good: its snapshots,
// recovery points, purge task and record. It marks the record first so that
// an undelete cannot race it. Safe to repeat.
func (pr *Provider) purgeDeleted(ctx context.Context, id string) error {
	did, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		d, err := pr.loadDeleted(ctx, tx, did)
		if err != nil {
			return err
		}
		if d.Properties.ProvisioningState == "Deleting" {
			return nil
		}
		d.Properties.ProvisioningState = "Deleting"
		return resource.Put(ctx, tx, did, d)
	})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := pr.deletePointsOf(ctx, did.String()); err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := cancelPurge(ctx, tx, did); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, did); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
}

func deletedNotFound(name string) *arm.Error {
	return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The deleted backup instance '%s' was not found: only instances deleted while the vault's soft delete is On or AlwaysOn are kept, until their scheduled purge time.", name)
}

func (pr *Provider) listDeletedInstances(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if _, err := pr.vaultFor(r); err != nil {
		return nil, err
	}
	ds, err := resource.List[deletedInstanceResource](ctx, pr.p.Store, typeDeleted, vaultIDOf(r).String())
	if err != nil {
		return nil, err
	}
	out := make([]*deletedInstanceResource, 0, len(ds))
	for i := range ds {
		out = append(out, ds[i].view())
	}
	return arm.PageOK(r, out, 100)
}

func (pr *Provider) getDeletedInstance(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if _, err := pr.vaultFor(r); err != nil {
		return nil, err
	}
	d, err := pr.loadDeleted(ctx, pr.p.Store, deletedIDOf(vaultIDOf(r), r.Param("backupInstanceName")))
	if isNotFound(err) {
		return nil, deletedNotFound(r.Param("backupInstanceName"))
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(d.view()), nil
}

// undelete restores a deleted backup instance, stopped, with its points.
func (pr *Provider) undelete(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	name := r.Param("backupInstanceName")
	vid := vaultIDOf(r)
	did := deletedIDOf(vid, name)
	op := &ops.Operation{Kind: opInstanceAction, ResourceID: did.String(), Caller: r.Caller()}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		d, err := pr.loadDeleted(ctx, tx, did)
		if isNotFound(err) {
			return deletedNotFound(name)
		}
		if err != nil {
			return err
		}
		if d.Properties.ProvisioningState == "Deleting" {
			return arm.Conflict("UserErrorBackupInstanceBeingPurged", "The deleted backup instance '%s' is being purged (its retention ended); it cannot be undeleted.", d.Name)
		}
		bid := vid.Child("backupInstances", d.Name)
		if _, err := pr.loadInstance(ctx, tx, bid); err == nil {
			return arm.Conflict("UserErrorBackupInstanceAlreadyExists", "A backup instance named '%s' exists in vault '%s'; delete it (or let it be soft-deleted and purged) before undeleting this one.", d.Name, vault.Name)
		} else if !isNotFound(err) {
			return err
		}
		diskID := d.Properties.DataSourceInfo.ResourceID
		if owner, err := protectedBy(ctx, tx, diskID); err != nil {
			return err
		} else if owner != "" {
			return arm.Conflict("UserErrorDppDatasourceAlreadyProtected", "The datasource '%s' has been protected again by the backup instance '%s' since this instance was deleted; delete that backup instance before undeleting '%s'.", diskID, owner, d.Name)
		}
		if d.Properties.PolicyInfo != nil {
			if _, _, err := pr.loadPolicy(ctx, tx, d.Properties.PolicyInfo.PolicyID); isNotFound(err) {
				return arm.BadRequest("UserErrorPolicyNotFound", "The backup policy '%s' of the deleted backup instance '%s' no longer exists; create it again with the same name, then retry the undelete.", d.Properties.PolicyInfo.PolicyID, d.Name)
			} else if err != nil {
				return err
			}
		}
		if err := claimDatasource(ctx, tx, diskID, bid.String()); err != nil {
			return err
		}
		if err := moveRecoveryPoints(ctx, tx, did.String(), bid.String()); err != nil {
			return err
		}
		p := d.Properties.backupInstance
		p.ObjectType = "BackupInstance"
		p.ProvisioningState = "Succeeded"
		p.CurrentProtectionState = stateStopped
		p.ProtectionStatus = &protectionStatus{Status: stateStopped}
		p.ProtectionErrorDetails = nil
		bi := &instanceResource{ProxyResource: arm.ProxyResource{ID: bid.String(), Name: d.Name, Type: typeInstance}, Tags: d.Tags, Properties: &p,
			SystemData: arm.Touch(d.SystemData, r.Caller(), pr.p.Now())}
		if err := resource.Put(ctx, tx, bid, bi); err != nil {
			return err
		}
		if err := cancelPurge(ctx, tx, did); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, did); err != nil {
			return err
		}
		op.ResourceID = bi.ID
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	return opAccepted(r, vault.Location, op), nil
}

// purgeDeletedOf purges every deleted backup instance of a vault.
func (pr *Provider) purgeDeletedOf(ctx context.Context, vaultID string) error {
	ds, err := resource.List[deletedInstanceResource](ctx, pr.p.Store, typeDeleted, vaultID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := pr.purgeDeleted(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}
