package compute

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/safehold/safehold/arm/blobwire"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
)

// SASHandler serves the disk data plane: the page-blob operations of the
// accessSAS URLs beginGetAccess hands out (/sas/disks/{grant}/abcd?...),
// as the azblob pageblob client uses them: upload and clear pages, ranged
// downloads, page ranges (and their diff against an earlier snapshot) and
// properties. The signed query is the authentication.
func SASHandler(svc *compute.Service) http.Handler {
	return &sasHandler{svc: svc}
}

type sasHandler struct {
	svc *compute.Service
}

// forwardedHeader marks a data-plane request one replica forwarded to a
// disk's owner (never forwarded again).
const forwardedHeader = "X-Safehold-Forwarded"

type storageError = blobwire.Error

func serr(status int, code, format string, args ...any) *storageError {
	return blobwire.Errorf(status, code, format, args...)
}

// storageStatus is the status of each Azure Storage code the data plane
// (compute.PageBlob) fails with; any other error is blobwire.Internal's
// (507 when out of space, else 500 InternalError).
var storageStatus = map[string]int{
	"BlobNotFound":                  http.StatusNotFound,
	"InvalidPageRange":              http.StatusRequestedRangeNotSatisfiable,
	"ServerBusy":                    http.StatusServiceUnavailable,
	"PreviousSnapshotNotFound":      http.StatusConflict,
	"PreviousSnapshotCannotBeNewer": http.StatusBadRequest,
	"InvalidQueryParameterValue":    http.StatusBadRequest,
	"SnapshotDataDamaged":           http.StatusConflict,
}

func (h *sasHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-version", blobwire.Version)
	rest := strings.TrimPrefix(r.URL.Path, "/sas/disks/")
	grantID, blob, _ := strings.Cut(rest, "/")
	ctx := r.Context()
	t, err := h.open(ctx, grantID, r.URL.Query(), strings.HasSuffix(blob, "_vmgs"))
	if err == nil {
		defer t.Close() // releases a snapshot's GC protection
		err = h.serve(w, r, t)
	}
	if err == nil {
		return
	}
	var se *storageError
	var fe *failure.Error
	var ee *compute.ErrElsewhere
	switch {
	case errors.As(err, &ee) && ee.Alive && h.svc.Forward() != nil && r.Header.Get(forwardedHeader) == "":
		// Another replica owns the disk: its bytes are there.
		r.Header.Set(forwardedHeader, "1")
		h.svc.Forward()(w, r, ee.URL)
		return
	case errors.As(err, &ee):
		se = serr(http.StatusServiceUnavailable, "DiskOwnerUnavailable", "%s", ee.Error())
	case errors.As(err, &se):
	case errors.As(err, &fe) && storageStatus[fe.Code] != 0:
		se = serr(storageStatus[fe.Code], fe.Code, "%s", fe.Message)
	default:
		se = blobwire.Internal(err)
	}
	blobwire.WriteError(w, r, se)
}

// open opens what the SAS of grant grantID (its query q) addresses: the
// disk or snapshot, or (guestState: the securityDataAccessSAS, blob
// {uniqueId}_vmgs) the disk's VM guest state.
func (h *sasHandler) open(ctx context.Context, grantID string, q url.Values, guestState bool) (*compute.PageBlob, error) {
	if q.Get("sig") == "" {
		return nil, serr(http.StatusForbidden, "AuthenticationFailed", "Server failed to authenticate the request. The URL carries no SAS signature (sig); use the accessSAS returned by beginGetAccess.")
	}
	g, err := h.svc.VerifySAS(ctx, grantID, q)
	switch {
	case errors.Is(err, compute.ErrSASInvalid):
		return nil, serr(http.StatusForbidden, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the SAS URL is exactly the accessSAS returned by beginGetAccess: its signature does not match.")
	case errors.Is(err, compute.ErrSASExpired):
		return nil, serr(http.StatusForbidden, "AuthenticationFailed", "Signed expiry time [%s] has passed: the SAS expired. Call beginGetAccess again.", q.Get("se"))
	case errors.Is(err, compute.ErrSASRevoked):
		return nil, serr(http.StatusForbidden, "AuthenticationFailed", "This SAS was revoked by endGetAccess. Call beginGetAccess for a new one.")
	case err != nil:
		return nil, err
	}
	if guestState {
		return h.svc.OpenGuestState(ctx, g)
	}
	return h.svc.OpenPageBlob(ctx, g)
}

func (h *sasHandler) serve(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
	q := r.URL.Query()
	comp := q.Get("comp")
	if err := blobwire.NoLease(r, "a disk's SAS"); err != nil {
		return err
	}
	if err := blobwire.NoCopySource(r, "A disk's SAS"); err != nil {
		return err
	}
	if sn, ver := q.Get("snapshot"), q.Get("versionid"); sn != "" || ver != "" {
		// The SAS addresses the disk (or snapshot) it was granted for: read
		// as that, a "snapshot" was the live disk and a write to one landed.
		return serr(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist: a disk's SAS addresses the disk or snapshot it was granted for and keeps no blob snapshots or versions (snapshot %q, versionid %q). Read a snapshot through its own accessSAS (beginGetAccess on the snapshot), or drop the parameter.", sn, ver)
	}
	if (r.Method == http.MethodPut && comp == "page") || (r.Method == http.MethodGet || r.Method == http.MethodHead) && (comp == "" || comp == "pagelist") {
		// If-Match and the other conditions, against the blob's ETag.
		if err := blobwire.Conditions(r, true, blobwire.ETag(t.ModTime()), t.ModTime()); err != nil {
			return err
		}
	}
	switch {
	case r.Method == http.MethodPut && comp == "page":
		return blobwire.PutPage(w, r, t)
	case r.Method == http.MethodGet && comp == "pagelist":
		return h.pageList(w, r, t)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && comp == "":
		return blobwire.Download(w, r, t)
	case r.Method == http.MethodPut || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete:
		return serr(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: a disk SAS allows page writes, downloads, page ranges and properties only.")
	default:
		return serr(http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb %s.", r.Method)
	}
}

// pageList answers Get Page Ranges, or their diff against an earlier
// snapshot (prevsnapshot query or x-ms-previous-snapshot-url header).
func (h *sasHandler) pageList(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
	ctx := r.Context()
	start, end, err := blobwire.PageListRange(r, t.Size())
	if err != nil {
		return err
	}
	prev, err := h.previous(ctx, r, t)
	if err != nil {
		return err
	}
	if prev != nil {
		defer prev.Close()
	}
	var set, clr []compute.Range
	if t.Size() > 0 && start <= end {
		if prev == nil {
			set, err = t.DataRanges(ctx, start, end+1)
		} else {
			set, clr, err = t.Diff(ctx, prev, start, end+1)
		}
		if err != nil {
			return err
		}
	}
	return blobwire.WritePageList(w, t, wireRanges(set), wireRanges(clr))
}

func wireRanges(rs []compute.Range) []blobwire.Range {
	out := make([]blobwire.Range, len(rs))
	for i, r := range rs {
		out[i] = blobwire.Range{Off: r.Off, Len: r.Len}
	}
	return out
}

// previous opens the snapshot a diff is against, or nil.
func (h *sasHandler) previous(ctx context.Context, r *http.Request, t *compute.PageBlob) (*compute.PageBlob, error) {
	var sid string
	if u := r.Header.Get("x-ms-previous-snapshot-url"); u != "" {
		pu, err := url.Parse(u)
		if err != nil || !strings.HasPrefix(pu.Path, "/sas/disks/") {
			return nil, serr(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-previous-snapshot-url must be the accessSAS of an earlier snapshot.")
		}
		gid, _, _ := strings.Cut(strings.TrimPrefix(pu.Path, "/sas/disks/"), "/")
		g, err := h.svc.VerifySAS(ctx, gid, pu.Query())
		if err != nil {
			return nil, serr(http.StatusForbidden, "AuthenticationFailed", "x-ms-previous-snapshot-url is not a valid, unexpired snapshot SAS: %v. Pass the accessSAS of an earlier snapshot of this disk.", err)
		}
		if !g.IsSnapshot() {
			return nil, serr(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-previous-snapshot-url is the SAS of a disk, not of a snapshot: a diff is against an earlier snapshot of this disk; pass that snapshot's accessSAS.")
		}
		sid = g.ResourceID
	} else if v := r.URL.Query().Get("prevsnapshot"); v != "" {
		id, err := h.svc.ResolvePrevious(ctx, t, v)
		if err != nil {
			return nil, err
		}
		sid = id
	} else {
		return nil, nil
	}
	return h.svc.OpenPrevious(ctx, t, sid)
}
