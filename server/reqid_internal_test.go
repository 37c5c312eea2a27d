package server

import (
	"testing"

	"github.com/google/uuid"
)

// A request id is a random version 4 UUID in its canonical form, and the
// routing id is it after "SAFEHOLD:".
func TestRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, routing := requestIDs()
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("request id %q: %v, version %v, variant %v", id, err, u.Version(), u.Variant())
		}
		if routing != "SAFEHOLD:"+id {
			t.Fatalf("routing id %q for %q", routing, id)
		}
		if seen[id] {
			t.Fatalf("request id %q twice", id)
		}
		seen[id] = true
	}
}
