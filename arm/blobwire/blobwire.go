// Package blobwire is the Azure Storage blob wire Safehold's two blob data
// planes share: the disk SAS of beginGetAccess (rp/compute) and the blob
// service of its storage accounts (rp/storage). It writes Azure's XML
// errors, parses ranges, and serves page writes, ranged downloads and
// page lists over any blob that implements Blob or PageBlob.
package blobwire

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Version is the x-ms-version the data planes answer with.
const Version = "2023-11-03"

// PageSize is the page of the page-blob API: writes are aligned to it.
const PageSize = 512

// MaxPageWrite is the largest page write (Azure's 4 MiB).
const MaxPageWrite = 4 << 20

// Error is an Azure Storage error: an HTTP status, a code and a message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{status, code, fmt.Sprintf(format, args...)}
}

// Internal is the error a data plane answers for err, which is none of its
// own: 507 InsufficientStorage when a write found the server out of space
// (ENOSPC, the store's out of space: Azure Storage has no code for it, and
// retrying at once would fail the same way), 503 ServerBusy when the object
// storage did not answer (blob.Unreachable) or the metadata database is out
// of reach (the store's ErrUnavailable), else 500 InternalError. A 503 is
// written with Retry-After.
func Internal(err error) *Error {
	if errors.Is(err, syscall.ENOSPC) {
		return Errorf(http.StatusInsufficientStorage, "InsufficientStorage", "The server is out of storage space where it keeps its data, so the request could not be completed. An operator must free space on the file system of Safehold's data directory; then retry the request.")
	}
	var ou interface{ ObjectStoreUnreachable() bool }
	if errors.As(err, &ou) && ou.ObjectStoreUnreachable() {
		return Errorf(http.StatusServiceUnavailable, "ServerBusy", "The server's object storage, where it keeps snapshot data, did not answer (%v). Retry the request once it is reachable again.", err)
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return Errorf(http.StatusServiceUnavailable, "ServerBusy", "The server's metadata database is unavailable or did not answer in time. Retry the request.")
	}
	return Errorf(http.StatusInternalServerError, "InternalError", "The server encountered an internal error: %v. Please retry the request.", err)
}

// WriteError writes e in Azure Storage's shape: x-ms-error-code and an
// XML <Error> body (none for HEAD).
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	h.Set("x-ms-error-code", e.Code)
	h.Set("x-ms-version", Version)
	h.Set("Content-Type", "application/xml")
	if e.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1") // as ARM's 503s
	}
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	xml.EscapeText(&b, []byte(fmt.Sprintf("%s\nRequestId:%s\nTime:%s", e.Message, w.Header().Get("x-ms-request-id"), time.Now().UTC().Format(time.RFC3339Nano))))
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", e.Code, b.String())
}

// SetMetadata sets x-ms-meta-{name} headers with the names as stored
// (lower case: Go's server sees request headers canonicalized), not
// canonicalized: clients take a metadata name from the header's, and
// Azure answers the name as it was set.
func SetMetadata(h http.Header, meta map[string]string) {
	for k, v := range meta {
		h["x-ms-meta-"+k] = []string{v}
	}
}

// Blob is what a download reads.
type Blob interface {
	Size() int64
	ModTime() time.Time
	Created() time.Time
	ReadAt(p []byte, off int64) (int, error)
}

// PageBlob is a blob whose 512-byte pages may be written and cleared.
type PageBlob interface {
	Blob
	Writable() bool
	WritePages(p []byte, off int64) error
	ClearPages(off, n int64) error
}

// Typed is implemented by blobs that are not page blobs (BlockBlob).
type Typed interface{ BlobType() string }

// Described is implemented by blobs with stored properties: their content
// headers (Content-Type, Content-MD5 in base64, Content-Encoding,
// Content-Language, Content-Disposition, Cache-Control; those set) and
// metadata.
type Described interface {
	ContentHeaders() map[string]string
	Metadata() map[string]string
}

func blobType(b Blob) string {
	if t, ok := b.(Typed); ok {
		return t.BlobType()
	}
	return "PageBlob"
}

// ETag is a blob's ETag, from its modification time.
func ETag(mod time.Time) string { return fmt.Sprintf("\"0x%X\"", mod.UnixNano()) }

// Headers sets a blob's common response headers.
func Headers(w http.ResponseWriter, b Blob) {
	h := w.Header()
	h.Set("ETag", ETag(b.ModTime()))
	h.Set("Last-Modified", b.ModTime().UTC().Format(http.TimeFormat))
	if blobType(b) == "PageBlob" {
		h.Set("x-ms-blob-sequence-number", "0")
	}
	h.Set("x-ms-blob-type", blobType(b))
	h.Set("x-ms-server-encrypted", "true")
}

// ParseRange parses x-ms-range (preferred) or Range: "bytes=a-b" or
// "bytes=a-". ok is false when neither header is set.
func ParseRange(r *http.Request) (start, end int64, open, ok bool, err error) {
	v := r.Header.Get("x-ms-range")
	if v == "" {
		v = r.Header.Get("Range")
	}
	if v == "" {
		return 0, 0, false, false, nil
	}
	bad := Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of the range header is not of the form bytes=start-end.", v)
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !found || !dash {
		return 0, 0, false, true, bad
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	if err1 != nil || start < 0 {
		return 0, 0, false, true, bad
	}
	if b == "" {
		return start, 0, true, true, nil
	}
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err2 != nil || end < start {
		return 0, 0, false, true, bad
	}
	return start, end, false, true, nil
}

// CheckMD5 checks a body against the request's Content-MD5, if any.
func CheckMD5(r *http.Request, body []byte) error {
	m := r.Header.Get("Content-MD5")
	if m == "" {
		return nil
	}
	want, err := base64.StdEncoding.DecodeString(m)
	got := md5.Sum(body)
	if err != nil || !bytes.Equal(want, got[:]) {
		return Errorf(http.StatusBadRequest, "Md5Mismatch", "The MD5 value specified in the request did not match the MD5 value calculated by the server.")
	}
	return nil
}

// ReadBody reads a request body of exactly n bytes (Content-Length).
func ReadBody(r *http.Request, n int64) ([]byte, error) {
	if r.ContentLength != n {
		return nil, Errorf(http.StatusBadRequest, "InvalidHeaderValue", "Content-Length %d does not match the %d bytes of the request.", r.ContentLength, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, Errorf(http.StatusBadRequest, "InvalidInput", "The request body is shorter than its Content-Length: %v.", err)
	}
	return buf, CheckMD5(r, buf)
}

// PutPage serves Put Page (x-ms-page-write update or clear) on t.
func PutPage(w http.ResponseWriter, r *http.Request, t PageBlob) error {
	if !t.Writable() {
		return Errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: the SAS grants Read access. Call beginGetAccess with access Write to upload.")
	}
	start, end, open, ok, err := ParseRange(r)
	if err != nil {
		return err
	}
	if !ok || open {
		return Errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-range with bytes=start-end.")
	}
	if start%PageSize != 0 || (end+1)%PageSize != 0 {
		return Errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d is not aligned to 512-byte pages (start a multiple of 512, end one less than a multiple of 512).", start, end)
	}
	if end >= t.Size() {
		return Errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d goes beyond the blob's %d bytes.", start, end, t.Size())
	}
	if err := sequenceConditions(r); err != nil {
		return err
	}
	n := end - start + 1
	switch mode := strings.ToLower(r.Header.Get("x-ms-page-write")); mode {
	case "update":
		if n > MaxPageWrite {
			return Errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large: %d bytes exceeds the 4 MiB limit of one page write.", n)
		}
		buf, err := ReadBody(r, n)
		if err != nil {
			return err
		}
		if err := t.WritePages(buf, start); err != nil {
			return err
		}
	case "clear":
		if r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && hasByte(r.Body)) {
			// A chunked body (no Content-Length) is as much a body.
			return Errorf(http.StatusBadRequest, "InvalidHeaderValue", "A clear-pages request must have no body (Content-Length 0).")
		}
		if err := t.ClearPages(start, n); err != nil {
			return err
		}
	case "":
		return Errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-page-write (update or clear).")
	default:
		return Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-page-write is not valid; use update or clear.", mode)
	}
	Headers(w, t)
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// sequenceConditions checks a page write's x-ms-if-sequence-number-le,
// -lt and -eq against the blob's sequence number, always 0 here: 400 for
// a value that is no number, 412 SequenceNumberConditionNotMet when the
// condition fails.
func sequenceConditions(r *http.Request) error {
	for _, c := range []struct {
		header string
		holds  func(v int64) bool
	}{
		{"x-ms-if-sequence-number-le", func(v int64) bool { return 0 <= v }},
		{"x-ms-if-sequence-number-lt", func(v int64) bool { return 0 < v }},
		{"x-ms-if-sequence-number-eq", func(v int64) bool { return v == 0 }},
	} {
		s := r.Header.Get(c.header)
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v < 0 {
			return Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of %s is not a sequence number (a whole number from 0).", s, c.header)
		}
		if !c.holds(v) {
			return Errorf(http.StatusPreconditionFailed, "SequenceNumberConditionNotMet", "The sequence number condition specified was not met: the blob's sequence number is 0 (%s: %d).", c.header, v)
		}
	}
	return nil
}

// hasByte reports whether r yields at least one byte.
func hasByte(r io.Reader) bool {
	n, _ := io.ReadFull(r, make([]byte, 1))
	return n > 0
}

// Download serves Get Blob (ranged or whole) and Get Blob Properties (HEAD).
func Download(w http.ResponseWriter, r *http.Request, t Blob) error {
	start, end, open, ok, err := ParseRange(r)
	if err != nil {
		return err
	}
	size := t.Size()
	status := http.StatusOK
	if ok {
		if start >= size {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			return Errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource (%d bytes).", size)
		}
		if open || end >= size {
			end = size - 1
		}
		status = http.StatusPartialContent
	} else {
		start, end = 0, size-1
	}
	n := end - start + 1
	// x-ms-range-get-content-md5: the range's own MD5 (a range of at most
	// 4 MiB), read ahead of the headers.
	var ranged []byte
	if strings.EqualFold(r.Header.Get("x-ms-range-get-content-md5"), "true") && r.Method != http.MethodHead {
		if !ok || n > MaxPageWrite {
			return Errorf(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-range-get-content-md5 needs a range of at most 4 MiB (x-ms-range or Range).")
		}
		ranged = make([]byte, max(n, 0))
		if k, err := t.ReadAt(ranged, start); err != nil && !(err == io.EOF && int64(k) == n) {
			return fmt.Errorf("read blob range: %w", err)
		}
	}
	before := w.Header().Clone() // the answer's headers, should the first read fail
	Headers(w, t)
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	if d, ok := t.(Described); ok {
		for k, v := range d.ContentHeaders() {
			if k == "Content-MD5" && status == http.StatusPartialContent && r.Method != http.MethodHead {
				k = "x-ms-blob-content-md5" // a range's own MD5 is not the blob's
			}
			hd.Set(k, v)
		}
		SetMetadata(hd, d.Metadata())
	}
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Length", strconv.FormatInt(max(n, 0), 10))
	hd.Set("x-ms-creation-time", t.Created().UTC().Format(http.TimeFormat))
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-lease-status", "unlocked")
	if status == http.StatusPartialContent {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	}
	if ranged != nil {
		sum := md5.Sum(ranged)
		hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		w.WriteHeader(status)
		w.Write(ranged)
		return nil
	}
	if r.Method == http.MethodHead {
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if n <= 0 {
		w.WriteHeader(status)
		return nil
	}
	buf := make([]byte, 1<<20)
	for off := start; off <= end; {
		k := min(int64(len(buf)), end+1-off)
		if _, err := t.ReadAt(buf[:k], off); err != nil && err != io.EOF {
			if off == start {
				// The first read, before the headers: an error answer,
				// without the download's (its Content-Length, Content-Range).
				clear(hd)
				maps.Copy(hd, before)
				return fmt.Errorf("read blob at %d: %w", off, err)
			}
			// The headers are out: the transfer is aborted, so the client
			// sees it fail rather than a body cut short.
			panic(abortedError{fmt.Errorf("read blob at %d, after the headers of %d bytes from %d: %w", off, n, start, err)})
		}
		if off == start {
			w.WriteHeader(status)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return nil
		}
		off += k
	}
	return nil
}

// abortedError is what Download panics with when a read fails after the
// headers went out: it wraps http.ErrAbortHandler, so net/http aborts the
// response (the connection), and the error, for the server to log why.
type abortedError struct{ err error }

func (a abortedError) Error() string   { return a.err.Error() }
func (a abortedError) Unwrap() []error { return []error{a.err, http.ErrAbortHandler} }

// A Range is a byte range [Off, Off+Len).
type Range struct{ Off, Len int64 }

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

// PageListRange is the range a Get Page Ranges request asks about: the
// whole blob without a range header; InvalidPageRange when unaligned.
func PageListRange(r *http.Request, size int64) (start, end int64, err error) {
	start, end, open, ok, err := ParseRange(r)
	if err != nil {
		return 0, 0, err
	}
	if !ok || open || end >= size {
		if !ok {
			start = 0
		}
		end = size - 1
	}
	if ok && (start%PageSize != 0 || (end+1)%PageSize != 0) {
		return 0, 0, Errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", "The page range specified is invalid: bytes=%d-%d is not aligned to 512-byte pages.", start, end)
	}
	return start, end, nil
}

// WritePageList answers Get Page Ranges: the ranges set (holding data)
// and, for a diff, those cleared.
func WritePageList(w http.ResponseWriter, t Blob, set, clr []Range) error {
	var list pageListXML
	for _, rg := range set {
		list.PageRange = append(list.PageRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
	}
	for _, rg := range clr {
		list.ClearRange = append(list.ClearRange, xmlRange{rg.Off, rg.Off + rg.Len - 1})
	}
	Headers(w, t)
	w.Header().Del("x-ms-blob-type")
	w.Header().Del("x-ms-server-encrypted")
	w.Header().Set("x-ms-blob-content-length", strconv.FormatInt(t.Size(), 10))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(list)
}

// NoLease answers a request that names a lease (x-ms-lease-id) as Azure
// Storage answers one on a blob without a lease: 412
// LeaseNotPresentWithBlobOperation. Safehold's blobs and disks keep no
// leases (what says so: "Safehold's blob service", "a disk's SAS").
func NoLease(r *http.Request, what string) error {
	if r.Header.Get("x-ms-lease-id") == "" {
		return nil
	}
	return Errorf(http.StatusPreconditionFailed, "LeaseNotPresentWithBlobOperation", "There is currently no lease on the blob: %s keeps no leases; send the request without x-ms-lease-id.", what)
}

// NoCopySource refuses a request that names a copy source
// (x-ms-copy-source: Copy Blob, Put Blob From URL, Put Block From URL,
// Put Page From URL), which Safehold's data planes do not serve, before
// it writes anything: 400 UnsupportedHeader (what: "Safehold's blob
// service", "a disk's SAS"). Taken as a plain write, its empty body
// replaced a blob with nothing and answered success.
func NoCopySource(r *http.Request, what string) error {
	if r.Header.Get("x-ms-copy-source") == "" {
		return nil
	}
	return Errorf(http.StatusBadRequest, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported: x-ms-copy-source. %s copies nothing from a URL (Copy Blob, Put Blob, Put Block or Put Page From URL): read the source and send its bytes in the request's body.", what)
}

// Conditions checks the request's If-Match, If-None-Match,
// If-Modified-Since and If-Unmodified-Since against a blob or container
// with etag, modified at mod (exists false: there is none yet): a read
// that need not be answered is 304, a write whose condition fails 412
// ConditionNotMet (409 BlobAlreadyExists when a Put Blob or Put Block
// List with If-None-Match: * would replace a blob).
func Conditions(r *http.Request, exists bool, etag string, mod time.Time) error {
	h := r.Header
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	failed := Errorf(http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
	notModified := failed
	if read {
		notModified = Errorf(http.StatusNotModified, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
	}
	mod = mod.Truncate(time.Second) // Last-Modified has seconds
	if m := h.Get("If-Match"); m != "" && (!exists || (strings.TrimSpace(m) != "*" && !etagIn(m, etag))) {
		return failed
	}
	if m := h.Get("If-None-Match"); m != "" && exists {
		if comp := r.URL.Query().Get("comp"); strings.TrimSpace(m) == "*" && r.Method == http.MethodPut && (comp == "" || comp == "blocklist") {
			return Errorf(http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
		}
		if strings.TrimSpace(m) == "*" || etagIn(m, etag) {
			return notModified
		}
	}
	if v := h.Get("If-Modified-Since"); v != "" && exists {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return notModified
		}
	}
	if v := h.Get("If-Unmodified-Since"); v != "" && exists {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return failed
		}
	}
	return nil
}

// etagIn reports whether a list of ETags (an If-Match value) holds etag.
func etagIn(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e == etag || strings.Trim(e, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}
