package compute

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/volume"
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

const (
	pageSize     = 512
	maxPageWrite = 4 << 20
	storageVer   = "2023-11-03"
)

type storageError struct {
	status  int
	code    string
	message string
}

func (e *storageError) Error() string { return e.code + ": " + e.message }

func serr(status int, code, format string, args ...any) *storageError {
	return &storageError{status, code, fmt.Sprintf(format, args...)}
}

func writeStorageError(w http.ResponseWriter, r *http.Request, e *storageError) {
	h := w.Header()
	h.Set("x-ms-error-code", e.code)
	h.Set("x-ms-version", storageVer)
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	xml.EscapeText(&b, []byte(fmt.Sprintf("%s\nRequestId:%s\nTime:%s", e.message, w.Header().Get("x-ms-request-id"), time.Now().UTC().Format(time.RFC3339Nano))))
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", e.code, b.String())
}

// target is what a SAS points at: a live disk volume or a snapshot.
type target struct {
	grant   *compute.Grant
	vol     *volume.Volume
	snap    *snapshot.Reader
	size    int64
	modTime time.Time
	created time.Time
}

func (t *target) ReadAt(p []byte, off int64) (int, error) {
	if t.vol != nil {
		return t.vol.ReadAt(p, off)
	}
	return t.snap.ReadAt(p, off)
}

func (h *sasHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-version", storageVer)
	rest := strings.TrimPrefix(r.URL.Path, "/sas/disks/")
	grantID, _, _ := strings.Cut(rest, "/")
	ctx := r.Context()
	t, err := h.open(ctx, grantID, r.URL.Query())
	if err == nil {
		if t.snap != nil {
			defer t.snap.Close() // releases the snapshot's GC protection
		}
		err = h.serve(w, r, t)
	}
	if err == nil {
		return
	}
	var se *storageError
	if !errors.As(err, &se) {
		se = serr(http.StatusInternalServerError, "InternalError", "The server encountered an internal error: %v. Please retry the request.", err)
	}
	writeStorageError(w, r, se)
}

func (h *sasHandler) open(ctx context.Context, grantID string, q url.Values) (*target, error) {
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
	t := &target{grant: g}
	if g.IsSnapshot() {
		sn, eid, err := h.snapshot(ctx, g.ResourceID)
		if err != nil {
			return nil, err
		}
		rd, err := h.svc.Repository().OpenReader(ctx, eid)
		if err != nil {
			return nil, fmt.Errorf("open snapshot %s: %w", sn.Name, err)
		}
		t.snap, t.size, t.modTime, t.created = rd, rd.Size(), sn.Properties.TimeCreated, sn.Properties.TimeCreated
		return t, nil
	}
	d, err := h.svc.DiskResource(ctx, g.ResourceID)
	if err != nil || d.Properties.UniqueID != g.UniqueID {
		return nil, serr(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist: the disk of this SAS was deleted.")
	}
	v, err := h.svc.Volumes().Get(d.Properties.UniqueID)
	if err != nil {
		return nil, fmt.Errorf("open disk %s: %w", d.Name, err)
	}
	t.vol, t.size, t.modTime, t.created = v, v.Size(), v.ModTime(), d.Properties.TimeCreated
	return t, nil
}

func (h *sasHandler) snapshot(ctx context.Context, id string) (*compute.SnapshotResource, snapshot.ID, error) {
	sn, err := h.svc.SnapshotResource(ctx, id)
	if err != nil {
		return nil, "", serr(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist: the snapshot was deleted.")
	}
	s, err := h.svc.Snapshot(ctx, sn.ID)
	if err != nil {
		return nil, "", err
	}
	return sn, s.EngineID, nil
}

func (h *sasHandler) serve(w http.ResponseWriter, r *http.Request, t *target) error {
	q := r.URL.Query()
	comp := q.Get("comp")
	switch {
	case r.Method == http.MethodPut && comp == "page":
		return h.putPage(w, r, t)
	case r.Method == http.MethodGet && comp == "pagelist":
		return h.pageList(w, r, t)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && comp == "":
		return h.download(w, r, t)
	case r.Method == http.MethodPut || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete:
		return serr(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: a disk SAS allows page writes, downloads, page ranges and properties only.")
	default:
		return serr(http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb %s.", r.Method)
	}
}

func (t *target) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("ETag", fmt.Sprintf("\"0x%X\"", t.modTime.UnixNano()))
	h.Set("Last-Modified", t.modTime.UTC().Format(http.TimeFormat))
	h.Set("x-ms-blob-sequence-number", "0")
	h.Set("x-ms-blob-type", "PageBlob")
	h.Set("x-ms-server-encrypted", "true")
}

// parseRange parses x-ms-range (preferred) or Range: "bytes=a-b" or
// "bytes=a-". ok is false when neither header is set.
func parseRange(r *http.Request) (start, end int64, open, ok bool, err error) {
	v := r.Header.Get("x-ms-range")
	if v == "" {
		v = r.Header.Get("Range")
	}
	if v == "" {
		return 0, 0, false, false, nil
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !found || !dash {
		return 0, 0, false, true, serr(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of the range header is not of the form bytes=start-end.", v)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	if err1 != nil || start < 0 {
		return 0, 0, false, true, serr(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of the range header is not of the form bytes=start-end.", v)
	}
	if b == "" {
		return start, 0, true, true, nil
	}
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err2 != nil || end < start {
		return 0, 0, false, true, serr(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of the range header is not of the form bytes=start-end.", v)
	}
	return start, end, false, true, nil
}

func (h *sasHandler) putPage(w http.ResponseWriter, r *http.Request, t *target) error {
	if !t.grant.CanWrite() || t.vol == nil {
		return serr(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: the SAS grants Read access. Call beginGetAccess with access Write to upload.")
	}
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	if !ok || open {
		return serr(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-range with bytes=start-end.")
	}
	if start%pageSize != 0 || (end+1)%pageSize != 0 {
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d is not aligned to 512-byte pages (start a multiple of 512, end one less than a multiple of 512).", start, end)
	}
	if end >= t.size {
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d goes beyond the disk's %d bytes.", start, end, t.size)
	}
	n := end - start + 1
	switch mode := strings.ToLower(r.Header.Get("x-ms-page-write")); mode {
	case "update":
		if n > maxPageWrite {
			return serr(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large: %d bytes exceeds the 4 MiB limit of one page write.", n)
		}
		if r.ContentLength != n {
			return serr(http.StatusBadRequest, "InvalidHeaderValue", "Content-Length %d does not match the %d bytes of the page range.", r.ContentLength, n)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return serr(http.StatusBadRequest, "InvalidInput", "The request body is shorter than the page range: %v.", err)
		}
		if m := r.Header.Get("Content-MD5"); m != "" {
			want, err := base64.StdEncoding.DecodeString(m)
			got := md5.Sum(buf)
			if err != nil || !bytes.Equal(want, got[:]) {
				return serr(http.StatusBadRequest, "Md5Mismatch", "The MD5 value specified in the request did not match the MD5 value calculated by the server.")
			}
		}
		if _, err := t.vol.WriteAt(buf, start); err != nil {
			return volumeError(err)
		}
	case "clear":
		if r.ContentLength > 0 {
			return serr(http.StatusBadRequest, "InvalidHeaderValue", "A clear-pages request must have no body (Content-Length 0).")
		}
		if err := t.vol.Zero(start, n); err != nil {
			return volumeError(err)
		}
	case "":
		return serr(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-page-write (update or clear).")
	default:
		return serr(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-page-write is not valid; use update or clear.", mode)
	}
	t.modTime = t.vol.ModTime()
	t.headers(w)
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func volumeError(err error) error {
	switch {
	case errors.Is(err, volume.ErrOutOfRange):
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: it goes beyond the end of the disk.")
	case errors.Is(err, volume.ErrClosed):
		return serr(http.StatusServiceUnavailable, "ServerBusy", "The disk is being closed; retry.")
	}
	return err
}

func (h *sasHandler) download(w http.ResponseWriter, r *http.Request, t *target) error {
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if ok {
		if start >= t.size {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", t.size))
			return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource (%d bytes).", t.size)
		}
		if open || end >= t.size {
			end = t.size - 1
		}
		status = http.StatusPartialContent
	} else {
		start, end = 0, t.size-1
	}
	n := end - start + 1
	t.headers(w)
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Length", strconv.FormatInt(max(n, 0), 10))
	hd.Set("x-ms-creation-time", t.created.UTC().Format(http.TimeFormat))
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-lease-status", "unlocked")
	if status == http.StatusPartialContent {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, t.size))
	}
	if r.Method == http.MethodHead {
		hd.Set("Content-Length", strconv.FormatInt(t.size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(status)
	if n <= 0 {
		return nil
	}
	buf := make([]byte, 1<<20)
	for off := start; off <= end; {
		k := min(int64(len(buf)), end+1-off)
		if _, err := t.ReadAt(buf[:k], off); err != nil && err != io.EOF {
			return nil // headers are out; the client sees a short body
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return nil
		}
		off += k
	}
	return nil
}

type xmlRange struct {
	Start int64 `xml:"Start"`
	End   int64 `xml:"End"`
}

type pageListXML struct {
	XMLName    xml.Name   `xml:"PageList"`
	PageRange  []xmlRange `xml:"PageRange"`
	ClearRange []xmlRange `xml:"ClearRange"`
	NextMarker string     `xml:"NextMarker"`
}

// pageList answers Get Page Ranges, or their diff against an earlier
// snapshot (prevsnapshot query or x-ms-previous-snapshot-url header).
func (h *sasHandler) pageList(w http.ResponseWriter, r *http.Request, t *target) error {
	ctx := r.Context()
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	if !ok || open || end >= t.size {
		if !ok {
			start = 0
		}
		end = t.size - 1
	}
	if ok && (start%pageSize != 0 || (end+1)%pageSize != 0) {
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d is not aligned to 512-byte pages.", start, end)
	}
	var list pageListXML
	prev, err := h.previous(ctx, r, t)
	if err != nil {
		return err
	}
	if prev != nil {
		defer prev.Close()
	}
	if t.size > 0 && start <= end {
		if prev == nil {
			data, err := h.dataRanges(ctx, t, start, end+1)
			if err != nil {
				return err
			}
			for _, rg := range data {
				list.PageRange = append(list.PageRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
			}
		} else {
			set, clr, err := h.diff(ctx, t, prev, start, end+1)
			if err != nil {
				return err
			}
			for _, rg := range set {
				list.PageRange = append(list.PageRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
			}
			for _, rg := range clr {
				list.ClearRange = append(list.ClearRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
			}
		}
	}
	t.headers(w)
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.Header().Set("x-ms-blob-content-length", strconv.FormatInt(t.size, 10))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(list)
}

// previous resolves the snapshot a diff is against, or nil.
func (h *sasHandler) previous(ctx context.Context, r *http.Request, t *target) (*snapshot.Reader, error) {
	var sid string
	if u := r.Header.Get("x-ms-previous-snapshot-url"); u != "" {
		pu, err := url.Parse(u)
		if err != nil || !strings.HasPrefix(pu.Path, "/sas/disks/") {
			return nil, serr(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-previous-snapshot-url must be the accessSAS of an earlier snapshot.")
		}
		gid, _, _ := strings.Cut(strings.TrimPrefix(pu.Path, "/sas/disks/"), "/")
		g, err := h.svc.VerifySAS(ctx, gid, pu.Query())
		if err != nil || !g.IsSnapshot() {
			return nil, serr(http.StatusForbidden, "AuthenticationFailed", "x-ms-previous-snapshot-url is not a valid, unexpired snapshot SAS: %v.", err)
		}
		sid = g.ResourceID
	} else if v := r.URL.Query().Get("prevsnapshot"); v != "" {
		id, err := h.resolvePrev(ctx, t, v)
		if err != nil {
			return nil, err
		}
		sid = id
	} else {
		return nil, nil
	}
	prev, eid, err := h.snapshot(ctx, sid)
	if err != nil {
		return nil, err
	}
	if err := h.checkPrevious(ctx, t, prev); err != nil {
		return nil, err
	}
	return h.svc.Repository().OpenReader(ctx, eid)
}

// checkPrevious checks that a diff's base is a snapshot of the target's
// disk no newer than the target (Azure Storage: 409
// PreviousSnapshotNotFound, 400 PreviousSnapshotCannotBeNewer).
func (h *sasHandler) checkPrevious(ctx context.Context, t *target, prev *compute.SnapshotResource) error {
	diskID, prevDisk := h.sourceDisk(ctx, t.grant.ResourceID), h.sourceDisk(ctx, prev.ID)
	if !arm.EqualIDs(diskID, prevDisk) {
		return serr(http.StatusConflict, "PreviousSnapshotNotFound", "The previous snapshot is not found: snapshot '%s' is not a snapshot of this disk. Diff against an earlier snapshot of the same disk.", prev.Name)
	}
	if t.grant.IsSnapshot() && prev.Properties.TimeCreated.After(t.created) {
		return serr(http.StatusBadRequest, "PreviousSnapshotCannotBeNewer", "The previous snapshot '%s' cannot be newer than the snapshot whose page ranges are listed. Swap them.", prev.Name)
	}
	return nil
}

// sourceDisk is the disk a disk or snapshot id comes from: the disk itself,
// or, following snapshot copies, the disk a snapshot was taken of.
func (h *sasHandler) sourceDisk(ctx context.Context, id string) string {
	for range 16 {
		rid, err := arm.ParseID(id)
		if err != nil || !rid.IsType(compute.SnapshotType) {
			return id
		}
		sn, err := h.svc.SnapshotResource(ctx, id)
		if err != nil || sn.Properties.CreationData.SourceResourceID == "" {
			return id
		}
		id = sn.Properties.CreationData.SourceResourceID
	}
	return id
}

// resolvePrev finds the snapshot a prevsnapshot value names: its ARM id,
// its uniqueId, or its timeCreated (RFC 3339) among the snapshots of the
// same disk.
func (h *sasHandler) resolvePrev(ctx context.Context, t *target, v string) (string, error) {
	if strings.HasPrefix(v, "/") {
		return v, nil
	}
	diskID := t.grant.ResourceID
	if t.grant.IsSnapshot() {
		sn, err := h.svc.SnapshotResource(ctx, t.grant.ResourceID)
		if err != nil {
			return "", err
		}
		diskID = sn.Properties.CreationData.SourceResourceID
	}
	rid, _ := arm.ParseID(diskID)
	all, err := h.svc.ListSnapshots(ctx, "/subscriptions/"+rid.SubscriptionID)
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
	return "", serr(http.StatusBadRequest, "InvalidQueryParameterValue", "prevsnapshot '%s' names no earlier snapshot of this disk. Pass the snapshot's id, uniqueId or timeCreated, or its SAS in x-ms-previous-snapshot-url.", v)
}

// dataRanges lists the ranges of [start, end) that may hold data.
func (h *sasHandler) dataRanges(ctx context.Context, t *target, start, end int64) ([]volume.Range, error) {
	if t.vol != nil {
		return t.vol.DataRanges(start, end-start)
	}
	var out []volume.Range
	zero := func(p []byte) bool {
		for _, c := range p {
			if c != 0 {
				return false
			}
		}
		return true
	}
	buf := make([]byte, volume.BlockSize)
	for off := start - start%volume.BlockSize; off < end; off += volume.BlockSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if id, ok := segmentID(t.snap, off); ok && id.IsZero() {
			off = nextSegment(off) - volume.BlockSize // an all-zero segment: no data
			continue
		}
		n := min(int64(volume.BlockSize), t.size-off)
		if _, err := t.snap.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return nil, err
		}
		if zero(buf[:n]) {
			continue
		}
		s, e := max(off, start), min(off+n, end)
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == s {
			out[k-1].Len += e - s
		} else {
			out = append(out, volume.Range{Off: s, Len: e - s})
		}
	}
	return out, nil
}

// diff compares the target with an earlier snapshot block by block:
// changed blocks holding data are set ranges, changed blocks now all zero
// are clear ranges.
func (h *sasHandler) diff(ctx context.Context, t *target, prev *snapshot.Reader, start, end int64) (set, clr []volume.Range, err error) {
	add := func(l []volume.Range, s, e int64) []volume.Range {
		if k := len(l); k > 0 && l[k-1].Off+l[k-1].Len == s {
			l[k-1].Len += e - s
			return l
		}
		return append(l, volume.Range{Off: s, Len: e - s})
	}
	// A live disk whose change map is relative to prev only needs its
	// changed blocks compared.
	var only []volume.Range
	if t.vol != nil && prev.Manifest() != nil && t.size == prev.Size() {
		if base, ranges, ok := t.vol.Changes(); ok && base == string(prev.Manifest().ID) {
			only = ranges
			if len(only) == 0 {
				return nil, nil, nil
			}
		}
	}
	a, b := make([]byte, volume.BlockSize), make([]byte, volume.BlockSize)
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
		if t.snap != nil && t.size == prev.Size() {
			ia, oka := segmentID(t.snap, off)
			ib, okb := segmentID(prev, off)
			if oka && okb && ia == ib {
				off = nextSegment(off) - volume.BlockSize // identical segments: nothing changed
				continue
			}
		}
		n := min(int64(volume.BlockSize), t.size-off)
		if _, err := t.ReadAt(a[:n], off); err != nil && err != io.EOF {
			return nil, nil, err
		}
		clear(b)
		if off < prev.Size() {
			m := min(n, prev.Size()-off)
			if _, err := prev.ReadAt(b[:m], off); err != nil && err != io.EOF {
				return nil, nil, err
			}
		}
		if string(a[:n]) == string(b[:n]) {
			continue
		}
		// Report the 512-byte pages that differ, as Azure reports the pages
		// written: a page now all zero was cleared, any other was set.
		for p := int64(0); p < n; p += pageSize {
			q := min(p+pageSize, n)
			if string(a[p:q]) == string(b[p:q]) {
				continue
			}
			s, e := max(off+p, start), min(off+q, end)
			if s >= e {
				continue
			}
			if isZeroBytes(a[p:q]) {
				clr = add(clr, s, e)
			} else {
				set = add(set, s, e)
			}
		}
	}
	return set, clr, nil
}

func isZeroBytes(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

const segmentBytes = int64(snapshot.SegmentBlocks) * snapshot.BlockSize

// segmentID is the index segment of rd covering off (zero ID: all zeros).
func segmentID(rd *snapshot.Reader, off int64) (chunk.ID, bool) {
	m := rd.Manifest()
	i := off / segmentBytes
	if m == nil || i >= int64(len(m.Segments)) {
		return chunk.ID{}, false
	}
	return m.Segments[i], true
}

// nextSegment is the start of the segment after the one holding off.
func nextSegment(off int64) int64 { return (off/segmentBytes + 1) * segmentBytes }
