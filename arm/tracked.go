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
