package arm

import (
	"encoding/json"
	"net/http"
	"strings"
)

// checkConditions applies a write's If-Match and If-None-Match headers as
// Azure's resource providers do, by reading the resource the request
// addresses through its own GET route (get; nil when the path has none,
// and the headers are then ignored): If-None-Match: * refuses to replace
// an existing resource (create only); If-Match: * refuses to write one
// that does not exist (update only); If-Match with entity tags refuses
// unless the resource exists with one of them; If-None-Match with entity
// tags refuses when it holds one of them. A resource that answers no etag
// matches only *, as a provider without etags ignores the tags. A refusal
// is 412 PreconditionFailed and the handler does not run. The read and
// the write are two steps: a concurrent write between them is not seen
// here, but by a face that checks again in its write (CheckConditions).
func checkConditions(req *Request, get *route) error {
	// A read's conditions are not checked: the method first, before the
	// headers are looked up and joined (every GET passes here).
	m := req.HTTP.Method
	if get == nil || m != http.MethodPut && m != http.MethodPatch && m != http.MethodDelete {
		return nil
	}
	h := req.HTTP.Header
	ifMatch, ifNone := headerValues(h, "If-Match"), headerValues(h, "If-None-Match")
	if ifMatch == "" && ifNone == "" {
		return nil
	}
	hr := req.HTTP.Clone(req.HTTP.Context())
	hr.Method, hr.Body, hr.ContentLength = http.MethodGet, nil, 0
	g := &Request{HTTP: hr, APIVersion: req.APIVersion, Namespace: req.Namespace, Segments: req.Segments,
		retryAfter: req.retryAfter, query: req.query, lazyQuery: req.lazyQuery, route: get, authorize: req.authorize, grantedBelow: req.grantedBelow, action: req.action, scope: req.scope}
	g.Params = append(g.params[:0], req.Params...)
	resp, err := get.handler(g)
	exists := err == nil && resp != nil && resp.Status < 300
	if err != nil && !IsNotFound(err) {
		return nil // the read's failure is not the condition's; the write answers for itself
	}
	etag := ""
	if exists {
		etag = responseETag(resp)
	}
	return evalConditions(ifMatch, ifNone, exists, etag)
}

// CheckConditions applies the request's If-Match and If-None-Match to the
// resource as the handler's write transaction reads it (exists, with its
// etag; "" when it has none), as checkConditions does before the handler
// runs: a face whose resources carry an etag calls it where it writes, so
// that of writes at once conditioned on one etag only the first commits
// (the others' check in the router read the same etag). nil without the
// headers, and for requests other than PUT, PATCH and DELETE.
func (r *Request) CheckConditions(exists bool, etag string) error {
	m := r.HTTP.Method
	if m != http.MethodPut && m != http.MethodPatch && m != http.MethodDelete {
		return nil
	}
	h := r.HTTP.Header
	ifMatch, ifNone := headerValues(h, "If-Match"), headerValues(h, "If-None-Match")
	if ifMatch == "" && ifNone == "" {
		return nil
	}
	if !exists {
		etag = ""
	}
	return evalConditions(ifMatch, ifNone, exists, etag)
}

// evalConditions is the 412 of If-Match ifMatch and If-None-Match ifNone
// ("" when absent) against a resource that exists or not, with etag.
func evalConditions(ifMatch, ifNone string, exists bool, etag string) error {
	failed := Errorf(http.StatusPreconditionFailed, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met: ")
	if ifNone != "" {
		if exists && (ifNone == "*" || etag != "" && tagListHas(ifNone, etag)) {
			failed.Message += "If-None-Match '" + ifNone + "' and the resource exists"
			if etag != "" {
				failed.Message += " with etag '" + etag + "'"
			}
			failed.Message += "."
			return failed
		}
	}
	if ifMatch != "" {
		if !exists {
			failed.Message += "If-Match '" + ifMatch + "' and the resource does not exist."
			return failed
		}
		if ifMatch != "*" && etag != "" && !tagListHas(ifMatch, etag) {
			failed.Message += "If-Match '" + ifMatch + "' and the resource's etag is '" + etag + "'."
			return failed
		}
	}
	return nil
}

// headerValues is the header's values joined by ", ", trimmed.
func headerValues(h http.Header, name string) string {
	return strings.TrimSpace(strings.Join(h.Values(name), ", "))
}

// responseETag is a read's entity tag: its ETag header, else its body's
// top-level etag (or eTag) field.
func responseETag(resp *Response) string {
	if t := resp.Header.Get("ETag"); t != "" {
		return t
	}
	if resp.Body == nil {
		return ""
	}
	b, err := json.Marshal(resp.Body)
	if err != nil {
		return ""
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	for _, k := range []string{"etag", "eTag"} {
		var s string
		if json.Unmarshal(doc[k], &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// tagListHas reports whether list, an If-Match or If-None-Match value
// (entity tags separated by commas, or *), holds tag; tags compare with or
// without their quotes, and W/ prefixes compare weakly.
func tagListHas(list, tag string) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
		return strings.Trim(s, `"`)
	}
	want := norm(tag)
	for _, t := range splitTags(list) {
		if norm(t) == want {
			return true
		}
	}
	return false
}

// splitTags splits a list of entity tags at the commas outside quotes (an
// Azure etag such as W/"datetime'2017-12-15T12%3A36%3A51.68Z'" holds none,
// but a quoted tag may).
func splitTags(list string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, list[start:i])
				start = i + 1
			}
		}
	}
	return append(out, list[start:])
}
