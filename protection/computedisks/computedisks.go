// Package computedisks lets the protection engine reach disks through
// compute: it implements protection.Disks over *compute.Service and turns
// compute's errors into the engine's (not found, exists, rejected).
package computedisks

import (
	"context"
	"errors"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/snapshot"
)

// Disks is compute as the engine's disk layer.
type Disks struct{ *compute.Service }

var _ protection.Disks = Disks{}

// New adapts s.
func New(s *compute.Service) Disks { return Disks{s} }

// SnapshotDisks implements protection.Disks.
func (d Disks) SnapshotDisks(ctx context.Context, specs []protection.SnapshotSpec, progress func(done, total, changed int64)) ([]protection.Snapshot, error) {
	cs := make([]compute.SnapshotSpec, len(specs))
	for i, s := range specs {
		cs[i] = compute.SnapshotSpec{DiskID: s.DiskID, SnapshotID: s.SnapshotID, Incremental: true, Tags: s.Tags}
	}
	taken, err := d.Service.SnapshotDisks(ctx, cs, progress)
	if err != nil {
		return nil, domain(err)
	}
	out := make([]protection.Snapshot, len(taken))
	for i, s := range taken {
		out[i] = snap(s)
		out[i].BytesChanged = s.Stats.BytesChanged
	}
	return out, nil
}

func snap(s *compute.Snapshot) protection.Snapshot {
	return protection.Snapshot{ID: s.ID, EngineID: s.EngineID, SizeBytes: s.SizeBytes, SKU: s.SourceSKU, Tier: s.SourceTier}
}

// Snapshot implements protection.Disks.
func (d Disks) Snapshot(ctx context.Context, id string) (protection.Snapshot, error) {
	s, err := d.Service.Snapshot(ctx, id)
	if err != nil {
		return protection.Snapshot{}, domain(err)
	}
	return snap(s), nil
}

// DeleteSnapshot implements protection.Disks.
func (d Disks) DeleteSnapshot(ctx context.Context, id string) error {
	return domain(d.Service.DeleteSnapshot(ctx, id))
}

// RestoreDisk implements protection.Disks.
func (d Disks) RestoreDisk(ctx context.Context, snapshotID string, t protection.DiskTarget) (protection.Disk, error) {
	return disk(d.Service.CreateDiskFromSnapshot(ctx, snapshotID, t.ID, t.Location, t.Tags, t.Zones, restoreSettings(t)))
}

// RestoreDiskFrom implements protection.Disks.
func (d Disks) RestoreDiskFrom(ctx context.Context, repo *snapshot.Repository, id snapshot.ID, t protection.DiskTarget) (protection.Disk, error) {
	return disk(d.Service.CreateDiskFromRepository(ctx, repo, id, t.ID, t.Location, t.Tags, t.Zones, restoreSettings(t)))
}

// Disk implements protection.Disks.
func (d Disks) Disk(ctx context.Context, id string) (protection.Disk, error) {
	return disk(d.Service.Disk(ctx, id))
}

// DeleteDisk implements protection.Disks.
func (d Disks) DeleteDisk(ctx context.Context, id, uniqueID string) error {
	return domain(d.Service.DeleteDiskOnBehalf(ctx, id, uniqueID))
}

func (d Disks) VM(ctx context.Context, id string) (protection.VM, error) {
	v, err := d.Service.VMResource(ctx, id)
	if err != nil {
		return protection.VM{}, domain(err)
	}
	return protection.VM{ID: v.ID, VMID: v.Properties.VMID, Tags: v.Tags}, nil
}

func (d Disks) DeleteVM(ctx context.Context, id, vmID string) error {
	return domain(d.Service.DeleteVMOnBehalf(ctx, id, vmID))
}

func disk(x *compute.Disk, err error) (protection.Disk, error) {
	if err != nil {
		return protection.Disk{}, domain(err)
	}
	return protection.Disk{ID: x.ID, UniqueID: x.UniqueID, SizeBytes: x.SizeBytes, Tags: x.Tags, BytesRestored: x.BytesRestored}, nil
}

// domain turns compute's refusals into the engine's error kinds; failures
// of the layer itself (I/O, space, damage) stay as they are.
func domain(err error) error {
	var fe *failure.Error
	if err == nil || !errors.As(err, &fe) || snapshot.IsDamaged(err) {
		return err // damaged data (compute's SnapshotDataDamaged) is the engine's to name
	}
	switch fe.Kind {
	case failure.NotFound:
		return &protection.DiskError{Kind: protection.ErrNotFound, Message: fe.Message}
	case failure.Conflict:
		if fe.Code == "ScopeLocked" {
			return err // a management lock's refusal: its code and message are the job's (protection.JobErrorOf)
		}
		return &protection.DiskError{Kind: protection.ErrExists, Message: fe.Message}
	}
	return &protection.DiskError{Kind: protection.ErrRejected, Message: fe.Message}
}

// restoreSettings are the encryption, network access, sku and tier a
// restore target asks for.
func restoreSettings(t protection.DiskTarget) *compute.RestoreSettings {
	rs := &compute.RestoreSettings{NetworkAccessPolicy: t.NetworkAccessPolicy, PublicNetworkAccess: t.PublicNetworkAccess, DiskAccessID: t.DiskAccessID,
		SKU: t.SKU, Tier: t.Tier}
	if t.DiskEncryptionSetID != "" {
		rs.Encryption = &compute.Encryption{Type: t.EncryptionType, DiskEncryptionSetID: t.DiskEncryptionSetID}
	}
	return rs
}
