package arm

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// The request's state (correlation id, route recorder, caller) is one
// context value: StartRequest's may take the caller in place, once, and
// every other change copies it, so contexts made before keep what they saw.
func TestRequestStateInContext(t *testing.T) {
	base := WithCaller(context.Background(), Caller{ObjectID: "outer"})
	ctx, route := StartRequest(base, "req-1", "corr-1")
	if got := RequestID(ctx); got != "req-1" {
		t.Fatalf("RequestID = %q, want req-1", got)
	}
	if got := CorrelationID(ctx); got != "corr-1" {
		t.Fatalf("CorrelationID = %q, want corr-1", got)
	}
	if c, _ := CallerFrom(ctx); c.ObjectID != "outer" {
		t.Fatalf("caller before SetCaller = %+v, want the outer one", c)
	}
	if !SetCaller(ctx, Caller{ObjectID: "alice"}) {
		t.Fatal("SetCaller refused the state StartRequest made")
	}
	if c, ok := CallerFrom(ctx); !ok || c.ObjectID != "alice" {
		t.Fatalf("CallerFrom = %+v, %v, want alice", c, ok)
	}
	if SetCaller(ctx, Caller{ObjectID: "mallory"}) {
		t.Fatal("SetCaller replaced a caller already set")
	}
	if c, _ := CallerFrom(base); c.ObjectID != "outer" {
		t.Fatalf("the parent context's caller changed to %+v", c)
	}

	// A derived context keeps the route recorder and the caller, and
	// changing it leaves ctx as it was.
	bob := WithCaller(ctx, Caller{ObjectID: "bob"})
	op := WithCorrelationID(bob, "corr-2")
	if SetCaller(op, Caller{ObjectID: "mallory"}) {
		t.Fatal("SetCaller changed a copied state in place")
	}
	if c, _ := CallerFrom(op); c.ObjectID != "bob" || CorrelationID(op) != "corr-2" {
		t.Fatalf("derived context: caller %+v, correlation %q", c, CorrelationID(op))
	}
	if c, _ := CallerFrom(ctx); c.ObjectID != "alice" || CorrelationID(ctx) != "corr-1" {
		t.Fatalf("ctx changed: caller %+v, correlation %q", c, CorrelationID(ctx))
	}
	if st := stateOf(op); st.route != route {
		t.Fatal("a derived context records its route elsewhere than the request's recorder")
	}

	if _, ok := CallerFrom(context.Background()); ok || CorrelationID(context.Background()) != "" {
		t.Fatal("an empty context has a caller or a correlation id")
	}
	if SetCaller(context.Background(), Caller{ObjectID: "x"}) {
		t.Fatal("SetCaller without StartRequest's state")
	}
}

// plainAPIVersion reads a query without parsing it only when url.ParseQuery
// would find that api-version and nothing else.
func TestPlainAPIVersionAgreesWithParseQuery(t *testing.T) {
	for _, raw := range []string{
		"api-version=2021-04-01", "api-version=2023-01-01-preview", "api-version=", "",
		"api-version=2021-04-01&$top=1", "$top=1&api-version=2021-04-01", "api-version=2021%2D04-01",
		"api-version=a+b", "api-version=2021-04-01;x=1", "api-version=a=b", "API-VERSION=2021-04-01",
		"api-version", "api-versionx=1", "api-version=2021-04-01&api-version=2020-01-01",
	} {
		v, ok := plainAPIVersion(raw)
		q, err := url.ParseQuery(raw)
		plain := err == nil && len(q) == 1 && len(q["api-version"]) == 1 && q.Get("api-version") != ""
		// Declining is always right (the router parses); accepting must
		// read what parsing would.
		if ok && (!plain || v != q.Get("api-version")) {
			t.Errorf("plainAPIVersion(%q) = %q, %v; ParseQuery: %v (%v)", raw, v, ok, q, err)
		}
		if strings.HasPrefix(raw, "api-version=20") && !strings.ContainsAny(raw, "&;%+") && !ok {
			t.Errorf("plainAPIVersion(%q) declined a plain version", raw)
		}
	}
}

// Key is the lower-cased String, for ASCII ids and others.
func TestResourceIDKey(t *testing.T) {
	for _, s := range []string{
		"/subscriptions/S1/resourceGroups/RG-A/providers/Microsoft.Compute/disks/Disk_1",
		"/subscriptions/s1/resourceGroups/rg",
		"/subscriptions/S1",
		"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/disks/d/providers/Microsoft.Authorization/roleAssignments/X",
		"/subscriptions/s1/resourceGroups/Ärger/providers/Microsoft.Compute/disks/ΣΊΣΥΦΟΣ",
		"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/disks/K", // U+212A KELVIN SIGN: lower-cases to k
	} {
		id, err := ParseID(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := id.Key(), strings.ToLower(id.String()); got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
	}
	if (ResourceID{}).Key() != "" {
		t.Error("the empty id has a key")
	}
}

// BenchmarkResourceIDKey is the store key of a GET's resource group
// (resource.GetWire).
//
//	go test ./arm -run '^$' -bench ResourceIDKey -benchmem
func BenchmarkResourceIDKey(b *testing.B) {
	id := ResourceID{SubscriptionID: "27f4655b-afa4-4258-85e0-6bf5e9135f09", ResourceGroup: "bench"}
	b.ReportAllocs()
	for range b.N {
		id.Key()
	}
}
