package compute

import (
	"context"
	"errors"
	"fmt"
	"github.com/safehold/safehold/accountblob"
	"io"
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// SnapshotProperties are the properties Azure returns for a snapshot.
type SnapshotProperties struct {
	BlockProperties
	Incremental         bool        `json:"incremental"`
	IncrementalFamilyID string      `json:"incrementalSnapshotFamilyId,omitempty"`
	OSType              string      `json:"osType,omitempty"`
	HyperVGeneration    string      `json:"hyperVGeneration,omitempty"`
	Encryption          *Encryption `json:"encryption,omitempty"`
	NetworkAccessPolicy string      `json:"networkAccessPolicy,omitempty"`
	PublicNetworkAccess string      `json:"publicNetworkAccess,omitempty"`
	CompletionPercent   float32     `json:"completionPercent"`
	// SnapshotAccessState is answered, never kept: Pending while the
	// snapshot is made, Available once it is (a Safehold snapshot can be
	// restored, copied and downloaded as soon as it exists).
	SnapshotAccessState string   `json:"snapshotAccessState,omitempty"`
	Settings            Settings `json:"-"`
}

// SnapshotResource is the stored ARM body of a snapshot (Azure's Snapshot model).
type SnapshotResource struct {
	Tracked
	Properties SnapshotProperties `json:"properties"`
}

// SnapshotSpec names one snapshot to take.
type SnapshotSpec struct {
	DiskID      string
	SnapshotID  string // full ARM id of the Microsoft.Compute/snapshots resource to create
	Incremental bool
	Tags        map[string]string
	Location    string   // default: the disk's
	Settings    Settings // kept as sent (UpdateSettings)
	SKU         string   // a name CanonicalSnapshotSKU returned; "": Standard_LRS
}

// Snapshot is a disk snapshot.
type Snapshot struct {
	ID, Name, Location, SourceDiskID string
	SizeBytes                        int64
	Incremental                      bool
	TimeCreated                      time.Time
	EngineID                         snapshot.ID
	UniqueID                         string
	Tags                             map[string]string
	Stats                            snapshot.Stats // of the capture (zero when loaded later)
	// SourceSKU and SourceTier are the source disk's sku and performance
	// tier at the capture (SnapshotDisks; "" when loaded later).
	SourceSKU, SourceTier string
}

func (sn *SnapshotResource) domain(eid snapshot.ID) *Snapshot {
	return &Snapshot{ID: sn.ID, Name: sn.Name, Location: sn.Location, SourceDiskID: sn.Properties.CreationData.SourceResourceID,
		SizeBytes: sn.Properties.DiskSizeBytes, Incremental: sn.Properties.Incremental, TimeCreated: sn.Properties.TimeCreated,
		EngineID: eid, UniqueID: sn.Properties.UniqueID, Tags: sn.Tags}
}

// SnapshotResource returns a snapshot's ARM body.
func (s *Service) SnapshotResource(ctx context.Context, id string) (*SnapshotResource, error) {
	return getTyped[SnapshotResource](ctx, s.p.Store, id, SnapshotType)
}

func (s *Service) snapshotEngineID(ctx context.Context, id string) (*SnapshotResource, snapshot.ID, error) {
	sn, err := s.SnapshotResource(ctx, id)
	if err != nil {
		return nil, "", err
	}
	st, err := getState(ctx, s.p.Store, sn.ID)
	if err != nil {
		return nil, "", err
	}
	if st.EngineID == "" {
		return nil, "", fmt.Errorf("snapshot %s has no stored content", sn.Name)
	}
	return sn, st.EngineID, nil
}

// Snapshot returns a snapshot; 404 ResourceNotFound when absent.
func (s *Service) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	sn, eid, err := s.snapshotEngineID(ctx, id)
	if err != nil {
		return nil, err
	}
	return sn.domain(eid), nil
}

// ListSnapshots lists the snapshots under scope (a subscription or resource group id).
func (s *Service) ListSnapshots(ctx context.Context, scope string) ([]*SnapshotResource, error) {
	return resource.List[*SnapshotResource](ctx, store.Prefetched(ctx, s.p.Store), SnapshotType, scope)
}

// CheckSnapshotSpecs validates snapshot specs without taking anything.
func (s *Service) CheckSnapshotSpecs(ctx context.Context, specs []SnapshotSpec) error {
	if len(specs) == 0 {
		return failure.Invalidf("InvalidParameter", "No disks to snapshot.")
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		rid, err := s.parseInGroup(ctx, sp.SnapshotID, SnapshotType)
		if err != nil {
			return err
		}
		if seen[stateKey(sp.SnapshotID)] {
			return failure.Invalidf("InvalidParameter", "Snapshot '%s' is listed twice.", rid.Name())
		}
		seen[stateKey(sp.SnapshotID)] = true
		if err := s.checkAbsent(ctx, rid, "Snapshot"); err != nil {
			return err
		}
		d, err := s.DiskResource(ctx, sp.DiskID)
		if err != nil {
			return err
		}
		if d.Properties.DiskState == StateReadyToUpload || d.Properties.DiskState == StateActiveUpload {
			return failure.Conflictf("OperationNotAllowed", "Disk '%s' is in state %s; finish the upload with endGetAccess before taking a snapshot.", d.Name, d.Properties.DiskState)
		}
	}
	return nil
}

// SnapshotDisks freezes all the listed disks at ONE instant, captures each
// through the engine (incremental against the disk's previous snapshot
// when Incremental), creates the Microsoft.Compute/snapshots resources and
// returns when all are durable. Writes racing the call land either wholly
// before the instant (and in the snapshots) or after it (and in none).
// progress, when given, is told how far the captures are (done of total:
// the disks' sizes) and the bytes found changed so far (changed: what the
// snapshots' BytesChanged add up to at the end).
func (s *Service) SnapshotDisks(ctx context.Context, specs []SnapshotSpec, progress func(done, total, changed int64)) ([]*Snapshot, error) {
	if err := s.CheckSnapshotSpecs(ctx, specs); err != nil {
		return nil, err
	}
	disks := make([]*DiskResource, len(specs))
	uids := make([]string, len(specs))
	for i, sp := range specs {
		d, err := s.DiskResource(ctx, sp.DiskID)
		if err != nil {
			return nil, err
		}
		disks[i], uids[i] = d, d.Properties.UniqueID
	}
	epochs, err := s.captureOwner(ctx, disks)
	if err != nil {
		return nil, err
	}
	unlock := s.lockVolumes(uids...)
	defer unlock()
	leave, valid, err := s.enterWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	vols := make([]*volume.Volume, len(specs))
	bases := make([]snapshot.ID, len(specs))
	for i, d := range disks {
		v, err := s.vols.Get(d.Properties.UniqueID)
		if err != nil {
			return nil, fmt.Errorf("open disk %s: %w", d.Name, err)
		}
		st, err := getState(ctx, s.p.Store, d.ID)
		if err != nil {
			return nil, err
		}
		vols[i], bases[i] = v, st.Base
	}
	fzs, err := s.vols.Freeze(vols...)
	if err != nil {
		return nil, fmt.Errorf("freeze disks: %w", err)
	}
	instant := s.now()
	committed := false
	var manifests []*snapshot.Manifest
	defer func() {
		if committed {
			return
		}
		for _, fz := range fzs {
			fz.Abort()
		}
		for _, m := range manifests {
			s.repo.Delete(context.WithoutCancel(ctx), m.ID)
		}
	}()

	var total int64
	for _, fz := range fzs {
		total += fz.Size()
	}
	var pmu sync.Mutex
	done, changed := make([]int64, len(specs)), make([]int64, len(specs))
	report := func(i int, d, c int64) {
		if progress == nil {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		done[i], changed[i] = d, c
		var sum, csum int64
		for k := range done {
			sum, csum = sum+done[k], csum+changed[k]
		}
		progress(sum, total, csum)
	}
	out := make([]*Snapshot, len(specs))
	for i, sp := range specs {
		fz := fzs[i]
		opts := snapshot.CaptureOptions{Tags: map[string]string{"snapshotId": sp.SnapshotID, "diskId": disks[i].ID}}
		if sp.Incremental && bases[i] != "" {
			if _, err := s.repo.Get(ctx, bases[i]); err == nil {
				opts.Parent = bases[i]
			}
		}
		if opts.Parent != "" {
			base, ranges, ok := fz.Changes()
			if ok && base == string(opts.Parent) {
				opts.Changed = make([]snapshot.Range, 0, len(ranges))
				for _, r := range ranges {
					opts.Changed = append(opts.Changed, snapshot.Range{Off: r.Off, Len: r.Len})
				}
			} else {
				opts.Scan = true
			}
		}
		i := i
		opts.Progress = func(p snapshot.Progress) {
			// Done counts scanned bytes of what the engine reads; report against the disk size.
			if p.Total > 0 {
				report(i, int64(float64(fz.Size())*float64(p.Done)/float64(p.Total)), p.Changed)
			}
		}
		m, st, err := s.repo.Capture(ctx, frozenSource{fz}, opts)
		if err != nil {
			return nil, fmt.Errorf("capture disk %s: %w", disks[i].Name, err)
		}
		report(i, fz.Size(), st.BytesChanged)
		manifests = append(manifests, m)
		rid, _ := arm.ParseID(sp.SnapshotID)
		loc := sp.Location
		if loc == "" {
			loc = disks[i].Location
		}
		out[i] = &Snapshot{ID: rid.String(), Name: rid.Name(), Location: resource.NormLocation(loc), SourceDiskID: disks[i].ID,
			SizeBytes: fz.Size(), Incremental: sp.Incremental, TimeCreated: instant, EngineID: m.ID, UniqueID: newUUID(), Tags: sp.Tags,
			SourceSKU: firstNonEmpty(skuName(disks[i].SKU), "Standard_LRS"), SourceTier: disks[i].Properties.Tier}
		out[i].Stats = st
	}
	if err := valid(); err != nil {
		return nil, err
	}
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		for i, d := range disks {
			if err := s.fenceOwner(ctx, tx, d, epochs[i]); err != nil {
				return err
			}
		}
		for i, sp := range specs {
			rid, _ := arm.ParseID(sp.SnapshotID)
			sn := out[i]
			body := snapshotBody(sn, disks[i])
			body.SKU = SKUOf(sp.SKU)
			if err := create(ctx, tx, rid, "Snapshot", body); err != nil {
				return err
			}
			if err := putState(ctx, tx, rid.String(), resourceState{EngineID: sn.EngineID}); err != nil {
				return err
			}
			st, err := getState(ctx, tx, disks[i].ID)
			if err != nil {
				return err
			}
			st.Base = sn.EngineID
			if err := putState(ctx, tx, disks[i].ID, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	committed = true
	for i, fz := range fzs {
		fz.Commit(string(out[i].EngineID))
	}
	return out, nil
}

func snapshotBody(sn *Snapshot, d *DiskResource) *SnapshotResource {
	b := newSnapshotBody(sn, CreationData{CreateOption: "Copy", SourceResourceID: d.ID, SourceUniqueID: d.Properties.UniqueID}, d.Properties.OSType, d.Properties.HyperVGeneration)
	if sn.Incremental {
		b.Properties.IncrementalFamilyID = d.Properties.UniqueID
	}
	return b
}

func newSnapshotBody(sn *Snapshot, cd CreationData, osType, hyperV string) *SnapshotResource {
	return &SnapshotResource{Tracked: Tracked{ID: sn.ID, Name: sn.Name, Type: SnapshotType, Location: sn.Location, Tags: sn.Tags,
		SKU: &SKU{Name: "Standard_LRS", Tier: "Standard"}},
		Properties: SnapshotProperties{
			BlockProperties: BlockProperties{CreationData: cd,
				DiskSizeBytes: sn.SizeBytes, DiskSizeGB: sizeGB(sn.SizeBytes), DiskState: StateUnattached, ProvisioningState: "Succeeded",
				TimeCreated: sn.TimeCreated, UniqueID: sn.UniqueID},
			Incremental: sn.Incremental, OSType: osType,
			HyperVGeneration: hyperV, Encryption: &Encryption{Type: "EncryptionAtRestWithPlatformKey"},
			NetworkAccessPolicy: "AllowAll", PublicNetworkAccess: "Enabled", CompletionPercent: 100}}
}

// SnapshotImport describes a snapshot to import from a storage-account blob.
type SnapshotImport struct {
	ID               string
	Location         string
	Tags             map[string]string
	Source           *accountblob.Source
	StorageAccountID string // as sent
	OSType           string
	HyperVGeneration string
	// SizeBytes, when set, is the snapshot's size: no less than the VHD's
	// data (zeros after it).
	SizeBytes int64
	SKU       string // a name CanonicalSnapshotSKU returned; "": Standard_LRS
}

// CheckSnapshotImport validates a snapshot import without taking anything.
func (s *Service) CheckSnapshotImport(ctx context.Context, in *SnapshotImport) error {
	rid, err := parseTyped(in.ID, SnapshotType)
	if err != nil {
		return err
	}
	if err := resource.CheckResourceGroup(ctx, s.p.Store, rid.SubscriptionID, rid.ResourceGroup); err != nil {
		return err
	}
	if err := s.checkAbsent(ctx, rid, "Snapshot"); err != nil {
		return err
	}
	return s.checkBlobSource(ctx, in.Source, in.SizeBytes)
}

// ImportSnapshot captures a storage-account blob (a fixed VHD: its data,
// without the footer) into a new snapshot.
func (s *Service) ImportSnapshot(ctx context.Context, in SnapshotImport) (*SnapshotResource, error) {
	if err := s.CheckSnapshotImport(ctx, &in); err != nil {
		return nil, err
	}
	rid, _ := arm.ParseID(in.ID)
	b, size, err := s.openBlobSource(ctx, in.Source)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	leave, valid, err := s.enterWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	size = max(size, in.SizeBytes)
	m, _, err := s.repo.Capture(ctx, vhdSource{b, b.Size() - 512, size}, snapshot.CaptureOptions{Tags: map[string]string{"snapshotId": rid.String(), "sourceUri": in.Source.URI}})
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", in.Source.URI, err)
	}
	sn := &Snapshot{ID: rid.String(), Name: rid.Name(), Location: resource.NormLocation(in.Location), SizeBytes: size, TimeCreated: s.now(), EngineID: m.ID, UniqueID: newUUID(), Tags: in.Tags}
	body := newSnapshotBody(sn, CreationData{CreateOption: "Import", SourceURI: in.Source.URI, StorageAccountID: in.StorageAccountID}, in.OSType, in.HyperVGeneration)
	body.SKU = SKUOf(in.SKU)
	err = valid()
	if err == nil {
		err = s.p.Store.Update(ctx, func(tx store.Tx) error {
			if err := create(ctx, tx, rid, "Snapshot", body); err != nil {
				return err
			}
			return putState(ctx, tx, rid.String(), resourceState{EngineID: m.ID})
		})
	}
	if err != nil {
		s.repo.Delete(context.WithoutCancel(ctx), m.ID)
		return nil, err
	}
	return s.SnapshotResource(ctx, rid.String())
}

// vhdSource is the data of a VHD blob as the engine reads a disk: its
// first data bytes, then zeros up to size; and where it holds data.
type vhdSource struct {
	b          *accountblob.Blob
	data, size int64
}

func (v vhdSource) Size() int64 { return v.size }
func (v vhdSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), v.size-off)]
	n := 0
	if off < v.data {
		k, err := io.NewSectionReader(v.b, 0, v.data).ReadAt(p[:min(int64(len(p)), v.data-off)], off)
		if err != nil && err != io.EOF {
			return k, err
		}
		n = k
	}
	clear(p[n:])
	if off+int64(len(p)) == v.size {
		return len(p), io.EOF
	}
	return len(p), nil
}
func (v vhdSource) DataRanges(off, n int64) ([]snapshot.Range, error) {
	if off >= v.data {
		return nil, nil // zeros after the VHD's data
	}
	return engineRanges(v.b.DataRanges(off, min(off+n, v.data)))
}

// engineRanges converts byte ranges to the engine's.
func engineRanges[R ~struct{ Off, Len int64 }](rs []R, err error) ([]snapshot.Range, error) {
	if err != nil {
		return nil, err
	}
	out := make([]snapshot.Range, len(rs))
	for i, x := range rs {
		r := struct{ Off, Len int64 }(x)
		out[i] = snapshot.Range{Off: r.Off, Len: r.Len}
	}
	return out, nil
}

// frozenSource adapts a volume freeze to the engine's Source and DataRanger.
type frozenSource struct{ fz *volume.Freeze }

func (f frozenSource) Size() int64                             { return f.fz.Size() }
func (f frozenSource) ReadAt(p []byte, off int64) (int, error) { return f.fz.ReadAt(p, off) }
func (f frozenSource) DataRanges(off, n int64) ([]snapshot.Range, error) {
	return engineRanges(f.fz.DataRanges(off, n))
}

// UpdateSnapshotTags replaces a snapshot's tags.
func (s *Service) UpdateSnapshotTags(ctx context.Context, id string, tags map[string]string) (*SnapshotResource, error) {
	rid, err := parseTyped(id, SnapshotType)
	if err != nil {
		return nil, err
	}
	return updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, sn *SnapshotResource) error {
		if tags != nil {
			sn.Tags = tags
		}
		return nil
	})
}

// SetSnapshotSKU sets a snapshot's SKU (a name CanonicalSnapshotSKU
// returned).
func (s *Service) SetSnapshotSKU(ctx context.Context, id, sku string) (*SnapshotResource, error) {
	rid, err := parseTyped(id, SnapshotType)
	if err != nil {
		return nil, err
	}
	return updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, sn *SnapshotResource) error {
		sn.SKU = SKUOf(sku)
		return nil
	})
}

// DeleteSnapshot removes a snapshot resource and its engine manifest. Other
// snapshots never depend on it.
func (s *Service) DeleteSnapshot(ctx context.Context, id string) error {
	return s.DeleteSnapshotOf(ctx, id, "")
}

// DeleteSnapshotOf is DeleteSnapshot of the snapshot whose uniqueId is uid
// ("": any): a snapshot of that name with another uniqueId (made again
// since) is left alone, and the error is a NotFound one.
func (s *Service) DeleteSnapshotOf(ctx context.Context, id, uid string) error {
	rid, err := parseTyped(id, SnapshotType)
	if err != nil {
		return err
	}
	var eid snapshot.ID
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		var sn SnapshotResource
		if err := resource.Get(ctx, tx, rid, &sn); err != nil {
			return err
		}
		if err := sameIdentity(rid, uid, sn.Properties.UniqueID); err != nil {
			return err
		}
		st, err := getState(ctx, tx, sn.ID)
		if err != nil {
			return err
		}
		eid = st.EngineID
		return dropDoc(ctx, tx, rid, sn.ID)
	})
	if err != nil {
		return err
	}
	s.nbdGrants.end(rid.String()) // its grants went with it: so do their open NBD exports
	if eid != "" {
		s.dropContent(ctx, rid.Name(), eid)
	}
	return nil
}

// dropContent deletes content (engine snapshot eid) of snapshot name that
// a committed change stopped naming (the snapshot was deleted, or a
// resize replaced it), then collects garbage. It runs to its end whatever
// becomes of ctx: a client that goes away mid-request must not leave the
// content half deleted, and the change it follows is committed. A failure
// is logged, not returned (the resource is already as the caller asked);
// the start sweep removes content no snapshot records.
func (s *Service) dropContent(ctx context.Context, name string, eid snapshot.ID) {
	if err := s.repo.Delete(context.WithoutCancel(ctx), eid); err != nil && !errors.Is(err, snapshot.ErrNotFound) && s.p.Logger != nil {
		s.p.Logger.Warn("delete the old content of a snapshot", "snapshot", name, "content", eid, "error", err)
	}
	s.collectGarbage()
}

// CreateDiskFromSnapshot creates a new managed disk (the restore path) with
// the snapshot's content; 409 if diskID exists.
//
// rs, when not nil, is what the restore sets on the disk besides its
// content (a customer-managed key's set, its network access).
func (s *Service) CreateDiskFromSnapshot(ctx context.Context, snapshotID, diskID, location string, tags map[string]string, zones []string, rs *RestoreSettings) (*Disk, error) {
	if location == "" {
		sn, err := s.SnapshotResource(ctx, snapshotID)
		if err != nil {
			return nil, err
		}
		location = sn.Location
	}
	return s.CreateDisk(ctx, DiskSpec{ID: diskID, Location: location, Tags: tags, CreateOption: "Copy", SourceID: snapshotID, Zones: zones, Restore: rs,
		SKU: rs.sku(zones)})
}

// CreateDiskFromRepository creates a new managed disk from manifest id of
// another repository (the vault tier); 409 if diskID exists.
// rs as for CreateDiskFromSnapshot.
func (s *Service) CreateDiskFromRepository(ctx context.Context, repo *snapshot.Repository, id snapshot.ID, diskID, location string, tags map[string]string, zones []string, rs *RestoreSettings) (*Disk, error) {
	spec := DiskSpec{ID: diskID, Location: location, Tags: tags, CreateOption: "Restore", Zones: zones, SKU: rs.sku(zones)}
	if err := s.CheckDiskSpec(ctx, &spec); err != nil {
		return nil, err
	}
	rid, _ := arm.ParseID(diskID)
	if err := s.checkAbsent(ctx, rid, "Disk"); err != nil {
		return nil, err
	}
	uid := newUUID()
	size, written, err := s.restoreVolume(ctx, repo, id, uid)
	if err != nil {
		s.vols.Remove(uid)
		return nil, err
	}
	d := &DiskResource{Tracked: Tracked{ID: rid.String(), Name: rid.Name(), Type: DiskType, Location: resource.NormLocation(location), Tags: tags, SKU: SKUOf(spec.SKU)}, Zones: zones,
		Properties: DiskProperties{BlockProperties: BlockProperties{CreationData: CreationData{CreateOption: "Restore"}, DiskSizeBytes: size, DiskState: StateUnattached,
			ProvisioningState: "Succeeded", TimeCreated: s.now(), UniqueID: uid},
			Encryption: &Encryption{Type: "EncryptionAtRestWithPlatformKey"}, NetworkAccessPolicy: "AllowAll", PublicNetworkAccess: "Enabled"}}
	rs.apply(&d.Properties)
	st := resourceState{}
	if repo == s.repo {
		st.Base = id
	}
	return s.storeRestoredDisk(ctx, d, st, written)
}

// CopySnapshot creates snapshot dstID with the content of snapshot srcID:
// incremental (in its family) when the source is, unless full, a full
// snapshot (in no family, on Standard_LRS when its source was incremental).
// It is in location (a CopyStart copies across regions), "" for the
// source's. The copy shares every chunk with its source (a new index pointing at the
// same data: no block is read); deleting either never breaks the other.
func (s *Service) CopySnapshot(ctx context.Context, srcID, dstID, location string, tags map[string]string, full bool) (*Snapshot, error) {
	dst, err := parseTyped(dstID, SnapshotType)
	if err != nil {
		return nil, err
	}
	if err := resource.CheckResourceGroup(ctx, s.p.Store, dst.SubscriptionID, dst.ResourceGroup); err != nil {
		return nil, err
	}
	if err := s.checkAbsent(ctx, dst, "Snapshot"); err != nil {
		return nil, err
	}
	src, eid, err := s.snapshotEngineID(ctx, srcID)
	if err != nil {
		return nil, err
	}
	body := *src
	body.ID, body.Name, body.Tags = dst.String(), dst.Name(), tags
	if location != "" {
		body.Location = resource.NormLocation(location)
	}
	body.Properties.UniqueID = newUUID()
	body.Properties.TimeCreated = s.now()
	body.Properties.CreationData = CreationData{CreateOption: "Copy", SourceResourceID: src.ID, SourceUniqueID: src.Properties.UniqueID}
	if full && body.Properties.Incremental {
		body.Properties.Incremental, body.Properties.IncrementalFamilyID = false, ""
		body.SKU = SKUOf("")
	}
	m, err := s.recapture(ctx, src.Name, eid, 0, map[string]string{"snapshotId": dst.String()}, func(m *snapshot.Manifest) error {
		return s.p.Store.Update(ctx, func(tx store.Tx) error {
			if err := create(ctx, tx, dst, "Snapshot", &body); err != nil {
				return err
			}
			return putState(ctx, tx, dst.String(), resourceState{EngineID: m.ID})
		})
	})
	if err != nil {
		return nil, err
	}
	return body.domain(m.ID), nil
}

// recapture writes a new manifest with the content of snapshot eid (named
// what, for messages), grown with zeros to size when size is larger, and
// runs record with it inside the repository's write gate (a collection
// cannot free its chunks before record has made it reachable). The
// manifest is deleted again when anything fails.
func (s *Service) recapture(ctx context.Context, what string, eid snapshot.ID, size int64, tags map[string]string, record func(*snapshot.Manifest) error) (*snapshot.Manifest, error) {
	leave, valid, err := s.enterWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	rd, err := s.repo.OpenReader(ctx, eid)
	if err != nil {
		return nil, fmt.Errorf("open snapshot %s: %w", what, err)
	}
	defer rd.Close()
	var src snapshot.Source = rd
	if size > rd.Size() {
		src = zeroExtended{rd, size}
	}
	// Nothing changed within the old content, and the grown tail is known
	// zero: only the old content's partial last block (if any) is read.
	m, _, err := s.repo.Capture(ctx, src, snapshot.CaptureOptions{Parent: eid, Changed: []snapshot.Range{}, ZeroTail: true, Tags: tags})
	if err != nil {
		return nil, fmt.Errorf("capture snapshot %s: %w", what, err)
	}
	if err := valid(); err != nil {
		s.repo.Delete(context.WithoutCancel(ctx), m.ID)
		return nil, err
	}
	if err := record(m); err != nil {
		s.repo.Delete(context.WithoutCancel(ctx), m.ID)
		return nil, err
	}
	return m, nil
}

// zeroExtended reads a snapshot's content as a larger one: zeros past the
// content's end.
type zeroExtended struct {
	rd   *snapshot.Reader
	size int64
}

func (z zeroExtended) Size() int64 { return z.size }
func (z zeroExtended) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if end := z.rd.Size(); off < end {
		k := min(int64(len(p)), end-off)
		m, err := z.rd.ReadAt(p[:k], off)
		if err != nil && m < int(k) {
			return m, err
		}
		n = int(k)
	}
	clear(p[n:])
	if off+int64(len(p)) > z.size {
		return int(max(0, z.size-off)), io.EOF
	}
	return len(p), nil
}

// ResizeSnapshot grows a snapshot to sizeBytes (Azure: diskSizeGB in a
// snapshot update is a resize, and can only increase the size). The
// content is the old one followed by zeros: a new manifest that shares
// every chunk of the old one, which is then deleted. Disks later created
// from the snapshot have the new size.
func (s *Service) ResizeSnapshot(ctx context.Context, id string, sizeBytes int64) (*SnapshotResource, error) {
	rid, err := parseTyped(id, SnapshotType)
	if err != nil {
		return nil, err
	}
	sn, eid, err := s.snapshotEngineID(ctx, rid.String())
	if err != nil {
		return nil, err
	}
	switch {
	case sizeBytes == sn.Properties.DiskSizeBytes || sizeBytes == 0:
		return sn, nil
	case sizeBytes < sn.Properties.DiskSizeBytes:
		return nil, failure.Invalidf("BadRequest", "The disk/snapshot resource with id %s cannot be resized down (from %d GB to %d GB). Reducing disk/snapshot size is not supported to prevent data loss. If you do need to reduce the size of the disk, create new snapshot/disks with the appropriate size.",
			sn.ID, sizeGB(sn.Properties.DiskSizeBytes), sizeGB(sizeBytes))
	case sizeBytes > MaxDiskBytes:
		return nil, failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", sizeBytes/gib)
	}
	var out *SnapshotResource
	_, err = s.recapture(ctx, sn.Name, eid, sizeBytes, map[string]string{"snapshotId": sn.ID}, func(m *snapshot.Manifest) error {
		var err error
		out, err = updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, v *SnapshotResource) error {
			st, err := getState(ctx, tx, v.ID)
			if err != nil {
				return err
			}
			if st.EngineID != eid {
				return failure.Conflictf("Conflict", "Snapshot '%s' changed while it was being resized; retry.", v.Name)
			}
			st.EngineID = m.ID
			v.Properties.DiskSizeBytes, v.Properties.DiskSizeGB = sizeBytes, sizeGB(sizeBytes)
			return putState(ctx, tx, v.ID, st)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.dropContent(ctx, sn.Name, eid)
	return out, nil
}
