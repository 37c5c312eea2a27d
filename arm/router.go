// Package arm is Safehold's Azure Resource Manager core, with no domain
// knowledge: resource ids, case-insensitive routing on decoded path segments,
// api-version checks per namespace, the CloudError envelope, long-running
// operation headers and nextLink paging. Resource providers register
// Handlers that return (result, error); the Router is the one adapter that
// writes the wire.
package arm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Handler serves one ARM operation.
type Handler func(r *Request) (*Response, error)

// Authorizer decides whether the caller may perform action on scope. It
// returns nil to allow, or an *Error (normally 403 AuthorizationFailed).
type Authorizer func(ctx context.Context, caller Caller, action, scope string) error

// Caller is the authenticated principal of a request.
type Caller struct {
	ObjectID string // the principal's object id (oid)
	AppID    string // client id (appid)
	TenantID string
	Kind     string // "ServicePrincipal", "ManagedIdentity", "User"
}

// requestKey is the context key of a request's state: its correlation id,
// its route recorder and its caller share one value, so that a request's
// context is copied once (StartRequest) rather than once for each.
type requestKey struct{}

// requestState is that value, and the context that carries it (one
// allocation where context.WithValue would take two): its Value answers
// requestKey itself and asks the parent context for any other key; the
// parent's deadline and cancellation are its own.
type requestState struct {
	context.Context // the parent
	requestID       string
	correlation     string
	route           *string // the recorder; copies of the state share it
	caller          Caller
	hasCaller       bool
	// open: made by StartRequest and no caller yet, so SetCaller may
	// set it in place (nothing has copied the state since).
	open     bool
	routeBuf string
}

func (s *requestState) Value(key any) any {
	if _, ok := key.(requestKey); ok {
		return s
	}
	return s.Context.Value(key)
}

func stateOf(ctx context.Context) *requestState {
	if s, ok := ctx.(*requestState); ok {
		return s
	}
	s, _ := ctx.Value(requestKey{}).(*requestState)
	return s
}

// derive returns a copy of ctx's state (zero if none) to change, as a
// context derived from ctx: contexts derived from ctx before keep what they
// saw.
func derive(ctx context.Context) *requestState {
	n := &requestState{}
	if s := stateOf(ctx); s != nil {
		*n = *s
	}
	n.Context, n.open = ctx, false
	return n
}

// StartRequest returns ctx carrying the request's id (RequestID), its
// correlation id and a route recorder (as
// WithRouteRecorder(WithCorrelationID(ctx, id)) does) in one value, which
// SetCaller can complete without another copy.
func StartRequest(ctx context.Context, requestID, correlationID string) (context.Context, *string) {
	n := derive(ctx)
	n.requestID, n.correlation = requestID, correlationID
	n.route = &n.routeBuf
	n.open = true
	return n, n.route
}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	n := derive(ctx)
	n.caller, n.hasCaller = c, true
	return n
}

// SetCaller puts c in the request state StartRequest put in ctx, in
// place, when nothing has copied that state or set a caller since;
// otherwise it returns ctx unchanged and false (use WithCaller).
func SetCaller(ctx context.Context, c Caller) bool {
	s := stateOf(ctx)
	if s == nil || !s.open {
		return false
	}
	s.caller, s.hasCaller, s.open = c, true, false
	return true
}

// CallerFrom returns the caller in ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	if s := stateOf(ctx); s != nil && s.hasCaller {
		return s.caller, true
	}
	return Caller{}, false
}

// Namespace describes the api-versions a resource-provider namespace accepts.
type Namespace struct {
	Name     string
	Versions []string // accepted api-versions
	// AnyVersion accepts every well-formed YYYY-MM-DD[-preview] version.
	AnyVersion bool

	versions map[string]bool // Versions, lower-cased (RegisterNamespace): one lookup per request
}

var versionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-[A-Za-z0-9]+)?$`)

func (n *Namespace) accepts(v string) bool {
	if n.versions != nil {
		if n.versions[v] || n.versions[strings.ToLower(v)] {
			return true
		}
	} else if ContainsFold(n.Versions, v) {
		return true
	}
	return n.AnyVersion && plausibleVersion(v)
}

// lists reports whether v is one of the namespace's own versions (not one
// AnyVersion merely tolerates).
func (n *Namespace) lists(v string) bool {
	if n.versions != nil {
		return n.versions[v] || n.versions[strings.ToLower(v)]
	}
	return ContainsFold(n.Versions, v)
}

// plausibleVersion accepts a well-formed api-version whose date could be a
// real ARM api-version (2014 to 2030), so that a namespace that takes any
// version still rejects 1999-01-01 or 2099-01-01.
func plausibleVersion(v string) bool {
	if !versionRE.MatchString(v) {
		return false
	}
	t, err := time.Parse("2006-01-02", v[:10])
	return err == nil && t.Year() >= 2014 && t.Year() <= 2030
}

// RouteOption customizes a route.
type RouteOption func(*route)

// Action sets the RBAC action checked for a route (default: derived from the
// resource type and method, e.g. Microsoft.Compute/disks/read).
func Action(action string) RouteOption { return func(rt *route) { rt.action = action } }

// NoAuthz skips the RBAC check for a route (it still needs a valid token).
func NoAuthz() RouteOption { return func(rt *route) { rt.action = "-" } }

// NoAPIVersion makes the api-version optional for a route.
func NoAPIVersion() RouteOption { return func(rt *route) { rt.noVersion = true } }

// ListsDetails makes every CloudError a request of the route is answered
// with, the router's own refusals (authorization, api-version, locks, the
// group's state) as its handler's, carry details as lists ([]) where they
// have none (see DetailsListed): az's deployment commands iterate them.
func ListsDetails() RouteOption { return func(rt *route) { rt.listDetails = true } }

type route struct {
	method    string
	pattern   string
	segs      []string // lower-case literals, or "{name}"
	namespace string
	nsKey     string // namespace, lower-case (the key of Router.namespaces)
	handler   Handler
	action    string
	noVersion bool
	// listDetails: the route's errors carry details as lists (ListsDetails).
	listDetails bool
	// typeName and typeVersions are the route's resource type's entry in
	// the per-type catalog (TypeVersions) and its versions, lower-cased;
	// typeVersions is nil when the type has none.
	typeName     string
	typeVersions map[string]bool
	typeList     []string
	// lastAction is the action derived last (actionFor): the next
	// request of the route most likely has the same.
	lastAction atomic.Pointer[string]
}

type node struct {
	literal  map[string]*node
	param    *node
	wild     *node // {*name}: one or more segments
	paramKey string
	routes   map[string]*route // by method
}

func newNode() *node { return &node{literal: map[string]*node{}, routes: map[string]*route{}} }

// eachRoute calls fn with every route below n (n's own first) and its method.
func (n *node) eachRoute(fn func(method string, r *route)) {
	for m, r := range n.routes {
		fn(m, r)
	}
	for _, c := range n.literal {
		c.eachRoute(fn)
	}
	if n.param != nil {
		n.param.eachRoute(fn)
	}
	if n.wild != nil {
		n.wild.eachRoute(fn)
	}
}

// Router routes ARM requests. Register namespaces and routes before serving.
type Router struct {
	root       *node
	namespaces map[string]*Namespace
	Authorize  Authorizer
	// GrantedBelow reports whether the caller holds the action at some
	// scope strictly below scope. As in ARM, only such a caller, denied a
	// collection as a whole, gets the list of the items it may read; any
	// other is denied (nil: every denied caller gets the filtered list).
	GrantedBelow func(ctx context.Context, caller Caller, action, scope string) bool
	// GroupWritable, when set, is asked before the router runs a PUT or
	// PATCH of anything in a resource group (a path under
	// /subscriptions/{s}/resourceGroups/{g}/providers/), once the caller
	// is authorized: an error refuses the request before its handler runs.
	// As ARM does, the server refuses so a client's writes into a group
	// being deleted (409 ResourceGroupBeingDeleted), creates and updates
	// alike, while the group's cascading delete, which is no request,
	// still writes what it removes.
	GroupWritable func(ctx context.Context, subscription, group string) error
	// Locked, when set, is asked before the router runs a PUT, PATCH,
	// POST or DELETE on a path under /subscriptions/ of any namespace but
	// Microsoft.Authorization (whose locks must stay removable), once the
	// caller is authorized, with the scope the request addresses: ARM's
	// management locks refuse it (409 ScopeLocked) before its handler
	// runs. Reads are never asked about.
	Locked func(ctx context.Context, method, scope string) error
	// Locations are the regions a NoRegisteredProviderFound answer lists
	// as the type's supported locations.
	Locations []string
	// ResourceLocation, when set, answers the location of the top-level
	// resource id names ("" when it does not exist or has none): a
	// NoRegisteredProviderFound answer to a request on an existing
	// resource names its location, as ARM's does, when the caller may
	// read it.
	ResourceLocation func(ctx context.Context, id string) string

	RetryAfter  int   // seconds in Retry-After of async responses (at least 1)
	MaxBodySize int64 // request bodies larger than this get 413
	Logger      *slog.Logger

	catalogs map[string]catalog // operations catalogs by lower-cased namespace (PublishedCatalog)
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{root: newNode(), namespaces: map[string]*Namespace{}, RetryAfter: 1, MaxBodySize: 4 << 20, Logger: slog.Default()}
}

// RegisterNamespace declares a namespace's api-versions. Paths without a
// providers segment belong to "Microsoft.Resources".
func (rt *Router) RegisterNamespace(ns Namespace) {
	n := ns
	n.versions = make(map[string]bool, len(ns.Versions))
	for _, v := range ns.Versions {
		n.versions[strings.ToLower(v)] = true
	}
	rt.namespaces[strings.ToLower(ns.Name)] = &n
}

// NamespaceVersions returns the api-versions registered for a namespace.
func (rt *Router) NamespaceVersions(name string) []string {
	if n, ok := rt.namespaces[strings.ToLower(name)]; ok {
		return n.Versions
	}
	return nil
}

// Handle registers h for method on pattern, e.g.
// "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/disks/{diskName}".
func (rt *Router) Handle(method, pattern string, h Handler, opts ...RouteOption) {
	r := &route{method: method, pattern: pattern, handler: h}
	n := rt.root
	parts := splitPath(pattern)
	for i, p := range parts {
		if strings.HasPrefix(p, "{*") && strings.HasSuffix(p, "}") {
			key := strings.ToLower(p[2 : len(p)-1])
			if n.wild == nil {
				n.wild = newNode()
				n.wild.paramKey = key
			}
			n = n.wild
			r.segs = append(r.segs, "{*"+key+"}")
			continue
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			key := strings.ToLower(p[1 : len(p)-1])
			if n.param == nil {
				n.param = newNode()
				n.param.paramKey = key
			} else if n.param.paramKey != key {
				// Same position, different param names: keep the first name and map the second.
				panic(fmt.Sprintf("arm: route %s: parameter {%s} conflicts with {%s}", pattern, key, n.param.paramKey))
			}
			n = n.param
			r.segs = append(r.segs, "{"+key+"}")
			continue
		}
		lp := strings.ToLower(p)
		if lp == "providers" && i+1 < len(parts) && !strings.HasPrefix(parts[i+1], "{") {
			r.namespace = parts[i+1]
		}
		c, ok := n.literal[lp]
		if !ok {
			c = newNode()
			n.literal[lp] = c
		}
		n = c
		r.segs = append(r.segs, lp)
	}
	if r.namespace == "" {
		r.namespace = "Microsoft.Resources"
	}
	r.nsKey = strings.ToLower(r.namespace)
	if typ := typePath(parts, r.namespace); typ != "" {
		if entry, vs, ok := TypeVersions(r.namespace, typ); ok {
			r.typeName, r.typeList = entry, vs
			r.typeVersions = make(map[string]bool, len(vs))
			for _, v := range vs {
				r.typeVersions[strings.ToLower(v)] = true
			}
		}
	}
	for _, o := range opts {
		o(r)
	}
	if _, dup := n.routes[method]; dup {
		panic("arm: duplicate route " + method + " " + pattern)
	}
	n.routes[method] = r
}

func splitPath(p string) []string { return appendSegments(nil, p) }

// appendSegments appends to dst what splitPath returns for p (strings.Split
// of p without its leading and trailing slashes; nothing when that is
// empty): the router splits a request's path into its Request's own array.
func appendSegments(dst []string, p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return dst
	}
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return append(dst, p)
		}
		dst = append(dst, p[:i])
		p = p[i+1:]
	}
}

// DecodedSegments splits the escaped path on '/' and unescapes each segment,
// so an encoded %2F stays inside its segment and %3B arrives as ';'.
func DecodedSegments(u *url.URL) ([]string, error) { return appendDecodedSegments(nil, u) }

// appendDecodedSegments appends DecodedSegments(u) to dst.
func appendDecodedSegments(dst []string, u *url.URL) ([]string, error) {
	if u.RawPath == "" {
		// The path has no escaped "/" (net/url sets RawPath where the
		// escaped form differs from escaping Path): escaping Path and
		// unescaping each segment again gives Path's own segments.
		return appendSegments(dst, u.Path), nil
	}
	parts := appendSegments(dst, u.EscapedPath())
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = s
	}
	return parts, nil
}

// match finds the node for segs, preferring literal segments over parameters.
func match(n *node, segs []string, params *Params) *node {
	if len(segs) == 0 {
		if len(n.routes) > 0 {
			return n
		}
		return nil
	}
	if c, ok := lookupLower(n.literal, segs[0]); ok {
		if m := match(c, segs[1:], params); m != nil {
			return m
		}
	}
	if n.param != nil {
		if m := match(n.param, segs[1:], params); m != nil {
			params.setLower(n.param.paramKey, segs[0])
			return m
		}
	}
	if n.wild != nil {
		for k := len(segs); k >= 1; k-- {
			if m := match(n.wild, segs[k:], params); m != nil {
				params.setLower(n.wild.paramKey, "/"+strings.Join(segs[:k], "/"))
				return m
			}
		}
	}
	return nil
}

// lookupLower is m[strings.ToLower(k)] without allocating the lower-cased
// key when k is ASCII and short (a path segment, a parameter name).
func lookupLower[V any](m map[string]V, k string) (V, bool) {
	var buf [128]byte
	if len(k) > len(buf) {
		v, ok := m[strings.ToLower(k)]
		return v, ok
	}
	b := buf[:len(k)]
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= utf8.RuneSelf {
			v, ok := m[strings.ToLower(k)]
			return v, ok
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	v, ok := m[string(b)]
	return v, ok
}

// namespaceOf finds the provider namespace a path addresses.
func namespaceOf(segs []string) string {
	ns := ""
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") {
			ns = segs[i+1]
		}
	}
	if ns == "" {
		return "Microsoft.Resources"
	}
	return ns
}

// ServeHTTP is the one adapter between handlers and the wire.
func (rt *Router) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	var au audit
	resp, err := rt.serve(hr, &au)
	if err != nil && au.listDetails {
		err = detailsListed(err)
	}
	status := rt.write(w, hr, resp, err)
	if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
		caller, _ := CallerFrom(hr.Context())
		result := "Succeeded"
		if status >= 400 {
			result = "Failed"
		}
		rt.Logger.LogAttrs(hr.Context(), slog.LevelInfo, "audit",
			slog.String("principal_id", caller.ObjectID), slog.String("app_id", caller.AppID), slog.String("principal_kind", caller.Kind),
			slog.String("method", hr.Method), slog.String("action", au.action), slog.String("scope", au.scope),
			slog.Int("status", status), slog.String("result", result), slog.String("request_id", requestID(w, hr)))
	}
}

// WithRouteRecorder returns a context in which the router notes the pattern
// of the route it matched (for metrics labels of bounded cardinality).
func WithRouteRecorder(ctx context.Context) (context.Context, *string) {
	n := derive(ctx)
	n.route = &n.routeBuf
	return n, n.route
}

// audit records what a write request tried to do, and whether the route
// it matched lists its errors' details (ListsDetails).
type audit struct {
	action, scope string
	listDetails   bool
}

func (rt *Router) serve(hr *http.Request, au *audit) (*Response, error) {
	req := &Request{HTTP: hr, retryAfter: rt.RetryAfter}
	segs, err := appendDecodedSegments(req.segs[:0], hr.URL) // in the request's allocation
	if err != nil {
		return nil, BadRequest("InvalidRequestUri", "The request URI path is not correctly escaped: %v.", err)
	}
	if len(segs) > 0 && strings.Contains(segs[0], "/") {
		// A scope escaped whole ("/%2Fsubscriptions%2F{s}/providers/..."
		// or "/subscriptions%2F{s}/providers/...": armlocks' ByScope
		// methods path-escape their {scope}), as ARM reads it: the scope's
		// own segments.
		segs = append(splitPath(segs[0]), segs[1:]...)
	}
	for _, s := range segs {
		if s == ".." || s == "." || strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return nil, BadRequest("InvalidRequestUri", "The request path contains an invalid segment %q: names cannot be '.', '..' or contain control characters.", s)
		}
	}
	req.Segments = segs
	req.Params = req.params[:0]
	n := match(rt.root, segs, &req.Params)
	if n == nil {
		return nil, rt.noRoute(hr, segs)
	}
	if hr.Method == http.MethodPut {
		for _, p := range req.Params {
			if strings.ContainsAny(p.Value, "/\\") && !strings.HasPrefix(p.Value, "/") {
				return nil, BadRequest("InvalidResourceName", "The resource name '%s' (%s) is invalid: names cannot contain '/' or '\\'.", p.Value, p.Name)
			}
		}
	}
	r, ok := n.routes[hr.Method]
	if !ok && hr.Method == http.MethodHead {
		r, ok = n.routes[http.MethodGet]
	}
	au.listDetails = ok && r.listDetails
	if st := stateOf(hr.Context()); st != nil && st.route != nil && ok {
		*st.route = r.pattern
	}
	if !ok {
		var methods []string
		for m := range n.routes {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		return nil, Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested HTTP method '%s' is not supported for the resource path '%s'. Supported methods: %s.", hr.Method, hr.URL.Path, strings.Join(methods, ", "))
	}
	var q url.Values
	version, lazyQuery := plainAPIVersion(hr.URL.RawQuery)
	if !lazyQuery {
		raw := hr.URL.RawQuery
		if strings.IndexByte(raw, ';') >= 0 {
			// ARM reads ';' as an ordinary character; url.ParseQuery
			// refuses it as a separator and drops the pair holding it.
			raw = strings.ReplaceAll(raw, ";", "%3B")
		}
		var err error
		if q, err = url.ParseQuery(raw); err != nil {
			if bad := badEscape(err); bad != "" {
				return nil, BadRequest("InvalidRequestUri", "The request URI's query string is not correctly escaped: %q is not a percent-encoded byte. Write a '%%' in a query value as %%25.", bad)
			}
		}
		version = q.Get("api-version")
	}
	if version == "" {
		for k, v := range q { // ARM matches query parameter names case-insensitively
			if strings.EqualFold(k, "api-version") && len(v) > 0 {
				version = v[0]
				q.Set("api-version", version)
			}
		}
	}
	if !r.noVersion {
		if version == "" {
			return nil, BadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		}
		if vs := otherAPIVersions(q, version); vs != nil {
			return nil, BadRequest("InvalidApiVersionParameter", "The api-version '%s' is invalid: the query gives api-version %d times, with different values. Give it once.", strings.Join(vs, ","), len(vs))
		}
		ns, ok := rt.namespaces[r.nsKey]
		if ok && !ns.accepts(version) {
			return nil, BadRequest("InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are '%s'.", version, strings.Join(ns.Versions, ","))
		}
		if ok && r.typeVersions != nil && !r.typeVersions[version] && !r.typeVersions[strings.ToLower(version)] && ns.lists(version) {
			return nil, rt.noRegisteredProvider(hr, segs, r, version)
		}
	}
	req.APIVersion, req.Namespace, req.query, req.lazyQuery, req.route = version, r.namespace, q, lazyQuery, r
	if hr.Body != nil && hr.Method != http.MethodGet && hr.Method != http.MethodHead {
		body, err := readBody(hr, rt.MaxBodySize)
		if err != nil {
			return nil, err
		}
		req.Body = body
	}
	au.action, au.scope = r.actionFor(hr.Method, segs, cleanPath(hr.URL, segs))
	req.authorize, req.grantedBelow, req.action, req.scope = rt.Authorize, rt.GrantedBelow, au.action, au.scope
	if rt.Authorize != nil && r.action != "-" {
		caller, _ := CallerFrom(hr.Context())
		if err := rt.Authorize(hr.Context(), caller, au.action, au.scope); err != nil {
			if hr.Method == http.MethodGet && isCollection(segs) && isDenial(err) &&
				(rt.GrantedBelow == nil || rt.GrantedBelow(hr.Context(), caller, au.action, au.scope)) {
				// As in ARM, a list the caller may not read as a whole lists
				// what it may read (a role scoped to a resource group sees
				// that group's resources in a subscription-wide list); a
				// caller with no grant below the scope is denied, not shown
				// an empty list.
				return rt.filteredList(req, caller, au.action, err)
			}
			return nil, err
		}
	}
	if rt.GroupWritable != nil && (hr.Method == http.MethodPut || hr.Method == http.MethodPatch) &&
		len(segs) > 4 && strings.EqualFold(segs[0], "subscriptions") && strings.EqualFold(segs[2], "resourceGroups") && strings.EqualFold(segs[4], "providers") {
		if err := rt.GroupWritable(hr.Context(), segs[1], segs[3]); err != nil {
			return nil, err
		}
	}
	if rt.Locked != nil && hr.Method != http.MethodGet && hr.Method != http.MethodHead && len(segs) > 1 &&
		strings.EqualFold(segs[0], "subscriptions") && r.nsKey != "microsoft.authorization" {
		if err := rt.Locked(hr.Context(), hr.Method, au.scope); err != nil {
			return nil, err
		}
	}
	if err := checkConditions(req, n.routes[http.MethodGet]); err != nil {
		return nil, err
	}
	return r.handler(req)
}

// badEscape is the escape url.ParseQuery refused ("%ZZ"), "" for its
// other errors: a
// query whose parameter it cannot decode is refused rather than read
// without that parameter, as url.Values silently leaves it out.
func badEscape(err error) string {
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return string(ee)
	}
	return ""
}

// plainAPIVersion returns v and true when raw, a request's query, is one
// "api-version=v" that needs no decoding (most ARM requests), which
// url.ParseQuery would read as {"api-version": [v]}: the router then parses
// the query only if the handler reads another parameter.
// otherAPIVersions is every api-version of query q (its name in any case),
// in order of name and place, when one differs from version; else nil.
func otherAPIVersions(q url.Values, version string) []string {
	var names, vs []string
	differ := false
	for k, v := range q {
		if strings.EqualFold(k, "api-version") {
			names = append(names, k)
			for _, x := range v {
				differ = differ || x != version
			}
		}
	}
	if !differ {
		return nil
	}
	sort.Strings(names)
	for _, k := range names {
		vs = append(vs, q[k]...)
	}
	return vs
}

func plainAPIVersion(raw string) (string, bool) {
	v, ok := strings.CutPrefix(raw, "api-version=")
	if !ok || v == "" || strings.ContainsAny(v, "&;%+=") {
		return "", false
	}
	return v, true
}

// actionFor derives the RBAC action and scope of a request: the resource
// types after the last providers/{namespace}, the verb from the method, and
// for POST on an odd tail the action name (".../{name}/backup" →
// ".../backup/action"); the scope is the resource the request addresses.
// path is the request's decoded path when it is "/" + the segments joined
// by "/" (cleanPath), else "": the scope is then a prefix of it, with no
// copy. The action is built on the stack and is the route's last one when
// it is the same (most requests), so neither allocates.
func (r *route) actionFor(method string, segs []string, path string) (action, scope string) {
	var verb string
	switch method {
	case http.MethodGet, http.MethodHead:
		verb = "read"
	case http.MethodPut, http.MethodPatch:
		verb = "write"
	case http.MethodDelete:
		verb = "delete"
	case http.MethodPost:
		verb = "action"
	}
	pi := -1
	for i := len(segs) - 2; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			pi = i
			break
		}
	}
	scopeEnd := len(segs)
	var buf [160]byte
	b := buf[:0]
	if pi < 0 {
		typ := "/subscriptions/"
		if len(segs) >= 3 && strings.EqualFold(segs[2], "resourceGroups") {
			typ = "/subscriptions/resourceGroups/"
			if len(segs) == 3 {
				scopeEnd = 2
			}
		} else if len(segs) == 1 {
			scopeEnd = 0
		} else if len(segs) == 3 && strings.EqualFold(segs[2], "resources") {
			scopeEnd = 2 // a subscription's resource list: the subscription
		}
		if len(segs) > 4 {
			scopeEnd = 4
		}
		b = append(append(append(b, r.namespace...), typ...), verb...)
	} else {
		// ns/type1/type2/.../verb, or for a POST on an odd tail
		// ns/type1/.../name/action (the last segment names the action).
		ns, rest := segs[pi+1], segs[pi+2:]
		b = append(append(b, ns...), '/')
		posted := false
		if len(rest)%2 == 1 {
			scopeEnd = len(segs) - 1
			if method == http.MethodPost {
				b = appendTypes(b, rest[:len(rest)-1])
				b = append(append(append(b, '/'), rest[len(rest)-1]...), "/action"...)
				posted = true
			}
			if pi+2 == len(segs)-1 {
				scopeEnd = pi // a collection right under providers/{ns}: the parent scope
			}
		}
		if !posted {
			b = append(append(appendTypes(b, rest), '/'), verb...)
		}
	}
	if r.action != "" {
		action = r.action
	} else if last := r.lastAction.Load(); last != nil && *last == string(b) {
		action = *last
	} else {
		a := string(b) // not &action: a result whose address is taken is on the heap in every call
		r.lastAction.Store(&a)
		action = a
	}
	if path == "" {
		return action, "/" + strings.Join(segs[:scopeEnd], "/")
	}
	n := 1 // the scope's length in path: "/" and each segment with the "/" before the next
	for _, s := range segs[:scopeEnd] {
		n += len(s) + 1
	}
	return action, path[:max(1, n-1)]
}

// appendTypes appends the resource types of rest (its even segments; the
// odd ones are names) joined by "/".
func appendTypes(b []byte, rest []string) []byte {
	for j := 0; j < len(rest); j += 2 {
		if j > 0 {
			b = append(b, '/')
		}
		b = append(b, rest[j]...)
	}
	return b
}

// cleanPath returns u's decoded path when it is "/" followed by segs (the
// path's decoded segments, DecodedSegments) joined by "/", else "": a path
// with no escaped "/" inside a segment (RawPath unset) and no empty
// segment at either end.
func cleanPath(u *url.URL, segs []string) string {
	p := u.Path
	if u.RawPath != "" || len(p) < 2 || p[0] != '/' || p[1] == '/' || p[len(p)-1] == '/' {
		return ""
	}
	n := len(segs)
	for _, s := range segs {
		n += len(s)
	}
	if n != len(p) {
		return ""
	}
	return p
}

func (rt *Router) noRoute(hr *http.Request, segs []string) error {
	ns := namespaceOf(segs)
	if _, ok := rt.namespaces[strings.ToLower(ns)]; !ok {
		return BadRequest("InvalidResourceNamespace", "The resource namespace '%s' is invalid.", ns)
	}
	// The full type path after the last providers/{namespace}
	// (backupVaults/backupInstance), so the type that is wrong is named.
	typ := ""
	for i := len(segs) - 3; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			var types []string
			for j := i + 2; j < len(segs); j += 2 {
				types = append(types, segs[j])
			}
			typ = strings.Join(types, "/")
			break
		}
	}
	if typ == "" {
		return Errorf(http.StatusNotFound, "NotFound", "No HTTP resource was found that matches the request URI '%s'.", hr.URL.Path)
	}
	return Errorf(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.", typ, ns, hr.URL.Query().Get("api-version"))
}

// StatusClientClosedRequest is the status logged for a request whose
// client went away before its answer (nginx's 499): it is never a server
// error.
const StatusClientClosedRequest = 499

func (rt *Router) write(w http.ResponseWriter, hr *http.Request, resp *Response, err error) int {
	if err != nil {
		var ae *Error
		if errors.Is(err, context.Canceled) && hr.Context().Err() != nil {
			// The client went away (it disconnected or gave up) before the
			// answer: no server error, nginx's 499 Client Closed Request,
			// which the access log and the audit record show.
			rt.Logger.Info("request canceled by its client", "method", hr.Method, "path", hr.URL.Path, "err", err, "request_id", requestID(w, hr))
			ae = Errorf(StatusClientClosedRequest, "ClientClosedRequest", "The client closed the request before it was answered.")
		} else if !As(err, &ae) {
			id := requestID(w, hr)
			rt.Logger.Error("request failed", "method", hr.Method, "path", hr.URL.Path, "err", err, "request_id", id)
			ae = Errorf(http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error. Request id: %s.", id)
		} else if ae.Status == http.StatusInsufficientStorage {
			rt.Logger.Error("request failed: out of space", "method", hr.Method, "path", hr.URL.Path, "err", err, "request_id", requestID(w, hr))
		} else if ae.Status == http.StatusServiceUnavailable {
			rt.Logger.Warn("request failed, retryable", "method", hr.Method, "path", hr.URL.Path, "err", err, "request_id", requestID(w, hr))
		}
		WriteError(w, ae)
		return ae.Status
	}
	if resp == nil {
		resp = &Response{Status: http.StatusOK}
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if hr.Method == http.MethodHead && resp.Status == http.StatusOK {
		// ARM answers a HEAD of a resource that exists 204 No Content
		// (Resources_CheckExistence, _CheckExistenceById), and the SDKs
		// take 204 and 404 only: a 200 is their error.
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	if resp.Body == nil || hr.Method == http.MethodHead {
		if resp.Body != nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(resp.Status)
		return resp.Status
	}
	return writeJSON(w, resp.Status, resp.Body)
}

// WriteError writes a CloudError (a 503 or 429 with Retry-After, unless
// set, as ARM throttles: the clients wait that long before retrying).
func WriteError(w http.ResponseWriter, e *Error) {
	if e.Status == 0 {
		e.Status = http.StatusInternalServerError
	}
	if (e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, errorEnvelope{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	if raw, ok := v.(json.RawMessage); ok { // as it is (a resource's memoized wire JSON), without a copy
		return writeBody(w, status, raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if l, ok := v.(*List); ok && l.raw() {
		l.writeRaw(&buf, enc)
	} else if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":{"code":"InternalServerError","message":"encode response: %s"}}`, strings.ReplaceAll(err.Error(), `"`, `'`))
	}
	return writeBody(w, status, buf.Bytes())
}

// writeBody writes a JSON body with its Content-Type and Content-Length.
// net/http itself sets the Content-Length of a body that a handler writes
// in one piece smaller than its response buffer (2 KiB, for GET and HEAD
// alike), so writeBody sets it only for other bodies: one header fewer in
// the response's map keeps the map within Go's small-map size (8 keys, with
// the middleware's) instead of growing it into a table, and net/http's
// copy of it at WriteHeader small too.
func writeBody(w http.ResponseWriter, status int, body []byte) int {
	h := w.Header()
	h["Content-Type"] = contentTypeJSONHeader // as Header.Set would, without an allocation
	if len(body) == 0 || len(body) >= autoContentLength {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(status)
	w.Write(body)
	return status
}

// contentTypeJSONHeader is Content-Type's value slice in every JSON
// response: built once, with no spare capacity (an Add copies it; nothing
// writes a header's values in place).
var contentTypeJSONHeader = []string{contentTypeJSON}[:1:1]

const (
	contentTypeJSON = "application/json; charset=utf-8"
	// autoContentLength is net/http's bufferBeforeChunkingSize: a handler's
	// first Write smaller than it waits in the response's buffer, and when
	// the handler returns, net/http writes the Content-Length of what it
	// holds. TestAutoContentLength checks that it still does.
	autoContentLength = 2048
)

// Namespaces lists the registered namespaces, sorted by name.
func (rt *Router) Namespaces() []Namespace {
	out := make([]Namespace, 0, len(rt.namespaces))
	for _, n := range rt.namespaces {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RouteInfo describes a registered route.
type RouteInfo struct {
	Method, Pattern, Namespace string
}

// Routes lists the registered routes (for docs and tests).
func (rt *Router) Routes() []RouteInfo {
	var out []RouteInfo
	rt.root.eachRoute(func(m string, r *route) {
		out = append(out, RouteInfo{Method: m, Pattern: r.pattern, Namespace: r.namespace})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// operationSegments name the collections that hold long-running operation
// status and result resources in the providers' URL shapes.
var operationSegments = map[string]bool{
	"operations": true, "operationstatus": true, "operationresults": true, "operationsstatus": true,
	"backupoperations": true, "backupoperationresults": true,
}

// OpenOperationRoutes lets any authenticated caller poll operation status
// and result URLs (GET .../{operations|operationStatus|...}/{id}), as ARM
// does: whoever may start an operation may poll it, even when its role is
// scoped to one resource group or resource. armops.Lookup then answers
// only the principal who started the operation or one that may read its
// resource.
func (rt *Router) OpenOperationRoutes() {
	var walk func(n *node, prev string)
	walk = func(n *node, prev string) {
		if r, ok := n.routes[http.MethodGet]; ok && len(r.segs) >= 2 {
			last, before := r.segs[len(r.segs)-1], r.segs[len(r.segs)-2]
			if strings.HasPrefix(last, "{") && operationSegments[before] && !(len(r.segs) >= 3 && r.segs[len(r.segs)-3] == "providers") {
				r.action = "-"
			}
		}
		for k, c := range n.literal {
			walk(c, k)
		}
		if n.param != nil {
			walk(n.param, "")
		}
		if n.wild != nil {
			walk(n.wild, "")
		}
	}
	walk(rt.root, "")
}

// isCollection reports whether a path ends in a resource collection
// (.../providers/{ns}/{type}[/{name}/{childType}...], odd tail).
func isCollection(segs []string) bool {
	// A subscription's or resource group's generic resource list
	// (GET .../resources).
	if n := len(segs); (n == 3 || n == 5) && strings.EqualFold(segs[0], "subscriptions") && strings.EqualFold(segs[n-1], "resources") &&
		(n == 3 || strings.EqualFold(segs[2], "resourceGroups")) {
		return true
	}
	for i := len(segs) - 2; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			return (len(segs)-i-2)%2 == 1
		}
	}
	return false
}

// isDenial reports whether an authorizer's error is a 403 (the caller may not
// act there), not an answer of its own such as an unknown subscription's 404.
func isDenial(err error) bool {
	var e *Error
	return As(err, &e) && e.Status == http.StatusForbidden
}

// filteredList runs a list handler and keeps the items the caller may read
// (each item by its id); any answer other than a List keeps the denial.
func (rt *Router) filteredList(req *Request, caller Caller, action string, denied error) (*Response, error) {
	resp, err := req.route.handler(req)
	if err != nil {
		return nil, denied
	}
	l, ok := resp.Body.(*List)
	if !ok || resp.Status != http.StatusOK {
		return nil, denied
	}
	kept := make([]any, 0, len(l.Value))
	for _, it := range l.Value {
		b, err := json.Marshal(it)
		if err != nil {
			continue
		}
		var h struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &h) != nil || h.ID == "" {
			continue
		}
		if rt.Authorize(req.HTTP.Context(), caller, action, h.ID) == nil {
			kept = append(kept, it)
		}
	}
	return OK(&List{Value: kept, NextLink: l.NextLink}), nil
}

// WithCorrelationID returns ctx carrying the request's x-ms-correlation-request-id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	n := derive(ctx)
	n.correlation = id
	return n
}

// RequestID is the request's x-ms-request-id, as StartRequest was given
// it ("" without).
func RequestID(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.requestID
	}
	return ""
}

// requestID is the request's x-ms-request-id: its context's (RequestID),
// else its response header's (the server may write that header without
// putting it in the map).
func requestID(w http.ResponseWriter, hr *http.Request) string {
	if id := RequestID(hr.Context()); id != "" {
		return id
	}
	return w.Header().Get("x-ms-request-id")
}

// CorrelationID is the correlation id in ctx ("" if none). Operations carry
// the id of the request that started them into their work.
func CorrelationID(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.correlation
	}
	return ""
}

// ResourceTypes lists the resource types of a namespace as ARM names them in
// a provider's resourceTypes: the literal segments after providers/{ns} at
// type positions, joined by '/' ("vaults", "vaults/backupPolicies",
// "locations/operationStatus", "operations").
func (rt *Router) ResourceTypes(namespace string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ri := range rt.Routes() {
		if !strings.EqualFold(ri.Namespace, namespace) {
			continue
		}
		parts := splitPath(ri.Pattern)
		start := -1
		for i := 0; i+1 < len(parts); i++ {
			if strings.EqualFold(parts[i], "providers") && strings.EqualFold(parts[i+1], namespace) {
				start = i + 2
			}
		}
		if start < 0 || start >= len(parts) {
			continue
		}
		var typ []string
		for i := start; i < len(parts); i += 2 {
			if strings.HasPrefix(parts[i], "{") {
				break
			}
			typ = append(typ, parts[i])
		}
		if len(typ) == 0 {
			continue
		}
		t := strings.Join(typ, "/")
		if !seen[strings.ToLower(t)] {
			seen[strings.ToLower(t)] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// Actions lists the RBAC actions of a namespace's routes (the operations a
// provider's operations catalog names), sorted.
func (rt *Router) Actions(namespace string) []string {
	seen := map[string]bool{}
	var out []string
	rt.root.eachRoute(func(m string, r *route) {
		if !strings.EqualFold(r.namespace, namespace) {
			return
		}
		a, _ := r.actionFor(m, splitPath(r.pattern), "")
		if a == "" || a == "-" || !strings.HasPrefix(strings.ToLower(a), strings.ToLower(namespace)+"/") || seen[strings.ToLower(a)] {
			return
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
	})
	sort.Strings(out)
	return out
}

// typePath is the resource type a route's path segments name after its
// last providers/{ns} (ns a literal): the literal segments at type
// positions, joined by '/' ("disks", "vaults/backupPolicies",
// "locations/backupStatus"), "" when there is none.
func typePath(parts []string, ns string) string {
	start := -1
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "providers") && strings.EqualFold(parts[i+1], ns) {
			start = i + 2
		}
	}
	if start < 0 || start >= len(parts) {
		return ""
	}
	var typ []string
	for i := start; i < len(parts); i += 2 {
		if strings.HasPrefix(parts[i], "{") {
			break
		}
		typ = append(typ, parts[i])
	}
	return strings.Join(typ, "/")
}

// topLevelID is the id of the top-level resource a request's path names
// (/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name},
// the segments after providers at pi), "" when it names none (a list, a
// location, a path outside a resource group).
func topLevelID(segs []string, pi int) string {
	if pi != 4 || len(segs) < pi+4 || !strings.EqualFold(segs[0], "subscriptions") || !strings.EqualFold(segs[2], "resourceGroups") ||
		strings.EqualFold(segs[pi+2], "locations") {
		return ""
	}
	return "/" + strings.Join(segs[:pi+4], "/")
}

// noRegisteredProvider is ARM's answer to an api-version of the namespace
// that the resource type of the request never had: 400
// NoRegisteredProviderFound naming the location, the version, the type, the
// type's versions (oldest first, as ARM lists them there) and its
// locations. The location is the one the path names (locations/{l}), else
// the body's of a PUT, else that of the existing resource the path is on
// (its top-level resource's, when the caller may read it), else '*'
// (ARM's word for a request at no location).
func (rt *Router) noRegisteredProvider(hr *http.Request, segs []string, r *route, version string) error {
	loc, pi := "", -1
	for i, s := range segs {
		if strings.EqualFold(s, "providers") {
			pi = i
		}
	}
	for j := pi + 2; pi >= 0 && j+1 < len(segs); j += 2 { // the type segments after providers/{ns}
		if strings.EqualFold(segs[j], "locations") {
			loc = segs[j+1]
			break
		}
	}
	if loc == "" && hr.Method == http.MethodPut && hr.Body != nil {
		if body, err := readBody(hr, rt.MaxBodySize); err == nil {
			var b struct {
				Location string `json:"location"`
			}
			if json.Unmarshal(body, &b) == nil {
				loc = strings.ToLower(strings.ReplaceAll(b.Location, " ", ""))
			}
		}
	}
	if loc == "" && rt.ResourceLocation != nil {
		if id := topLevelID(segs, pi); id != "" {
			ctx := hr.Context()
			caller, _ := CallerFrom(ctx)
			if rt.Authorize == nil || rt.Authorize(ctx, caller, ReadAction(id), id) == nil {
				loc = strings.ToLower(strings.ReplaceAll(rt.ResourceLocation(ctx, id), " ", ""))
			}
		}
	}
	if loc == "" {
		loc = "*"
	}
	vs := slices.Clone(r.typeList)
	SortVersions(vs)
	slices.Reverse(vs)
	return BadRequest("NoRegisteredProviderFound", "No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		loc, version, r.typeName, strings.Join(vs, ", "), strings.Join(rt.Locations, ", "))
}
