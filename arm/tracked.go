package arm

// TrackedResource is the envelope every tracked ARM resource's body starts
// with (common-types' TrackedResource): its id, name, type, location and
// tags. Providers embed it in their resource bodies; encoding/json writes
// and reads its fields as the body's own.
type TrackedResource struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// ProxyResource is the envelope of a proxy ARM resource's body (a child
// resource without a location of its own: common-types' ProxyResource):
// its id, name and type.
type ProxyResource struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}
