package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	rpstorage "github.com/safehold/safehold/rp/storage"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/blobwire"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/internal/logtext"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	rpcompute "github.com/safehold/safehold/rp/compute"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/web"
)

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	tee    func([]byte) // --log-requests: sees the response body
	// conn writes the response's Azure headers (azureHeaders) unless the
	// handler sets one of them (settle, before the header is written)
	conn *fixConn
	// ids are the values of idKeys ("": not sent); the header map's
	// values are slices of it
	ids [len(idKeys)]string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if w.conn != nil {
		w.settle()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.conn != nil {
		w.settle()
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	if w.tee != nil {
		w.tee(b[:n])
	}
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.health(r.Context())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if h["status"] != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	mux.Handle("GET /metrics", s.Metrics.Handler()) // Prometheus text format; aggregate figures only, no auth (like /healthz)
	mux.HandleFunc("GET /metadata/endpoints", s.serveMetadata)
	s.Issuer.Routes(mux)
	mux.Handle("/sas/disks/", s.injectDisk(rpcompute.SASHandler(s.Compute)))     // disk data plane: the SAS signature is the auth
	mux.Handle(rpstorage.BlobPrefix, rpstorage.BlobHandler(s.Platform, s.Blobs)) // storage accounts' blobs: Shared Key or SAS is the auth
	arm := s.authenticate(s.placeDisks(s.injectARM(s.Router)))
	mux.Handle("/", arm)
	s.mux = mux
	dash := web.Handler(web.Config{TenantID: s.Bootstrap.TenantID, SubscriptionID: s.Bootstrap.SubscriptionID})
	top := func(w *requestWriter, r *http.Request) {
		if v := r.Header[rejectKey]; v != nil && rejected(w, r, v) {
			return
		}
		collapseSlashes(r)
		if s.armOnly(r) {
			// ARM's handlers leave Azure's headers as they are: the
			// connection may write them.
			w.azureHeaders(r.TLS != nil, true)
			arm.ServeHTTP(&w.statusWriter, r) // what the mux would choose, without its matching
			return
		}
		if s.dottedARM(r) {
			// The mux would answer a 307 to the cleaned path, with an
			// HTML body; ARM's router refuses the '.' or '..' segment
			// (400 InvalidRequestUri), as it does an escaped one.
			w.azureHeaders(r.TLS != nil, true)
			arm.ServeHTTP(&w.statusWriter, r)
			return
		}
		w.azureHeaders(r.TLS != nil, false) // in the map, for the handler to change
		if r.URL.Path == "/dashboard" || strings.HasPrefix(r.URL.Path, "/dashboard/") {
			dash.ServeHTTP(&w.statusWriter, r) // the web dashboard; it signs in through the token endpoint
			return
		}
		mux.ServeHTTP(&w.statusWriter, r)
	}
	return s.middleware(top)
}

// rejected answers a request that fixConn marked with rejectKey (reasons
// are the header's values) with the error of the first reason it made:
// a CloudError, or Azure Storage's XML error on the data planes. A head
// too large closes the connection (the rest of it was dropped).
func rejected(w *requestWriter, r *http.Request, reasons []string) bool {
	for _, v := range reasons {
		var e *arm.Error
		switch {
		case v == rejectHeadTooLarge:
			e = arm.Errorf(http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge",
				"The request's head (its request line and header fields) is over 1 MiB, the most the server reads (%d bytes): send fewer or shorter header fields.", maxHead)
			w.Header().Set("Connection", "close")
		case strings.HasPrefix(v, rejectURI+"escape "):
			e = arm.BadRequest("InvalidRequestUri", "The request URI's path is not correctly escaped: %q is not a percent-encoded byte. Write a '%%' in a path as %%25.", strings.TrimPrefix(v, rejectURI+"escape "))
		case strings.HasPrefix(v, rejectURI+"control "):
			c, err := strconv.ParseUint(strings.TrimPrefix(v, rejectURI+"control "), 16, 8)
			if err != nil {
				continue
			}
			e = arm.BadRequest("InvalidRequestUri", "The request URI contains the control character %q: percent-encode it (%%%02X).", string(rune(c)), c)
		default:
			continue // not fixConn's: the client's own
		}
		w.azureHeaders(r.TLS != nil, false)
		if strings.HasPrefix(r.URL.Path, "/sas/disks/") || strings.HasPrefix(r.URL.Path, rpstorage.BlobPrefix) {
			code := e.Code
			if code == "InvalidRequestUri" {
				code = "InvalidUri" // Azure Storage's
			}
			blobwire.WriteError(&w.statusWriter, r, blobwire.Errorf(e.Status, code, "%s", e.Message))
			return true
		}
		arm.WriteError(&w.statusWriter, e)
		return true
	}
	return false
}

// middleware makes the request ids, recovers panics and writes the access
// log; next gives the response Azure's headers (requestWriter.azureHeaders).
func (s *Server) middleware(next func(*requestWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clock.Mono()
		fc := connOf(r.Context())
		if fc != nil {
			fc.serving = true // (fixConn.Write)
		}
		if r.TLS == nil {
			r.TLS = fc.tlsState()
		}
		reqID, routingID := requestIDs()
		// net/http canonicalizes a request's header names: index the map
		// with the canonical name (Header.Get would check it again).
		corr := headerValue(r.Header, "X-Ms-Correlation-Request-Id")
		if corr == "" {
			corr = reqID
		}
		clientID := headerValue(r.Header, "X-Ms-Client-Request-Id")
		rw := &requestWriter{statusWriter: statusWriter{ResponseWriter: w, ids: [...]string{reqID, corr, routingID, clientID}}, fc: fc}
		sw := &rw.statusWriter
		ctx, route := arm.StartRequest(r.Context(), reqID, corr) // SetCaller completes it
		r = r.WithContext(ctx)
		var rl *reqLog
		if s.Config.LogRequests && s.logger.Enabled(r.Context(), slog.LevelDebug) {
			rl = startReqLog(r, sw)
		}
		defer func() {
			p := recover()
			abort, _ := p.(error)
			if abort != nil && errors.Is(abort, http.ErrAbortHandler) {
				// A response cut off after its headers (a download whose
				// data could not be read): net/http aborts the connection
				// once this is logged, so the client sees the transfer fail.
				if abort != http.ErrAbortHandler {
					s.logger.Warn("response aborted after its headers", "method", r.Method, "path", r.URL.Path, "request_id", reqID, "err", abort)
				}
				defer panic(http.ErrAbortHandler)
			} else if p != nil {
				s.logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "request_id", reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					arm.WriteError(sw, arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error. Request id: %s.", reqID))
				}
			}
			if sw.conn != nil { // nothing written: net/http answers with the header as it is
				sw.settle()
			}
			end := time.Now()
			d := clock.MonoAt(end) - start
			s.logAccess(r, end, d, sw, reqID, clientID)
			s.Metrics.ObserveRequest(routeLabel(*route, r.URL.Path), r.Method, sw.status, d)
			if rl != nil {
				rl.log(s.logger, r, sw.status, reqID)
			}
		}()
		next(rw, r)
	})
}

// Azure's headers of every response: constHeaders, the same in every
// response (Strict-Transport-Security over TLS only), and idKeys, the
// request's own (statusWriter.ids). Each value in the header map is a
// slice of its own with no spare capacity (an Add to the header copies it;
// nothing writes a header's values in place), set without an allocation;
// constLines are the constant ones as header lines.
var (
	constHeaders = []struct {
		key     string
		value   []string
		tlsOnly bool
	}{
		{"Cache-Control", constValue("no-cache"), false},
		{"Pragma", constValue("no-cache"), false},
		{"Expires", constValue("-1"), false},
		{"X-Content-Type-Options", constValue("nosniff"), false},
		{"Strict-Transport-Security", constValue("max-age=31536000; includeSubDomains"), true},
	}
	idKeys                    = [...]string{"X-Ms-Request-Id", "X-Ms-Correlation-Request-Id", "X-Ms-Routing-Request-Id", "X-Ms-Client-Request-Id"}
	constLines, constLinesTLS = headerLines(false), headerLines(true)
	azureKeys                 = func() map[string]bool {
		m := map[string]bool{}
		for _, c := range constHeaders {
			m[c.key] = true
		}
		for _, k := range idKeys {
			m[k] = true
		}
		return m
	}()
)

func constValue(v string) []string { return []string{v}[:1:1] }

func headerLines(tls bool) []byte {
	var b []byte
	for _, c := range constHeaders {
		if tls || !c.tlsOnly {
			b = appendHeaderLine(b, c.key, c.value[0])
		}
	}
	return b
}

func appendHeaderLine(b []byte, key, value string) []byte {
	return append(append(append(append(b, key...), ": "...), value...), "\r\n"...)
}

// azureHeaders gives the response Azure's headers: in its header map, or,
// when byConn and the server made the connection, through the connection
// (fixConn.addHeaders), which writes them with the header without a key of
// the map each: net/http's map of a response is copied at WriteHeader and
// each key sorted, checked and written (with Azure's nine keys the map and
// its copy were tables, ~15 % of a GET's CPU). The request's ids are
// written as the client sent them, as net/http would: it refuses a request
// whose header values have control characters and trims them. A handler
// served byConn may still set one of the headers: the map then gets the
// others (settle).
func (w *requestWriter) azureHeaders(tls, byConn bool) {
	if w.fc != nil {
		if byConn {
			b := constLines
			if tls {
				b = constLinesTLS
			}
			b = append(w.fc.lines[:0], b...)
			for i, k := range idKeys {
				if v := w.ids[i]; v != "" {
					b = appendHeaderLine(b, k, v)
				}
			}
			w.fc.lines = b
			w.fc.addHeaders(b)
			w.conn = w.fc
			return
		}
		w.fc.addHeaders(nil)
	}
	w.setAzureHeaders(w.Header(), tls)
}

// settle is called before the response's header is written while the
// connection is to write Azure's headers: if the handler has set one of
// them, the connection writes none and the header map gets the others.
func (w *statusWriter) settle() {
	c := w.conn
	w.conn = nil
	h := w.ResponseWriter.Header()
	for k := range h {
		if azureKeys[k] {
			c.addHeaders(nil)
			w.setAzureHeaders(h, c.tls != nil) // the lines it had: constLinesTLS over TLS
			return
		}
	}
}

// setAzureHeaders sets the Azure headers h does not have.
func (w *statusWriter) setAzureHeaders(h http.Header, tls bool) {
	for _, c := range constHeaders {
		if _, set := h[c.key]; !set && (tls || !c.tlsOnly) {
			h[c.key] = c.value
		}
	}
	for i, k := range idKeys {
		if _, set := h[k]; !set && w.ids[i] != "" {
			h[k] = w.ids[i : i+1 : i+1]
		}
	}
}

// headerValue is Header.Get for a canonical key, without checking it.
func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// logAccess writes the access log's line of a request that ended at end
// after d: through the handler's Line when it has one (the text format's
// bytes, without a slog.Record), else through slog.
func (s *Server) logAccess(r *http.Request, end time.Time, d time.Duration, sw *statusWriter, reqID, clientID string) {
	if lines, ok := s.logger.Handler().(logtext.Lines); ok {
		if l := lines.Line(end, slog.LevelInfo, "request"); l != nil {
			l.String("method", r.Method).String("path", r.URL.Path).String("query", redactQuery(r.URL.RawQuery)).
				Int("status", int64(sw.status)).Int("bytes", int64(sw.bytes)).Duration("duration", d).
				String("request_id", reqID).String("client_request_id", clientID).
				String("remote", r.RemoteAddr).Write()
			return
		}
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("query", redactQuery(r.URL.RawQuery)),
		slog.Int("status", sw.status), slog.Int("bytes", sw.bytes), slog.Duration("duration", d),
		slog.String("request_id", reqID), slog.String("client_request_id", clientID),
		slog.String("remote", r.RemoteAddr))
}

// requestWriter is a request's statusWriter and its connection.
type requestWriter struct {
	statusWriter
	fc *fixConn // the request's connection, if the server made it
}

// requestIDs returns a new request id, a random (version 4) UUID, and the
// routing id "SAFEHOLD:" + id, in one string. The bits are the runtime's
// generator's (math/rand/v2: ChaCha8 per thread, seeded by the OS), not
// crypto/rand's: an id must be unique, not secret (it is in every answer
// and log line), and crypto/rand took a getrandom(2) call per request
// (~1 µs of a GET's CPU).
func requestIDs() (id, routing string) {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], mrand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // the RFC 4122 variant
	const prefix, digits = "SAFEHOLD:", "0123456789abcdef"
	var b [len(prefix) + 36]byte
	copy(b[:], prefix)
	d := b[len(prefix):]
	for i, j := 0, 0; i < len(u); i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			d[j] = '-'
			j++
		}
		d[j], d[j+1] = digits[u[i]>>4], digits[u[i]&0x0f]
		j += 2
	}
	routing = string(b[:])
	return routing[len(prefix):], routing
}

// authenticate requires a valid bearer token and puts the caller in the context.
//
// On a store that reads in batches (PostgreSQL: each read a round trip,
// answered by the database, which any replica may have changed) the
// principal's existence is read with the checks the router makes before
// the handler (resource.CheckReads: the subscription, a write's locks, the
// resource group of a PUT or PATCH) in one round trip, and the router's
// hooks read them from there (checkReader).
func (s *Server) authenticate(next http.Handler) http.Handler {
	_, batches := s.Store.(store.BatchReader)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var checks store.Reader
		var reads func(objectID string) store.Reader
		if batches {
			reads = func(objectID string) store.Reader {
				reads := []store.Read{identity.PrincipalRead(objectID)}
				if s.Authz != nil && s.Authz.Refresh > 0 {
					reads = append(reads, rbac.GenerationRead()) // (Authorizer.Fresh)
				}
				checks = store.PrefetchRemembering(r.Context(), s.Store, s.remembered, resource.CheckReads(reads, r.Method, r.URL.Path, r.URL.RawQuery)...)
				return checks
			}
		}
		caller, err := s.Issuer.AuthenticateIn(r, reads)
		if err != nil {
			var ae *arm.Error
			if !arm.As(err, &ae) { // not a refusal of the token: a failure of the server
				s.logger.Error("authenticate", "err", err, "request_id", arm.RequestID(r.Context()))
				arm.WriteError(w, arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error. Request id: %s.", arm.RequestID(r.Context())))
				return
			}
			// As ARM: where to get a token, and why this one was refused.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`,
				baseOf(r)+"/"+s.Bootstrap.TenantID, strings.ReplaceAll(ae.Message, `"`, `'`)))
			arm.WriteError(w, ae)
			return
		}
		if !arm.SetCaller(r.Context(), caller) { // the middleware's state, without a copy
			r = r.WithContext(arm.WithCaller(r.Context(), caller))
		}
		if checks != nil {
			r = r.WithContext(store.WithPrefetched(r.Context(), checks))
		}
		next.ServeHTTP(w, r)
	})
}

// checkReader is the reader of the router's checks of the request ctx
// belongs to: the one authenticate read them into, else the store.
func (s *Server) checkReader(ctx context.Context) store.Reader {
	if r, ok := s.prefetched(ctx); ok {
		return r
	}
	return s.Store
}

// prefetched is the reader authenticate read the checks of ctx's request
// into, if it did.
func (s *Server) prefetched(ctx context.Context) (store.Reader, bool) {
	return store.PrefetchedIn(ctx)
}

// armOnly reports whether the mux would hand r to the ARM handler (its "/"
// pattern) without a redirect: an ARM path (/subscriptions/..., /providers/...)
// that no other pattern can match (the token issuer's routes are
// /{tenant}/..., identity.Issuer.MayServe) and that needs no cleaning (no
// "." or ".." segment; collapseSlashes has removed empty ones). Most
// requests are such; the mux's matching of them costs a few allocations and
// two walks of its tree (the second for a trailing-slash redirect).
// TestArmOnlyAgreesWithTheMux checks it against the mux.
func (s *Server) armOnly(r *http.Request) bool {
	p := r.URL.Path
	// The escaped path has a "/." only where the decoded one has (a "."
	// is never escaped, and an escaped "/" decodes to one): most paths
	// need not be escaped to be checked.
	return (strings.HasPrefix(p, "/subscriptions/") || strings.HasPrefix(p, "/providers/")) &&
		r.Method != http.MethodConnect && !(strings.Contains(p, "/.") && strings.Contains(r.URL.EscapedPath(), "/.")) && !s.Issuer.MayServe(p)
}

// dottedARM reports whether r is an ARM path (/subscriptions/...,
// /providers/..., in any case) that the token issuer's routes cannot take
// and that has a "." or ".." segment, which the mux would clean with a
// redirect.
func (s *Server) dottedARM(r *http.Request) bool {
	p := r.URL.Path
	prefixed := func(pre string) bool { return len(p) >= len(pre) && strings.EqualFold(p[:len(pre)], pre) }
	if !prefixed("/subscriptions/") && !prefixed("/providers/") || s.Issuer.MayServe(p) {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// baseOf is the scheme and host the caller used.
func baseOf(r *http.Request) string {
	if r.TLS == nil {
		return "http://" + r.Host
	}
	return "https://" + r.Host
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	base := baseOf(r)
	v := r.URL.Query().Get("api-version")
	if v == "" {
		arm.WriteError(w, arm.BadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."))
		return
	}
	cloud := map[string]any{
		"portal":         base,
		"authentication": map[string]any{"loginEndpoint": base + "/", "audiences": []string{base, base + "/"}, "tenant": "common", "identityProvider": "AAD"},
		"media":          base, "graphAudience": base, "graph": base, "name": "Safehold",
		"suffixes": map[string]any{"azureDataLakeStoreFileSystem": "safehold.local", "acrLoginServer": "safehold.local", "sqlServerHostname": "safehold.local", "azureDataLakeAnalyticsCatalogAndJob": "safehold.local", "keyVaultDns": "safehold.local", "storage": "safehold.local", "azureFrontDoorEndpointSuffix": "safehold.local"},
		"batch":    base, "resourceManager": base, "vmImageAliasDoc": base, "activeDirectoryDataLake": base, "sqlManagement": base, "gallery": base,
		"microsoftGraphResourceId": base, "appInsightsResourceId": base, "appInsightsTelemetryChannelResourceId": base,
		"attestationResourceId": base, "synapseAnalyticsResourceId": base, "logAnalyticsResourceId": base, "ossrDbmsResourceId": base,
	}
	var body any
	switch {
	case strings.HasPrefix(v, "2015") || strings.HasPrefix(v, "2016") || strings.HasPrefix(v, "2017") || strings.HasPrefix(v, "2018"):
		// The Azure Stack Hub shape (what az cloud register reads): its login
		// endpoint is AD FS-shaped, so MSAL skips instance discovery.
		body = map[string]any{"galleryEndpoint": base, "graphEndpoint": base, "portalEndpoint": base,
			"authentication": map[string]any{"loginEndpoint": base + "/adfs", "audiences": []string{base, base + "/"}}}
	case v >= "2022-09-01":
		body = cloud
	default:
		body = []any{cloud}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	enc := newJSONEncoder(w)
	enc.Encode(body)
}

// collapseSlashes turns "//subscriptions//x" into "/subscriptions/x" (the
// seeds have such URLs; Go's mux would answer them with a redirect). It
// works on the escaped path, so an encoded %2F inside a segment stays.
func collapseSlashes(r *http.Request) {
	if !strings.Contains(r.URL.Path, "//") { // then neither has the escaped path (see armOnly)
		return
	}
	ep := r.URL.EscapedPath()
	if !strings.Contains(ep, "//") {
		return
	}
	for strings.Contains(ep, "//") {
		ep = strings.ReplaceAll(ep, "//", "/")
	}
	p, err := url.PathUnescape(ep)
	if err != nil {
		return
	}
	r.URL.Path, r.URL.RawPath = p, ep
}
