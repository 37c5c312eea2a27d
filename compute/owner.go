package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// Replica makes live disks owned when several replicas share one store:
// a managed disk's bytes are a sparse file in the data dir of the replica
// that created it, and that replica holds the disk's lease row
// ("disk:{uniqueId}": holder = its node id, data = its endpoint, an epoch
// per tenure), renewed every TTL/3. Only the owner serves the disk's data
// plane (SAS page reads and writes, NBD), freezes and captures it. Another
// replica forwards a SAS request to the owner (Forward), refuses an NBD
// export with a message naming the owner (NBD is not proxied), and runs no
// capture of it: a backup task claimed there is retried until the owner
// claims it. When the owner is not running, its disks answer
// DiskOwnerUnavailable until it returns (its node id is kept in its data
// dir, so it takes its disks back at start) or the user restores them
// elsewhere from a recovery point. A replica that stopped uncleanly
// distrusts its saved change maps (volume's open marker), so the next
// backup of each of its disks reads the whole disk.
type Replica struct {
	NodeID string        // this replica (stable: kept in its data dir)
	URL    string        // its endpoint, where other replicas forward to
	TTL    time.Duration // default 15 s
	// Forward proxies a data-plane request to the owner's endpoint.
	Forward func(w http.ResponseWriter, r *http.Request, ownerURL string)
}

// ErrElsewhere is lease.ElsewhereError, for faces.
type ErrElsewhere = lease.ElsewhereError

func diskLease(uid string) string { return "disk:" + strings.ToLower(uid) }

func (s *Service) ownerTTL() time.Duration {
	if s.opts.Replica.TTL > 0 {
		return s.opts.Replica.TTL
	}
	return 15 * time.Second
}

// own takes (or renews) the lease of a volume this replica holds.
func (s *Service) own(ctx context.Context, uid string) (lease.Row, bool, error) {
	r := s.opts.Replica
	return lease.Try(ctx, s.p.Store, diskLease(uid), r.NodeID, r.URL, time.Now(), s.ownerTTL())
}

// keepOwnership renews the leases of every volume in this replica's data
// dir until Close.
func (s *Service) keepOwnership() {
	defer s.bgWG.Done()
	t := time.NewTicker(s.ownerTTL() / 3)
	defer t.Stop()
	for {
		removed := s.removedVolumes(s.bg)
		ents, err := os.ReadDir(s.vols.Dir())
		if err == nil {
			for _, e := range ents {
				if uid, ok := strings.CutSuffix(e.Name(), ".raw"); ok {
					if disk := strings.TrimSuffix(uid, guestStateSuffix); removed[strings.ToLower(disk)] {
						s.dropRemovedVolume(s.bg, disk)
						continue
					}
					if row, ok, err := s.own(s.bg, uid); err != nil && s.bg.Err() == nil {
						s.p.Logger.Warn("renew disk ownership", "disk", uid, "err", err)
					} else if err == nil && !ok {
						s.p.Logger.Warn("disk owned by another replica", "disk", uid, "owner", row.Holder)
					}
				}
			}
		}
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
	}
}

// RemovedVolumeKind marks the volume of a disk deleted through another
// replica than its owner (key: the disk's uniqueId, lower case): the
// owner removes the volume at its next lease renewal, and the mark. Disk
// uniqueIds are never reused, so a mark cannot name a disk being created.
const RemovedVolumeKind = "compute.removedvolume"

// removedVolumes are the marks of RemovedVolumeKind (nil when they cannot
// be read: the next renewal reads them again).
func (s *Service) removedVolumes(ctx context.Context) map[string]bool {
	docs, err := s.p.Store.List(ctx, RemovedVolumeKind, store.ListQuery{})
	if err != nil || len(docs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(docs))
	for _, d := range docs {
		m[d.Key] = true
	}
	return m
}

// dropRemovedVolume removes the volumes of disk uid (its own and its VM
// guest state's), deleted through another replica, then its mark and its
// lease row.
func (s *Service) dropRemovedVolume(ctx context.Context, uid string) {
	for _, v := range []string{uid, guestStateVolume(uid)} {
		if err := s.vols.Remove(v); err != nil && !errors.Is(err, volume.ErrNotFound) {
			s.p.Logger.Warn("remove the volume of a deleted disk", "disk", uid, "err", err)
			return
		}
	}
	if err := s.p.Store.Update(ctx, func(tx store.Tx) error {
		return errors.Join(store.DeleteKeys(ctx, tx, RemovedVolumeKind, strings.ToLower(uid)), store.DeleteKeys(ctx, tx, lease.Kind, diskLease(uid)))
	}); err != nil && ctx.Err() == nil {
		s.p.Logger.Warn("forget a removed volume", "disk", uid, "err", err)
	}
}

// forgetVolumes drops what the store holds of volumes the start's sweep
// removed (uids): the removed mark another replica's delete of the disk
// left for this one, and the disk's lease row if this replica holds it
// (a creation interrupted between its volume and its commit). Both stayed
// for ever: keepOwnership only looks at the volumes still here.
func (s *Service) forgetVolumes(ctx context.Context, uids []string) error {
	if s.opts.Replica == nil || len(uids) == 0 {
		return nil
	}
	return s.p.Store.Update(ctx, func(tx store.Tx) error {
		for _, uid := range uids {
			if strings.HasSuffix(uid, guestStateSuffix) {
				continue // (its disk's)
			}
			if err := store.DeleteKeys(ctx, tx, RemovedVolumeKind, strings.ToLower(uid)); err != nil {
				return err
			}
			row, err := lease.Get(ctx, tx, diskLease(uid))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if row.Holder == s.opts.Replica.NodeID {
				if err := store.DeleteKeys(ctx, tx, lease.Kind, diskLease(uid)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// checkOwner returns nil when this replica may serve disk d's live data
// (always, without replicas) and the epoch of its tenure; else an
// *ErrElsewhere naming the owner (Alive: forward there) or a failure.
func (s *Service) checkOwner(ctx context.Context, d *DiskResource) (int64, error) {
	if s.opts.Replica == nil {
		return 0, nil
	}
	uid := d.Properties.UniqueID
	row, err := lease.Get(ctx, s.p.Store, diskLease(uid))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	me := s.opts.Replica.NodeID
	if row.Holder == me || row.Holder == "" || !row.Alive(time.Now()) {
		if _, verr := s.vols.Get(uid); verr == nil {
			row, ok, err := s.own(ctx, uid) // ours (a fresh start renews it)
			if err != nil {
				return 0, err
			}
			if ok {
				return row.Epoch, nil
			}
		}
	}
	if row.Holder == me { // the lease says ours, but the volume is not here
		return 0, fmt.Errorf("disk %s: owned by this replica but its volume is missing", d.Name)
	}
	return 0, &ErrElsewhere{Name: diskLease(uid), What: fmt.Sprintf("Disk '%s'", d.Name), Holder: row.Holder, URL: row.Data, Alive: row.Alive(time.Now()), Until: row.Until}
}

// captureOwner checks that this replica owns every disk a capture
// freezes together and returns their epochs. Disks owned elsewhere by one
// live replica answer its *ErrElsewhere (the capture runs there); a dead
// owner answers its *ErrElsewhere with Alive false; disks whose live data
// lives on different replicas cannot be frozen at one instant: a conflict.
func (s *Service) captureOwner(ctx context.Context, disks []*DiskResource) ([]int64, error) {
	epochs := make([]int64, len(disks))
	var here, elsewhere []string
	var first *ErrElsewhere
	holders := map[string]bool{}
	for i, d := range disks {
		e, err := s.checkOwner(ctx, d)
		var ee *ErrElsewhere
		switch {
		case errors.As(err, &ee):
			if !ee.Alive {
				return nil, err
			}
			if first == nil {
				first = ee
			}
			holders[ee.Holder] = true
			elsewhere = append(elsewhere, d.Name)
		case err != nil:
			return nil, err
		default:
			epochs[i] = e
			here = append(here, d.Name)
		}
	}
	if first == nil {
		return epochs, nil
	}
	if len(here) == 0 && len(holders) == 1 {
		return nil, first // the capture must run on the owner
	}
	return nil, failure.Conflictf("DisksOnDifferentReplicas",
		"The disks %s cannot be captured at one instant: their live data is held by different Safehold replicas (%s here, %s elsewhere). Keep the disks of one VM on one replica: restore them together from a recovery point, or create them on the leader.",
		quoteNames(append(append([]string{}, here...), elsewhere...)), orNone(here), strings.Join(elsewhere, ", "))
}

func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// PlaceHere decides where a new disk (an ARM create) lives: with
// replicas, on the leader, so that the disks of one VM, which a backup
// freezes at one instant, share one owner. Elsewhere it answers an alive
// *ErrElsewhere: the creating task runs again until the leader claims it.
// (Restores create all the disks of a point on the replica running the
// restore, together.)
func (s *Service) PlaceHere(ctx context.Context) error {
	l := s.p.Leader
	if s.opts.Replica == nil || l == nil {
		return nil
	}
	if _, leading := l.Leading(); leading {
		return nil
	}
	row, _ := lease.Get(ctx, s.p.Store, l.Name)
	return &ErrElsewhere{Name: l.Name, What: "New disks", Holder: row.Holder, Alive: true}
}

// fenceOwner, inside the transaction that records a capture of the disk,
// fails unless this replica still owns it under epoch.
func (s *Service) fenceOwner(ctx context.Context, tx store.Tx, d *DiskResource, epoch int64) error {
	if s.opts.Replica == nil {
		return nil
	}
	return lease.Check(ctx, tx, diskLease(d.Properties.UniqueID), s.opts.Replica.NodeID, epoch, time.Now())
}

// lockLiveDisk reads disk id for a reader of its live bytes (a copy, an
// image capture): refused unless this replica serves the disk, its volume
// locked until unlock.
func (s *Service) lockLiveDisk(ctx context.Context, id string) (d *DiskResource, unlock func(), err error) {
	if d, err = s.DiskResource(ctx, id); err != nil {
		return nil, nil, err
	}
	if _, err := s.checkOwner(ctx, d); err != nil {
		return nil, nil, ownerFailure(err)
	}
	return d, s.lockVolumes(d.Properties.UniqueID), nil
}

// ownerFailure turns an unavailable owner into the error users see.
func ownerFailure(err error) error {
	var ee *ErrElsewhere
	if errors.As(err, &ee) && !ee.Alive {
		return failure.Conflictf("DiskOwnerUnavailable", "%s", ee.Error())
	}
	return err
}

// Forward is the data-plane forwarder (nil without replicas).
func (s *Service) Forward() func(w http.ResponseWriter, r *http.Request, ownerURL string) {
	if s.opts.Replica == nil {
		return nil
	}
	return s.opts.Replica.Forward
}

// What each replica advertises to the others, beyond the endpoint in its
// disk leases: the address of its NBD listener. A grant answered by any
// replica names the owner's listener in nbdUri (NBD is not proxied), and
// a replica refusing an export names it too. Written by compute.New (one
// document per node id, replaced at every start; an admin reset keeps them).
const ReplicaKind = "compute.replica"

type replicaDoc struct {
	URL string `json:"url"`           // the replica's endpoint
	NBD string `json:"nbd,omitempty"` // nbd://host:port or nbds://host:port; "" without a listener
}

// nbdBase is this replica's NBD listener as a URI prefix ("" without
// one). A listener on a wildcard address is advertised under the host of
// the replica's endpoint, which the other replicas and clients reach.
func (s *Service) nbdBase() string {
	if s.nbd == nil {
		return ""
	}
	scheme := "nbd"
	if s.opts.NBDTLS != nil {
		scheme = "nbds"
	}
	addr := s.nbdAddr
	if host, port, err := net.SplitHostPort(addr); err == nil && s.opts.Replica != nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if u, err := url.Parse(s.opts.Replica.URL); err == nil && u.Hostname() != "" {
				addr = net.JoinHostPort(u.Hostname(), port)
			}
		}
	}
	return scheme + "://" + addr
}

// advertise records this replica's addresses for the others.
func (s *Service) advertise(ctx context.Context) error {
	r := s.opts.Replica
	b, _ := json.Marshal(replicaDoc{URL: r.URL, NBD: s.nbdBase()})
	return s.p.Store.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: ReplicaKind, Key: r.NodeID, Value: b})
	})
}

// ownerNBD is the NBD listener (nbdBase form) of the replica owning the
// disk of uniqueID: this replica's own without replicas or when the disk
// has no other owner; "" when the owner has no listener or has not
// advertised one (a grant then carries no nbdUri rather than a wrong one).
func (s *Service) ownerNBD(ctx context.Context, uniqueID string) (string, error) {
	if s.opts.Replica == nil {
		return s.nbdBase(), nil
	}
	row, err := lease.Get(ctx, s.p.Store, diskLease(uniqueID))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (row.Holder == "" || row.Holder == s.opts.Replica.NodeID)) {
		return s.nbdBase(), nil
	}
	if err != nil {
		return "", err
	}
	return s.replicaNBD(ctx, row.Holder)
}

// replicaNBD is the NBD listener a replica advertised ("" none).
func (s *Service) replicaNBD(ctx context.Context, nodeID string) (string, error) {
	doc, err := s.p.Store.Get(ctx, ReplicaKind, nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var rd replicaDoc
	if err := json.Unmarshal(doc.Value, &rd); err != nil {
		return "", fmt.Errorf("decode replica %s: %w", nodeID, err)
	}
	return rd.NBD, nil
}
