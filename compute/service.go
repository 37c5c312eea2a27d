// Package compute is Safehold's Microsoft.Compute domain: managed disks
// (live volumes), snapshots (stored through the snapshot engine) and
// virtual machines (sets of disks). It knows nothing of ARM wire routing;
// rp/compute serves it over ARM, the SAS page-blob data plane and NBD.
//
// The resource bodies it stores are the ARM documents Azure returns (so the
// generic resource listings and cascading deletes see them); the domain
// types (Disk, Snapshot, VM) are what other services use.
package compute

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/clock"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/nbd"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// Resource types.
const (
	DiskType     = "Microsoft.Compute/disks"
	SnapshotType = "Microsoft.Compute/snapshots"
	VMType       = "Microsoft.Compute/virtualMachines"
)

// Disk states (Azure's DiskState).
const (
	StateUnattached    = "Unattached"
	StateAttached      = "Attached"
	StateReserved      = "Reserved"
	StateActiveSAS     = "ActiveSAS"
	StateReadyToUpload = "ReadyToUpload"
	StateActiveUpload  = "ActiveUpload"
)

// Options configure a Service.
type Options struct {
	// VolumeDir holds live disks (default DataDir/volumes).
	VolumeDir string
	// SnapshotDir holds the operational-tier snapshot repository (default
	// DataDir/snapshots).
	SnapshotDir string
	// ImportDir is the only directory disks may be imported from
	// (createOption Import with a local sourceUri: a file: URL or a path,
	// symlinks and '..' resolved). Empty: no local file may be imported.
	ImportDir string
	// NBDAddr, when set, is the address of the NBD listener, e.g.
	// 127.0.0.1:10809. A disk is served there for a grant: beginGetAccess
	// answers its export name in nbdUri, endGetAccess or expiry ends it.
	NBDAddr string
	// NBDTLS, when set, makes the NBD listener TLS-only (NBD_OPT_STARTTLS
	// with this configuration: the server's certificate from Safehold's CA).
	NBDTLS *tls.Config
	// WrapBlob, when set, wraps the snapshot repository's blob backend
	// (the server instruments its latencies).
	WrapBlob func(blob.Backend) blob.Backend
	// Replica, when set, makes live disks owned by one replica at a time
	// (see Replica); nil: one process serves every disk.
	Replica *Replica
	// Blobs, when set, are the storage accounts' blobs disks and snapshots
	// may be imported from (createOption Import with a blob sourceUri).
	Blobs *accountblob.Service
	// GCGrace is how old a pack of a shared snapshot store (object
	// storage several replicas write) must be before a collection deletes
	// or repacks it (0: ten minutes); a lone server's needs none.
	GCGrace time.Duration
	// OlderReaders, when set, is asked when the shared snapshot store
	// (object storage, Platform.OpenBlob) has no config yet: true while a
	// replica that reads only format 1 is live, and the store is then
	// created in format 1 (snapshot.Options.OlderReaders). A store of this
	// process's own directory is read by no other version and ignores it.
	OlderReaders func(ctx context.Context) (bool, error)
}

// Service is the compute domain.
type Service struct {
	p    *resource.Platform
	opts Options
	vols *volume.Manager
	repo *snapshot.Repository

	nbd       *nbd.Server
	nbdAddr   string
	nbdGrants grantExports

	bg      context.Context // background work (GC); canceled by Close
	stopBg  context.CancelFunc
	bgWG    sync.WaitGroup
	gcWake  chan struct{} // a collection is asked for (buffered: one pending)
	gcStart sync.Once     // the collector goroutine, started by the first ask
	shared  bool          // the snapshot store is object storage other replicas write too

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per volume: captures, copies, deletes

	// network checks and marks the network interfaces VMs use (SetNetwork);
	// nil: none served.
	network Network
}

const stateKind = "compute.state" // internal per-resource state, keyed by lower-case id

// resourceState is the internal state kept next to a disk or snapshot document.
type resourceState struct {
	Base     snapshot.ID `json:"base,omitempty"`     // disk: the engine snapshot its change map is relative to
	EngineID snapshot.ID `json:"engineId,omitempty"` // snapshot: its engine manifest
	// Image is a gallery image version's content.
	Image *ImageContent `json:"image,omitempty"`
	// TierChanged is when a disk's performance tier was last set to
	// another one (checkTier: a downgrade waits TierDowngradeWait).
	TierChanged *time.Time `json:"tierChanged,omitempty"`
}

// New opens the volumes directory and the operational-tier snapshot
// repository under p.DataDir.
func New(p *resource.Platform, opts Options) (*Service, error) {
	if opts.VolumeDir == "" {
		opts.VolumeDir = filepath.Join(p.DataDir, "volumes")
	}
	if opts.SnapshotDir == "" {
		opts.SnapshotDir = filepath.Join(p.DataDir, "snapshots")
	}
	if volume.BlockSize != snapshot.BlockSize {
		return nil, fmt.Errorf("open compute: volume block size %d differs from the snapshot engine's %d", volume.BlockSize, snapshot.BlockSize)
	}
	vols, err := volume.Open(opts.VolumeDir)
	if err != nil {
		return nil, err
	}
	var be blob.Backend
	if p.OpenBlob != nil {
		be, err = p.OpenBlob(context.Background(), "snapshots")
	} else {
		be, err = local.Open(filepath.Join(opts.SnapshotDir, "repo"))
	}
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	var rbe blob.Backend = be
	if opts.WrapBlob != nil {
		rbe = opts.WrapBlob(be)
	}
	var older func(context.Context) (bool, error)
	if p.OpenBlob != nil {
		older = opts.OlderReaders
	}
	repo, err := snapshot.Open(context.Background(), rbe, filepath.Join(opts.SnapshotDir, "cache"), snapshot.Options{OlderReaders: older})
	if err != nil {
		return nil, err
	}
	s := &Service{p: p, opts: opts, vols: vols, repo: repo, locks: map[string]*sync.Mutex{}, shared: p.OpenBlob != nil, gcWake: make(chan struct{}, 1)}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	if err := s.sweep(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	if opts.NBDAddr != "" {
		if err := s.startNBD(opts.NBDAddr); err != nil {
			repo.Close()
			return nil, err
		}
	}
	if opts.Replica != nil {
		if err := s.advertise(context.Background()); err != nil {
			s.Close()
			return nil, fmt.Errorf("advertise replica: %w", err)
		}
		s.bgWG.Add(1)
		go s.keepOwnership()
	}
	p.OnDelete(VMType, 10, func(ctx context.Context, id string) error { return s.DeleteVM(ctx, id) })
	p.OnDelete(DiskType, 20, func(ctx context.Context, id string) error { return s.DeleteDisk(ctx, id) })
	p.OnDelete(SnapshotType, 20, func(ctx context.Context, id string) error { return s.DeleteSnapshot(ctx, id) })
	p.OnDelete(GalleryImageVersionType, 20, func(ctx context.Context, id string) error { return s.DeleteGalleryImageVersion(ctx, id) })
	return s, nil
}

// Close saves the volumes' change maps and closes the repository (a clean stop).
func (s *Service) Close() error {
	if s.nbd != nil {
		s.nbd.Close()
	}
	s.stopBg()
	s.bgWG.Wait()
	err := s.vols.Close()
	if cerr := s.repo.Close(); err == nil {
		err = cerr
	}
	return err
}

// Platform is the platform the service runs on.
func (s *Service) Platform() *resource.Platform { return s.p }

// Repository is the operational-tier snapshot repository.
func (s *Service) Repository() *snapshot.Repository { return s.repo }

// Volumes is the live-disk manager.
func (s *Service) Volumes() *volume.Manager { return s.vols }

// Blobs is the blob service of the storage accounts (nil without one).
func (s *Service) Blobs() *accountblob.Service { return s.opts.Blobs }

// ImportDir is the directory local imports must come from ("" none).
func (s *Service) ImportDir() string { return s.opts.ImportDir }

// freezeDisk opens disk d's volume and freezes it (the caller ends the
// freeze).
func (s *Service) freezeDisk(d *DiskResource) (*volume.Freeze, error) {
	v, err := s.vols.Get(d.Properties.UniqueID)
	if err != nil {
		return nil, fmt.Errorf("open disk %s: %w", d.Name, err)
	}
	fzs, err := s.vols.Freeze(v)
	if err != nil {
		return nil, fmt.Errorf("freeze disk %s: %w", d.Name, err)
	}
	return fzs[0], nil
}

// frozenLiveDisk locks disk id for a reader of its live bytes
// (lockLiveDisk) and freezes it (freezeDisk): a copy or an export reads
// the disk as it was at this instant; release ends the freeze and unlocks.
func (s *Service) frozenLiveDisk(ctx context.Context, id string) (d *DiskResource, fz *volume.Freeze, release func(), err error) {
	d, unlock, err := s.lockLiveDisk(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if fz, err = s.freezeDisk(d); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return d, fz, func() { fz.Abort(); unlock() }, nil
}

// lockVolumes serializes captures, copies and deletes of the given
// volumes (taken in a fixed order, so several at once never deadlock).
func (s *Service) lockVolumes(ids ...string) func() {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	var ms []*sync.Mutex
	s.mu.Lock()
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			continue
		}
		m := s.locks[id]
		if m == nil {
			m = &sync.Mutex{}
			s.locks[id] = m
		}
		ms = append(ms, m)
	}
	s.mu.Unlock()
	for _, m := range ms {
		m.Lock()
	}
	return func() {
		for i := len(ms) - 1; i >= 0; i-- {
			ms[i].Unlock()
		}
	}
}

func stateKey(id string) string { return strings.ToLower(id) }

func getState(ctx context.Context, r store.Reader, id string) (resourceState, error) {
	var st resourceState
	d, err := r.Get(ctx, stateKind, stateKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(d.Value, &st)
	return st, err
}

func putState(ctx context.Context, tx store.Tx, id string, st resourceState) error {
	b, _ := json.Marshal(st)
	return tx.Put(ctx, store.Doc{Kind: stateKind, Key: stateKey(id), Value: b})
}

func deleteState(ctx context.Context, tx store.Tx, id string) error {
	err := tx.Delete(ctx, stateKind, stateKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// parseTyped parses id and checks its resource type.
func parseTyped(id, typ string) (arm.ResourceID, error) {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(typ) || rid.ResourceGroup == "" {
		return arm.ResourceID{}, failure.Invalidf("InvalidParameter", "'%s' is not a valid %s resource id.", id, typ)
	}
	return rid, nil
}

// parseInGroup is parseTyped for a resource being created: its resource
// group must exist.
func (s *Service) parseInGroup(ctx context.Context, id, typ string) (arm.ResourceID, error) {
	rid, err := parseTyped(id, typ)
	if err != nil {
		return arm.ResourceID{}, err
	}
	return rid, resource.CheckResourceGroup(ctx, s.p.Store, rid.SubscriptionID, rid.ResourceGroup)
}

// getTyped reads the resource document of type typ with id.
func getTyped[T any](ctx context.Context, r store.Reader, id, typ string) (*T, error) {
	rid, err := parseTyped(id, typ)
	if err != nil {
		return nil, err
	}
	var v T
	if err := resource.Get(ctx, r, rid, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// updateDoc reads the resource document rid in a transaction, lets change
// edit it and writes it back.
func updateDoc[T any](ctx context.Context, st store.Store, rid arm.ResourceID, change func(tx store.Tx, v *T) error) (*T, error) {
	var v T
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := resource.Get(ctx, tx, rid, &v); err != nil {
			return err
		}
		if err := change(tx, &v); err != nil {
			return err
		}
		return resource.Put(ctx, tx, rid, &v)
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// dropDoc deletes the resource document rid of a disk or snapshot (id as
// the document names itself) with its grants and its state, in tx.
func dropDoc(ctx context.Context, tx store.Tx, rid arm.ResourceID, id string) error {
	if err := revokeGrants(ctx, tx, id); err != nil {
		return err
	}
	if err := resource.Delete(ctx, tx, rid); err != nil {
		return err
	}
	return deleteState(ctx, tx, id)
}

// sameIdentity checks, for a delete of the resource rid whose identity
// (a disk's or snapshot's uniqueId, a VM's vmId) was want when the delete
// was accepted ("": any), that the resource now has it: one made again
// under that name since (identity have) is another, which the delete must
// leave alone. Its error is a NotFound one: what was to be deleted is gone.
func sameIdentity(rid arm.ResourceID, want, have string) error {
	if want == "" || strings.EqualFold(want, have) {
		return nil
	}
	return failure.NotFoundf("ResourceNotFound", "The %s '%s' this delete was accepted for (%s) is gone; the one of that name now (%s) was made since and is kept.", rid.Type(), rid.Name(), want, have)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Service) now() time.Time { return s.p.Now().UTC() }

// grantNow is the time a disk or snapshot access grant is dated and checked
// by: real time, not the admin clock, as a SAS is an access token that
// the clock never expires (a 'clock advance' of a day expired an upload's
// hour-long write SAS while the client was writing through it).
func (s *Service) grantNow() time.Time { return clock.RealNow(s.p.Clock) }

const gib = int64(1) << 30

func sizeGB(bytes int64) int64 { return (bytes + gib - 1) / gib }

// NBDAddr is the address the NBD listener is bound to ("" without one).
func (s *Service) NBDAddr() string { return s.nbdAddr }

func (s *Service) startNBD(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen NBD %s: %w", addr, err)
	}
	s.nbdAddr = ln.Addr().String()
	// Exports are granted (beginGetAccess), never listed.
	s.nbd = &nbd.Server{Logger: s.p.Logger, Lookup: s.nbdLookup, TLS: s.opts.NBDTLS}
	go s.nbd.Serve(ln)
	return nil
}

// collectGarbage frees, in the background, the chunks no snapshot uses any
// more (after deletes). One collection runs at a time; requests during a
// run cause one more run. A collection that kept garbage in packs too young
// to touch (the grace, on a shared store) runs again once they are old
// enough: no delete may come to start it.
//
// With replicas, GC is a singleton: a replica that does not lead records
// the request for the leader (lease.Want), and the leader's collection
// takes the snapshot store's gate (see gate), so no capture in any replica
// runs between its mark and its sweep.
func (s *Service) collectGarbage() {
	if s.shared && s.p.Leader != nil {
		// A request in the store, which the leader runs (CollectGarbage)
		// and removes once done, even when this replica leads: a leader
		// killed before or during its collection left garbage that no
		// later collection was asked to free.
		if err := lease.Want(s.bg, s.p.Store, GCWork, s.now()); err != nil && s.p.Logger != nil {
			s.p.Logger.Warn("request snapshot garbage collection", "error", err)
		}
		return
	}
	if !s.gcHere() {
		return
	}
	select {
	case s.gcWake <- struct{}{}:
	default: // one is pending already
	}
	s.gcStart.Do(func() {
		s.bgWG.Add(1)
		go s.gcLoop()
	})
}

// gcHere reports whether this replica runs collections; when it does not
// lead, it records the request for the leader instead.
func (s *Service) gcHere() bool {
	l := s.p.Leader
	if l == nil {
		return true
	}
	if _, leading := l.Leading(); leading {
		return true
	}
	if err := lease.Want(s.bg, s.p.Store, GCWork, s.now()); err != nil && s.p.Logger != nil {
		s.p.Logger.Warn("request snapshot garbage collection", "error", err)
	}
	return false
}

func (s *Service) gcLoop() {
	defer s.bgWG.Done()
	var again <-chan time.Time // the young packs' garbage is due
	for {
		select {
		case <-s.bg.Done():
			return
		case <-s.gcWake:
		case <-again:
			if !s.gcHere() {
				again = nil
				continue
			}
		}
		again = nil
		st, err := s.gcOnce()
		if err != nil && s.bg.Err() == nil && s.p.Logger != nil {
			s.p.Logger.Warn("snapshot garbage collection failed", "error", err)
		}
		if st.YoungDueIn > 0 {
			again = time.After(st.YoungDueIn + time.Second)
		}
	}
}

// GCWork names the operational store's collection in lease.Want.
const GCWork = "gc:snapshots"

// GateRepo names the operational snapshot store in its collection gate
// (lease.Gate.Repo).
const GateRepo = "snapshots"

// CollectGarbage runs a collection of the operational snapshot store the
// replicas requested (the leader's round, see collectGarbage): on a shared
// store at once, answering how long until the garbage it kept in packs too
// young to touch is due (0: none); otherwise it starts one in the
// background and answers 0.
func (s *Service) CollectGarbage() (time.Duration, error) {
	if !s.shared || s.p.Leader == nil {
		s.collectGarbage()
		return 0, nil
	}
	st, err := s.gcOnce()
	if err != nil && s.bg.Err() == nil && s.p.Logger != nil {
		s.p.Logger.Warn("snapshot garbage collection failed", "error", err)
	}
	return st.YoungDueIn, err
}

// gcOnce collects once. The grace keeps the packs other replicas' captures
// are writing into a shared store; a lone server's captures are protected
// exactly (snapshot.GCOptions), so it frees a young pack's garbage at once.
func (s *Service) gcOnce() (snapshot.GCStats, error) {
	opts := snapshot.GCOptions{Repack: 0.5}
	if s.shared {
		opts.Grace = 10 * time.Minute
		if s.opts.GCGrace > 0 {
			opts.Grace = s.opts.GCGrace
		}
	}
	if g := s.gate(); g != nil {
		h, err := g.Collect(s.bg)
		if err != nil {
			return snapshot.GCStats{}, err
		}
		defer h.Release(s.bg)
		opts.Fence = h.Fence // a collector stalled past its entry deletes nothing more
	}
	st, err := s.repo.GC(s.bg, opts)
	snapshot.WarnDamaged(s.p.Logger, st.Damaged, "store", "operational")
	return st, err
}

// gate orders the snapshot store's collections against captures in every
// replica when the store is shared object storage (nil otherwise: one
// process protects its own captures exactly).
func (s *Service) gate() *lease.Gate {
	if !s.shared || s.p.Leader == nil {
		return nil
	}
	return &lease.Gate{Store: s.p.Store, Repo: GateRepo, Holder: s.p.Leader.Holder}
}

// enterWrite enters the gate as a writer for a capture; check() before
// recording the capture fails when the entry lapsed (a collection may have
// run meanwhile).
func (s *Service) enterWrite(ctx context.Context) (leave func(), check func() error, err error) {
	g := s.gate()
	if g == nil {
		return func() {}, func() error { return nil }, nil
	}
	h, err := g.Write(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The index must not predate a collection another replica ran: the
	// capture could deduplicate against a chunk that one deleted.
	if err := s.repo.Collected(ctx, h.Collections); err != nil {
		h.Release(ctx)
		return nil, nil, err
	}
	return func() { h.Release(ctx) }, func() error {
		if !h.Valid() {
			return fmt.Errorf("capture outlived its entry in the snapshot store's GC gate: %w", lease.ErrLost)
		}
		return nil
	}, nil
}

// sweep removes what an interrupted creation left behind: volumes no disk
// uses and engine snapshots no snapshot resource records (a crash between
// the data and the store commit). It runs at start, before any request.
func (s *Service) sweep(ctx context.Context) error {
	disks, err := s.AllDisks(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, d := range disks {
		used[d.Properties.UniqueID] = true
		used[guestStateVolume(d.Properties.UniqueID)] = true
	}
	ents, err := os.ReadDir(s.vols.Dir())
	if err != nil {
		return fmt.Errorf("read volume dir: %w", err)
	}
	var removed []string
	for _, e := range ents {
		if uid, ok := strings.CutSuffix(e.Name(), ".raw"); ok && !used[uid] {
			if err := s.vols.Remove(uid); err != nil && !errors.Is(err, volume.ErrNotFound) {
				return fmt.Errorf("remove orphaned volume %s: %w", uid, err)
			}
			removed = append(removed, uid)
		}
	}
	if err := s.forgetVolumes(ctx, removed); err != nil {
		return err
	}
	// A snapshot whose manifest is damaged is kept (what it belonged to
	// cannot be read; safehold verify names it): the server starts all
	// the same (hostile29: one damaged manifest kept it from starting).
	ms, damaged, err := s.repo.ListReadable(ctx)
	if err != nil {
		return err
	}
	for id, err := range damaged {
		if s.p.Logger != nil {
			s.p.Logger.Warn("a snapshot's manifest is damaged: kept; safehold verify names the recovery point", "snapshot", id, "err", err)
		}
	}
	for _, m := range ms {
		sid, iid := m.Tags["snapshotId"], m.Tags["imageId"]
		if sid == "" && iid == "" {
			continue
		}
		var recorded bool
		if sid != "" {
			st, err := getState(ctx, s.p.Store, sid)
			if err != nil {
				return err
			}
			recorded = st.EngineID == m.ID
		} else {
			c, err := s.imageContent(ctx, iid)
			if err != nil {
				return err
			}
			recorded = c != nil && slices.Contains(c.engineIDs(), m.ID)
		}
		// On a shared store another replica may be between its capture and
		// its commit: orphans stay there (a crash leaves their chunks
		// referenced until an operator's reset; not swept yet).
		if !recorded && !s.shared {
			if err := s.repo.Delete(ctx, m.ID); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				return fmt.Errorf("remove orphaned snapshot %s: %w", m.ID, err)
			}
		}
	}
	return nil
}

// checkAbsent refuses (409 Conflict) an id that names an existing
// resource, and one a management lock forbids creating (409 ScopeLocked,
// resource.CheckWrite), before the work of making it; what names its kind
// in the message ("Disk", "Snapshot").
func (s *Service) checkAbsent(ctx context.Context, rid arm.ResourceID, what string) error {
	if ok, err := resource.Exists(ctx, s.p.Store, rid.String()); err != nil {
		return err
	} else if ok {
		return taken(what, rid)
	}
	return resource.CheckWrite(ctx, s.p.Store, rid.String())
}

// create stores a new resource document in tx, refusing (409 Conflict) an
// id another transaction took meanwhile, and (409 ScopeLocked) one a
// management lock made meanwhile forbids: a client's PUT met the lock
// before it was accepted, but a restore's disk or a backup's snapshot is
// created by work accepted earlier (or by none: a scheduled backup); what
// is as for checkAbsent.
func create(ctx context.Context, tx store.Tx, rid arm.ResourceID, what string, body any) error {
	if err := resource.CheckWrite(ctx, tx, rid.String()); err != nil {
		return err
	}
	if err := resource.Create(ctx, tx, rid, body); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return taken(what, rid)
		}
		return err
	}
	return nil
}

func taken(what string, rid arm.ResourceID) error {
	return &ExistsError{failure.Conflictf("Conflict", "%s '%s' already exists.", what, rid.Name())}
}

// ExistsError is the failure of a create whose resource exists: one
// stored already, or by another request at once (409 Conflict on its
// own). A face's PUT, a create-or-update, takes it as the cue to update
// the resource instead (IsExists).
type ExistsError struct{ Failure *failure.Error }

func (e *ExistsError) Error() string { return e.Failure.Error() }
func (e *ExistsError) Unwrap() error { return e.Failure }

// IsExists reports whether err is a create's ExistsError.
func IsExists(err error) bool {
	var x *ExistsError
	return errors.As(err, &x)
}
