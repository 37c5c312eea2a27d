package arm

import "strings"

// Methods are the handlers of one resource type: List answers GET on the
// collection (the pattern without its last segment), Get, Put, Patch and
// Delete the methods on one resource at the pattern. A nil handler is not
// served.
type Methods struct {
	List, Get, Put, Patch, Delete Handler
}

// HandleResource registers m's handlers for the resources at pattern, each
// with opts.
func (rt *Router) HandleResource(pattern string, m Methods, opts ...RouteOption) {
	if m.List != nil {
		rt.Handle("GET", pattern[:strings.LastIndexByte(pattern, '/')], m.List, opts...)
	}
	for _, x := range []struct {
		method string
		h      Handler
	}{{"GET", m.Get}, {"PUT", m.Put}, {"PATCH", m.Patch}, {"DELETE", m.Delete}} {
		if x.h != nil {
			rt.Handle(x.method, pattern, x.h, opts...)
		}
	}
}
