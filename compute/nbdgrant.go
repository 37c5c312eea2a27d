package compute

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/nbd"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// NBD access is granted like SAS access: beginGetAccess on a disk issues,
// next to the SAS, an NBD export name bound to that grant (the grant id
// and an HMAC tag under the SAS key, so it cannot be guessed or derived
// from the SAS URL). The export serves the disk while the grant lives:
// read-only for a Read grant, read-write for Write; endGetAccess or the
// grant's expiry ends it, for open connections too. Nothing is listed.

// NBDExportName is the NBD export name of a disk grant ("" for snapshots,
// which are not served over NBD).
func (s *Service) NBDExportName(ctx context.Context, g *Grant) (string, error) {
	if g.IsSnapshot() {
		return "", nil
	}
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

// NBDURI is the URI NBD clients open for a disk grant: nbd:// or, with
// TLS, nbds://, on the listener of the replica that owns the disk, which
// alone serves it ("" for snapshots, and when that replica has no NBD
// listener).
func (s *Service) NBDURI(ctx context.Context, g *Grant) (string, error) {
	if g.IsSnapshot() {
		return "", nil
	}
	base, err := s.ownerNBD(ctx, g.UniqueID)
	if err != nil || base == "" {
		return "", err
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
	if err != nil || g.IsSnapshot() {
		return nil, nbd.ErrUnknownExport
	}
	if g.Revoked || !s.now().Before(g.Expiry) {
		return nil, nbd.ErrUnknownExport
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
	v, err := s.vols.Get(d.Properties.UniqueID)
	if err != nil {
		return nil, err
	}
	e := &grantExport{Volume: v, s: s, grantID: g.ID, resourceID: strings.ToLower(g.ResourceID), expiry: g.Expiry, readOnly: !g.CanWrite()}
	s.nbdGrants.add(e)
	return e, nil
}

// grantExport is a disk's volume served for one grant.
type grantExport struct {
	*volume.Volume
	s          *Service
	grantID    string
	resourceID string
	expiry     time.Time
	readOnly   bool

	mu    sync.Mutex
	ended bool
}

func (e *grantExport) ReadOnly() bool { return e.readOnly }

func (e *grantExport) live() error {
	e.mu.Lock()
	ended := e.ended
	e.mu.Unlock()
	if ended || !e.s.now().Before(e.expiry) {
		return nbd.ErrAccessEnded
	}
	return nil
}

func (e *grantExport) ReadAt(p []byte, off int64) (int, error) {
	if err := e.live(); err != nil {
		return 0, err
	}
	return e.Volume.ReadAt(p, off)
}

func (e *grantExport) WriteAt(p []byte, off int64) (int, error) {
	if err := e.live(); err != nil {
		return 0, err
	}
	if e.readOnly {
		return 0, nbd.ErrAccessEnded
	}
	return e.Volume.WriteAt(p, off)
}

func (e *grantExport) Zero(off, n int64) error {
	if err := e.live(); err != nil {
		return err
	}
	if e.readOnly {
		return nbd.ErrAccessEnded
	}
	return e.Volume.Zero(off, n)
}

func (e *grantExport) DataRanges(off, n int64) ([]volume.Range, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	return e.Volume.DataRanges(off, n)
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

// end ends every open export of resourceID.
func (ge *grantExports) end(resourceID string) {
	ge.mu.Lock()
	defer ge.mu.Unlock()
	for x := range ge.m {
		if x.resourceID == strings.ToLower(resourceID) {
			x.mu.Lock()
			x.ended = true
			x.mu.Unlock()
			delete(ge.m, x)
		}
	}
}
