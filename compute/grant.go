package compute

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/nbd"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// Grant is one SAS access grant (beginGetAccess) on a disk or snapshot.
type Grant struct {
	ID         string    `json:"id"`
	ResourceID string    `json:"resourceId"`
	UniqueID   string    `json:"uniqueId"` // of the disk or snapshot at grant time
	Access     string    `json:"access"`   // Read or Write
	Expiry     time.Time `json:"expiry"`
	Created    time.Time `json:"created"`
	Revoked    bool      `json:"revoked,omitempty"`
	PrevState  string    `json:"prevState,omitempty"` // the disk's state before access began
	// GuestState: the grant reaches the disk's VM guest state too
	// (getSecureVMGuestStateSAS; its securityDataAccessSAS).
	GuestState bool `json:"guestState,omitempty"`
}

// IsSnapshot reports whether the grant is on a snapshot.
func (g *Grant) IsSnapshot() bool {
	rid, err := arm.ParseID(g.ResourceID)
	return err == nil && rid.IsType(SnapshotType)
}

// CanWrite reports whether the grant allows writes.
func (g *Grant) CanWrite() bool { return g.Access == "Write" }

const (
	grantKind  = "compute.sas"
	sasKeyKind = "config"
	sasKeyKey  = "compute.saskey"
)

// SAS verification failures.
var (
	ErrSASInvalid = errors.New("the SAS signature is invalid")
	ErrSASExpired = errors.New("the SAS has expired")
	ErrSASRevoked = errors.New("the SAS was revoked (endGetAccess)")
)

func grantScope(resourceID string) string { return strings.ToLower(resourceID) + "/" }

// sasKey loads (creating) the HMAC key SAS tokens are signed with.
func (s *Service) sasKey(ctx context.Context) ([]byte, error) {
	d, err := s.p.Store.Get(ctx, sasKeyKind, sasKeyKey)
	if err == nil {
		var v struct {
			Key []byte `json:"key"`
		}
		if err := json.Unmarshal(d.Value, &v); err != nil || len(v.Key) < 32 {
			return nil, fmt.Errorf("decode SAS key: %v", err)
		}
		return v.Key, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := json.Marshal(map[string][]byte{"key": key})
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, store.Doc{Kind: sasKeyKind, Key: sasKeyKey, Value: b})
	})
	if errors.Is(err, store.ErrConflict) {
		return s.sasKey(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("create SAS key: %w", err)
	}
	return key, nil
}

// GrantAccess grants SAS access (Read or Write) to a disk or snapshot for
// duration. Write is for disks only; granting changes the disk's state to
// ActiveSAS (Read) or ActiveUpload (Write).
func (s *Service) GrantAccess(ctx context.Context, resourceID, access string, duration time.Duration) (*Grant, error) {
	return s.GrantAccessWith(ctx, resourceID, access, duration, false)
}

// GrantAccessWith is GrantAccess, to the disk's VM guest state as well
// when guestState (getSecureVMGuestStateSAS): only a Trusted Launch or
// confidential VM's disk (securityProfile.securityType) has one, else 400.
func (s *Service) GrantAccessWith(ctx context.Context, resourceID, access string, duration time.Duration, guestState bool) (*Grant, error) {
	switch strings.ToLower(access) {
	case "read":
		access = "Read"
	case "write":
		access = "Write"
	case "none":
		return nil, failure.Invalidf("InvalidParameter", "The value 'None' of parameter 'access' is not valid for beginGetAccess; use Read or Write.")
	default:
		return nil, failure.Invalidf("InvalidParameter", "The value '%s' of parameter 'access' is not valid. Use Read or Write.", access)
	}
	if duration <= 0 {
		return nil, failure.Invalidf("InvalidParameter", "The value of parameter 'durationInSeconds' must be a positive number of seconds.")
	}
	rid, err := arm.ParseID(resourceID)
	if err != nil || !(rid.IsType(DiskType) || rid.IsType(SnapshotType)) {
		return nil, failure.Invalidf("InvalidParameter", "'%s' is not a disk or snapshot id.", resourceID)
	}
	if _, err := s.sasKey(ctx); err != nil {
		return nil, err
	}
	now := s.grantNow()
	g := &Grant{ID: newGrantID(), ResourceID: rid.String(), Access: access, Expiry: now.Add(duration).Truncate(time.Second), Created: now, GuestState: guestState}
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		if rid.IsType(SnapshotType) {
			if access == "Write" {
				return failure.Conflictf("OperationNotAllowed", "Snapshots are read-only; request Read access.")
			}
			if guestState {
				return invalidAt("getSecureVMGuestStateSAS", "Snapshot '%s' has no VM guest state to grant access to: a snapshot here keeps its disk's data only. Leave out getSecureVMGuestStateSAS (or set it false).", rid.Name())
			}
			var sn SnapshotResource
			if err := resource.Get(ctx, tx, rid, &sn); err != nil {
				return err
			}
			g.ResourceID, g.UniqueID = sn.ID, sn.Properties.UniqueID
		} else {
			var d DiskResource
			if err := resource.Get(ctx, tx, rid, &d); err != nil {
				return err
			}
			g.ResourceID, g.UniqueID = d.ID, d.Properties.UniqueID
			if guestState && securityType(d.Properties.Settings) == "" {
				return invalidAt("getSecureVMGuestStateSAS", "Disk '%s' has no VM guest state to grant access to: only a Trusted Launch or confidential VM's disk (securityProfile.securityType set, as createOption UploadPreparedSecure needs) has one. Leave out getSecureVMGuestStateSAS (or set it false).", d.Name)
			}
			live, prev, err := liveGrants(ctx, tx, &d, now)
			if err != nil {
				return err
			}
			settle(&d, live, prev)
			g.PrevState = d.Properties.DiskState
			if live {
				g.PrevState = prev
			}
			switch st := d.Properties.DiskState; {
			case st == StateAttached:
				return attachedRefusal(ctx, tx, &d)
			case access == "Write" && st == StateActiveSAS:
				return failure.Conflictf("OperationNotAllowed", "Disk '%s' already has an active read SAS; call endGetAccess before requesting Write access.", d.Name)
			case access == "Write" && st == StateReserved:
				return failure.Conflictf("OperationNotAllowed", "Disk '%s' belongs to a deallocated VM; only Read access is allowed.", d.Name)
			case access == "Read" && (st == StateReadyToUpload || st == StateActiveUpload):
				return failure.Conflictf("OperationNotAllowed", "Disk '%s' is awaiting an upload (state %s); request Write access, or finish the upload with endGetAccess first.", d.Name, st)
			}
			if access == "Write" {
				d.Properties.DiskState = StateActiveUpload
			} else {
				d.Properties.DiskState = StateActiveSAS // back to PrevState (e.g. Reserved) at endGetAccess or expiry
			}
			if err := resource.Put(ctx, tx, rid, &d); err != nil {
				return err
			}
		}
		b, _ := json.Marshal(g)
		return tx.Put(ctx, store.Doc{Kind: grantKind, Key: g.ID, Scope: grantScope(g.ResourceID), Value: b})
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// RevokeAccess revokes every SAS of a disk or snapshot (endGetAccess),
// makes the disk's uploaded data durable and returns it to its state
// before access (Unattached or Reserved; Unattached after an upload).
func (s *Service) RevokeAccess(ctx context.Context, resourceID string) error {
	rid, err := arm.ParseID(resourceID)
	if err != nil || !(rid.IsType(DiskType) || rid.IsType(SnapshotType)) {
		return failure.Invalidf("InvalidParameter", "'%s' is not a disk or snapshot id.", resourceID)
	}
	uploaded := int64(-1) // the size of a disk whose upload ends here
	if rid.IsType(DiskType) {
		// What was uploaded through the SAS is durable once access ends.
		if d, err := s.DiskResource(ctx, rid.String()); err == nil {
			v, err := s.vols.Get(d.Properties.UniqueID)
			if st := d.Properties.DiskState; err != nil && s.opts.Replica != nil && (st == StateActiveUpload || st == StateReadyToUpload) {
				// The upload's bytes are on the replica that owns the
				// disk: only it can make them durable and drop the VHD
				// footer, so the revoke is its (an alive *ErrElsewhere:
				// the face forwards it there); with the owner down, the
				// upload cannot end yet.
				if _, err := s.checkOwner(ctx, d); err != nil {
					return ownerFailure(err)
				}
			}
			if err == nil {
				if err := v.Flush(); err != nil {
					return fmt.Errorf("flush disk %s: %w", rid.Name(), err)
				}
				if gs, err := s.vols.Get(guestStateVolume(d.Properties.UniqueID)); err == nil {
					if err := gs.Flush(); err != nil {
						return fmt.Errorf("flush the VM guest state of disk %s: %w", rid.Name(), err)
					}
				}
				if st := d.Properties.DiskState; st == StateActiveUpload || st == StateReadyToUpload {
					if uploaded, err = endUpload(v); err != nil {
						return fmt.Errorf("end the upload of disk %s: %w", rid.Name(), err)
					}
				}
			}
		}
	}
	defer s.nbdGrants.end(rid.String()) // open NBD exports of the grants end too
	return s.p.Store.Update(ctx, func(tx store.Tx) error {
		if rid.IsType(DiskType) {
			var d DiskResource
			if err := resource.Get(ctx, tx, rid, &d); err != nil {
				return err
			}
			switch d.Properties.DiskState {
			case StateActiveSAS:
				// Back to the state before access began (Unattached or Reserved).
				_, prev, err := liveGrants(ctx, tx, &d, s.grantNow())
				if err != nil {
					return err
				}
				d.Properties.DiskState = prev
				if err := resource.Put(ctx, tx, rid, &d); err != nil {
					return err
				}
			case StateActiveUpload, StateReadyToUpload:
				d.Properties.DiskState = StateUnattached // the upload is done
				if uploaded >= 0 {
					d.Properties.DiskSizeBytes, d.Properties.DiskSizeGB = uploaded, sizeGB(uploaded)
				}
				if err := resource.Put(ctx, tx, rid, &d); err != nil {
					return err
				}
			}
		} else {
			var sn SnapshotResource
			if err := resource.Get(ctx, tx, rid, &sn); err != nil {
				return err
			}
		}
		return revokeGrants(ctx, tx, rid.String())
	})
}

// endUpload drops the VHD footer that ends an uploaded disk's content and
// returns the disk's size: as in Azure, uploadSizeBytes is the size of the
// fixed VHD (its data and a 512-byte footer) and the disk is its data, so a
// 1 GiB image uploaded as 1 GiB + 512 bytes is a 1 GiB disk. Content that
// does not end in a VHD footer (raw data) is kept whole, as before.
func endUpload(v *volume.Volume) (int64, error) {
	if size := v.Size(); isFixedVHD(v, size) {
		if err := v.DropTail(512); err != nil {
			return 0, err
		}
	}
	return v.Size(), nil
}

// liveGrants reports whether a disk or snapshot has an unrevoked,
// unexpired grant, and the disk's state before its latest grant began.
func liveGrants(ctx context.Context, r store.Reader, d *DiskResource, now time.Time) (live bool, prev string, err error) {
	docs, err := r.List(ctx, grantKind, store.ListQuery{ScopePrefix: grantScope(d.ID)})
	if err != nil {
		return false, "", err
	}
	var latest time.Time
	for _, doc := range docs {
		var g Grant
		if json.Unmarshal(doc.Value, &g) != nil || g.Revoked || g.UniqueID != d.Properties.UniqueID {
			continue
		}
		if now.Before(g.Expiry) {
			live = true
		}
		if g.PrevState != "" && !g.Created.Before(latest) {
			prev, latest = g.PrevState, g.Created
		}
	}
	if prev == "" {
		prev = StateUnattached
	}
	return live, prev, nil
}

// settle reverts an ActiveSAS or ActiveUpload disk to its state before
// access began once no grant is live (the SAS expired).
func settle(d *DiskResource, live bool, prev string) {
	if st := d.Properties.DiskState; !live && (st == StateActiveSAS || st == StateActiveUpload) {
		d.Properties.DiskState = prev
	}
}

// settleState is settle reading the disk's grants from r.
func (s *Service) settleState(ctx context.Context, r store.Reader, d *DiskResource) error {
	if st := d.Properties.DiskState; st != StateActiveSAS && st != StateActiveUpload {
		return nil
	}
	live, prev, err := liveGrants(ctx, r, d, s.grantNow())
	if err != nil {
		return err
	}
	settle(d, live, prev)
	return nil
}

// HasActiveAccess reports whether a disk or snapshot has an unrevoked,
// unexpired SAS (beginGetAccess without endGetAccess).
func (s *Service) HasActiveAccess(ctx context.Context, id, uniqueID string) (bool, error) {
	live, _, err := liveGrants(ctx, s.p.Store, &DiskResource{Tracked: Tracked{ID: id}, Properties: DiskProperties{BlockProperties: BlockProperties{UniqueID: uniqueID}}}, s.grantNow())
	return live, err
}

func revokeGrants(ctx context.Context, tx store.Tx, resourceID string) error {
	docs, err := tx.List(ctx, grantKind, store.ListQuery{ScopePrefix: grantScope(resourceID)})
	if err != nil {
		return err
	}
	for _, d := range docs {
		var g Grant
		if json.Unmarshal(d.Value, &g) != nil || g.Revoked {
			continue
		}
		g.Revoked = true
		b, _ := json.Marshal(&g)
		d.Value = b
		if err := tx.Put(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// SASQuery is the signed query string of a grant (sv, sr, sp, se, sig).
func (s *Service) SASQuery(ctx context.Context, g *Grant) (string, error) {
	key, err := s.sasKey(ctx)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set("sv", "2018-03-28")
	q.Set("sr", "b")
	q.Set("sp", sasPerm(g.Access))
	q.Set("se", g.Expiry.UTC().Format(time.RFC3339))
	q.Set("sig", sign(key, g.ID, q))
	return q.Encode(), nil
}

func sasPerm(access string) string {
	if access == "Write" {
		return "rw"
	}
	return "r"
}

func sign(key []byte, grantID string, q url.Values) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s", grantID, q.Get("sv"), q.Get("sr"), q.Get("sp"), q.Get("se"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifySAS checks a SAS (grant id from the URL path, signed query) and
// returns its live grant. Errors wrap ErrSASInvalid, ErrSASExpired or
// ErrSASRevoked.
func (s *Service) VerifySAS(ctx context.Context, grantID string, q url.Values) (*Grant, error) {
	key, err := s.sasKey(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(q.Get("sig"))
	if err != nil || !hmac.Equal(sig, mustDecode(sign(key, grantID, q))) {
		return nil, ErrSASInvalid
	}
	g, err := store.GetJSON[Grant](ctx, s.p.Store, grantKind, grantID, "grant")
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSASRevoked
	}
	if err != nil {
		return nil, err
	}
	if q.Get("sp") != sasPerm(g.Access) || q.Get("se") != g.Expiry.UTC().Format(time.RFC3339) {
		return nil, ErrSASInvalid
	}
	if g.Revoked {
		return nil, ErrSASRevoked
	}
	if !s.grantNow().Before(g.Expiry) {
		return nil, ErrSASExpired
	}
	return g, nil
}

func mustDecode(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

func newGrantID() string {
	var b [18]byte
	rand.Read(b[:])
	return "sas-" + strings.ToLower(base64.RawURLEncoding.EncodeToString(b[:]))
}

// NBD access is granted like SAS access: beginGetAccess issues, next to
// the SAS, an NBD export name bound to that grant (the grant id and an
// HMAC tag under the SAS key, so it cannot be guessed or derived from the
// SAS URL). The export serves the disk while the grant lives: read-only
// for a Read grant, read-write for Write; a snapshot's export serves its
// content read-only (from the repository, so on any replica).
// endGetAccess or the grant's expiry ends it, for open connections too.
// Nothing is listed.

// NBDExportName is the NBD export name of a grant.
func (s *Service) NBDExportName(ctx context.Context, g *Grant) (string, error) {
	key, err := s.sasKey(ctx)
	if err != nil {
		return "", err
	}
	return g.ID + "." + nbdTag(key, g.ID), nil
}

func nbdTag(key []byte, grantID string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "nbd\n%s", grantID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// NBDURI is the URI NBD clients open for a grant: nbd:// or, with TLS,
// nbds://, on the listener of the replica that owns the disk, which alone
// serves it, or for a snapshot on this replica's ("" when that replica has
// no NBD listener).
func (s *Service) NBDURI(ctx context.Context, g *Grant) (string, error) {
	base := s.nbdBase()
	if !g.IsSnapshot() {
		var err error
		if base, err = s.ownerNBD(ctx, g.UniqueID); err != nil {
			return "", err
		}
	}
	if base == "" {
		return "", nil
	}
	name, err := s.NBDExportName(ctx, g)
	if err != nil {
		return "", err
	}
	return base + "/" + name, nil
}

// nbdLookup opens the export of a grant's export name.
func (s *Service) nbdLookup(ctx context.Context, name string) (nbd.Export, error) {
	grantID, tag, ok := strings.Cut(name, ".")
	if !ok || !strings.HasPrefix(grantID, "sas-") {
		return nil, nbd.ErrUnknownExport
	}
	key, err := s.sasKey(ctx)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(tag), []byte(nbdTag(key, grantID))) {
		return nil, nbd.ErrUnknownExport
	}
	g, err := store.GetJSON[Grant](ctx, s.p.Store, grantKind, grantID, "grant")
	if err != nil || g.Revoked || !s.grantNow().Before(g.Expiry) {
		return nil, nbd.ErrUnknownExport
	}
	e := &grantExport{s: s, grantID: g.ID, resourceID: strings.ToLower(g.ResourceID), expiry: g.Expiry, readOnly: !g.CanWrite()}
	if g.IsSnapshot() {
		sn, eid, err := s.blobSnapshot(ctx, g.ResourceID)
		if err != nil || sn.Properties.UniqueID != g.UniqueID {
			return nil, nbd.ErrUnknownExport
		}
		if e.snap, err = s.repo.OpenReader(ctx, eid); err != nil {
			return nil, fmt.Errorf("open snapshot %s: %w", sn.Name, err)
		}
		s.nbdGrants.add(e)
		return e, nil
	}
	d, err := s.DiskResource(ctx, g.ResourceID)
	if err != nil || d.Properties.UniqueID != g.UniqueID {
		return nil, nbd.ErrUnknownExport
	}
	if _, err := s.checkOwner(ctx, d); err != nil {
		// NBD is served by the owner only, and not proxied (a long-lived
		// block connection would depend on two replicas): the client is
		// told which replica to connect to (NBD_REP_ERR_POLICY and this
		// message with NBD_OPT_GO; the old-style handshake can only hang up).
		var ee *ErrElsewhere
		if errors.As(err, &ee) && ee.Alive {
			if at, _ := s.replicaNBD(ctx, ee.Holder); at != "" {
				return nil, fmt.Errorf("%s: this replica does not serve it over NBD; open the same export on that replica's NBD listener, %s/%s", ee.Error(), at, name)
			}
			return nil, fmt.Errorf("%s: this replica does not serve it over NBD; open the same export on that replica's NBD listener", ee.Error())
		}
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("DiskOwnerUnavailable: %s", ee.Error())
		}
		return nil, err
	}
	if e.vol, err = s.vols.Get(d.Properties.UniqueID); err != nil {
		return nil, err
	}
	s.nbdGrants.add(e)
	return e, nil
}

// grantExport is a disk's volume, or a snapshot's content, served for one
// grant.
type grantExport struct {
	vol        *volume.Volume   // a disk's
	snap       *snapshot.Reader // a snapshot's (read-only)
	s          *Service
	grantID    string
	resourceID string
	expiry     time.Time
	readOnly   bool

	mu    sync.Mutex
	ended bool
}

func (e *grantExport) ReadOnly() bool { return e.readOnly || e.snap != nil }

// Release, when the connection ends, forgets the export (endGetAccess has
// nothing left to end) and closes a snapshot's reader (its content's
// protection from garbage collection).
func (e *grantExport) Release() {
	e.s.nbdGrants.remove(e)
	if e.snap != nil {
		e.snap.Close()
	}
}

func (e *grantExport) live() error {
	e.mu.Lock()
	ended := e.ended
	e.mu.Unlock()
	if !ended && !e.s.grantNow().Before(e.expiry) {
		e.end()
		ended = true
	}
	if ended {
		return nbd.ErrAccessEnded
	}
	return nil
}

// end ends the export (its grant was revoked or expired, or its resource
// deleted): requests fail from now on, and a snapshot's reader is closed
// at once, so that a connection its client leaves open no longer keeps
// the content from garbage collection.
func (e *grantExport) end() {
	e.mu.Lock()
	e.ended = true
	e.mu.Unlock()
	if e.snap != nil {
		e.snap.Close()
	}
}

func (e *grantExport) Size() int64 {
	if e.snap != nil {
		return e.snap.Size()
	}
	return e.vol.Size()
}

func (e *grantExport) ReadAt(p []byte, off int64) (int, error) {
	if err := e.live(); err != nil {
		return 0, err
	}
	if e.snap != nil {
		return e.snap.ReadAt(p, off)
	}
	return e.vol.ReadAt(p, off)
}

func (e *grantExport) WriteAt(p []byte, off int64) (int, error) {
	if err := e.live(); err != nil {
		return 0, err
	}
	if e.ReadOnly() {
		return 0, nbd.ErrAccessEnded
	}
	return e.vol.WriteAt(p, off)
}

func (e *grantExport) Zero(off, n int64) error {
	if err := e.live(); err != nil {
		return err
	}
	if e.ReadOnly() {
		return nbd.ErrAccessEnded
	}
	return e.vol.Zero(off, n)
}

func (e *grantExport) Flush() error {
	if e.snap != nil {
		return nil
	}
	return e.vol.Flush()
}

// DataRanges: a snapshot's content is reported as data throughout.
func (e *grantExport) DataRanges(off, n int64) ([]volume.Range, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	if e.snap != nil {
		return []volume.Range{{Off: off, Len: max(0, min(n, e.snap.Size()-off))}}, nil
	}
	return e.vol.DataRanges(off, n)
}

// grantExports are the open exports, so that endGetAccess ends them.
type grantExports struct {
	mu sync.Mutex
	m  map[*grantExport]struct{}
}

func (ge *grantExports) add(e *grantExport) {
	ge.mu.Lock()
	defer ge.mu.Unlock()
	if ge.m == nil {
		ge.m = map[*grantExport]struct{}{}
	}
	// Forget exports whose grant ended (their connections fail anyway).
	for x := range ge.m {
		if x.live() != nil {
			delete(ge.m, x)
		}
	}
	ge.m[e] = struct{}{}
}

func (ge *grantExports) remove(e *grantExport) {
	ge.mu.Lock()
	defer ge.mu.Unlock()
	delete(ge.m, e)
}

// end ends every open export of resourceID.
func (ge *grantExports) end(resourceID string) {
	ge.mu.Lock()
	defer ge.mu.Unlock()
	for x := range ge.m {
		if x.resourceID == strings.ToLower(resourceID) {
			x.end()
			delete(ge.m, x)
		}
	}
}

// attachedRefusal is the refusal of SAS access to a disk attached to a VM
// that is not deallocated (Azure: "Access not permitted because disk ... is
// currently attached to running VM ..."), saying what to do: an OS disk
// cannot be detached, so it names the two ways that work for it (deallocate
// the VM; a snapshot of the disk, whose access needs no such step), a data
// disk detaching too.
func attachedRefusal(ctx context.Context, r store.Reader, d *DiskResource) error {
	isOS := false
	if vid, err := arm.ParseID(d.ManagedBy); err == nil {
		var vm VMResource
		if resource.Get(ctx, r, vid, &vm) == nil {
			od := vm.Properties.StorageProfile.OSDisk
			isOS = od != nil && od.ManagedDisk != nil && arm.EqualIDs(od.ManagedDisk.ID, d.ID)
		}
	}
	if isOS {
		return failure.Conflictf("OperationNotAllowed", "Access not permitted because disk '%s' is the OS disk of VM '%s', which is not deallocated (an OS disk cannot be detached). Stop (deallocate) the VM and request access again, or take a snapshot of the disk and request access to the snapshot.", d.Name, d.ManagedBy)
	}
	return failure.Conflictf("OperationNotAllowed", "Access not permitted because disk '%s' is attached to VM '%s', which is not deallocated. Stop (deallocate) the VM or detach the disk and request access again, or take a snapshot of the disk and request access to the snapshot.", d.Name, d.ManagedBy)
}
