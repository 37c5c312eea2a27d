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

const (
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

// storageStatus is the status of each Azure Storage code the data plane
// (compute.PageBlob) fails with; any other error is a 500 InternalError.
var storageStatus = map[string]int{
	"BlobNotFound":                  http.StatusNotFound,
	"InvalidPageRange":              http.StatusRequestedRangeNotSatisfiable,
	"ServerBusy":                    http.StatusServiceUnavailable,
	"PreviousSnapshotNotFound":      http.StatusConflict,
	"PreviousSnapshotCannotBeNewer": http.StatusBadRequest,
	"InvalidQueryParameterValue":    http.StatusBadRequest,
}

func (h *sasHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-version", storageVer)
	rest := strings.TrimPrefix(r.URL.Path, "/sas/disks/")
	grantID, _, _ := strings.Cut(rest, "/")
	ctx := r.Context()
	t, err := h.open(ctx, grantID, r.URL.Query())
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
		se = serr(http.StatusInternalServerError, "InternalError", "The server encountered an internal error: %v. Please retry the request.", err)
	}
	writeStorageError(w, r, se)
}

func (h *sasHandler) open(ctx context.Context, grantID string, q url.Values) (*compute.PageBlob, error) {
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
	return h.svc.OpenPageBlob(ctx, g)
}

func (h *sasHandler) serve(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
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

func headers(w http.ResponseWriter, t *compute.PageBlob) {
	h := w.Header()
	h.Set("ETag", fmt.Sprintf("\"0x%X\"", t.ModTime().UnixNano()))
	h.Set("Last-Modified", t.ModTime().UTC().Format(http.TimeFormat))
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

func (h *sasHandler) putPage(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
	if !t.Writable() {
		return serr(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: the SAS grants Read access. Call beginGetAccess with access Write to upload.")
	}
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	if !ok || open {
		return serr(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-range with bytes=start-end.")
	}
	if start%compute.PageSize != 0 || (end+1)%compute.PageSize != 0 {
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d is not aligned to 512-byte pages (start a multiple of 512, end one less than a multiple of 512).", start, end)
	}
	if end >= t.Size() {
		return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d goes beyond the disk's %d bytes.", start, end, t.Size())
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
		if err := t.WritePages(buf, start); err != nil {
			return err
		}
	case "clear":
		if r.ContentLength > 0 {
			return serr(http.StatusBadRequest, "InvalidHeaderValue", "A clear-pages request must have no body (Content-Length 0).")
		}
		if err := t.ClearPages(start, n); err != nil {
			return err
		}
	case "":
		return serr(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-page-write (update or clear).")
	default:
		return serr(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-page-write is not valid; use update or clear.", mode)
	}
	headers(w, t)
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *sasHandler) download(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if ok {
		if start >= t.Size() {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", t.Size()))
			return serr(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource (%d bytes).", t.Size())
		}
		if open || end >= t.Size() {
			end = t.Size() - 1
		}
		status = http.StatusPartialContent
	} else {
		start, end = 0, t.Size()-1
	}
	n := end - start + 1
	headers(w, t)
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Length", strconv.FormatInt(max(n, 0), 10))
	hd.Set("x-ms-creation-time", t.Created().UTC().Format(http.TimeFormat))
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-lease-status", "unlocked")
	if status == http.StatusPartialContent {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, t.Size()))
	}
	if r.Method == http.MethodHead {
		hd.Set("Content-Length", strconv.FormatInt(t.Size(), 10))
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
func (h *sasHandler) pageList(w http.ResponseWriter, r *http.Request, t *compute.PageBlob) error {
	ctx := r.Context()
	start, end, open, ok, err := parseRange(r)
	if err != nil {
		return err
	}
	if !ok || open || end >= t.Size() {
		if !ok {
			start = 0
		}
		end = t.Size() - 1
	}
	if ok && (start%compute.PageSize != 0 || (end+1)%compute.PageSize != 0) {
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
	if t.Size() > 0 && start <= end {
		if prev == nil {
			data, err := t.DataRanges(ctx, start, end+1)
			if err != nil {
				return err
			}
			for _, rg := range data {
				list.PageRange = append(list.PageRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
			}
		} else {
			set, clr, err := t.Diff(ctx, prev, start, end+1)
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
	headers(w, t)
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.Header().Set("x-ms-blob-content-length", strconv.FormatInt(t.Size(), 10))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(list)
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
		if err != nil || !g.IsSnapshot() {
			return nil, serr(http.StatusForbidden, "AuthenticationFailed", "x-ms-previous-snapshot-url is not a valid, unexpired snapshot SAS: %v.", err)
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
