package recoveryservices

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// File recovery (item-level recovery, ILR: provisionInstantItemRecovery
// and revokeInstantItemRecovery, `az backup restore files mount-rp` and
// unmount-rp). Azure attaches a recovery point's disks to the client's
// machine as iSCSI targets for a limited time, with a script that connects
// them; Safehold exports them read-only over NBD instead: provisioning
// grants read access (compute grants, as beginGetAccess does) to the
// point's disk snapshots for ilrDuration and answers a client script that
// connects each export with qemu-nbd (or nbd-client); revoking ends the
// grants, and with them the open connections. The session is recorded per
// point (kind ilrKind), which the point shows as isInstantIlrSessionActive.

const (
	ilrKind     = "recoveryservices.ilr"
	ilrDuration = 12 * time.Hour // Azure's file recovery sessions last 12 hours
)

// ilrSession is one provisioned file recovery of a recovery point.
type ilrSession struct {
	PointID   string    `json:"pointId"`
	Snapshots []string  `json:"snapshots"` // the compute snapshots granted
	Expiry    time.Time `json:"expiry"`
	Initiator string    `json:"initiator,omitempty"`
}

func ilrKey(itemID, pointID string) string {
	return strings.ToLower(itemID) + "/recoverypoints/" + strings.ToLower(pointID)
}

func ilrScope(itemID string) string { return strings.ToLower(itemID) + "/" }

// ilrActive is the set of the item's points (lower-case ids) with a live
// file recovery session.
func (pr *Provider) ilrActive(ctx context.Context, itemID string) (map[string]bool, error) {
	docs, err := pr.p.Store.List(ctx, ilrKind, store.ListQuery{ScopePrefix: ilrScope(itemID)})
	if err != nil {
		return nil, err
	}
	now := pr.p.Now()
	active := map[string]bool{}
	for _, d := range docs {
		var s ilrSession
		if json.Unmarshal(d.Value, &s) == nil && now.Before(s.Expiry) {
			active[strings.ToLower(s.PointID)] = true
		}
	}
	return active, nil
}

// provisionILR exports the point's disks over NBD for ilrDuration: 202
// with an operation whose status carries the client script
// (OperationStatusProvisionILRExtendedInfo, as Azure's).
func (pr *Provider) provisionILR(r *arm.Request, at pointAt) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		Properties *struct {
			ObjectType       string `json:"objectType"`
			RecoveryPointID  string `json:"recoveryPointId"`
			VirtualMachineID string `json:"virtualMachineId"`
			InitiatorName    string `json:"initiatorName"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Properties == nil || in.Properties.ObjectType != "IaasVMILRRegistrationRequest" {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.objectType must be IaasVMILRRegistrationRequest (file recovery of an Azure VM's recovery point).")
	}
	if vm := in.Properties.VirtualMachineID; vm != "" {
		rid, err := arm.ParseID(vm)
		src := mustParse(at.item.SourceID)
		if err != nil || !strings.EqualFold(rid.ResourceGroup, src.ResourceGroup) || !strings.EqualFold(rid.Name(), src.Name()) {
			return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.virtualMachineId '%s' is not the VM of this protected item (%s): give the item's VM, or leave it out.", vm, at.item.SourceID)
		}
	}
	if err := softDeleted(at.item, "recovering files from it"); err != nil {
		return nil, err
	}
	if pr.Compute.NBDAddr() == "" {
		return nil, arm.BadRequest("OperationNotSupported", "File recovery exports the recovery point's disks over NBD, and this server has no NBD listener: start it with --nbd-addr (for example 127.0.0.1:10809), or restore the disks (RestoreDisks) and read the files from them.")
	}
	if !at.point.HasTier(protection.TierOperational) || len(at.point.Snapshots) == 0 {
		return nil, arm.BadRequest("UserErrorInstantRpNotAvailable", "File recovery reads the recovery point's snapshots, and recovery point '%s' has none left (only its vault copy): restore its disks (RestoreDisks) and read the files from them.", at.point.ID)
	}
	snaps := append([]protection.DiskSnapshot(nil), at.point.Snapshots...)
	sort.SliceStable(snaps, func(i, j int) bool {
		return snaps[i].OSDisk && !snaps[j].OSDisk || snaps[i].OSDisk == snaps[j].OSDisk && snaps[i].Lun < snaps[j].Lun
	})
	type export struct {
		disk, uri string
		lun       int
		os        bool
	}
	var exports []export
	sess := ilrSession{PointID: at.point.ID, Initiator: in.Properties.InitiatorName}
	for _, s := range snaps {
		g, err := pr.Compute.GrantAccess(ctx, s.SnapshotID, "Read", ilrDuration)
		if err != nil {
			pr.endILR(ctx, sess.Snapshots)
			if isNotFound(err) {
				return nil, arm.BadRequest("UserErrorInstantRpNotAvailable", "File recovery reads the recovery point's snapshots, and the snapshot of disk '%s' (%s) is gone: restore the point's disks (RestoreDisks) and read the files from them.", s.DiskID, s.SnapshotID)
			}
			return nil, err
		}
		sess.Snapshots = append(sess.Snapshots, s.SnapshotID)
		sess.Expiry = g.Expiry
		uri, err := pr.Compute.NBDURI(ctx, g)
		if err != nil || uri == "" {
			pr.endILR(ctx, sess.Snapshots)
			return nil, fmt.Errorf("NBD export of %s: %v", s.SnapshotID, err)
		}
		exports = append(exports, export{disk: s.DiskID, uri: uri, lun: s.Lun, os: s.OSDisk})
	}
	var sc strings.Builder
	fmt.Fprintf(&sc, "#!/bin/sh\n# Safehold file recovery: the disks of recovery point %s of VM %s,\n", at.point.ID, at.item.SourceID)
	fmt.Fprintf(&sc, "# exported read-only over NBD until %s (then, or at revokeInstantItemRecovery, the exports end).\n", sess.Expiry.UTC().Format(time.RFC3339))
	sc.WriteString("# Run as root on a Linux machine that reaches Safehold's NBD listener; it connects each disk to a\n")
	sc.WriteString("# /dev/nbdN with qemu-nbd; mount its partitions read-only (mount -o ro /dev/nbdNpM /mnt/...) and copy\n")
	sc.WriteString("# the files. Disconnect with qemu-nbd --disconnect /dev/nbdN. With nbd-client instead of qemu-nbd:\n")
	sc.WriteString("#   nbd-client HOST PORT -N EXPORT -readonly /dev/nbdN   (HOST:PORT and EXPORT from the URI)\n")
	sc.WriteString("# (nbds:// URIs need TLS: qemu-nbd --object tls-creds-x509,... or nbd-client -cacertfile with Safehold's CA.)\n")
	sc.WriteString("set -e\nmodprobe nbd max_part=16\n")
	for i, e := range exports {
		what := fmt.Sprintf("data disk, LUN %d", e.lun)
		if e.os {
			what = "OS disk"
		}
		u, _ := url.Parse(e.uri)
		fmt.Fprintf(&sc, "# %s: %s\n", what, e.disk)
		fmt.Fprintf(&sc, "# host %s, export %s\n", u.Host, strings.TrimPrefix(u.Path, "/"))
		fmt.Fprintf(&sc, "qemu-nbd --read-only --format=raw --connect=/dev/nbd%d '%s'\n", i, e.uri)
	}
	b, _ := json.Marshal(sess)
	props, _ := json.Marshal(map[string]any{"objectType": "OperationStatusProvisionILRExtendedInfo", "recoveryTarget": map[string]any{
		"clientScripts": []map[string]any{{"scriptContent": base64.StdEncoding.EncodeToString([]byte(sc.String())), "scriptExtension": ".sh", "osType": "Linux", "url": "",
			"scriptNameSuffix": strings.ToLower(mustParse(at.item.SourceID).Name() + "_" + at.point.ID)}}}})
	op := &ops.Operation{Kind: opKindItem, ResourceID: at.item.ID + "/recoveryPoints/" + at.point.ID, Caller: r.Caller(), Properties: props}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: ilrKind, Key: ilrKey(at.item.ID, at.point.ID), Scope: ilrScope(at.item.ID), Value: b}); err != nil {
			return err
		}
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		pr.endILR(ctx, sess.Snapshots)
		return nil, err
	}
	return vaultAccepted(r, at.vid, op), nil
}

// revokeILR ends the point's file recovery session, if any (its NBD
// exports and their connections): 202 with a completed operation.
func (pr *Provider) revokeILR(r *arm.Request, at pointAt) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	key := ilrKey(at.item.ID, at.point.ID)
	var sess ilrSession
	switch d, err := pr.p.Store.Get(ctx, ilrKind, key); {
	case err == nil:
		if err := json.Unmarshal(d.Value, &sess); err != nil {
			return nil, fmt.Errorf("decode file recovery session %s: %w", key, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if err := pr.endILR(ctx, sess.Snapshots); err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opKindItem, ResourceID: at.item.ID + "/recoveryPoints/" + at.point.ID, Caller: r.Caller()}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(ctx, ilrKind, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	return vaultAccepted(r, at.vid, op), nil
}

// endILR revokes the grants of a session's snapshots (those already
// deleted have none left).
func (pr *Provider) endILR(ctx context.Context, snapshots []string) error {
	for _, id := range snapshots {
		if err := pr.Compute.RevokeAccess(ctx, id); err != nil && !isNotFound(err) {
			return fmt.Errorf("end the NBD export of %s: %w", id, err)
		}
	}
	return nil
}
