package protection

import (
	"context"
	"errors"

	"github.com/safehold/safehold/snapshot"
)

// Disks is what the engine needs of the disk layer: snapshot disks at one
// instant, restore a snapshot to a new disk, delete a snapshot. compute
// implements it (through protection/computedisks).
//
// Errors wrap ErrNotFound (no such disk or snapshot), ErrExists (the new
// disk exists) or ErrRejected (the disk layer refused the request; the
// message says why), or are failures of the layer itself.
type Disks interface {
	// SnapshotDisks freezes the disks at one instant and captures each
	// into a new incremental snapshot; progress reports bytes done (of
	// the disks' total size) and the bytes found changed so far (what
	// the snapshots' BytesChanged add up to at the end).
	SnapshotDisks(ctx context.Context, specs []SnapshotSpec, progress func(done, total, changed int64)) ([]Snapshot, error)
	// Snapshot reads a snapshot taken earlier.
	Snapshot(ctx context.Context, id string) (Snapshot, error)
	// DeleteSnapshot deletes a snapshot.
	DeleteSnapshot(ctx context.Context, id string) error
	// RestoreDisk creates a new disk from a snapshot of the operational tier.
	RestoreDisk(ctx context.Context, snapshotID string, target DiskTarget) (Disk, error)
	// RestoreDiskFrom creates a new disk from a snapshot of another
	// repository (the vault tier).
	RestoreDiskFrom(ctx context.Context, repo *snapshot.Repository, id snapshot.ID, target DiskTarget) (Disk, error)
	// Disk reads a disk.
	Disk(ctx context.Context, id string) (Disk, error)
	// DeleteDisk deletes a disk a restore made, on the user's behalf (a
	// management lock can refuse it), if it is still that disk: one of
	// that name with another uniqueID (made again since) is left alone
	// (ErrNotFound).
	DeleteDisk(ctx context.Context, id, uniqueID string) error
	// VM reads a virtual machine (a restore's: Recovery Services makes
	// one over the disks it restored).
	VM(ctx context.Context, id string) (VM, error)
	// DeleteVM deletes a VM a restore made if it is still that VM: one of
	// that name with another vmID (made again since) is left alone
	// (ErrNotFound). Its disks stay (detached).
	DeleteVM(ctx context.Context, id, vmID string) error
	// Repository is the operational tier's repository, which backups copy
	// to a vault tier from.
	Repository() *snapshot.Repository
}

// SnapshotSpec is one disk of a capture.
type SnapshotSpec struct {
	DiskID     string
	SnapshotID string // ARM id of the snapshot to create
	Lun        int    // data disk LUN (VMs)
	OSDisk     bool
	Tags       map[string]string
}

// Snapshot is a disk snapshot of the operational tier.
type Snapshot struct {
	ID           string
	EngineID     snapshot.ID
	SizeBytes    int64
	BytesChanged int64 // of the capture (zero when read later)
	// SKU and Tier are the source disk's sku and performance tier at the
	// capture ("": not known), which a disk restored from it keeps.
	SKU, Tier string
}

// DiskTarget is a disk a restore creates.
type DiskTarget struct {
	ID       string
	Location string // "" : the snapshot's
	Tags     map[string]string
	Zones    []string // the availability zone to create the disk in (nil: none)
	// EncryptionType and DiskEncryptionSetID encrypt the disk with the
	// set's customer-managed key ("": platform keys).
	EncryptionType, DiskEncryptionSetID string
	// NetworkAccessPolicy (AllowAll, AllowPrivate), PublicNetworkAccess
	// (Enabled, Disabled) and DiskAccessID (of an AllowPrivate disk) are
	// the disk's network access ("": public, as a new disk's).
	NetworkAccessPolicy, PublicNetworkAccess, DiskAccessID string
	// SKU and Tier are the disk's sku and performance tier ("": the
	// source disk's as the point recorded them, else Standard_LRS).
	SKU, Tier string
}

// Disk is a managed disk.
type Disk struct {
	ID        string
	UniqueID  string
	SizeBytes int64
	Tags      map[string]string
	// BytesRestored is what the restore that made the disk wrote (its data
	// blocks; zero when read later).
	BytesRestored int64
}

// VM is a virtual machine a restore made.
type VM struct {
	ID   string
	VMID string
	Tags map[string]string
}

// Errors of the disk layer (wrapped).
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrRejected = errors.New("rejected")
)

// DiskError is an error of the disk layer with its kind (ErrNotFound,
// ErrExists, ErrRejected) and the layer's message.
type DiskError struct {
	Kind    error
	Message string
}

func (e *DiskError) Error() string { return e.Message }
func (e *DiskError) Unwrap() error { return e.Kind }

// message is a disk error's own message (or err's text).
func message(err error) string {
	var de *DiskError
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}
