package arm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/safehold/safehold/failure"
)

// Request is one routed ARM request.
type Request struct {
	HTTP       *http.Request
	Params     Params // route parameters by lower-case name, decoded
	APIVersion string
	Namespace  string
	Segments   []string // decoded path segments
	Body       []byte

	retryAfter int
	query      url.Values
	// lazyQuery: query is parsed from HTTP.URL at the first Query (the
	// router read the api-version without parsing, plainAPIVersion).
	lazyQuery    bool
	queryOnce    sync.Once
	route        *route
	authorize    Authorizer
	grantedBelow func(ctx context.Context, caller Caller, action, scope string) bool
	action       string // the RBAC action and scope the request was authorized for
	scope        string
	params       [8]Param  // Params' first entries, in the request's allocation
	segs         [8]string // Segments' first entries, likewise
}

// Params are a request's route parameters: a route has a few, so a list
// (in the Request's own allocation) rather than a map, which cost a GET
// two allocations and a hash per parameter.
type Params []Param

// Param is a route parameter: its lower-case name and decoded value.
type Param struct{ Name, Value string }

// Get returns the value of the parameter name (case-insensitive).
func (ps Params) Get(name string) (string, bool) {
	for _, p := range ps {
		if p.Name == name || strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// Set sets the parameter name (case-insensitive) to v.
func (ps *Params) Set(name, v string) {
	if !ps.replace(name, v) {
		*ps = append(*ps, Param{strings.ToLower(name), v})
	}
}

// setLower is Set for a lower-case name (a route's parameter key).
func (ps *Params) setLower(name, v string) {
	if !ps.replace(name, v) {
		*ps = append(*ps, Param{name, v})
	}
}

// replace sets the value of the parameter name, if there is one.
func (ps Params) replace(name, v string) bool {
	for i, p := range ps {
		if p.Name == name || strings.EqualFold(p.Name, name) {
			ps[i].Value = v
			return true
		}
	}
	return false
}

// Param returns a decoded route parameter (case-insensitive name).
func (r *Request) Param(name string) string {
	v, _ := r.Params.Get(name)
	return v
}

// Query returns a query parameter. Names match case-insensitively, as ARM's
// do ($skiptoken is $skipToken); an exact match wins.
func (r *Request) Query(name string) string {
	if r.lazyQuery {
		r.queryOnce.Do(func() { r.query = r.HTTP.URL.Query() })
	}
	if v, ok := r.query[name]; ok {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	for k, v := range r.query {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}

// Path is the decoded request path.
func (r *Request) Path() string { return "/" + strings.Join(r.Segments, "/") }

// HasBody reports whether the request carried a non-empty body.
func (r *Request) HasBody() bool { return len(bytes.TrimSpace(r.Body)) > 0 }

// Decode unmarshals the JSON body into v. Keys match case-insensitively (as
// encoding/json does). Malformed JSON is a 400 InvalidRequestContent; an
// empty body is one too unless allowEmpty.
func (r *Request) Decode(v any) error {
	if !r.HasBody() {
		return InvalidRequest("The request content was invalid and could not be deserialized: the request body is empty.")
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return InvalidRequest("The request content was invalid and could not be deserialized: %v at offset %d.", se.Error(), se.Offset)
		case errors.As(err, &te):
			path, want, got := failure.TypeMismatch(reflect.TypeOf(v), te)
			if path == "" {
				return InvalidRequest("The request content was invalid and could not be deserialized: the request body must be %s, not %s.", want, got)
			}
			return InvalidRequest("The request content was invalid and could not be deserialized: the value of '%s' must be %s, not %s.", path, want, got)
		default:
			return InvalidRequest("The request content was invalid and could not be deserialized: %v.", err)
		}
	}
	if r.HTTP != nil && (r.HTTP.Method == http.MethodPut || r.HTTP.Method == http.MethodPatch) {
		return checkTags(r.Body)
	}
	return nil
}

// checkTags applies ARM's limits to the tags a PUT or PATCH body gives a
// resource: at most 50; names of 1 to 512 characters without < > % & \ ? /
// or control characters; values of at most 256 characters.
func checkTags(body []byte) error {
	var in struct {
		Tags map[string]any `json:"tags"`
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	if len(in.Tags) > 50 {
		return BadRequest("InvalidTagCount", "The resource has %d tags: a resource takes at most 50.", len(in.Tags))
	}
	for k, v := range in.Tags {
		s, ok := v.(string)
		if !ok {
			return TagValueNotString(k, v)
		}
		if err := CheckTag(k, s); err != nil {
			return err
		}
	}
	return CheckTagNamesDistinct(in.Tags)
}

// TagValueNotString is 400 InvalidRequestContent for a tag whose value is
// not a string (v as decoded into any): a null value was stored as "" (a
// number or an object failed later in the face's own decoding, or not at
// all where it kept the tags as sent).
func TagValueNotString(name string, v any) *Error {
	got := "null"
	switch v.(type) {
	case bool:
		got = "a boolean"
	case float64:
		got = "a number"
	case map[string]any:
		got = "an object"
	case []any:
		got = "an array"
	}
	return BadRequestAt("tags."+name, "InvalidRequestContent",
		"The request content was invalid and could not be deserialized: the value of tag '%s' must be a string, not %s. Give \"\" for a tag without a value, or leave the tag out to remove it.", name, got)
}

// CheckTagNamesDistinct refuses tags two of whose names differ only in
// case: ARM's tag names are case-insensitive, so they name one tag given
// twice (400 DuplicateTagName naming both).
func CheckTagNamesDistinct[V any](tags map[string]V) error {
	if len(tags) < 2 {
		return nil
	}
	seen := make(map[string]string, len(tags))
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		low := strings.ToLower(k)
		if other, ok := seen[low]; ok {
			return BadRequest("DuplicateTagName", "The tag names '%s' and '%s' name one tag: tag names are case-insensitive. Give the tag once.", other, k)
		}
		seen[low] = k
	}
	return nil
}

// CheckTag applies ARM's limits to one tag: a name of 1 to 512 characters
// without < > % & \\ ? / or control characters, a value of at most 256.
func CheckTag(name, value string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > 512 {
		return BadRequest("InvalidTagNameLength", "The tag name '%.40s' has %d characters: a tag name has 1 to 512.", name, n)
	}
	if strings.ContainsAny(name, "<>%&\\?/") || strings.ContainsFunc(name, unicode.IsControl) {
		return BadRequest("InvalidTagNameCharacters", "The tag name '%s' has reserved characters: '<', '>', '%%', '&', '\\', '?', '/' and control characters are not allowed.", name)
	}
	if n := utf8.RuneCountInString(value); n > 256 {
		return BadRequest("InvalidTagValueLength", "The value of tag '%s' has %d characters: a tag value has at most 256.", name, n)
	}
	return nil
}

// DecodeOptional is Decode but leaves v untouched for an empty body.
func (r *Request) DecodeOptional(v any) error {
	if !r.HasBody() {
		return nil
	}
	return r.Decode(v)
}

// BaseURL is the scheme and host the caller used, e.g. https://127.0.0.1:8443.
func (r *Request) BaseURL() string {
	scheme := "https"
	if r.HTTP.TLS == nil {
		scheme = "http"
	}
	if p := r.HTTP.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.HTTP.Host
}

// URL builds an absolute URL on the caller's host for path, carrying the
// caller's api-version and any extra query pairs (name, value, ...).
func (r *Request) URL(path string, query ...string) string {
	q := url.Values{}
	if r.APIVersion != "" {
		q.Set("api-version", r.APIVersion)
	}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	u := url.URL{Path: path}
	return r.BaseURL() + u.EscapedPath() + "?" + q.Encode()
}

// Caller is the authenticated principal.
func (r *Request) Caller() Caller {
	c, _ := CallerFrom(r.HTTP.Context())
	return c
}

// Allowed reports whether the caller may perform action on scope, through
// the router's authorizer with the request's own caller (no principal
// lookup); without an authorizer (internal calls) everything is allowed.
// Lists use it to keep the items a caller may read.
func (r *Request) Allowed(action, scope string) bool {
	if r.authorize == nil {
		return true
	}
	return r.authorize(r.HTTP.Context(), r.Caller(), action, scope) == nil
}

// Authorize is the router's authorizer's answer for the request's caller
// performing action on scope (nil: allowed; a 403 AuthorizationFailed in
// ARM's words otherwise); without an authorizer (internal calls)
// everything is allowed.
func (r *Request) Authorize(action, scope string) error {
	if r.authorize == nil {
		return nil
	}
	return r.authorize(r.HTTP.Context(), r.Caller(), action, scope)
}

// GrantedBelow reports whether the caller holds action through a role
// assigned strictly below scope (the router's GrantedBelow; false without
// one): ARM lists a subscription to a caller whose roles are all in its
// resource groups.
func (r *Request) GrantedBelow(action, scope string) bool {
	return r.grantedBelow != nil && r.grantedBelow(r.HTTP.Context(), r.Caller(), action, scope)
}

// ReadAction is the RBAC action that reads the resource id names
// ({namespace}/{type}[/{childType}...]/read; a resource group's or a
// subscription's read for those).
func ReadAction(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			return string(appendTypes([]byte(segs[i+1]+"/"), segs[i+2:])) + "/read"
		}
	}
	if len(segs) >= 4 && strings.EqualFold(segs[2], "resourceGroups") {
		return "Microsoft.Resources/subscriptions/resourceGroups/read"
	}
	return "Microsoft.Resources/subscriptions/read"
}

// Link is a resource a request names besides the one it addresses (a
// copy's source, a disk a VM attaches, an identity a vault assigns...) and
// the action the caller needs on it.
type Link struct {
	Action string // e.g. Microsoft.Compute/disks/read
	Scope  string // the linked resource's id (or a resource group's)
}

// CheckLinked is ARM's linked access check: the caller must be allowed
// each link's action on its scope as well as the request's own action. It
// answers 403 LinkedAuthorizationFailed naming the links it may not use,
// in Azure's words, before the linked resources are looked up (so a denied
// caller learns nothing about them). Links with an empty scope are skipped;
// without an authorizer (internal calls) everything is allowed.
func (r *Request) CheckLinked(links ...Link) error {
	if r.authorize == nil {
		return nil
	}
	caller := r.Caller()
	ctx := r.HTTP.Context()
	var actions, scopes []string
	for _, l := range links {
		if l.Scope == "" {
			continue
		}
		if err := r.authorize(ctx, caller, l.Action, l.Scope); err != nil {
			actions, scopes = append(actions, l.Action), append(scopes, l.Scope)
		}
	}
	if len(actions) == 0 {
		return nil
	}
	return LinkedAuthorizationFailed(caller, r.action, r.scope, actions, scopes)
}

// LinkedAuthorizationFailed is the 403 ARM answers when the caller may
// perform action on scope but not the linked actions on the linked scopes.
func LinkedAuthorizationFailed(caller Caller, action, scope string, linkedActions, linkedScopes []string) *Error {
	client := caller.AppID
	if client == "" {
		client = caller.ObjectID
	}
	return Errorf(http.StatusForbidden, "LinkedAuthorizationFailed",
		"The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
		client, caller.ObjectID, action, scope, strings.Join(linkedActions, ","), strings.Join(linkedScopes, ","))
}

// Response is what a Handler returns.
type Response struct {
	Status int
	Body   any // JSON-encoded; nil means no body
	Header http.Header
}

// OK is 200 with body.
func OK(body any) *Response { return &Response{Status: http.StatusOK, Body: body} }

// Created is 201 with body.
func Created(body any) *Response { return &Response{Status: http.StatusCreated, Body: body} }

// CreatedOrOK is the answer of a PUT with the resource: 201 when the PUT
// created it, 200 when it replaced it.
func CreatedOrOK(created bool, body any) *Response {
	if created {
		return Created(body)
	}
	return OK(body)
}

// NoContent is 204.
func NoContent() *Response { return &Response{Status: http.StatusNoContent} }

// Accepted is 202 without a body.
func Accepted() *Response { return &Response{Status: http.StatusAccepted} }

// Status is an arbitrary status with body.
func Status(code int, body any) *Response { return &Response{Status: code, Body: body} }

// SetHeader sets a response header and returns resp.
func (resp *Response) SetHeader(k, v string) *Response {
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Set(k, v)
	return resp
}

// Async adds the long-running-operation headers: Azure-AsyncOperation (if
// statusPath is set), Location (if locationPath is set) and Retry-After, all
// absolute on the caller's host with the caller's api-version.
func (resp *Response) Async(r *Request, statusPath, locationPath string) *Response {
	if statusPath != "" {
		resp.SetHeader("Azure-AsyncOperation", r.URL(statusPath))
	}
	if locationPath != "" {
		resp.SetHeader("Location", r.URL(locationPath))
	}
	return resp.RetryAfter(r)
}

// RetryAfter adds the configured Retry-After header.
func (resp *Response) RetryAfter(r *Request) *Response {
	ra := r.retryAfter
	if ra < 1 {
		ra = 1
	}
	return resp.SetHeader("Retry-After", strconv.Itoa(ra))
}

// List is a page of a collection.
type List struct {
	Value    []any  `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// raw reports whether every item is pre-encoded JSON (json.RawMessage, as
// resource.ListWire gives), so the page is written without encoding it again.
func (l *List) raw() bool {
	for _, it := range l.Value {
		if b, ok := it.(json.RawMessage); !ok || len(b) == 0 {
			return false
		}
	}
	return true
}

// writeRaw writes a raw list as encoding/json would (enc writes the
// nextLink string), without re-encoding and re-validating each item.
func (l *List) writeRaw(buf *bytes.Buffer, enc *json.Encoder) {
	n := len(`{"value":[],"nextLink":""}`) + len(l.NextLink) + 2 // a hint: escapes may add more
	for _, it := range l.Value {
		n += len(it.(json.RawMessage)) + 1
	}
	buf.Grow(n) // once: a page of policies is ~150 KB, grown by doubling it was copied ~8 times
	buf.WriteString(`{"value":[`)
	for i, it := range l.Value {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it.(json.RawMessage))
	}
	buf.WriteByte(']')
	if l.NextLink != "" {
		buf.WriteString(`,"nextLink":`)
		enc.Encode(l.NextLink) // a string always encodes; it ends in a newline
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString("}\n")
}

// PageOK answers 200 with the page of items the request selects (see Page).
func PageOK[T any](r *Request, items []T, pageSize int) (*Response, error) {
	l, err := Page(r, items, pageSize)
	if err != nil {
		return nil, err
	}
	return OK(l), nil
}

// Page returns the page of items the request's $skipToken selects, at most
// pageSize long, with an absolute nextLink when more remain. $top, when
// given, caps the page size.
func Page[T any](r *Request, items []T, pageSize int) (*List, error) {
	start, size, err := r.PageBounds(pageSize)
	if err != nil {
		return nil, err
	}
	start = min(start, len(items))
	end := min(start+size, len(items))
	out := &List{Value: make([]any, 0, end-start)}
	for _, it := range items[start:end] {
		out.Value = append(out.Value, it)
	}
	if end < len(items) {
		out.NextLink = r.NextPageLink(end)
	}
	return out, nil
}

// PageFunc answers 200 with the page the request selects (as Page does)
// of a list that page reads: the items from start (its $skipToken), at
// most size, and whether more follow. The list is read no further than the
// page.
func PageFunc[T any](r *Request, pageSize int, page func(start, size int) ([]T, bool, error)) (*Response, error) {
	start, size, err := r.PageBounds(pageSize)
	if err != nil {
		return nil, err
	}
	items, more, err := page(start, size)
	if err != nil {
		return nil, err
	}
	l := &List{Value: make([]any, len(items))}
	for i, it := range items {
		l.Value[i] = it
	}
	if more {
		l.NextLink = r.NextPageLink(start + size)
	}
	return OK(l), nil
}

// keyedToken prefixes a $skipToken PageKeyedOK or PageKeyedFunc made (a
// key); an offset token is digits only.
const keyedToken = "k"

// keyToken is the $skipToken of the page that follows the item of key:
// keyedToken, then the key and its check (keyCheck) in base64 (URL-safe), so that a
// token the list did not give is refused (skipKey) instead of being read
// as a key that selects some page.
func keyToken(key string) string {
	b := binary.BigEndian.AppendUint32([]byte(key), keyCheck(key))
	return keyedToken + base64.RawURLEncoding.EncodeToString(b)
}

// skipKey reads the request's $skipToken when it is a keyed one (keyed):
// the key of the item the page follows; one that keyToken did not make
// is 400 InvalidQueryParameterValue naming the parameter. Any other token
// is PageBounds' to read.
func (r *Request) skipKey() (key string, keyed bool, err error) {
	tok := r.Query("$skipToken")
	if !strings.HasPrefix(tok, keyedToken) {
		return "", false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[len(keyedToken):])
	if err != nil || len(b) < 4 || keyCheck(string(b[:len(b)-4])) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return "", true, badSkipToken(tok)
	}
	return string(b[:len(b)-4]), true, nil
}

// keyCheck is a key's check in its token: its CRC-32, of a seed first so
// that the token of no bytes at all (CRC-32 0) checks no empty key.
func keyCheck(key string) uint32 {
	return crc32.Update(crc32.ChecksumIEEE([]byte("safehold")), crc32.IEEETable, []byte(key))
}

func badSkipToken(tok string) error {
	return BadRequest("InvalidQueryParameterValue", "The value '%s' of query parameter '$skipToken' is invalid: it is not a token this list gave; use the nextLink of the previous page as given.", tok)
}

// PageKeyedOK answers 200 with the page of items that follows the
// request's $skipToken, at most pageSize long ($top caps it), with a
// nextLink when more remain. items are in ascending order of key, and the
// token is the key of the previous page's last item, so an item inserted
// before it or removed since does not shift the next page: with an offset
// (Page), a job that started while a client paged through the jobs pushed
// the page's last job onto the next page again, and one that left skipped
// another. An offset token (digits) still selects by offset. view renders
// an item of the page.
func PageKeyedOK[T any](r *Request, items []T, pageSize int, key func(T) string, view func(T) any) (*Response, error) {
	return PageKeyedFunc(r, pageSize, func(after string, skip, size int) ([]any, string, bool, error) {
		start := skip
		if after != "" {
			start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
		}
		start = min(start, len(items))
		end := min(start+size, len(items))
		out := make([]any, 0, end-start)
		for _, it := range items[start:end] {
			out = append(out, view(it))
		}
		last := ""
		if end > start {
			last = key(items[end-1])
		}
		return out, last, end < len(items), nil
	})
}

// PageKeyedFunc answers 200 with the page that follows the request's
// $skipToken (as PageKeyedOK) of a list that page reads in ascending order
// of key: the items whose key is after after ("": from the first), less
// the first skip of them (an offset token's), at most size; the key of the
// page's last item and whether more follow. The list is read no further
// than the page.
func PageKeyedFunc[T any](r *Request, pageSize int, page func(after string, skip, size int) (items []T, last string, more bool, err error)) (*Response, error) {
	after, keyed, err := r.skipKey()
	if err != nil {
		return nil, err
	}
	skip, size := 0, 0
	if keyed {
		size, err = r.pageSize(pageSize)
	} else {
		skip, size, err = r.PageBounds(pageSize)
	}
	if err != nil {
		return nil, err
	}
	items, last, more, err := page(after, skip, size)
	if err != nil {
		return nil, err
	}
	l := &List{Value: make([]any, len(items))}
	for i, it := range items {
		l.Value[i] = it
	}
	if more && len(items) > 0 {
		l.NextLink = r.nextPageLinkToken(keyToken(last))
	}
	return OK(l), nil
}

// PageBounds is where the page the request selects starts (its
// $skipToken) and how long it may be: pageSize, or $top when smaller.
func (r *Request) PageBounds(pageSize int) (start, size int, err error) {
	if pageSize, err = r.pageSize(pageSize); err != nil {
		return 0, 0, err
	}
	if tok := r.Query("$skipToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return 0, 0, badSkipToken(tok)
		}
		// A token past any list (one a client made up: ours are item
		// counts) selects an empty last page; start+pageSize must not
		// overflow, or a page reader takes a negative end for "more".
		start = min(n, math.MaxInt-pageSize)
	}
	return start, pageSize, nil
}

// pageSize is how long a page the request reads may be: pageSize, or $top
// when smaller.
func (r *Request) pageSize(pageSize int) (int, error) {
	if top := r.Query("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			return 0, BadRequest("InvalidQueryParameterValue", "The value '%s' of query parameter '$top' is invalid: it must be a positive integer.", top)
		}
		if n < pageSize {
			pageSize = n
		}
	}
	return pageSize, nil
}

// NextPageLink is the absolute nextLink of a page that ends before item
// end (the request's query with $skipToken end).
func (r *Request) NextPageLink(end int) string {
	return r.nextPageLinkToken(strconv.Itoa(end))
}

// nextPageLinkToken is the absolute nextLink of the request's query with
// $skipToken tok.
func (r *Request) nextPageLinkToken(tok string) string {
	q := r.HTTP.URL.Query()
	for k := range q { // the token as the client spelled it ($skiptoken) gives way to the next
		if strings.EqualFold(k, "$skipToken") {
			delete(q, k)
		}
	}
	q.Set("$skipToken", tok)
	if r.APIVersion != "" {
		q.Set("api-version", r.APIVersion)
	}
	return r.BaseURL() + r.HTTP.URL.EscapedPath() + "?" + q.Encode()
}

// Values wraps all items as one page without paging.
func Values[T any](items []T) *List {
	out := &List{Value: make([]any, 0, len(items))}
	for _, it := range items {
		out.Value = append(out.Value, it)
	}
	return out
}

// MustParam returns the param or panics: for handler wiring bugs only.
func (r *Request) MustParam(name string) string {
	v, ok := r.Params.Get(name)
	if !ok {
		panic(fmt.Sprintf("arm: route has no parameter %q", name))
	}
	return v
}

// SystemData is ARM's systemData block.
type SystemData struct {
	CreatedBy          string    `json:"createdBy,omitempty"`
	CreatedByType      string    `json:"createdByType,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	LastModifiedBy     string    `json:"lastModifiedBy,omitempty"`
	LastModifiedByType string    `json:"lastModifiedByType,omitempty"`
	LastModifiedAt     time.Time `json:"lastModifiedAt"`
}

// Touch fills systemData for a create or update by caller at now.
func Touch(sd *SystemData, caller Caller, now time.Time) *SystemData {
	typ := "Application"
	if caller.Kind == "ManagedIdentity" { // identity.KindManagedIdentity
		typ = "ManagedIdentity"
	}
	if sd == nil || sd.CreatedAt.IsZero() {
		sd = &SystemData{CreatedBy: caller.AppID, CreatedByType: typ, CreatedAt: now}
	}
	sd.LastModifiedBy, sd.LastModifiedByType, sd.LastModifiedAt = caller.AppID, typ, now
	return sd
}
