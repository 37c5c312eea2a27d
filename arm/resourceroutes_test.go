package arm

import (
	"sort"
	"strings"
	"testing"
)

// HandleResource serves exactly the methods given: List on the collection,
// the others on one resource.
func TestHandleResource(t *testing.T) {
	rt := NewRouter()
	h := func(r *Request) (*Response, error) { return OK(nil), nil }
	one := "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Test/things/{thingName}"
	rt.HandleResource(one, Methods{List: h, Get: h, Delete: h})
	var got []string
	for _, r := range rt.Routes() {
		got = append(got, r.Method+" "+r.Pattern)
	}
	sort.Strings(got)
	want := []string{"DELETE " + one, "GET " + one, "GET " + strings.TrimSuffix(one, "/{thingName}")}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
