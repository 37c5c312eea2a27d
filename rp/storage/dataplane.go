package storage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/blobwire"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
)

// BlobPrefix is where the blob service of the storage accounts is served:
// {BlobPrefix}{account}/{container}/{blob} (the account's
// primaryEndpoints.blob).
const BlobPrefix = accountblob.PathPrefix

// BlobHandler serves the blob service of Safehold's storage accounts:
// containers (create, delete, list, properties) and blobs (Put Blob of
// block and page blobs, Put Page, Put Block, Put Block List, Get Blob with
// ranges, properties, page ranges, delete, list), authorized as Azure
// does: Shared Key with one of the account's keys, or an account or
// service SAS signed with one.
func BlobHandler(p *resource.Platform, svc *accountblob.Service) http.Handler {
	return &blobHandler{p: p, svc: svc}
}

type blobHandler struct {
	p   *resource.Platform
	svc *accountblob.Service
}

// blobReq is a data-plane request: the account, container and blob its
// path names (container and blob may be empty).
type blobReq struct {
	w                        http.ResponseWriter
	r                        *http.Request
	account, container, blob string
	acct                     *Account
	// createOnly: a SAS that grants create (c) but not write (w) writes
	// new blobs only (Put Blob, Put Block, Put Block List).
	createOnly bool
}

func (h *blobHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-version", blobwire.Version)
	// Cache-Control is a blob's property here, not ARM's no-cache.
	for _, k := range []string{"Cache-Control", "Pragma", "Expires"} {
		w.Header().Del(k)
	}
	rest := strings.TrimPrefix(r.URL.Path, BlobPrefix)
	account, path, _ := strings.Cut(rest, "/")
	container, name, _ := strings.Cut(path, "/")
	q := &blobReq{w: w, r: r, account: strings.ToLower(account), container: container, blob: name}
	err := h.serve(q)
	if err == nil {
		return
	}
	var we *blobwire.Error
	var fe *failure.Error
	var ee *accountblob.ElsewhereError
	switch {
	case errors.As(err, &we):
	case errors.As(err, &ee):
		we = blobwire.Errorf(http.StatusServiceUnavailable, "BlobOwnerUnavailable", "The blob cannot be served: %v.", ee)
	case errors.As(err, &fe):
		we = blobwire.Errorf(storageStatus(fe), fe.Code, "%s", fe.Message)
	default:
		we = blobwire.Internal(err)
	}
	blobwire.WriteError(w, r, we)
}

func storageStatus(fe *failure.Error) int {
	switch fe.Kind {
	case failure.NotFound:
		return http.StatusNotFound
	case failure.Conflict:
		return http.StatusConflict
	case failure.Forbidden:
		return http.StatusForbidden
	}
	if fe.Code == "InvalidPageRange" {
		return http.StatusRequestedRangeNotSatisfiable
	}
	return http.StatusBadRequest
}

func (h *blobHandler) serve(q *blobReq) error {
	ctx := q.r.Context()
	id, err := accountblob.FindAccount(ctx, h.p.Store, q.account)
	if err != nil {
		return blobwire.Errorf(http.StatusNotFound, "ResourceNotFound", "The specified resource does not exist: there is no storage account '%s'.", q.account)
	}
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	var a Account
	if err := resource.Get(ctx, h.p.Store, rid, &a); err != nil {
		return err
	}
	q.acct = &a
	need, res := h.route(q)
	if need == "" {
		v := q.r.URL.Query()
		return blobwire.Errorf(http.StatusBadRequest, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb %s with these query parameters (restype=%q, comp=%q): Safehold's blob service serves containers, block and page blobs, not snapshots, tiers, leases, tags, copies or append blobs.", q.r.Method, v.Get("restype"), v.Get("comp"))
	}
	// Real time, not the admin clock: the client's clock dates a SAS (st,
	// se) as it dates a Shared Key request.
	if err := authorize(q, need, res, time.Now()); err != nil {
		return err
	}
	return h.do(ctx, q)
}

// route is the SAS permission a request needs (r, w, c, d, l) and the
// SAS resource type it acts on (s service, c container, o object).
func (h *blobHandler) route(q *blobReq) (perm, res string) {
	m, v := q.r.Method, q.r.URL.Query()
	read := m == http.MethodGet || m == http.MethodHead
	switch {
	case q.container == "":
		if read && v.Get("comp") == "list" {
			return "l", "s"
		}
		if read && v.Get("restype") == "account" && v.Get("comp") == "properties" {
			return "r", "s"
		}
	case q.blob == "" && v.Get("restype") == "container":
		switch comp := v.Get("comp"); {
		case m == http.MethodPut && comp == "":
			return "c", "c"
		case m == http.MethodPut && comp == "metadata":
			return "w", "c"
		case m == http.MethodDelete:
			return "d", "c"
		case read && comp == "list":
			return "l", "c"
		case read && (comp == "" || comp == "metadata"):
			return "r", "c"
		}
	case q.blob != "":
		switch comp := v.Get("comp"); {
		case m == http.MethodPut && (comp == "" || comp == "page" || comp == "block" || comp == "blocklist" || comp == "metadata" || comp == "properties"):
			return "w", "o"
		case m == http.MethodDelete && comp == "":
			return "d", "o"
		case read && (comp == "" || comp == "pagelist" || comp == "blocklist" || comp == "metadata"):
			return "r", "o"
		}
	}
	return "", ""
}

func (h *blobHandler) do(ctx context.Context, q *blobReq) error {
	w, r, v := q.w, q.r, q.r.URL.Query()
	switch {
	case q.container == "" && v.Get("restype") == "account":
		// Get Account Information.
		hd := w.Header()
		hd.Set("x-ms-sku-name", q.acct.SKU["name"])
		hd.Set("x-ms-account-kind", q.acct.Kind)
		hd.Set("x-ms-is-hns-enabled", strconv.FormatBool(q.acct.Properties["isHnsEnabled"] == true))
		w.WriteHeader(http.StatusOK)
		return nil
	case q.container == "":
		return h.listContainers(ctx, q)
	case q.blob == "":
		switch r.Method {
		case http.MethodPut:
			var c *accountblob.Container
			var err error
			status := http.StatusCreated
			if v.Get("comp") == "metadata" {
				c, err = h.svc.SetContainerMetadata(ctx, q.account, q.container, metadata(r), func(c *accountblob.Container) error {
					return blobwire.Conditions(r, true, blobwire.ETag(c.Modified), c.Modified)
				})
				status = http.StatusOK
			} else {
				if pa := r.Header.Get("x-ms-blob-public-access"); pa != "" {
					return blobwire.Errorf(http.StatusConflict, "PublicAccessNotPermitted", "Public access is not permitted on this storage account: Safehold serves blobs to signed requests only (Shared Key or SAS); create the container without x-ms-blob-public-access (%s).", pa)
				}
				c, err = h.svc.CreateContainer(ctx, q.account, q.container, metadata(r))
			}
			if err != nil {
				return err
			}
			w.Header().Set("ETag", blobwire.ETag(c.Modified))
			w.Header().Set("Last-Modified", c.Modified.Format(http.TimeFormat))
			w.WriteHeader(status)
			return nil
		case http.MethodDelete:
			c, err := h.svc.GetContainer(ctx, q.account, q.container)
			if err != nil {
				return err
			}
			if err := blobwire.Conditions(r, true, blobwire.ETag(c.Modified), c.Modified); err != nil {
				return err
			}
			if err := h.svc.DeleteContainer(ctx, q.account, q.container); err != nil {
				return err
			}
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
		if v.Get("comp") == "list" {
			return h.listBlobs(ctx, q)
		}
		c, err := h.svc.GetContainer(ctx, q.account, q.container)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", blobwire.ETag(c.Modified))
		w.Header().Set("Last-Modified", c.Modified.Format(http.TimeFormat))
		blobwire.SetMetadata(w.Header(), c.Metadata)
		w.Header().Set("x-ms-lease-state", "available")
		w.Header().Set("x-ms-lease-status", "unlocked")
		w.Header().Set("x-ms-has-immutability-policy", "false")
		w.Header().Set("x-ms-has-legal-hold", "false")
		w.Header().Set("x-ms-default-encryption-scope", "$account-encryption-key")
		w.Header().Set("x-ms-deny-encryption-scope-override", "false")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if err := blobwire.NoCopySource(r, "Safehold's blob service"); err != nil {
		return err
	}
	for _, hd := range []string{"x-ms-immutability-policy-until-date", "x-ms-immutability-policy-mode", "x-ms-legal-hold", "x-ms-encryption-key"} {
		if r.Header.Get(hd) != "" {
			// A promise the blob would not keep: a retention that a
			// delete ignores, a customer key its reads do not ask for.
			return blobwire.Errorf(http.StatusBadRequest, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported: %s. Safehold's blob service keeps no immutability policies, legal holds or customer-provided keys; send the request without it.", hd)
		}
	}
	if sn, ver := v.Get("snapshot"), v.Get("versionid"); sn != "" || ver != "" {
		// None exists: read as the blob itself, a snapshot's delete
		// deleted the blob.
		return blobwire.Errorf(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist: Safehold's blob service keeps no blob snapshots or versions (snapshot %q, versionid %q); address the blob itself, without them.", sn, ver)
	}
	if done, err := h.forward(ctx, q); done || err != nil {
		return err
	}
	check := blobCheck(r)
	if q.createOnly {
		switch v.Get("comp") {
		case "", "blocklist":
			cond := check
			check = func(cur *accountblob.Blob) error {
				if cur != nil {
					return blobwire.Errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: the SAS grants create (c), not write (w), and the blob exists.")
				}
				return cond(cur)
			}
		case "block":
		default:
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: the SAS grants create (c), which writes new blobs only; this needs write (w).")
		}
	}
	if err := blobwire.NoLease(r, "Safehold's blob service"); err != nil {
		return err
	}
	if tier := r.Header.Get("x-ms-access-tier"); tier != "" && !strings.EqualFold(tier, "Hot") && r.Method == http.MethodPut {
		return blobwire.Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-access-tier is not supported: Safehold keeps blobs in the Hot tier only (send Hot, or no tier).", tier)
	}
	switch {
	case r.Method == http.MethodPut && v.Get("comp") == "page":
		return h.withBlob(ctx, q, func(b *accountblob.Blob) error {
			if err := check(b); err != nil {
				return err
			}
			if b.Type != "PageBlob" {
				return blobwire.Errorf(http.StatusConflict, "InvalidBlobType", "The blob type is invalid for this operation: Put Page writes page blobs only.")
			}
			if err := blobwire.PutPage(w, r, b); err != nil {
				return err
			}
			return h.svc.Touch(ctx, b)
		})
	case r.Method == http.MethodPut && v.Get("comp") == "block":
		n, err := contentLength(r)
		if err != nil {
			return err
		}
		sum, err := h.svc.PutBlock(ctx, q.account, q.container, q.blob, v.Get("blockid"), r.Body, n, r.Header.Get("Content-MD5"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-MD5", sum)
		w.Header().Set("x-ms-request-server-encrypted", "true")
		w.WriteHeader(http.StatusCreated)
		return nil
	case r.Method == http.MethodPut && v.Get("comp") == "blocklist":
		return h.commit(ctx, q)
	case r.Method == http.MethodPut && v.Get("comp") == "":
		return h.putBlob(ctx, q, check)
	case r.Method == http.MethodPut && (v.Get("comp") == "metadata" || v.Get("comp") == "properties"):
		return h.setBlob(ctx, q, check)
	case r.Method == http.MethodDelete:
		switch ds := r.Header.Get("x-ms-delete-snapshots"); {
		case strings.EqualFold(ds, "only"):
			// Only the blob's snapshots, of which it has none: the blob stays.
			b, err := h.svc.GetBlob(ctx, q.account, q.container, q.blob)
			if err != nil {
				return err
			}
			if err := check(b); err != nil {
				return err
			}
			w.WriteHeader(http.StatusAccepted)
			return nil
		case ds != "" && !strings.EqualFold(ds, "include"):
			return blobwire.Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-delete-snapshots is not valid; use include or only.", ds)
		}
		if err := h.svc.DeleteBlob(ctx, q.account, q.container, q.blob, check); err != nil {
			return err
		}
		w.Header().Set("x-ms-delete-type-permanent", "true")
		w.WriteHeader(http.StatusAccepted)
		return nil
	case v.Get("comp") == "blocklist":
		return h.blockList(ctx, q)
	case v.Get("comp") == "pagelist":
		return h.withBlob(ctx, q, func(b *accountblob.Blob) error {
			if err := check(b); err != nil {
				return err
			}
			start, end, err := blobwire.PageListRange(r, b.Size())
			if err != nil {
				return err
			}
			var set []blobwire.Range
			if b.Type == "PageBlob" && b.Size() > 0 && start <= end {
				rs, err := b.DataRanges(start, end+1)
				if err != nil {
					return err
				}
				for _, rg := range rs {
					set = append(set, blobwire.Range{Off: rg.Off, Len: rg.Len})
				}
			}
			return blobwire.WritePageList(w, b, set, nil)
		})
	case v.Get("comp") == "metadata":
		return h.withBlob(ctx, q, func(b *accountblob.Blob) error {
			if err := check(b); err != nil {
				return err
			}
			w.Header().Set("ETag", blobwire.ETag(b.Modified))
			w.Header().Set("Last-Modified", b.Modified.Format(http.TimeFormat))
			blobwire.SetMetadata(w.Header(), b.Meta)
			w.WriteHeader(http.StatusOK)
			return nil
		})
	case v.Get("comp") == "":
		return h.withBlob(ctx, q, func(b *accountblob.Blob) error {
			if err := check(b); err != nil {
				return err
			}
			return blobwire.Download(w, r, b)
		})
	}
	return blobwire.Errorf(http.StatusBadRequest, "UnsupportedQueryParameter", "The query parameter comp=%s is not supported by Safehold's blob service.", v.Get("comp"))
}

// forwardedHeader marks a request one replica forwarded to another (never
// forwarded again), as the disks' data plane does.
const forwardedHeader = "X-Safehold-Forwarded"

// forward sends a request naming a blob whose bytes another replica holds
// to that replica (done), where every request of the blob is served: its
// reads, page writes and staged blocks, and its replacement or delete,
// which removes its file there. The blocks of a blob that does not exist
// yet are staged (and committed) on the replica that created its
// container; any other request of such a blob is served here.
func (h *blobHandler) forward(ctx context.Context, q *blobReq) (done bool, err error) {
	rep := h.svc.Replica
	if rep == nil || rep.Forward == nil || q.r.Header.Get(forwardedHeader) != "" {
		return false, nil
	}
	b, err := h.svc.GetBlob(ctx, q.account, q.container, q.blob)
	switch comp := q.r.URL.Query().Get("comp"); {
	case err == nil:
		err = h.svc.Elsewhere(ctx, b)
	case isNotFound(err) && (comp == "block" || comp == "blocklist"):
		c, cerr := h.svc.GetContainer(ctx, q.account, q.container)
		if cerr != nil {
			return false, nil // answered here
		}
		err = h.svc.StagingElsewhere(ctx, c, q.blob)
	default:
		return false, nil // answered here (not found, or the read's failure)
	}
	var ee *accountblob.ElsewhereError
	if !errors.As(err, &ee) || !ee.Alive {
		return err != nil, err
	}
	q.r.Header.Set(forwardedHeader, "1")
	q.w.Header().Del("x-ms-version") // the owner's answer carries its own
	rep.Forward(q.w, q.r, ee.URL)
	return true, nil
}

func (h *blobHandler) withBlob(ctx context.Context, q *blobReq, fn func(*accountblob.Blob) error) error {
	b, err := h.svc.Open(ctx, q.account, q.container, q.blob)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

func contentLength(r *http.Request) (int64, error) {
	if r.ContentLength < 0 {
		return 0, blobwire.Errorf(http.StatusLengthRequired, "MissingContentLengthHeader", "Content-Length HTTP header is missing.")
	}
	return r.ContentLength, nil
}

func metadata(r *http.Request) map[string]string {
	var m map[string]string
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok && len(v) > 0 {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = v[0]
		}
	}
	return m
}

// content are the content settings a request sets with the
// x-ms-blob-* headers (Put Blob also takes the plain ones: plain true).
func content(r *http.Request, plain bool) accountblob.Content {
	get := func(name string) string {
		if v := r.Header.Get("x-ms-blob-" + name); v != "" || !plain {
			return v
		}
		return r.Header.Get(name)
	}
	return accountblob.Content{Type: get("Content-Type"), MD5: r.Header.Get("x-ms-blob-content-md5"), Encoding: get("Content-Encoding"),
		Language: get("Content-Language"), Disposition: r.Header.Get("x-ms-blob-content-disposition"), CacheControl: get("Cache-Control")}
}

func props(r *http.Request, check accountblob.Check) accountblob.Props {
	return accountblob.Props{Content: content(r, false), Metadata: metadata(r), Check: check}
}

// blobCheck is the precondition a request's If-* headers set on a blob.
func blobCheck(r *http.Request) accountblob.Check {
	return func(cur *accountblob.Blob) error {
		if cur == nil {
			return blobwire.Conditions(r, false, "", time.Time{})
		}
		return blobwire.Conditions(r, true, blobwire.ETag(cur.Modified), cur.Modified)
	}
}

func (h *blobHandler) putBlob(ctx context.Context, q *blobReq, check accountblob.Check) error {
	r := q.r
	var b *accountblob.Blob
	var err error
	switch typ := r.Header.Get("x-ms-blob-type"); strings.ToLower(typ) {
	case "blockblob":
		n, cerr := contentLength(r)
		if cerr != nil {
			return cerr
		}
		p := accountblob.Props{Content: content(r, true), Metadata: metadata(r), BodyMD5: r.Header.Get("Content-MD5"), Check: check}
		b, err = h.svc.PutBlockBlob(ctx, q.account, q.container, q.blob, r.Body, n, p)
	case "pageblob":
		size, perr := strconv.ParseInt(r.Header.Get("x-ms-blob-content-length"), 10, 64)
		if perr != nil {
			return blobwire.Errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-content-length (the page blob's size).")
		}
		b, err = h.svc.CreatePageBlob(ctx, q.account, q.container, q.blob, size, props(r, check))
	case "":
		return blobwire.Errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type (BlockBlob or PageBlob).")
	default:
		return blobwire.Errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value '%s' of x-ms-blob-type is not supported: use BlockBlob or PageBlob.", typ)
	}
	if err != nil {
		return err
	}
	return created(q.w, b)
}

func created(w http.ResponseWriter, b *accountblob.Blob) error {
	w.Header().Set("ETag", blobwire.ETag(b.Modified))
	w.Header().Set("Last-Modified", b.Modified.Format(http.TimeFormat))
	if b.MD5 != "" {
		w.Header().Set("Content-MD5", b.MD5)
	}
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// maxBlockList bounds a Put Block List body (Azure: 50,000 blocks).
const maxBlockList = 8 << 20

func (h *blobHandler) commit(ctx context.Context, q *blobReq) error {
	body, err := io.ReadAll(io.LimitReader(q.r.Body, maxBlockList))
	if err != nil {
		return err
	}
	// The list keeps its order across Committed, Uncommitted and Latest:
	// decode it token by token.
	var refs []accountblob.BlockRef
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return blobwire.Errorf(http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid: %v.", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local != "BlockList" {
			var id string
			if err := dec.DecodeElement(&id, &se); err != nil {
				return blobwire.Errorf(http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid: %v.", err)
			}
			refs = append(refs, accountblob.BlockRef{ID: strings.TrimSpace(id), From: se.Name.Local})
		}
	}
	b, err := h.svc.CommitBlocks(ctx, q.account, q.container, q.blob, refs, props(q.r, blobCheck(q.r)))
	if err != nil {
		return err
	}
	return created(q.w, b)
}

// setBlob serves Set Blob Metadata and Set Blob Properties (which sets
// every content header: one the request leaves out is cleared).
func (h *blobHandler) setBlob(ctx context.Context, q *blobReq, check accountblob.Check) error {
	r := q.r
	props := r.URL.Query().Get("comp") == "properties"
	if props {
		for _, hd := range []string{"x-ms-blob-content-length", "x-ms-sequence-number-action"} {
			if r.Header.Get(hd) != "" {
				return blobwire.Errorf(http.StatusBadRequest, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported: %s (resizing a page blob or changing its sequence number) is not supported by Safehold's blob service.", hd)
			}
		}
	}
	b, err := h.svc.UpdateBlob(ctx, q.account, q.container, q.blob, check, func(b *accountblob.Blob) {
		if props {
			b.SetContent(content(r, false))
		} else {
			b.Meta = metadata(r)
		}
	})
	if err != nil {
		return err
	}
	w := q.w
	w.Header().Set("ETag", blobwire.ETag(b.Modified))
	w.Header().Set("Last-Modified", b.Modified.Format(http.TimeFormat))
	if b.Type == "PageBlob" && props {
		w.Header().Set("x-ms-blob-sequence-number", "0")
	}
	if !props {
		w.Header().Set("x-ms-request-server-encrypted", "true")
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// blockList serves Get Block List: the committed blocks of a block blob,
// the staged ones, or both (blocklisttype).
func (h *blobHandler) blockList(ctx context.Context, q *blobReq) error {
	typ := strings.ToLower(q.r.URL.Query().Get("blocklisttype"))
	if typ == "" {
		typ = "committed"
	}
	if typ != "committed" && typ != "uncommitted" && typ != "all" {
		return blobwire.Errorf(http.StatusBadRequest, "InvalidQueryParameterValue", "The value '%s' of blocklisttype is invalid: use committed, uncommitted or all.", typ)
	}
	b, err := h.svc.GetBlob(ctx, q.account, q.container, q.blob)
	if err != nil && !isNotFound(err) {
		return err
	}
	staged, serr := h.svc.StagedBlocks(q.account, q.container, q.blob)
	if serr != nil {
		return serr
	}
	if b == nil && len(staged) == 0 {
		return err
	}
	type block struct {
		Name string `xml:"Name"`
		Size int64  `xml:"Size"`
	}
	out := struct {
		XMLName     xml.Name `xml:"BlockList"`
		Committed   []block  `xml:"CommittedBlocks>Block"`
		Uncommitted []block  `xml:"UncommittedBlocks>Block"`
	}{}
	if b != nil {
		if err := blobCheck(q.r)(b); err != nil {
			return err
		}
		if b.Type != "BlockBlob" {
			return blobwire.Errorf(http.StatusConflict, "InvalidBlobType", "The blob type is invalid for this operation: Get Block List reads block blobs only.")
		}
		if typ != "uncommitted" {
			for _, bl := range b.Blocks {
				out.Committed = append(out.Committed, block{bl.ID, bl.Size})
			}
		}
		q.w.Header().Set("ETag", blobwire.ETag(b.Modified))
		q.w.Header().Set("Last-Modified", b.Modified.Format(http.TimeFormat))
		q.w.Header().Set("x-ms-blob-content-length", strconv.FormatInt(b.Length, 10))
	} else {
		q.w.Header().Set("x-ms-blob-content-length", "0")
	}
	if typ != "committed" {
		for _, bl := range staged {
			out.Uncommitted = append(out.Uncommitted, block{bl.ID, bl.Size})
		}
	}
	return writeXML(q.w, out)
}

func isNotFound(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe) && fe.Kind == failure.NotFound
}

// page is the part of a listing a request asks for: names from marker on,
// at most maxresults (5000 when unset); next is the marker of the rest.
func page[T any](v url.Values, items []T, name func(T) string) (out []T, next string, err error) {
	max := 5000
	if m := v.Get("maxresults"); m != "" {
		if max, err = strconv.Atoi(m); err != nil || max < 1 {
			return nil, "", blobwire.Errorf(http.StatusBadRequest, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range: maxresults %q must be at least 1.", m)
		}
		max = min(max, 5000)
	}
	marker := v.Get("marker")
	for i, it := range items {
		if name(it) < marker {
			continue
		}
		if len(out) == max {
			return out, name(items[i]), nil
		}
		out = append(out, it)
	}
	return out, "", nil
}

// xmlMeta is metadata as a listing includes it: <Metadata><name>value</name>…</Metadata>.
type xmlMeta map[string]string

func (m xmlMeta) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// listing are the elements every List Containers and List Blobs answer has.
type listing struct {
	Prefix     string `xml:"Prefix,omitempty"`
	Marker     string `xml:"Marker,omitempty"`
	MaxResults string `xml:"MaxResults,omitempty"`
}

func listingOf(v url.Values) listing {
	return listing{Prefix: v.Get("prefix"), Marker: v.Get("marker"), MaxResults: v.Get("maxresults")}
}

func includes(v url.Values, what string) bool {
	for _, s := range strings.Split(v.Get("include"), ",") {
		if strings.EqualFold(strings.TrimSpace(s), what) {
			return true
		}
	}
	return false
}

func (h *blobHandler) listContainers(ctx context.Context, q *blobReq) error {
	v := q.r.URL.Query()
	all, err := h.svc.ListContainers(ctx, q.account)
	if err != nil {
		return err
	}
	var cs []accountblob.Container
	for _, c := range all {
		if strings.HasPrefix(c.Name, v.Get("prefix")) {
			cs = append(cs, c)
		}
	}
	cs, next, err := page(v, cs, func(c accountblob.Container) string { return c.Name })
	if err != nil {
		return err
	}
	type props struct {
		LastModified   string `xml:"Last-Modified"`
		Etag           string `xml:"Etag"`
		LeaseStatus    string `xml:"LeaseStatus"`
		LeaseState     string `xml:"LeaseState"`
		EncScope       string `xml:"DefaultEncryptionScope"`
		DenyOverride   bool   `xml:"DenyEncryptionScopeOverride"`
		HasImmutablity bool   `xml:"HasImmutabilityPolicy"`
		HasLegalHold   bool   `xml:"HasLegalHold"`
	}
	type item struct {
		Name       string  `xml:"Name"`
		Properties props   `xml:"Properties"`
		Metadata   xmlMeta `xml:"Metadata,omitempty"`
	}
	out := struct {
		XMLName         xml.Name `xml:"EnumerationResults"`
		ServiceEndpoint string   `xml:"ServiceEndpoint,attr"`
		listing
		Containers []item `xml:"Containers>Container"`
		NextMarker string `xml:"NextMarker"`
	}{ServiceEndpoint: endpointOf(q.r, q.account), listing: listingOf(v), NextMarker: next}
	for _, c := range cs {
		it := item{Name: c.Name, Properties: props{LastModified: c.Modified.Format(http.TimeFormat), Etag: blobwire.ETag(c.Modified),
			LeaseStatus: "unlocked", LeaseState: "available", EncScope: "$account-encryption-key"}}
		if includes(v, "metadata") {
			it.Metadata = c.Metadata
		}
		out.Containers = append(out.Containers, it)
	}
	return writeXML(q.w, out)
}

// listBlobs serves List Blobs: flat, or by hierarchy with a delimiter
// (names that go on past it after the prefix are listed once, as a
// BlobPrefix), in pages (maxresults, marker).
func (h *blobHandler) listBlobs(ctx context.Context, q *blobReq) error {
	v := q.r.URL.Query()
	prefix, delim := v.Get("prefix"), v.Get("delimiter")
	bs, err := h.svc.ListBlobs(ctx, q.account, q.container, prefix)
	if err != nil {
		return err
	}
	type entry struct {
		name string
		b    *accountblob.Blob // nil: a prefix
	}
	var entries []entry
	seen := map[string]bool{}
	for i := range bs {
		name := bs[i].Name
		if delim != "" {
			if k := strings.Index(name[len(prefix):], delim); k >= 0 {
				if p := name[:len(prefix)+k+len(delim)]; !seen[p] {
					seen[p] = true
					entries = append(entries, entry{name: p})
				}
				continue
			}
		}
		entries = append(entries, entry{name, &bs[i]})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	entries, next, err := page(v, entries, func(e entry) string { return e.name })
	if err != nil {
		return err
	}
	type props struct {
		CreationTime  string `xml:"Creation-Time"`
		LastModified  string `xml:"Last-Modified"`
		Etag          string `xml:"Etag"`
		ContentLength int64  `xml:"Content-Length"`
		ContentType   string `xml:"Content-Type"`
		Encoding      string `xml:"Content-Encoding,omitempty"`
		Language      string `xml:"Content-Language,omitempty"`
		ContentMD5    string `xml:"Content-MD5,omitempty"`
		Disposition   string `xml:"Content-Disposition,omitempty"`
		CacheControl  string `xml:"Cache-Control,omitempty"`
		SeqNo         string `xml:"x-ms-blob-sequence-number,omitempty"`
		BlobType      string `xml:"BlobType"`
		AccessTier    string `xml:"AccessTier,omitempty"`
		TierInferred  bool   `xml:"AccessTierInferred,omitempty"`
		LeaseStatus   string `xml:"LeaseStatus"`
		LeaseState    string `xml:"LeaseState"`
		ServerEnc     bool   `xml:"ServerEncrypted"`
	}
	type item struct {
		XMLName    xml.Name `xml:"Blob"`
		Name       string   `xml:"Name"`
		Properties props    `xml:"Properties"`
		Metadata   xmlMeta  `xml:"Metadata,omitempty"`
	}
	type prefixItem struct {
		XMLName xml.Name `xml:"BlobPrefix"`
		Name    string   `xml:"Name"`
	}
	out := struct {
		XMLName         xml.Name `xml:"EnumerationResults"`
		ServiceEndpoint string   `xml:"ServiceEndpoint,attr"`
		ContainerName   string   `xml:"ContainerName,attr"`
		listing
		Delimiter  string `xml:"Delimiter,omitempty"`
		Blobs      struct{ Items []any }
		NextMarker string `xml:"NextMarker"`
	}{ServiceEndpoint: endpointOf(q.r, q.account), ContainerName: q.container, listing: listingOf(v), Delimiter: delim, NextMarker: next}
	for _, e := range entries {
		b := e.b
		if b == nil {
			out.Blobs.Items = append(out.Blobs.Items, prefixItem{Name: e.name})
			continue
		}
		ct := b.CType
		if ct == "" {
			ct = "application/octet-stream"
		}
		it := item{Name: b.Name, Properties: props{CreationTime: b.Creation.Format(http.TimeFormat), LastModified: b.Modified.Format(http.TimeFormat),
			Etag: blobwire.ETag(b.Modified), ContentLength: b.Length, ContentType: ct, Encoding: b.Encoding, Language: b.Language, ContentMD5: b.MD5,
			Disposition: b.Disp, CacheControl: b.Cache, BlobType: b.Type, LeaseStatus: "unlocked", LeaseState: "available", ServerEnc: true}}
		if b.Type == "PageBlob" {
			it.Properties.SeqNo = "0"
		} else {
			it.Properties.AccessTier, it.Properties.TierInferred = "Hot", true
		}
		if includes(v, "metadata") {
			it.Metadata = b.Meta
		}
		out.Blobs.Items = append(out.Blobs.Items, it)
	}
	return writeXML(q.w, out)
}

func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(v)
}

// endpointOf is the blob endpoint of an account on the host r reached.
func endpointOf(r *http.Request, account string) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + BlobPrefix + account + "/"
}

// authorize checks a request's Shared Key signature or SAS against the
// account's keys, and that a SAS grants perm on resource type res.
func authorize(q *blobReq, perm, res string, now time.Time) error {
	r := q.r
	if auth := r.Header.Get("Authorization"); auth != "" {
		kind, cred, _ := strings.Cut(auth, " ")
		acct, sig, _ := strings.Cut(cred, ":")
		if kind != "SharedKey" || !strings.EqualFold(acct, q.account) {
			return authFailed("The Authorization header is not 'SharedKey %s:signature' (Safehold's blob service takes Shared Key or a SAS).", q.account)
		}
		if !q.signedBy(sharedKeyString(r, q.account), sig) {
			return authFailed("The MAC signature found in the HTTP request '%s' is not the same as any computed signature. Sign with one of the account's keys (listKeys).", sig)
		}
		// A signed request is good for 15 minutes either way of its date
		// (real time: the client's clock dates it), as Azure's are.
		date := r.Header.Get("x-ms-date")
		if date == "" {
			date = r.Header.Get("Date")
		}
		t, err := http.ParseTime(date)
		if err != nil {
			return authFailed("The request's date '%s' (x-ms-date, or Date) is missing or not an RFC 1123 time.", date)
		}
		if d := time.Since(t); d > 15*time.Minute || d < -15*time.Minute {
			return authFailed("Request date header too old or too far ahead: '%s' is more than 15 minutes from the server's time.", date)
		}
		return nil
	}
	v := r.URL.Query()
	if v.Get("sig") == "" {
		return blobwire.Errorf(http.StatusUnauthorized, "NoAuthenticationInformation", "Server failed to authenticate the request: it carries neither an Authorization header (Shared Key) nor a SAS.")
	}
	if se, err := sasTime(v.Get("se")); err != nil || now.After(se) {
		return authFailed("Signed expiry time [%s] must be after signed start time and the current time: the SAS has expired (or se is missing).", v.Get("se"))
	}
	if st := v.Get("st"); st != "" {
		if t, err := sasTime(st); err != nil || now.Add(5*time.Minute).Before(t) {
			return authFailed("Signed start time [%s] is in the future.", st)
		}
	}
	if err := sasScope(r, v); err != nil {
		return err
	}
	var toSign string
	if v.Get("ss") != "" { // an account SAS
		if !strings.Contains(v.Get("ss"), "b") || !strings.Contains(v.Get("srt"), res) {
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type: the SAS needs ss with b and srt with %s.", res)
		}
		toSign = strings.Join([]string{q.account, v.Get("sp"), v.Get("ss"), v.Get("srt"), v.Get("st"), v.Get("se"), v.Get("sip"), v.Get("spr"), v.Get("sv"), v.Get("ses"), ""}, "\n")
	} else { // a service SAS on a container (sr=c) or a blob (sr=b)
		canon := "/blob/" + q.account + "/" + q.container
		switch v.Get("sr") {
		case "b":
			canon += "/" + q.blob
			if q.blob == "" {
				return authFailed("A blob SAS (sr=b) cannot authorize a container request.")
			}
		case "c":
		default:
			return authFailed("The SAS has signed resource sr='%s'; use c (container) or b (blob).", v.Get("sr"))
		}
		if res == "s" {
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type: a service SAS cannot list containers.")
		}
		if res == "c" && perm != "l" && perm != "r" {
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type: a service SAS cannot create, delete or change a container; use an account SAS or Shared Key.")
		}
		service := func(canon string) string {
			return strings.Join([]string{v.Get("sp"), v.Get("st"), v.Get("se"), canon, v.Get("si"), v.Get("sip"), v.Get("spr"), v.Get("sv"), v.Get("sr"), v.Get("sst"), v.Get("ses"),
				v.Get("rscc"), v.Get("rscd"), v.Get("rsce"), v.Get("rscl"), v.Get("rsct")}, "\n")
		}
		toSign = service(canon)
		// An SDK reading an endpoint on an IP address takes the path's
		// first segment for the account (it signs with its credential's
		// name instead) and the rest for the container and blob: a blob
		// SAS signed over that names the same blob.
		if v.Get("sr") == "b" && !q.signedBy(toSign, v.Get("sig")) {
			_, rest, _ := strings.Cut(strings.TrimPrefix(q.r.URL.Path, "/"), "/")
			toSign = service("/blob/" + q.account + "/" + rest)
		}
	}
	if !q.signedBy(toSign, v.Get("sig")) {
		return authFailed("Signature did not match. Sign the SAS with one of the account's keys (listKeys).")
	}
	sp := v.Get("sp")
	if !strings.Contains(sp, perm) {
		if !(perm == "w" && strings.Contains(sp, "c") && q.blob != "") {
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission: it needs '%s', the SAS grants '%s'.", perm, sp)
		}
		q.createOnly = true
	}
	return nil
}

// sasScope checks a SAS's protocol (spr) and IP range (sip) against the
// request, and refuses a stored access policy (si): Safehold keeps none.
func sasScope(r *http.Request, v url.Values) error {
	if spr := v.Get("spr"); spr != "" && r.TLS == nil && !slices.Contains(strings.Split(spr, ","), "http") {
		return blobwire.Errorf(http.StatusForbidden, "AuthorizationProtocolMismatch", "This request is not authorized to perform this operation using this protocol: the SAS allows %s only.", spr)
	}
	if sip := v.Get("sip"); sip != "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip := net.ParseIP(host)
		lo, hi, _ := strings.Cut(sip, "-")
		if hi == "" {
			hi = lo
		}
		from, to := net.ParseIP(lo), net.ParseIP(hi)
		if ip == nil || from == nil || to == nil || bytes.Compare(ip.To16(), from.To16()) < 0 || bytes.Compare(ip.To16(), to.To16()) > 0 {
			return blobwire.Errorf(http.StatusForbidden, "AuthorizationSourceIPMismatch", "This request is not authorized to perform this operation using this source IP %s: the SAS allows %s.", host, sip)
		}
	}
	if si := v.Get("si"); si != "" {
		return authFailed("The signed identifier '%s' names no stored access policy: Safehold keeps none on containers; sign the SAS with its own permissions and expiry.", si)
	}
	return nil
}

// sasTime parses a SAS's st or se: the ISO 8601 forms Azure takes
// (YYYY-MM-DD, YYYY-MM-DDThh:mmZ, YYYY-MM-DDThh:mm:ssZ, with fractions
// of a second or an offset).
func sasTime(v string) (time.Time, error) {
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func authFailed(format string, args ...any) *blobwire.Error {
	return blobwire.Errorf(http.StatusForbidden, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature. %s", fmt.Sprintf(format, args...))
}

// signedBy reports whether sig is the HMAC-SHA256 of s under one of the
// account's keys.
func (q *blobReq) signedBy(s, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	for _, k := range q.acct.Keys {
		key, err := base64.StdEncoding.DecodeString(k.Value)
		if err != nil {
			continue
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		if hmac.Equal(m.Sum(nil), got) {
			return true
		}
	}
	return false
}

// sharedKeyString is the string a Shared Key request signs (the blob
// service's, version 2009-09-19 and later).
func sharedKeyString(r *http.Request, account string) string {
	h := r.Header
	cl := h.Get("Content-Length")
	if cl == "" && r.ContentLength > 0 {
		cl = strconv.FormatInt(r.ContentLength, 10)
	}
	if cl == "0" {
		cl = ""
	}
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var ch []string
	for _, n := range names {
		ch = append(ch, n+":"+strings.Join(h.Values(n), ","))
	}
	res := "/" + account + r.URL.EscapedPath()
	params, _ := url.ParseQuery(r.URL.RawQuery)
	var keys []string
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := params[k]
		sort.Strings(vs)
		res += "\n" + strings.ToLower(k) + ":" + strings.Join(vs, ",")
	}
	date := h.Get("Date")
	if h.Get("x-ms-date") != "" {
		date = ""
	}
	return strings.Join([]string{r.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), cl, h.Get("Content-MD5"), h.Get("Content-Type"), date,
		h.Get("If-Modified-Since"), h.Get("If-Match"), h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range"), strings.Join(ch, "\n"), res}, "\n")
}
