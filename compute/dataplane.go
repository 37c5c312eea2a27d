package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/volume"
)

// The disk data plane: what the accessSAS URLs of beginGetAccess read and
// write. rp/compute speaks the page-blob wire; the volumes and snapshot
// readers behind it are opened, written, listed and compared here. Its
// failures carry the Azure Storage error codes (BlobNotFound,
// InvalidPageRange, ServerBusy, PreviousSnapshotNotFound,
// PreviousSnapshotCannotBeNewer, InvalidQueryParameterValue).

// ErrBusy: a source volume is frozen by another capture (which ends soon);
// an operation failing with it may be retried.
var ErrBusy = volume.ErrBusy

// PageSize is the page of the page-blob API: writes and diffs are aligned to it.
const PageSize = 512

// A Range is a byte range [Off, Off+Len) of a disk or snapshot.
type Range = volume.Range

// A PageBlob is what a SAS points at: a live disk's volume or a snapshot's
// content. Close releases it (a snapshot reader protects its content from
// garbage collection while open).
type PageBlob struct {
	grant   *Grant
	vol     *volume.Volume
	snap    *snapshot.Reader
	what    string // "snapshot 'name'", for errors
	size    int64
	modTime time.Time
	created time.Time
}

// OpenPageBlob opens what grant g (verified with VerifySAS) points at;
// BlobNotFound when the disk or snapshot was deleted since.
func (s *Service) OpenPageBlob(ctx context.Context, g *Grant) (*PageBlob, error) {
	b := &PageBlob{grant: g}
	if g.IsSnapshot() {
		sn, eid, err := s.blobSnapshot(ctx, g.ResourceID)
		if err != nil {
			return nil, err
		}
		rd, err := s.repo.OpenReader(ctx, eid)
		if err != nil {
			return nil, fmt.Errorf("open snapshot %s: %w", sn.Name, err)
		}
		b.snap, b.size, b.modTime, b.created = rd, rd.Size(), sn.Properties.TimeCreated, sn.Properties.TimeCreated
		b.what = fmt.Sprintf("snapshot '%s'", sn.Name)
		return b, nil
	}
	d, err := s.DiskResource(ctx, g.ResourceID)
	if err != nil || d.Properties.UniqueID != g.UniqueID {
		return nil, failure.NotFoundf("BlobNotFound", "The specified blob does not exist: the disk of this SAS was deleted.")
	}
	if _, err := s.checkOwner(ctx, d); err != nil {
		return nil, err // *ErrElsewhere: the face forwards to the owner or answers DiskOwnerUnavailable
	}
	v, err := s.vols.Get(d.Properties.UniqueID)
	if err != nil {
		return nil, fmt.Errorf("open disk %s: %w", d.Name, err)
	}
	b.vol, b.size, b.modTime, b.created = v, v.Size(), v.ModTime(), d.Properties.TimeCreated
	return b, nil
}

// OpenGuestState opens the VM guest state of the disk grant g is for (its
// securityDataAccessSAS): BlobNotFound unless the grant asked for it
// (getSecureVMGuestStateSAS) and the disk has one.
func (s *Service) OpenGuestState(ctx context.Context, g *Grant) (*PageBlob, error) {
	b, err := s.OpenPageBlob(ctx, g)
	if err != nil {
		return nil, err
	}
	b.Close()
	if !g.GuestState || b.vol == nil {
		return nil, failure.NotFoundf("BlobNotFound", "The specified blob does not exist: this SAS was granted without getSecureVMGuestStateSAS, so it reaches the disk's data only.")
	}
	d, err := s.DiskResource(ctx, g.ResourceID)
	if err != nil {
		return nil, failure.NotFoundf("BlobNotFound", "The specified blob does not exist: the disk of this SAS was deleted.")
	}
	v, err := s.vols.Get(guestStateVolume(d.Properties.UniqueID))
	if err != nil && securityType(d.Properties.Settings) != "" {
		// A Trusted Launch or confidential VM's disk made otherwise than
		// by UploadPreparedSecure: its guest state starts empty.
		if _, cerr := s.vols.Create(guestStateVolume(d.Properties.UniqueID), GuestStateBytes); cerr != nil && s.p.Logger != nil {
			s.p.Logger.Warn("create a disk's VM guest state", "disk", d.Name, "error", cerr)
		}
		v, err = s.vols.Get(guestStateVolume(d.Properties.UniqueID))
	}
	if err != nil {
		return nil, failure.NotFoundf("BlobNotFound", "The specified blob does not exist: disk '%s' has no VM guest state.", d.Name)
	}
	b.vol, b.size, b.modTime = v, v.Size(), v.ModTime()
	b.what = fmt.Sprintf("the VM guest state of disk '%s'", d.Name)
	return b, nil
}

// GuestStateBlob is the blob name of a disk's VM guest state in its
// securityDataAccessSAS ({uniqueId}_vmgs, as Azure names it).
func GuestStateBlob(g *Grant) string { return g.UniqueID + guestStateSuffix }

// blobSnapshot is the snapshot id names and its content's engine id;
// BlobNotFound when it was deleted.
func (s *Service) blobSnapshot(ctx context.Context, id string) (*SnapshotResource, snapshot.ID, error) {
	sn, err := s.SnapshotResource(ctx, id)
	if err != nil {
		return nil, "", failure.NotFoundf("BlobNotFound", "The specified blob does not exist: the snapshot was deleted.")
	}
	snap, err := s.Snapshot(ctx, sn.ID)
	if err != nil {
		return nil, "", err
	}
	return sn, snap.EngineID, nil
}

// Close releases the blob (a snapshot's garbage-collection protection).
func (b *PageBlob) Close() error {
	if b.snap != nil {
		return b.snap.Close()
	}
	return nil
}

// Grant is the grant the blob was opened with.
func (b *PageBlob) Grant() *Grant { return b.grant }

// Size is the blob's size in bytes.
func (b *PageBlob) Size() int64 { return b.size }

// ModTime is when the blob's content last changed.
func (b *PageBlob) ModTime() time.Time { return b.modTime }

// Created is when the disk or snapshot was created.
func (b *PageBlob) Created() time.Time { return b.created }

// Writable reports whether pages may be written: a live disk under a Write grant.
func (b *PageBlob) Writable() bool { return b.grant.CanWrite() && b.vol != nil }

// ReadAt reads the blob's content.
func (b *PageBlob) ReadAt(p []byte, off int64) (int, error) {
	if b.vol != nil {
		return b.vol.ReadAt(p, off)
	}
	n, err := b.snap.ReadAt(p, off)
	return n, damagedData(b.what, err)
}

// WritePages writes p at off (a live disk only; see Writable).
func (b *PageBlob) WritePages(p []byte, off int64) error {
	if b.vol == nil {
		return errors.New("write to a snapshot")
	}
	if _, err := b.vol.WriteAt(p, off); err != nil {
		return volumeError(err)
	}
	b.modTime = b.vol.ModTime()
	return nil
}

// ClearPages zeroes n bytes at off (a live disk only; see Writable).
func (b *PageBlob) ClearPages(off, n int64) error {
	if b.vol == nil {
		return errors.New("clear pages of a snapshot")
	}
	if err := b.vol.Zero(off, n); err != nil {
		return volumeError(err)
	}
	b.modTime = b.vol.ModTime()
	return nil
}

// damagedData turns an error reading what's stored data that found it
// damaged (a chunk or pack missing, cut or failing its checksum) into the
// error users see: 409 SnapshotDataDamaged saying what to do, not a 500
// asking to retry, which clients do in vain. Other errors pass.
// The damage stays in the error's chain (snapshot.IsDamaged), so the
// backup engine still tells a damaged recovery point from a refusal.
func damagedData(what string, err error) error {
	if err == nil || !snapshot.IsDamaged(err) {
		return err
	}
	return &dataDamaged{failure.Conflictf("SnapshotDataDamaged", "The stored data of %s is damaged and cannot be read (%v). `safehold verify --read-data` names what is damaged; take a new snapshot of the disk, or restore another recovery point.", what, err), err}
}

// dataDamaged is damagedData's error: the failure users see, and its cause.
type dataDamaged struct {
	fe    *failure.Error
	cause error
}

func (e *dataDamaged) Error() string   { return e.fe.Error() }
func (e *dataDamaged) Unwrap() []error { return []error{e.fe, e.cause} }

func volumeError(err error) error {
	switch {
	case errors.Is(err, volume.ErrOutOfRange):
		return failure.Invalidf("InvalidPageRange", "The page range specified is invalid: it goes beyond the end of the disk.")
	case errors.Is(err, volume.ErrClosed):
		return failure.Conflictf("ServerBusy", "The disk is being closed; retry.")
	}
	return err
}

// OpenPrevious opens the snapshot snapshotID as the base of a diff of b:
// BlobNotFound when it was deleted, PreviousSnapshotNotFound when it is
// not a snapshot of b's disk, PreviousSnapshotCannotBeNewer when it is
// newer than b (Azure Storage's codes).
func (s *Service) OpenPrevious(ctx context.Context, b *PageBlob, snapshotID string) (*PageBlob, error) {
	prev, eid, err := s.blobSnapshot(ctx, snapshotID)
	if err != nil {
		return nil, err
	}
	if err := s.checkPrevious(ctx, b, prev); err != nil {
		return nil, err
	}
	rd, err := s.repo.OpenReader(ctx, eid)
	if err != nil {
		return nil, err
	}
	return &PageBlob{snap: rd, what: fmt.Sprintf("snapshot '%s'", prev.Name), size: rd.Size(), modTime: prev.Properties.TimeCreated, created: prev.Properties.TimeCreated}, nil
}

// checkPrevious checks that a diff's base is a snapshot of the target's
// disk no newer than the target (Azure Storage: 409
// PreviousSnapshotNotFound, 400 PreviousSnapshotCannotBeNewer).
func (s *Service) checkPrevious(ctx context.Context, b *PageBlob, prev *SnapshotResource) error {
	diskID, prevDisk := s.sourceDisk(ctx, b.grant.ResourceID), s.sourceDisk(ctx, prev.ID)
	if !arm.EqualIDs(diskID, prevDisk) {
		return failure.Conflictf("PreviousSnapshotNotFound", "The previous snapshot is not found: snapshot '%s' is not a snapshot of this disk. Diff against an earlier snapshot of the same disk.", prev.Name)
	}
	if b.grant.IsSnapshot() && prev.Properties.TimeCreated.After(b.created) {
		return failure.Invalidf("PreviousSnapshotCannotBeNewer", "The previous snapshot '%s' cannot be newer than the snapshot whose page ranges are listed. Swap them.", prev.Name)
	}
	return nil
}

// sourceDisk is the disk a disk or snapshot id comes from: the disk itself,
// or, following snapshot copies, the disk a snapshot was taken of.
func (s *Service) sourceDisk(ctx context.Context, id string) string {
	for range 16 {
		rid, err := arm.ParseID(id)
		if err != nil || !rid.IsType(SnapshotType) {
			return id
		}
		sn, err := s.SnapshotResource(ctx, id)
		if err != nil || sn.Properties.CreationData.SourceResourceID == "" {
			return id
		}
		id = sn.Properties.CreationData.SourceResourceID
	}
	return id
}

// ResolvePrevious finds the snapshot a prevsnapshot value names: its ARM
// id, its uniqueId, or its timeCreated (RFC 3339) among the snapshots of
// b's disk; InvalidQueryParameterValue when none matches.
func (s *Service) ResolvePrevious(ctx context.Context, b *PageBlob, v string) (string, error) {
	if strings.HasPrefix(v, "/") {
		return v, nil
	}
	diskID := b.grant.ResourceID
	if b.grant.IsSnapshot() {
		sn, err := s.SnapshotResource(ctx, b.grant.ResourceID)
		if err != nil {
			return "", err
		}
		diskID = sn.Properties.CreationData.SourceResourceID
	}
	rid, _ := arm.ParseID(diskID)
	all, err := s.ListSnapshots(ctx, "/subscriptions/"+rid.SubscriptionID)
	if err != nil {
		return "", err
	}
	when, terr := time.Parse(time.RFC3339Nano, v)
	for _, sn := range all {
		if strings.EqualFold(sn.Properties.UniqueID, v) || strings.EqualFold(sn.Name, v) && arm.EqualIDs(sn.Properties.CreationData.SourceResourceID, diskID) {
			return sn.ID, nil
		}
		if terr == nil && sn.Properties.TimeCreated.Equal(when) && arm.EqualIDs(sn.Properties.CreationData.SourceResourceID, diskID) {
			return sn.ID, nil
		}
	}
	return "", failure.Invalidf("InvalidQueryParameterValue", "prevsnapshot '%s' names no earlier snapshot of this disk. Pass the snapshot's id, uniqueId or timeCreated, or its SAS in x-ms-previous-snapshot-url.", v)
}

// DataRanges lists the ranges of [start, end) that may hold data.
func (b *PageBlob) DataRanges(ctx context.Context, start, end int64) ([]Range, error) {
	if b.vol != nil {
		return b.vol.DataRanges(start, end-start)
	}
	var out []Range
	buf := make([]byte, volume.BlockSize)
	for off := start - start%volume.BlockSize; off < end; off += volume.BlockSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i, ok := segmentAt(b.snap, off); ok && b.snap.Manifest().Segments[i].IsZero() {
			off = nextSegment(off) - volume.BlockSize // an all-zero segment: no data
			continue
		}
		n := min(int64(volume.BlockSize), b.size-off)
		if _, err := b.snap.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return nil, damagedData(b.what, err)
		}
		if isZero(buf[:n]) {
			continue
		}
		s, e := max(off, start), min(off+n, end)
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == s {
			out[k-1].Len += e - s
		} else {
			out = append(out, Range{Off: s, Len: e - s})
		}
	}
	return out, nil
}

// Diff compares b with an earlier snapshot (OpenPrevious) block by block:
// changed pages holding data are set ranges, changed pages now all zero
// are clear ranges.
func (b *PageBlob) Diff(ctx context.Context, prevBlob *PageBlob, start, end int64) (set, clr []Range, err error) {
	prev := prevBlob.snap
	add := func(l []Range, s, e int64) []Range {
		if k := len(l); k > 0 && l[k-1].Off+l[k-1].Len == s {
			l[k-1].Len += e - s
			return l
		}
		return append(l, Range{Off: s, Len: e - s})
	}
	// A live disk whose change map is relative to prev only needs its
	// changed blocks compared.
	var only []Range
	if b.vol != nil && prev.Manifest() != nil && b.size == prev.Size() {
		if base, ranges, ok := b.vol.Changes(); ok && base == string(prev.Manifest().ID) {
			only = ranges
			if len(only) == 0 {
				return nil, nil, nil
			}
		}
	}
	x, y := make([]byte, volume.BlockSize), make([]byte, volume.BlockSize)
	for off := start - start%volume.BlockSize; off < end; off += volume.BlockSize {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if only != nil {
			for len(only) > 0 && only[0].Off+only[0].Len <= off {
				only = only[1:]
			}
			if len(only) == 0 {
				break
			}
			if only[0].Off > off {
				off = only[0].Off - only[0].Off%volume.BlockSize - volume.BlockSize
				continue
			}
		}
		if b.snap != nil && b.size == prev.Size() {
			ia, oka := segmentAt(b.snap, off)
			ib, okb := segmentAt(prev, off)
			if oka && okb && b.snap.Manifest().Segments[ia] == prev.Manifest().Segments[ib] {
				off = nextSegment(off) - volume.BlockSize // identical segments: nothing changed
				continue
			}
		}
		n := min(int64(volume.BlockSize), b.size-off)
		if _, err := b.ReadAt(x[:n], off); err != nil && err != io.EOF {
			return nil, nil, err
		}
		clear(y)
		if off < prev.Size() {
			m := min(n, prev.Size()-off)
			if _, err := prev.ReadAt(y[:m], off); err != nil && err != io.EOF {
				return nil, nil, damagedData(prevBlob.what, err)
			}
		}
		if string(x[:n]) == string(y[:n]) {
			continue
		}
		// Report the 512-byte pages that differ, as Azure reports the pages
		// written: a page now all zero was cleared, any other was set.
		for p := int64(0); p < n; p += PageSize {
			q := min(p+PageSize, n)
			if string(x[p:q]) == string(y[p:q]) {
				continue
			}
			s, e := max(off+p, start), min(off+q, end)
			if s >= e {
				continue
			}
			if isZero(x[p:q]) {
				clr = add(clr, s, e)
			} else {
				set = add(set, s, e)
			}
		}
	}
	return set, clr, nil
}

const segmentBytes = int64(snapshot.SegmentBlocks) * snapshot.BlockSize

// segmentAt is the index in rd's manifest of the segment covering off
// (its ID is zero when the segment is all zeros); false without one.
func segmentAt(rd *snapshot.Reader, off int64) (int64, bool) {
	m := rd.Manifest()
	i := off / segmentBytes
	if m == nil || i >= int64(len(m.Segments)) {
		return 0, false
	}
	return i, true
}

// nextSegment is the start of the segment after the one holding off.
func nextSegment(off int64) int64 { return (off/segmentBytes + 1) * segmentBytes }
